"""Live views for `get rollout --watch` and `status`: list once, then follow a watch.

An `ObjectCache` keeps the current objects of one type (in one namespace, optionally filtered by
a label selector) from a list followed by a watch from the list's resourceVersion, resuming the
watch where it ended and listing again when the server says the version is gone (410). Every
change sets a shared `asyncio.Event`, so a view redraws when something changed and only then,
instead of polling the API server.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from rolloutd.cli.errors import CliError, api_error, unreachable_error
from rolloutd.cli.session import Session
from rolloutd.kube.resources import Resource

JsonDict = dict[str, Any]

# Server-side watch length; the cache simply watches again from where it was.
WATCH_SECONDS = 240


def _key(obj: JsonDict) -> str:
    meta = obj.get("metadata") or {}
    return str(meta.get("uid") or f"{meta.get('namespace')}/{meta.get('name')}")


@dataclass
class ObjectCache:
    """The live set of one resource type, kept current by list + watch."""

    session: Session
    resource: Resource
    wake: asyncio.Event
    namespace: str | None = None
    selector: str | None = None
    optional: bool = False
    absent: tuple[int, ...] = (404,)
    """Statuses that mean "none of these here" for an optional type (404: not served)."""
    items: dict[str, JsonDict] = field(default_factory=dict)
    synced: asyncio.Event = field(default_factory=asyncio.Event)
    error: CliError | None = None

    def objects(self) -> list[JsonDict]:
        return list(self.items.values())

    async def _relist(self) -> str:
        page = await self.session.kube.list_all(
            self.resource, namespace=self.namespace, label_selector=self.selector
        )
        self.items = {_key(obj): obj for obj in page.get("items") or [] if isinstance(obj, dict)}
        self.synced.set()
        self.wake.set()
        return str((page.get("metadata") or {}).get("resourceVersion") or "")

    async def _follow(self, resource_version: str) -> str:
        """Apply watch events until the server ends the stream; returns the last version."""
        async for event in self.session.kube.watch(
            self.resource,
            namespace=self.namespace,
            resource_version=resource_version or None,
            label_selector=self.selector,
            timeout_seconds=WATCH_SECONDS,
        ):
            obj = event.get("object")
            if not isinstance(obj, dict):
                continue
            version = (obj.get("metadata") or {}).get("resourceVersion")
            if version:
                resource_version = str(version)
            kind = event.get("type")
            if kind == "BOOKMARK":
                continue
            if kind == "DELETED":
                self.items.pop(_key(obj), None)
            else:
                self.items[_key(obj)] = obj
            self.wake.set()
        return resource_version

    def _fail(self, error: CliError) -> None:
        self.error = error
        self.synced.set()
        self.wake.set()

    async def run(self) -> None:
        """Keep the cache current until cancelled; a lasting failure is left in `error`."""
        from rolloutd.kube.client import ApiError, ClusterUnreachable

        delay = 0.5
        version = ""
        while True:
            try:
                if not version:
                    version = await self._relist()
                version = await self._follow(version)
                delay = 0.5
            except ApiError as exc:
                if exc.gone:
                    version = ""  # our version is too old: list again
                    continue
                if self.optional and exc.status in self.absent:
                    self.synced.set()
                    self.wake.set()
                    return
                self._fail(
                    api_error(
                        exc,
                        verb="watch",
                        resource=self.resource,
                        namespace=self.namespace,
                        connection=self.session.kube.connection,
                    )
                )
                return
            except ClusterUnreachable as exc:
                if not self.synced.is_set():
                    self._fail(unreachable_error(exc, self.session.kube.connection))
                    return
                # A dropped connection mid-watch: keep what we have and try again shortly.
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)


class Caches:
    """A few ObjectCaches sharing one wake-up event, run as background tasks."""

    def __init__(self) -> None:
        self.wake = asyncio.Event()
        self.caches: list[ObjectCache] = []
        self._tasks: list[asyncio.Task[None]] = []

    def add(
        self,
        session: Session,
        resource: Resource,
        *,
        namespace: str | None,
        selector: str | None = None,
        optional: bool = False,
        absent: tuple[int, ...] = (404,),
    ) -> ObjectCache:
        cache = ObjectCache(
            session,
            resource,
            self.wake,
            namespace=namespace,
            selector=selector,
            optional=optional,
            absent=absent,
        )
        self.caches.append(cache)
        return cache

    async def start(self) -> None:
        """Start every cache and wait until each has listed once (or failed)."""
        self._tasks = [asyncio.create_task(cache.run()) for cache in self.caches]
        await asyncio.gather(*(cache.synced.wait() for cache in self.caches))
        self.raise_error()

    def raise_error(self) -> None:
        for cache in self.caches:
            if cache.error is not None:
                raise cache.error

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
