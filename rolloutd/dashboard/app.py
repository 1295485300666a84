"""The dashboard's aiohttp application: Argo's HTTP API, its two streams, and the page.

Paths and JSON are those of Argo's `RolloutService` behind grpc-gateway, under the root path
(default `/rollouts`), so a client written for Argo's dashboard API works unchanged:

    GET /rollouts/api/v1/version                               {rolloutsVersion}
    GET /rollouts/api/v1/namespace                             {namespace, availableNamespaces}
    GET /rollouts/api/v1/rollouts/{ns}/info                    {rollouts: [RolloutInfo]}
    GET /rollouts/api/v1/rollouts/{ns}/info/watch              {result: {type, rolloutInfo}}...
    GET /rollouts/api/v1/rollouts/{ns}/{name}/info             RolloutInfo
    GET /rollouts/api/v1/rollouts/{ns}/{name}/info/watch       {result: RolloutInfo}...
    PUT .../{ns}/{name}/promote {full} | abort | retry | restart    -> the Rollout
    PUT .../{ns}/{name}/set/{container}/{image...}/{tag}            -> the Rollout
    PUT .../{ns}/{name}/undo/{revision}                             -> the Rollout

Streams are server-sent events (`data: {"result": ...}` and a `:` keep-alive every 15 s) when
the client accepts `text/event-stream`, else one JSON message per line, as grpc-gateway does.
Unlike Argo, the list stream also sends `Added` and `Deleted`, and a stream sends a message
only when its content changed (Argo resends every second).

Beyond Argo: `GET /rollouts/api/v1/rolloutd/access/{ns}` tells the page who the caller is
and whether they may act; in `token` mode every request is authenticated and authorised as
the caller (see `auth`); in `none` mode (local) only loopback Host names are served, which
also stops DNS-rebinding pages. Writes from a browser must carry `X-Rolloutd-CSRF: 1` and a
matching Origin; PUT already forces a CORS preflight, which this server never grants.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata, resources
from typing import Any, Literal

import structlog
from aiohttp import web

from rolloutd.cli import patches
from rolloutd.cli.errors import CliError
from rolloutd.cli.session import Session
from rolloutd.dashboard.auth import Access, Reviewer, User
from rolloutd.dashboard.views import NamespaceView, NotSynced, Views
from rolloutd.kube.client import ApiError, ClusterUnreachable, KubeClient
from rolloutd.kube.resources import ROLLOUTS

JsonDict = dict[str, Any]
AuthMode = Literal["none", "token"]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
log = structlog.get_logger("rolloutd.dashboard")

KEEPALIVE_SECONDS = 15.0
CSRF_HEADER = "X-Rolloutd-CSRF"
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]", "::1")
SET_IMAGE_ATTEMPTS = 5
# grpc-gateway answers errors as {code, message, error}; code is the gRPC code.
_GRPC_CODES = {400: 3, 401: 16, 403: 7, 404: 5, 409: 6, 422: 3, 503: 14}
_SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


class HttpError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _error(status: int, message: str) -> web.Response:
    code = _GRPC_CODES.get(status, 2)
    return web.json_response({"code": code, "message": message, "error": message}, status=status)


def _version() -> str:
    try:
        return f"rolloutd v{metadata.version('rolloutd')}"
    except metadata.PackageNotFoundError:
        return "rolloutd v0.0.0+unknown"


def static_text(name: str) -> str:
    return resources.files("rolloutd.dashboard").joinpath("static", name).read_text()


@dataclass
class Config:
    """How the server was started."""

    namespace: str
    root_path: str = "rollouts"
    auth_mode: AuthMode = "none"

    @property
    def prefix(self) -> str:
        root = self.root_path.strip("/")
        return f"/{root}" if root else ""


USER_KEY = web.AppKey("user", object)


class Dashboard:
    """The state behind the routes: one API client, the caches, the reviewer."""

    def __init__(self, kube: KubeClient, config: Config) -> None:
        self.kube = kube
        self.config = config
        self.views = Views(kube)
        self.reviewer = Reviewer(kube)

    # -- who is calling ---------------------------------------------------------------------

    def user(self, request: web.Request) -> User | None:
        user = request.get("user")
        return user if isinstance(user, User) else None

    async def require(self, request: web.Request, access: Access) -> None:
        user = self.user(request)
        if self.config.auth_mode == "none" or user is None:
            return
        if not await self.reviewer.allowed(user, access):
            what = f"{access.resource}{'/' + access.subresource if access.subresource else ''}"
            target = f' "{access.name}"' if access.name else ""
            raise HttpError(
                403,
                f"permission denied: {user.username} cannot {access.verb} {what}{target} "
                f'in namespace "{access.namespace}"',
            )

    def writer(self, request: web.Request) -> KubeClient:
        """The client a write goes through: the user's own token in token mode."""
        user = self.user(request)
        if user is not None and user.token:
            return self.kube.as_bearer(user.token)
        return self.kube

    # -- middleware -------------------------------------------------------------------------

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            if self.config.auth_mode == "none":
                host = (
                    request.host.rsplit(":", 1)[0]
                    if not request.host.startswith("[")
                    else (request.host.split("]")[0] + "]")
                )
                if host not in LOOPBACK_HOSTS:
                    raise HttpError(403, f"host {request.host!r} is not served in local mode")
            api = request.path.startswith(f"{self.config.prefix}/api/")
            if api and self.config.auth_mode == "token":
                header = request.headers.get("Authorization", "")
                if not header.lower().startswith("bearer ") or not header[7:].strip():
                    raise HttpError(401, "a bearer token is required (Authorization: Bearer ...)")
                user = await self.reviewer.authenticate(header[7:].strip())
                if user is None:
                    raise HttpError(401, "the token was not accepted by the API server")
                request["user"] = user
            if api and request.method not in ("GET", "HEAD", "OPTIONS"):
                self._check_csrf(request)
            response = await handler(request)
        except HttpError as exc:
            response = _error(exc.status, exc.message)
        except NotSynced as exc:
            response = _error(503, str(exc))
        except ClusterUnreachable as exc:
            response = _error(503, str(exc))
        if not response.prepared:
            response.headers.update(_SECURITY_HEADERS)
        return response

    def _check_csrf(self, request: web.Request) -> None:
        origin = request.headers.get("Origin")
        fetch_site = request.headers.get("Sec-Fetch-Site")
        if origin is None and fetch_site is None:
            return  # not a browser: curl, scripts, Argo's API clients
        if origin is not None and origin != f"{request.scheme}://{request.host}":
            raise HttpError(403, f"cross-origin write refused (Origin {origin})")
        if fetch_site not in (None, "same-origin", "none"):
            raise HttpError(403, f"cross-site write refused (Sec-Fetch-Site {fetch_site})")
        if request.headers.get(CSRF_HEADER) != "1":
            raise HttpError(403, f"writes from a browser need the {CSRF_HEADER}: 1 header")

    # -- reads ------------------------------------------------------------------------------

    async def version(self, request: web.Request) -> web.Response:
        return web.json_response({"rolloutsVersion": _version()})

    async def namespace(self, request: web.Request) -> web.Response:
        names = {self.config.namespace}
        try:
            page = await self.kube.list(ROLLOUTS)
            names.update(
                str((r.get("metadata") or {}).get("namespace", "")) for r in page.get("items") or []
            )
        except ApiError:
            pass  # no cluster-wide list right: the one namespace we serve is the list
        available = []
        for ns in sorted(n for n in names if n):
            user = self.user(request)
            if user is None or await self.reviewer.allowed(user, Access("list", ns)):
                available.append(ns)
        return web.json_response(
            {"namespace": self.config.namespace, "availableNamespaces": available}
        )

    async def access(self, request: web.Request) -> web.Response:
        ns = request.match_info["namespace"]
        user = self.user(request)
        can_patch = True
        if user is not None:
            can_patch = await self.reviewer.allowed(user, Access("patch", ns))
        return web.json_response(
            {
                "mode": self.config.auth_mode,
                "user": user.username if user is not None else "",
                "canPatch": can_patch,
            }
        )

    async def _view(self, request: web.Request, access: Access) -> NamespaceView:
        await self.require(request, access)
        return await self.views.get(access.namespace)

    async def list_infos(self, request: web.Request) -> web.Response:
        view = await self._view(request, Access("list", request.match_info["namespace"]))
        return web.json_response({"rollouts": view.infos()})

    async def get_info(self, request: web.Request) -> web.Response:
        ns, name = request.match_info["namespace"], request.match_info["name"]
        view = await self._view(request, Access("get", ns, name))
        ro = view.rollout(name)
        if ro is None:
            raise HttpError(404, f'rollouts.argoproj.io "{name}" not found in namespace "{ns}"')
        return web.json_response(view.info(ro))

    async def _stream(
        self,
        request: web.Request,
        view: NamespaceView,
        produce: Callable[[], list[JsonDict]],
    ) -> web.StreamResponse:
        sse = "text/event-stream" in request.headers.get("Accept", "")
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream" if sse else "application/json",
                "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no",  # nginx in front must not hold events back
                **_SECURITY_HEADERS,
            }
        )
        await response.prepare(request)
        with view.subscribe() as changed:
            try:
                while True:
                    changed.clear()
                    for message in produce():
                        body = json.dumps({"result": message}, separators=(",", ":"))
                        await response.write(
                            f"data: {body}\n\n".encode() if sse else f"{body}\n".encode()
                        )
                    try:
                        async with asyncio.timeout(KEEPALIVE_SECONDS):
                            await changed.wait()
                    except TimeoutError:
                        if sse:
                            await response.write(b":\n\n")
            except ConnectionResetError:
                pass  # the client went away
        return response

    async def watch_infos(self, request: web.Request) -> web.StreamResponse:
        ns = request.match_info["namespace"]
        view = await self._view(request, Access("watch", ns))
        sent: dict[str, str] = {}
        first = True

        def produce() -> list[JsonDict]:
            nonlocal first
            out: list[JsonDict] = []
            infos = {i["objectMeta"]["name"]: i for i in view.infos()}
            for name, info in infos.items():
                text = json.dumps(info, sort_keys=True)
                if sent.get(name) != text:
                    # Argo's UI merges `Updated` into a row it has and adds anything else.
                    kind = "Updated" if first or name in sent else "Added"
                    out.append({"type": kind, "rolloutInfo": info})
                    sent[name] = text
            for name in [n for n in sent if n not in infos]:
                del sent[name]
                out.append(
                    {
                        "type": "Deleted",
                        "rolloutInfo": {"objectMeta": {"name": name, "namespace": ns}},
                    }
                )
            first = False
            return out

        return await self._stream(request, view, produce)

    async def watch_info(self, request: web.Request) -> web.StreamResponse:
        ns, name = request.match_info["namespace"], request.match_info["name"]
        view = await self._view(request, Access("watch", ns, name))
        if view.rollout(name) is None:
            raise HttpError(404, f'rollouts.argoproj.io "{name}" not found in namespace "{ns}"')
        last = ""

        def produce() -> list[JsonDict]:
            nonlocal last
            ro = view.rollout(name)
            if ro is None:
                return []
            info = view.info(ro)
            text = json.dumps(info, sort_keys=True)
            if text == last:
                return []
            last = text
            return [info]

        return await self._stream(request, view, produce)

    # -- actions ----------------------------------------------------------------------------

    async def _act(
        self,
        request: web.Request,
        accesses: list[Access],
        body: Callable[[Session], Awaitable[JsonDict]],
    ) -> web.Response:
        for access in accesses:
            await self.require(request, access)
        client = self.writer(request)
        session = Session(kube=client, namespace=request.match_info["namespace"])
        try:
            result = await body(session)
        except patches.PatchError as exc:
            raise HttpError(400, str(exc)) from exc
        except CliError as exc:
            cause = exc.__cause__
            status = cause.status if isinstance(cause, ApiError) else 503
            raise HttpError(status if status >= 400 else 500, exc.message) from exc
        finally:
            if client is not self.kube:
                await client.close()
        log.info(
            "dashboard action",
            path=request.path,
            user=(self.user(request) or User("kubeconfig")).username,
        )
        return web.json_response(result)

    @staticmethod
    def _names(request: web.Request) -> tuple[str, str]:
        return request.match_info["namespace"], request.match_info["name"]

    async def promote(self, request: web.Request) -> web.Response:
        ns, name = self._names(request)
        full = False
        if request.can_read_body:
            try:
                payload = await request.json()
            except json.JSONDecodeError as exc:
                raise HttpError(400, f"request body is not JSON: {exc}") from exc
            if not isinstance(payload, dict):
                raise HttpError(400, 'request body must be an object like {"full": true}')
            value = payload.get("full", False)
            if not isinstance(value, bool):
                raise HttpError(400, "full: must be true or false")
            full = value

        async def run(session: Session) -> JsonDict:
            ro = await session.get_rollout(name)
            planned = patches.promote_patches(ro, full=full)
            result = ro
            if planned.status is not None:
                result = await session.patch_rollout(name, planned.status, status=True)
            if planned.spec is not None:
                result = await session.patch_rollout(name, planned.spec)
            return result

        return await self._act(
            request,
            [Access("patch", ns, name), Access("patch", ns, name, subresource="status")],
            run,
        )

    def _status_patch(self, body: JsonDict) -> Handler:
        async def handler(request: web.Request) -> web.Response:
            ns, name = self._names(request)

            async def run(session: Session) -> JsonDict:
                return await session.patch_rollout(name, body, status=True)

            return await self._act(request, [Access("patch", ns, name, subresource="status")], run)

        return handler

    async def restart(self, request: web.Request) -> web.Response:
        ns, name = self._names(request)

        async def run(session: Session) -> JsonDict:
            return await session.patch_rollout(name, patches.restart_patch(datetime.now(UTC)))

        return await self._act(request, [Access("patch", ns, name)], run)

    async def set_image(self, request: web.Request) -> web.Response:
        ns, name = self._names(request)
        container = request.match_info["container"]
        image = f"{request.match_info['image']}:{request.match_info['tag']}"

        async def run(session: Session) -> JsonDict:
            for attempt in range(SET_IMAGE_ATTEMPTS):
                ro = await session.get_rollout(name)
                updated = patches.set_image(ro, container, image)
                try:
                    return await session.replace_rollout(name, updated)
                except CliError as exc:
                    cause = exc.__cause__
                    if not (isinstance(cause, ApiError) and cause.conflict):
                        raise
                    if attempt == SET_IMAGE_ATTEMPTS - 1:
                        raise
            raise AssertionError("unreachable")

        return await self._act(request, [Access("update", ns, name)], run)

    async def undo(self, request: web.Request) -> web.Response:
        ns, name = self._names(request)
        text = request.match_info["revision"]
        if not text.isdigit():
            raise HttpError(400, f"revision: must be a non-negative integer, not {text!r}")
        revision = int(text)
        view = await self.views.get(ns)

        async def run(session: Session) -> JsonDict:
            ro = await session.get_rollout(name)
            replica_sets = list(view.replica_sets.items())
            patch = patches.undo_patch(ro, replica_sets, revision)
            if patch is None:
                return ro
            return await session.patch_rollout(name, patch, patch_type="json")

        return await self._act(request, [Access("patch", ns, name)], run)

    # -- the page ---------------------------------------------------------------------------

    async def index(self, request: web.Request) -> web.Response:
        page = static_text("index.html").replace("__ROOT__", self.config.prefix + "/")
        return web.Response(
            text=page, content_type="text/html", headers={"Cache-Control": "no-cache"}
        )

    async def asset(self, request: web.Request) -> web.Response:
        name = request.match_info["asset"]
        types = {"app.js": "text/javascript", "app.css": "text/css"}
        if name not in types:
            raise HttpError(404, f"no asset {name!r}")
        return web.Response(text=static_text(name), content_type=types[name])

    async def redirect(self, request: web.Request) -> web.Response:
        raise web.HTTPFound(self.config.prefix + "/")

    async def api_not_found(self, request: web.Request) -> web.Response:
        raise HttpError(404, f"no API route {request.method} {request.path}")


def build_app(kube: KubeClient, config: Config) -> web.Application:
    dash = Dashboard(kube, config)
    app = web.Application(middlewares=[dash.middleware])
    p = config.prefix
    api = f"{p}/api/v1"
    ro = api + "/rollouts/{namespace}"
    one = ro + "/{name}"
    app.router.add_get(api + "/version", dash.version)
    app.router.add_get(api + "/namespace", dash.namespace)
    app.router.add_get(api + "/rolloutd/access/{namespace}", dash.access)
    app.router.add_get(ro + "/info", dash.list_infos)
    app.router.add_get(ro + "/info/watch", dash.watch_infos)
    app.router.add_get(one + "/info", dash.get_info)
    app.router.add_get(one + "/info/watch", dash.watch_info)
    app.router.add_put(one + "/promote", dash.promote)
    app.router.add_put(one + "/abort", dash._status_patch(patches.ABORT_PATCH))
    app.router.add_put(one + "/retry", dash._status_patch(patches.RETRY_PATCH))
    app.router.add_put(one + "/restart", dash.restart)
    app.router.add_put(one + "/set/{container}/{image:.+}/{tag}", dash.set_image)
    app.router.add_put(one + "/undo/{revision}", dash.undo)
    app.router.add_route("*", api + "/{tail:.*}", dash.api_not_found)
    app.router.add_get(p + "/assets/{asset}", dash.asset)
    if p:
        app.router.add_get("/", dash.redirect)
        app.router.add_get(p, dash.redirect)
    app.router.add_get(p + "/{tail:.*}", dash.index)

    async def close(_: web.Application) -> None:
        await dash.views.close()

    app.on_cleanup.append(close)
    return app
