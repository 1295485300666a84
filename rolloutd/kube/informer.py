"""A list+watch cache of one resource type (client-go's informer, the small version).

It lists once, remembers the list's resourceVersion, and watches from there with bookmarks.
When the server ends the stream it watches again from the last version it saw; when that
version is too old (410 Gone) it lists again and reports the difference as events; when the
connection breaks it backs off (with jitter) and retries. Objects are kept as the dicts the
server sent, keyed by (namespace, name). Handlers run synchronously on each change, so they
must be cheap: the controller's only enqueue keys.

Indexes (client-go's Indexer) answer "which cached objects have this value" without a scan:
`add_index(name, fn)` keeps, for every value `fn(obj)` returns, the keys of the objects that
returned it, updated on every change to the store. At a thousand Rollouts a reconcile that
scanned every ReplicaSet for its owner spent more CPU there than in the planner.

resourceVersions are opaque strings (API conventions): they are only compared for equality,
and order comes from the watch stream itself. A write's answer (`remember`) is newer than
every event the watch has delivered before it arrives, and the watch delivers that very
version later; until it does, events for that object are older than the cache and are
skipped, so a write does not come back as a change (and queue another reconcile).
"""

from __future__ import annotations

import asyncio
import random
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from typing import Any

import structlog

from rolloutd.kube.client import ApiError, ClusterUnreachable, KubeClient
from rolloutd.kube.resources import Resource

JsonDict = dict[str, Any]
Key = tuple[str, str]
Handler = Callable[[str, JsonDict, JsonDict | None], None]
"""(event type ADDED|MODIFIED|DELETED, object, previous object or None)."""
IndexFunc = Callable[[JsonDict], Iterable[Hashable]]
"""The values an object is filed under in one index (none, one or several)."""

log = structlog.get_logger("rolloutd.informer")


def object_key(obj: JsonDict) -> Key:
    meta = obj.get("metadata") or {}
    return (meta.get("namespace") or "", meta.get("name") or "")


def strip_managed_fields(obj: JsonDict) -> JsonDict:
    """Drop `metadata.managedFields`: nobody here reads it, and it is often half an object."""
    meta = obj.get("metadata")
    if isinstance(meta, dict):
        meta.pop("managedFields", None)
    return obj


def _rv(obj: JsonDict | None) -> str:
    return str(((obj or {}).get("metadata") or {}).get("resourceVersion") or "")


_RECENT_EVENTS = 4096
"""How many (key, resourceVersion) pairs the watch delivered are remembered, to tell that a
write's answer arriving late is already older than the cache."""


class Informer:
    """Cache + watch of one resource; see the module docstring."""

    def __init__(
        self,
        kube: KubeClient,
        resource: Resource,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        watch_timeout: int = 300,
        transform: Callable[[JsonDict], JsonDict] | None = strip_managed_fields,
    ) -> None:
        self.kube = kube
        self.resource = resource
        self.namespace = namespace
        self.label_selector = label_selector
        self.watch_timeout = watch_timeout
        self.transform = transform
        self.store: dict[Key, JsonDict] = {}
        self.handlers: list[Handler] = []
        self.synced = asyncio.Event()
        self.lists = 0
        self.relists = 0
        self._resource_version: str | None = None
        self._index_funcs: dict[str, IndexFunc] = {}
        # index name -> value -> keys; a dict of keys (not a set) keeps the cache's order.
        self._indexes: dict[str, dict[Hashable, dict[Key, None]]] = {}
        # Versions our own writes returned that the watch has not delivered yet, per object.
        self._pending: dict[Key, set[str]] = {}
        # Versions the watch delivered lately (bounded), in delivery order.
        self._delivered: OrderedDict[tuple[Key, str], None] = OrderedDict()

    # -- indexes ----------------------------------------------------------------------------

    def add_index(self, name: str, func: IndexFunc) -> None:
        self._index_funcs[name] = func
        self._indexes[name] = {}
        for key, obj in self.store.items():
            self._file(name, key, obj)

    def by_index(self, name: str, value: Hashable) -> list[JsonDict]:
        """The cached objects filed under `value` in index `name`, in the cache's order."""
        keys = self._indexes[name].get(value)
        if not keys:
            return []
        return [obj for key in keys if (obj := self.store.get(key)) is not None]

    def _file(self, name: str, key: Key, obj: JsonDict) -> None:
        index = self._indexes[name]
        for value in self._index_funcs[name](obj):
            index.setdefault(value, {})[key] = None

    def _unfile(self, name: str, key: Key, obj: JsonDict) -> None:
        index = self._indexes[name]
        for value in self._index_funcs[name](obj):
            keys = index.get(value)
            if keys is not None:
                keys.pop(key, None)
                if not keys:
                    del index[value]

    def _put(self, key: Key, obj: JsonDict, old: JsonDict | None) -> None:
        self.store[key] = obj
        for name in self._index_funcs:
            if old is not None:
                self._unfile(name, key, old)
            self._file(name, key, obj)

    def _drop(self, key: Key) -> None:
        old = self.store.pop(key, None)
        if old is not None:
            for name in self._index_funcs:
                self._unfile(name, key, old)

    def _rebuild_indexes(self) -> None:
        for name in self._index_funcs:
            self._indexes[name] = {}
            for key, obj in self.store.items():
                self._file(name, key, obj)

    # -- reading ----------------------------------------------------------------------------

    def get(self, namespace: str, name: str) -> JsonDict | None:
        return self.store.get((namespace if self.resource.namespaced else "", name))

    def items(self) -> Iterable[JsonDict]:
        return self.store.values()

    def remember(self, obj: JsonDict) -> None:
        """Take an object a write returned, unless the watch has already gone past it."""
        if self.transform is not None:
            obj = self.transform(obj)
        key = object_key(obj)
        old = self.store.get(key)
        rv = _rv(obj)
        if old is not None and (_rv(old) == rv or (key, rv) in self._delivered):
            return
        if rv:
            self._pending.setdefault(key, set()).add(rv)
        self._put(key, obj, old)
        self._notify("MODIFIED" if old else "ADDED", obj, old)

    def _delivered_now(self, key: Key, rv: str) -> None:
        self._delivered[(key, rv)] = None
        if len(self._delivered) > _RECENT_EVENTS:
            self._delivered.popitem(last=False)

    def _is_stale(self, key: Key, rv: str) -> bool:
        """Whether a watch event for `key` is no news: our own write, or older than it."""
        pending = self._pending.get(key)
        if not pending:
            return False
        # Events for one object arrive in order, and ours has not come yet: this one is ours
        # or one from before it.
        pending.discard(rv)
        if not pending:
            del self._pending[key]
        return True

    def apply_watch_event(self, event: JsonDict) -> None:
        """Bring one watch event into the cache and tell the handlers (if it is news)."""
        kind = event.get("type")
        obj = event.get("object") or {}
        rv = (obj.get("metadata") or {}).get("resourceVersion")
        if kind == "BOOKMARK":
            self._resource_version = rv or self._resource_version
            return
        if self.transform is not None:
            obj = self.transform(obj)
        key = object_key(obj)
        old = self.store.get(key)
        if kind == "DELETED":
            self._pending.pop(key, None)
            self._drop(key)
            self._notify("DELETED", obj, old)
        elif kind in ("ADDED", "MODIFIED"):
            version = _rv(obj)
            self._delivered_now(key, version)
            stale = self._is_stale(key, version)
            if not stale and not (old is not None and _rv(old) == version):
                self._put(key, obj, old)
                self._notify(kind, obj, old)
        self._resource_version = rv or self._resource_version

    # -- running ----------------------------------------------------------------------------

    def add_handler(self, handler: Handler) -> None:
        self.handlers.append(handler)

    def _notify(self, kind: str, obj: JsonDict, old: JsonDict | None) -> None:
        for handler in self.handlers:
            try:
                handler(kind, obj, old)
            except Exception:  # a handler bug must not stop the cache
                log.exception("informer handler failed", resource=str(self.resource))

    async def run(self) -> None:
        """List and watch until cancelled."""
        backoff = 0.5
        while True:
            try:
                if self._resource_version is None:
                    await self._list()
                await self._watch()
                backoff = 0.5
            except ApiError as exc:
                if exc.gone:
                    # Our resourceVersion was compacted away: start over from a fresh list.
                    self.relists += 1
                    self._resource_version = None
                    continue
                if exc.not_found:
                    # The CRD is not installed (yet): keep an empty cache, look again later.
                    self.synced.set()
                    self._resource_version = None
                    await asyncio.sleep(30)
                    continue
                log.warning("watch failed", resource=str(self.resource), error=str(exc))
                self._resource_version = None
                await asyncio.sleep(backoff * (1 + random.random()))
                backoff = min(backoff * 2, 30)
            except ClusterUnreachable as exc:
                log.warning("watch broke", resource=str(self.resource), error=str(exc))
                await asyncio.sleep(backoff * (1 + random.random()))
                backoff = min(backoff * 2, 30)

    async def _list(self) -> None:
        page = await self.kube.list_all(
            self.resource, namespace=self.namespace, label_selector=self.label_selector
        )
        self.lists += 1
        fresh: dict[Key, JsonDict] = {}
        for item in page.get("items") or []:
            # Lists omit kind/apiVersion on items; routers and the CLI expect them.
            item.setdefault("apiVersion", self.resource.api_version)
            item.setdefault("kind", self.resource.kind)
            if self.transform is not None:
                item = self.transform(item)
            fresh[object_key(item)] = item
        old_store = self.store
        self.store = fresh
        self._pending.clear()  # the list is newer than any write we were waiting for
        self._rebuild_indexes()
        for key, obj in fresh.items():
            old = old_store.get(key)
            if old is None:
                self._notify("ADDED", obj, None)
            elif _rv(old) != _rv(obj):
                self._notify("MODIFIED", obj, old)
        for key, obj in old_store.items():
            if key not in fresh:
                self._notify("DELETED", obj, obj)
        self._resource_version = (page.get("metadata") or {}).get("resourceVersion")
        self.synced.set()

    async def _watch(self) -> None:
        async for event in self.kube.watch(
            self.resource,
            namespace=self.namespace,
            resource_version=self._resource_version,
            label_selector=self.label_selector,
            timeout_seconds=self.watch_timeout,
        ):
            self.apply_watch_event(event)
