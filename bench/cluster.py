"""The cluster side of a benchmark: namespaces, bulk creation, and timestamped watches.

Everything the benchmark learns about the cluster it learns through watches (the informer
rolloutd itself uses), never by polling, so a latency is "when the change reached a watcher",
the same moment any other client of the API server could have seen it. A `Tracker` is an
informer plus waits on predicates: register what you expect *before* causing it, then await
it; the time recorded is when the event that satisfied the predicate arrived.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from rolloutd.kube.client import ApiError, KubeClient
from rolloutd.kube.informer import Informer
from rolloutd.kube.resources import NAMESPACES, Resource

JsonDict = dict[str, Any]
Predicate = Callable[[JsonDict], bool]

VIRTUAL_SERVICES = Resource("networking.istio.io", "v1alpha3", "virtualservices", "VirtualService")
GATEWAYS = Resource("networking.istio.io", "v1alpha3", "gateways", "Gateway")


@dataclass
class Expectation:
    """Objects (by name) that should come to satisfy a predicate, and when each did."""

    predicate: Predicate
    pending: set[str]
    times: dict[str, float] = field(default_factory=dict)
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def offer(self, name: str, obj: JsonDict, now: float) -> None:
        if name in self.pending and self.predicate(obj):
            self.pending.discard(name)
            self.times[name] = now
            if not self.pending:
                self.done.set()

    async def wait(self, timeout: float) -> dict[str, float]:
        """The arrival time of each object's satisfying event; TimeoutError if any is late."""
        await asyncio.wait_for(self.done.wait(), timeout)
        return self.times


class Tracker:
    """An informer over one resource in one namespace, with `expect` waits on its objects."""

    def __init__(
        self,
        kube: KubeClient,
        resource: Resource,
        namespace: str,
        *,
        label_selector: str | None = None,
    ) -> None:
        self.informer = Informer(kube, resource, namespace=namespace, label_selector=label_selector)
        self.informer.add_handler(self._on_event)
        self.namespace = namespace
        self.events = 0
        self._expectations: list[Expectation] = []
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self.informer.run())
        await self.informer.synced.wait()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def get(self, name: str) -> JsonDict | None:
        return self.informer.get(self.namespace, name)

    def items(self) -> Iterable[JsonDict]:
        return self.informer.items()

    def _on_event(self, kind: str, obj: JsonDict, old: JsonDict | None) -> None:
        # Taken first: this is the moment the change reached us.
        now = time.monotonic()
        self.events += 1
        if kind == "DELETED" or not self._expectations:
            return
        name = (obj.get("metadata") or {}).get("name") or ""
        for exp in self._expectations:
            exp.offer(name, obj, now)
        self._expectations = [e for e in self._expectations if not e.done.is_set()]

    def expect(self, names: Iterable[str], predicate: Predicate) -> Expectation:
        """Start waiting for every named object to satisfy `predicate`.

        Objects that already satisfy it count as done now; call this before the request that
        should cause the change, so its event cannot slip past.
        """
        exp = Expectation(predicate, set(names))
        now = time.monotonic()
        for name in list(exp.pending):
            obj = self.get(name)
            if obj is not None:
                exp.offer(name, obj, now)
        if not exp.pending:
            exp.done.set()
        else:
            self._expectations.append(exp)
        return exp

    async def wait_all(
        self, names: Iterable[str], predicate: Predicate, timeout: float
    ) -> dict[str, float]:
        return await self.expect(names, predicate).wait(timeout)


async def gather_limited(jobs: Sequence[Callable[[], Any]], *, concurrency: int = 32) -> list[Any]:
    """Run coroutine factories with at most `concurrency` in flight; results in order."""
    gate = asyncio.Semaphore(concurrency)

    async def one(job: Callable[[], Any]) -> Any:
        async with gate:
            return await job()

    return list(await asyncio.gather(*(one(j) for j in jobs)))


async def create_all(
    kube: KubeClient,
    namespace: str,
    items: Sequence[tuple[Resource, JsonDict]],
    *,
    concurrency: int = 32,
) -> None:
    """Create every object, concurrently; one that already exists is left as it is."""

    async def create(res: Resource, body: JsonDict) -> None:
        try:
            await kube.create(res, body, namespace=namespace)
        except ApiError as exc:
            if not exc.conflict:
                raise

    await gather_limited(
        [functools.partial(create, res, body) for res, body in items], concurrency=concurrency
    )


async def create_namespace(kube: KubeClient, name: str) -> None:
    await kube.create(
        NAMESPACES,
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": name, "labels": {"rolloutd.bench": "true"}},
        },
    )


async def delete_namespaces(kube: KubeClient, names: Sequence[str], *, timeout: float) -> bool:
    """Delete namespaces and wait until they are gone; False when some outlived `timeout`."""
    for name in names:
        try:
            await kube.delete(NAMESPACES, name)
        except ApiError as exc:
            if not exc.not_found:
                raise
    deadline = time.monotonic() + timeout
    remaining = list(names)
    while remaining and time.monotonic() < deadline:
        still = []
        for name in remaining:
            try:
                await kube.get(NAMESPACES, name)
                still.append(name)
            except ApiError as exc:
                if not exc.not_found:
                    raise
        remaining = still
        if remaining:
            await asyncio.sleep(1.0)
    return not remaining
