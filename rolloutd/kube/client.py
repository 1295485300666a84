"""One Kubernetes API client per process: plain dicts in, plain dicts out.

kubernetes-asyncio gives us configuration loading (kubeconfig, in-cluster, token refresh) and
an aiohttp transport. Its generated model classes are heavy and its watch helper has had
resume bugs, so rolloutd talks to the REST paths directly through `ApiClient.call_api` with
`_preload_content=False` and keeps every object as the JSON dict the server sent. That keeps
caches small, makes every resource (core, CRD, a router's third-party type) look the same, and
lets the controller count every request it makes.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Literal

import aiohttp
import yaml
from aiohttp.helpers import get_env_proxy_for_url
from kubernetes_asyncio import client as k8s_client
from kubernetes_asyncio import config as k8s_config
from yarl import URL

from rolloutd.kube.resources import Resource

JsonDict = dict[str, Any]
PatchType = Literal["merge", "json", "strategic", "apply"]

_PATCH_CONTENT_TYPES: dict[str, str] = {
    "merge": "application/merge-patch+json",
    "json": "application/json-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "apply": "application/apply-patch+yaml",
}
FIELD_MANAGER = "rolloutd"
_SA_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


@dataclass(frozen=True, slots=True)
class Request:
    """One request to the API server, as the observers see it once it has been answered."""

    verb: str
    """get, list, watch, create, update, patch or delete."""
    resource: str
    """The plural, with `/subresource` for a subresource's create or patch."""
    status: int
    """The HTTP status; 0 for a transport error (no answer)."""
    namespace: str = ""
    name: str = ""
    """The object's name; "" for list and watch."""


RequestObserver = Callable[[Request], None]
"""Called after every request (and every retry of one)."""


class ApiError(Exception):
    """A non-2xx answer from the API server, with the server's own message."""

    def __init__(self, status: int, reason: str, message: str, body: JsonDict | None = None):
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message
        self.body = body or {}

    @property
    def not_found(self) -> bool:
        return self.status == 404

    @property
    def conflict(self) -> bool:
        return self.status == 409

    @property
    def gone(self) -> bool:
        return self.status == 410


class ClusterUnreachable(Exception):
    """The API server could not be reached at all."""


@dataclass(frozen=True, slots=True)
class Connection:
    """Where the client points: server URL, default namespace, and where that came from."""

    server: str
    namespace: str
    source: str


class KubeClient:
    """Async REST client over kubernetes-asyncio's transport. Create one per process."""

    def __init__(self, api: k8s_client.ApiClient, connection: Connection) -> None:
        self._api = api
        self.connection = connection
        self.observers: list[RequestObserver] = []

    # -- construction ---------------------------------------------------------------------

    @classmethod
    async def connect(
        cls,
        *,
        kubeconfig: str | None = None,
        context: str | None = None,
        pool_size: int = 128,
    ) -> KubeClient:
        """Kubeconfig when one is named or found (KUBECONFIG, ~/.kube/config); else in-cluster."""
        cfg = k8s_client.Configuration()
        path = kubeconfig or os.environ.get("KUBECONFIG", "").split(os.pathsep)[0] or None
        default_path = Path.home() / ".kube" / "config"
        if path is None and default_path.exists():
            path = str(default_path)
        if path is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
            k8s_config.load_incluster_config(client_configuration=cfg)  # type: ignore[no-untyped-call]
            ns_file = _SA_DIR / "namespace"
            namespace = ns_file.read_text().strip() if ns_file.exists() else "default"
            source = "in-cluster"
        elif path is None:
            raise ClusterUnreachable(
                "no kubeconfig found: check your kubeconfig (KUBECONFIG or --kubeconfig) and "
                "--context; for a local try-out, `rolloutd sandbox up` starts a throwaway cluster"
            )
        else:
            if not os.path.exists(path):
                raise ClusterUnreachable(f"kubeconfig {path} does not exist")
            try:
                await k8s_config.load_kube_config(
                    config_file=path,
                    context=context,
                    client_configuration=cfg,
                    persist_config=False,
                )
                namespace = _kubeconfig_namespace(path, context)
            except (yaml.YAMLError, k8s_config.ConfigException, TypeError, KeyError) as exc:
                # The loader's own errors are tracebacks deep in YAML or its config classes.
                if (
                    context
                    and isinstance(exc, k8s_config.ConfigException)
                    and "contexts" in str(exc)
                ):
                    raise ClusterUnreachable(
                        f'context "{context}" does not exist in kubeconfig {path}'
                    ) from None
                detail = (
                    " ".join(str(exc).split())
                    if isinstance(exc, yaml.YAMLError | k8s_config.ConfigException)
                    else "it is not a kubeconfig (a mapping with clusters, contexts and users)"
                )
                raise ClusterUnreachable(
                    f"kubeconfig {path} cannot be used: {detail}; fix the file or point "
                    "--kubeconfig/KUBECONFIG at another one"
                ) from None
            source = path
        cfg.connection_pool_maxsize = pool_size
        api = k8s_client.ApiClient(configuration=cfg)
        _read_environment_once(api, str(cfg.host))
        return cls(api, Connection(server=str(cfg.host), namespace=namespace, source=source))

    def as_bearer(self, token: str) -> KubeClient:
        """A client to the same server and CA that authenticates with `token` alone.

        The dashboard's in-cluster mode acts as the user who called it: their token, not the
        process's credentials (client certificates and its own token are dropped). Close it.
        """
        base = self._api.configuration
        cfg = k8s_client.Configuration()
        cfg.host = base.host
        cfg.ssl_ca_cert = base.ssl_ca_cert
        cfg.verify_ssl = base.verify_ssl
        cfg.api_key = {"BearerToken": f"Bearer {token}"}
        api = k8s_client.ApiClient(configuration=cfg)
        _read_environment_once(api, str(cfg.host))
        return KubeClient(api, self.connection)

    async def close(self) -> None:
        await self._api.close()

    async def __aenter__(self) -> KubeClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- plumbing ---------------------------------------------------------------------------

    def _observe(self, request: Request) -> None:
        for observer in self.observers:
            observer(request)

    async def _send(
        self,
        method: str,
        path: str,
        *,
        verb: str,
        resource: str,
        namespace: str | None = None,
        name: str | None = None,
        query: Mapping[str, Any] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        timeout: float | aiohttp.ClientTimeout | None = 30,
    ) -> aiohttp.ClientResponse:
        query_params = [(k, _query_value(v)) for k, v in (query or {}).items() if v is not None]
        headers = {"Content-Type": content_type, "Accept": "application/json"}
        if name is None and verb == "create" and isinstance(body, dict):
            name = (body.get("metadata") or {}).get("name")
        seen = partial(Request, verb, resource, namespace=namespace or "", name=name or "")
        for attempt in range(4):
            try:
                response: aiohttp.ClientResponse = await self._api.call_api(
                    path,
                    method,
                    query_params=query_params,
                    header_params=dict(headers),
                    body=body,
                    auth_settings=["BearerToken"],
                    _preload_content=False,
                    _request_timeout=timeout,
                )
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                self._observe(seen(0))
                raise ClusterUnreachable(
                    f"cannot reach the API server at {self.connection.server}: {exc}"
                ) from exc
            self._observe(seen(response.status))
            if response.status == 429 and attempt < 3:
                # API Priority and Fairness asks us to come back later; honour it.
                retry_after = float(response.headers.get("Retry-After", "1") or 1)
                response.release()
                await asyncio.sleep(min(retry_after, 5.0))
                continue
            if response.status >= 400:
                raw = await response.read()
                response.release()
                raise _api_error(response.status, response.reason or "", raw)
            return response
        raise AssertionError("unreachable")

    async def _json(self, method: str, path: str, **kw: Any) -> JsonDict:
        response = await self._send(method, path, **kw)
        try:
            data = await response.read()
        finally:
            response.release()
        return json.loads(data) if data else {}

    # -- verbs ------------------------------------------------------------------------------

    async def get(
        self, res: Resource, name: str, *, namespace: str | None = None, subresource: str = ""
    ) -> JsonDict:
        path = res.path(namespace=namespace, name=name, subresource=subresource or None)
        return await self._json(
            "GET", path, verb="get", resource=res.plural, namespace=namespace, name=name
        )

    async def list(
        self,
        res: Resource,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        limit: int | None = None,
        continue_token: str | None = None,
    ) -> JsonDict:
        query = {
            "labelSelector": label_selector,
            "fieldSelector": field_selector,
            "limit": limit,
            "continue": continue_token,
        }
        return await self._json(
            "GET",
            res.path(namespace=namespace),
            verb="list",
            resource=res.plural,
            namespace=namespace,
            query=query,
        )

    async def list_all(
        self, res: Resource, *, namespace: str | None = None, label_selector: str | None = None
    ) -> JsonDict:
        """A paginated list, joined: items plus the list's own resourceVersion."""
        items: list[JsonDict] = []
        token: str | None = None
        while True:
            page = await self.list(
                res,
                namespace=namespace,
                label_selector=label_selector,
                limit=500,
                continue_token=token,
            )
            items.extend(page.get("items") or [])
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                page["items"] = items
                return page

    async def create(
        self,
        res: Resource,
        body: JsonDict,
        *,
        namespace: str | None = None,
        name: str | None = None,
        subresource: str = "",
        dry_run: bool = False,
    ) -> JsonDict:
        """POST a new object, or with `name` and `subresource` (a Pod's `eviction`) to that;
        with `dry_run` the server defaults, admits and validates but stores nothing."""
        query = {"fieldManager": FIELD_MANAGER, "dryRun": "All" if dry_run else None}
        return await self._json(
            "POST",
            res.path(namespace=namespace, name=name, subresource=subresource or None),
            verb="create",
            resource=res.plural + (f"/{subresource}" if subresource else ""),
            namespace=namespace,
            name=name,
            body=body,
            query=query,
        )

    async def replace(
        self,
        res: Resource,
        name: str,
        body: JsonDict,
        *,
        namespace: str | None = None,
        subresource: str = "",
    ) -> JsonDict:
        return await self._json(
            "PUT",
            res.path(namespace=namespace, name=name, subresource=subresource or None),
            verb="update",
            resource=res.plural,
            namespace=namespace,
            name=name,
            body=body,
            query={"fieldManager": FIELD_MANAGER},
        )

    async def patch(
        self,
        res: Resource,
        name: str,
        body: Any,
        *,
        namespace: str | None = None,
        patch_type: PatchType = "merge",
        subresource: str = "",
        force: bool | None = None,
    ) -> JsonDict:
        return await self._json(
            "PATCH",
            res.path(namespace=namespace, name=name, subresource=subresource or None),
            verb="patch",
            resource=res.plural + (f"/{subresource}" if subresource else ""),
            namespace=namespace,
            name=name,
            body=body,
            content_type=_PATCH_CONTENT_TYPES[patch_type],
            query={"fieldManager": FIELD_MANAGER, "force": force},
        )

    async def delete(
        self,
        res: Resource,
        name: str,
        *,
        namespace: str | None = None,
        propagation: str = "Background",
    ) -> JsonDict:
        return await self._json(
            "DELETE",
            res.path(namespace=namespace, name=name),
            verb="delete",
            resource=res.plural,
            namespace=namespace,
            name=name,
            body={"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": propagation},
        )

    async def watch(
        self,
        res: Resource,
        *,
        namespace: str | None = None,
        resource_version: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        timeout_seconds: int = 300,
    ) -> AsyncIterator[JsonDict]:
        """Yield watch events ({type, object}) until the server ends the stream.

        An ERROR event is raised as ApiError (410 Gone means: list again).
        """
        query = {
            "watch": "true",
            "allowWatchBookmarks": "true",
            "resourceVersion": resource_version,
            "labelSelector": label_selector,
            "fieldSelector": field_selector,
            "timeoutSeconds": timeout_seconds,
        }
        response = await self._send(
            "GET",
            res.path(namespace=namespace),
            verb="watch",
            resource=res.plural,
            namespace=namespace,
            query=query,
            # No total timeout: the server ends the stream after timeout_seconds. The read
            # timeout catches a dead connection (bookmarks arrive about once a minute).
            timeout=aiohttp.ClientTimeout(
                connect=10, sock_connect=10, sock_read=timeout_seconds + 30
            ),
        )
        try:
            async for line in response.content:
                if not line.strip():
                    continue
                event: JsonDict = json.loads(line)
                if event.get("type") == "ERROR":
                    status = event.get("object") or {}
                    raise ApiError(
                        int(status.get("code") or 500),
                        str(status.get("reason") or "Error"),
                        str(status.get("message") or "watch error"),
                        status,
                    )
                yield event
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ClusterUnreachable(f"watch of {res} broke: {exc}") from exc
        finally:
            response.release()


def _read_environment_once(api: k8s_client.ApiClient, server: str) -> None:
    """Take the proxy settings from the environment now, instead of on every request.

    kubernetes-asyncio opens its aiohttp session with `trust_env=True`, and aiohttp then runs
    two lookups in a worker thread for every request: the proxy environment and ~/.netrc
    (read and parsed each time). At a few writes per reconcile that was a tenth of the
    daemon's CPU. The answer cannot change while the process runs, so it is looked up once:
    an HTTP(S)_PROXY that applies to the API server (NO_PROXY honoured) is set on the client,
    and the session stops consulting the environment. (~/.netrc credentials are not used:
    the Kubernetes API server does not take basic auth.)
    """
    rest = getattr(api, "rest_client", None)
    session = getattr(rest, "pool_manager", None)
    if rest is None or not isinstance(session, aiohttp.ClientSession) or not session.trust_env:
        return
    if not getattr(rest, "proxy", None):
        try:
            proxy, proxy_auth = get_env_proxy_for_url(URL(server))
        except LookupError:
            pass
        else:
            rest.proxy = str(proxy)
            if proxy_auth is not None:
                rest.proxy_headers = {
                    **(getattr(rest, "proxy_headers", None) or {}),
                    "Proxy-Authorization": proxy_auth.encode(),
                }
    # aiohttp has no public setter; the attribute is what `trust_env` reads.
    session._trust_env = False


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _api_error(status: int, reason: str, raw: bytes) -> ApiError:
    try:
        body = json.loads(raw)
    except ValueError:
        return ApiError(status, reason, raw.decode(errors="replace").strip() or reason)
    if not isinstance(body, dict):
        return ApiError(status, reason, str(body))
    return ApiError(
        status, str(body.get("reason") or reason), str(body.get("message") or reason), body
    )


def _kubeconfig_namespace(path: str, context: str | None) -> str:
    contexts, active = k8s_config.list_kube_config_contexts(config_file=path)
    chosen = next((c for c in contexts if c.get("name") == context), None) if context else active
    ns = ((chosen or {}).get("context") or {}).get("namespace")
    return str(ns) if ns else "default"
