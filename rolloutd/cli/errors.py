"""Errors the CLI reports, each as one `Error: ...` line on stderr and a non-zero exit.

API failures are translated here so every command says the same thing for the same problem:
a missing object in the API server's own words (`rollouts.argoproj.io "x" not found`), a missing
CRD as such, a refusal naming the verb and the resource, an unreachable cluster with its address
and what to try next.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the client pulls in kubernetes-asyncio: import it only to connect
    from rolloutd.kube.client import ApiError, ClusterUnreachable, Connection
    from rolloutd.kube.resources import Resource


class CliError(Exception):
    """A failure to report as `Error: <message>` with exit status `code`."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def _one_line(text: str) -> str:
    return " ".join(text.split())


def api_error(
    exc: ApiError,
    *,
    verb: str,
    resource: Resource,
    name: str | None = None,
    namespace: str | None = None,
    subresource: str = "",
    connection: Connection | None = None,
) -> CliError:
    """A CliError for an API failure during `verb` on `resource`."""
    what = f"{resource}{'/' + subresource if subresource else ''}"
    where = f' in namespace "{namespace}"' if namespace and resource.namespaced else ""
    message = _one_line(exc.message)
    if exc.status == 404:
        details = exc.body.get("details")
        if name and isinstance(details, dict) and details.get("name") == name:
            return CliError(message)
        if name is None or not details:
            # The type itself is unknown: the CRD is not installed (or the API group is off).
            return CliError(
                f"the server does not serve {what} ({message}): is the "
                f"{resource.kind} CRD installed in this cluster?"
            )
        return CliError(message)
    if exc.status == 403:
        if " cannot " in message:
            return CliError(message)
        return CliError(f"forbidden: cannot {verb} {what}{where}: {message}")
    if exc.status == 401:
        server = f" at {connection.server}" if connection else ""
        source = f" from {connection.source}" if connection else ""
        return CliError(
            f"Unauthorized: the API server{server} rejected the credentials{source} "
            f"({message}); log in again or pick another --context"
        )
    if exc.status == 409:
        return CliError(f"conflict while trying to {verb} {what}{where}: {message}")
    return CliError(message or f"{exc.status} {exc.reason} while trying to {verb} {what}{where}")


def unreachable_error(exc: ClusterUnreachable, connection: Connection | None) -> CliError:
    """A CliError for a cluster that cannot be reached, with where we looked and what to do."""
    detail = _one_line(str(exc.__cause__ or exc))
    if connection is None:
        return CliError(f"{_one_line(str(exc))}")
    return CliError(
        f"cannot reach the Kubernetes API server at {connection.server} "
        f"(kubeconfig {connection.source}): {detail}. Check your kubeconfig, --context and "
        "--server (try `kubectl cluster-info`); for a local try-out, `rolloutd sandbox up` "
        "starts a throwaway cluster"
    )
