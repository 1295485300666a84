"""Kubernetes Events for the objects rolloutd acts on, as `kubectl describe` shows them.

The same (object, reason, message) within a short window is counted on the existing Event
instead of creating a new one, the way client-go's recorder aggregates, so a retrying error
does not flood etcd. Recording is best effort: a failure is logged, never raised.

`record_soon` sends in the background, so a reconcile does not wait one API round trip per
Event before its key can run again (a promote's next step was waiting behind two Event
POSTs). Events of one object still go out in the order they were recorded: each one's send
waits for the previous one of the same object, so counting repeats works as before.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import structlog

from rolloutd.gotime import timestamp
from rolloutd.kube.client import ApiError, ClusterUnreachable, KubeClient
from rolloutd.kube.resources import EVENTS

log = structlog.get_logger("rolloutd.events")
_CACHE_SIZE = 4096

EventObserver = Callable[[str, str, str, str, str], None]
"""(namespace, name, type, reason, message) of each recorded event, e.g. for metrics."""
ObjectObserver = Callable[[dict[str, Any], str, str, str], None]
"""(involved object, type, reason, message) of each recorded event, e.g. for notifications."""


class EventRecorder:
    def __init__(self, kube: KubeClient, component: str = "rolloutd") -> None:
        self.kube = kube
        self.component = component
        self._recent: OrderedDict[tuple[str, ...], tuple[str, int]] = OrderedDict()
        self.observers: list[EventObserver] = []
        self.object_observers: list[ObjectObserver] = []
        # Per involved object, the last background send; the next one waits for it.
        self._pending: dict[tuple[str, str], asyncio.Task[None]] = {}

    def record_soon(
        self, involved: dict[str, Any], event_type: str, reason: str, message: str
    ) -> None:
        """`record` in the background, after this object's earlier Events; never raises."""
        meta = involved.get("metadata") or {}
        key = (meta.get("namespace") or "", meta.get("uid") or meta.get("name") or "")
        previous = self._pending.get(key)
        task = asyncio.get_running_loop().create_task(
            self._record_after(previous, involved, event_type, reason, message)
        )
        self._pending[key] = task
        task.add_done_callback(lambda done: self._forget(key, done))

    def _forget(self, key: tuple[str, str], task: asyncio.Task[None]) -> None:
        if self._pending.get(key) is task:
            del self._pending[key]

    async def _record_after(
        self,
        previous: asyncio.Task[None] | None,
        involved: dict[str, Any],
        event_type: str,
        reason: str,
        message: str,
    ) -> None:
        if previous is not None:
            await asyncio.wait([previous])  # never raises, even if it was cancelled
        await self.record(involved, event_type, reason, message)

    async def flush(self, timeout: float | None = None) -> None:
        """Wait (at most `timeout` seconds) until the background sends are done."""
        pending = list(self._pending.values())
        if pending:
            await asyncio.wait(pending, timeout=timeout)

    async def record(
        self, involved: dict[str, Any], event_type: str, reason: str, message: str
    ) -> None:
        meta = involved.get("metadata") or {}
        namespace = meta.get("namespace") or "default"
        name = meta.get("name", "")
        for observer in self.observers:
            observer(namespace, name, event_type, reason, message)
        for watcher in self.object_observers:
            watcher(involved, event_type, reason, message)
        now = timestamp(dt.datetime.now(dt.UTC))
        key = (namespace, meta.get("uid", ""), event_type, reason, message)
        try:
            seen = self._recent.get(key)
            if seen is not None:
                event_name, count = seen
                await self.kube.patch(
                    EVENTS,
                    event_name,
                    {"count": count + 1, "lastTimestamp": now},
                    namespace=namespace,
                )
                self._remember(key, event_name, count + 1)
                return
            event_name = f"{name}.{uuid.uuid4().hex[:16]}"
            await self.kube.create(
                EVENTS,
                {
                    "apiVersion": "v1",
                    "kind": "Event",
                    "metadata": {"name": event_name, "namespace": namespace},
                    "involvedObject": {
                        "apiVersion": involved.get("apiVersion"),
                        "kind": involved.get("kind"),
                        "name": name,
                        "namespace": namespace,
                        "uid": meta.get("uid"),
                        "resourceVersion": meta.get("resourceVersion"),
                    },
                    "type": event_type,
                    "reason": reason,
                    "message": message[:1024],
                    "source": {"component": self.component},
                    "reportingComponent": self.component,
                    "firstTimestamp": now,
                    "lastTimestamp": now,
                    "count": 1,
                },
                namespace=namespace,
            )
            self._remember(key, event_name, 1)
        except (ApiError, ClusterUnreachable) as exc:
            self._recent.pop(key, None)
            log.warning("could not record event", reason=reason, error=str(exc))

    def _remember(self, key: tuple[str, ...], event_name: str, count: int) -> None:
        self._recent[key] = (event_name, count)
        self._recent.move_to_end(key)
        while len(self._recent) > _CACHE_SIZE:
            self._recent.popitem(last=False)
