"""The CLI's connection to the cluster: kubeconfig, context and namespace the way kubectl does it.

kubectl users expect `--kubeconfig`, then `KUBECONFIG`, then `~/.kube/config`; `--context` or the
kubeconfig's current context; and `-n/--namespace`, else the context's namespace, else
`default`. `Session` wraps `KubeClient` with that namespace and turns every API failure into a
`CliError` that names what was being done, so commands contain no error handling of their own.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from rolloutd.cli.errors import CliError, api_error, unreachable_error
from rolloutd.kube.resources import ROLLOUTS, Resource

if TYPE_CHECKING:
    from rolloutd.kube.client import KubeClient, PatchType

JsonDict = dict[str, Any]
T = TypeVar("T")


def kubeconfig_path(explicit: str | None, environ: dict[str, str] | None = None) -> str | None:
    """The kubeconfig file to load: `--kubeconfig`, else the first existing `KUBECONFIG` entry.

    kubectl merges every file listed in KUBECONFIG; KubeClient loads one, so we pick the first
    that exists (kubectl also skips missing ones) and leave `~/.kube/config` to KubeClient.
    """
    if explicit:
        return explicit
    env = os.environ if environ is None else environ
    entries = [p for p in env.get("KUBECONFIG", "").split(os.pathsep) if p]
    for entry in entries:
        if Path(entry).expanduser().exists():
            return str(Path(entry).expanduser())
    return entries[0] if entries else None


def label_selector(selector: object) -> str:
    """A LabelSelector (`matchLabels`, `matchExpressions`) as a `labelSelector` query string."""
    if not isinstance(selector, dict):
        return ""
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or []:
        if not isinstance(expr, dict):
            continue
        key, op = expr.get("key"), expr.get("operator")
        values = ",".join(str(v) for v in expr.get("values") or [])
        if op == "In":
            parts.append(f"{key} in ({values})")
        elif op == "NotIn":
            parts.append(f"{key} notin ({values})")
        elif op == "Exists":
            parts.append(f"{key}")
        elif op == "DoesNotExist":
            parts.append(f"!{key}")
    return ",".join(parts)


@dataclass
class Session:
    """One API client plus the namespace the command works in."""

    kube: KubeClient
    namespace: str

    async def close(self) -> None:
        await self.kube.close()

    async def call(
        self,
        action: Callable[[], Awaitable[T]],
        *,
        verb: str,
        resource: Resource,
        name: str | None = None,
        namespace: str | None = None,
        subresource: str = "",
    ) -> T:
        """Run one API call, turning its failure into a CliError that says what failed."""
        from rolloutd.kube.client import ApiError, ClusterUnreachable

        try:
            return await action()
        except ApiError as exc:
            raise api_error(
                exc,
                verb=verb,
                resource=resource,
                name=name,
                namespace=namespace if namespace is not None else self.namespace,
                subresource=subresource,
                connection=self.kube.connection,
            ) from exc
        except ClusterUnreachable as exc:
            raise unreachable_error(exc, self.kube.connection) from exc

    async def get_rollout(self, name: str) -> JsonDict:
        return await self.call(
            lambda: self.kube.get(ROLLOUTS, name, namespace=self.namespace),
            verb="get",
            resource=ROLLOUTS,
            name=name,
        )

    async def patch_rollout(
        self,
        name: str,
        body: Any,
        *,
        status: bool = False,
        patch_type: PatchType = "merge",
    ) -> JsonDict:
        """A merge (or JSON) patch on the Rollout, or on its `status` subresource."""
        subresource = "status" if status else ""
        return await self.call(
            lambda: self.kube.patch(
                ROLLOUTS,
                name,
                body,
                namespace=self.namespace,
                patch_type=patch_type,
                subresource=subresource,
            ),
            verb="patch",
            resource=ROLLOUTS,
            name=name,
            subresource=subresource,
        )

    async def replace_rollout(self, name: str, body: JsonDict) -> JsonDict:
        return await self.call(
            lambda: self.kube.replace(ROLLOUTS, name, body, namespace=self.namespace),
            verb="update",
            resource=ROLLOUTS,
            name=name,
        )

    async def list_items(
        self,
        res: Resource,
        *,
        namespace: str | None = None,
        all_namespaces: bool = False,
        selector: str | None = None,
        missing_ok: bool = False,
    ) -> list[JsonDict]:
        """Every object of a type in the namespace (or all namespaces), optionally filtered.

        `missing_ok` turns "this type is not served" into an empty list, for optional types
        such as AnalysisRuns on a cluster without that CRD.
        """
        from rolloutd.kube.client import ApiError

        ns = None if all_namespaces else (namespace or self.namespace)
        try:
            page = await self.call(
                lambda: self.kube.list_all(res, namespace=ns, label_selector=selector or None),
                verb="list",
                resource=res,
                namespace=ns,
            )
        except CliError as exc:
            cause = exc.__cause__
            if missing_ok and isinstance(cause, ApiError) and cause.status == 404:
                return []
            raise
        return [item for item in page.get("items") or [] if isinstance(item, dict)]


async def connect(*, kubeconfig: str | None, context: str | None, namespace: str | None) -> Session:
    """Open a Session from the kubectl-style flags; failures become CliErrors."""
    # kubernetes-asyncio takes a second or more to import: only commands that connect pay it.
    from kubernetes_asyncio.config import ConfigException

    from rolloutd.kube.client import ClusterUnreachable, KubeClient

    path = kubeconfig_path(kubeconfig)
    try:
        kube = await KubeClient.connect(kubeconfig=path, context=context)
    except ClusterUnreachable as exc:
        raise unreachable_error(exc, None) from exc
    except ConfigException as exc:
        if context and "context" in str(exc).lower():
            raise CliError(f'context "{context}" does not exist in kubeconfig {path}') from exc
        raise CliError(f"invalid kubeconfig {path or '~/.kube/config'}: {exc}") from exc
    return Session(kube=kube, namespace=namespace or kube.connection.namespace)
