"""List+watch caches per namespace, and the wake-ups that drive the dashboard's streams.

A `NamespaceView` holds four informers (Rollouts, ReplicaSets, Pods, AnalysisRuns), each
indexed by owner UID, so a Rollout's info is assembled from the caches without a scan or an
API call. Views are made on first use of a namespace and shared by every request and stream
on it (Argo starts new informers per connection; here a hundred open tabs cost one watch per
type). Each change bumps `version` and sets every subscriber's event: a stream then rebuilds
and sends only what differs. Nothing polls.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Hashable, Iterable
from typing import Any

from rolloutd.dashboard.infojson import rollout_info_json
from rolloutd.kube.client import KubeClient
from rolloutd.kube.informer import Informer
from rolloutd.kube.resources import ANALYSIS_RUNS, PODS, REPLICA_SETS, ROLLOUTS

JsonDict = dict[str, Any]
OWNER = "owner"
SYNC_TIMEOUT = 15.0


def _owners(obj: JsonDict) -> Iterable[Hashable]:
    refs = (obj.get("metadata") or {}).get("ownerReferences") or []
    return [str(r.get("uid")) for r in refs if isinstance(r, dict) and r.get("uid")]


class NotSynced(Exception):
    """The caches of a namespace could not be filled (no access, or the server is away)."""


class NamespaceView:
    """The caches of one namespace; see the module docstring."""

    def __init__(self, kube: KubeClient, namespace: str) -> None:
        self.namespace = namespace
        self.rollouts = Informer(kube, ROLLOUTS, namespace=namespace)
        self.replica_sets = Informer(kube, REPLICA_SETS, namespace=namespace)
        self.pods = Informer(kube, PODS, namespace=namespace)
        self.analysis_runs = Informer(kube, ANALYSIS_RUNS, namespace=namespace)
        self.version = 0
        self._subscribers: set[asyncio.Event] = set()
        self._tasks: list[asyncio.Task[None]] = []
        for informer in self.informers:
            if informer is not self.rollouts:
                informer.add_index(OWNER, _owners)
            informer.add_handler(self._changed)

    @property
    def informers(self) -> tuple[Informer, ...]:
        return (self.rollouts, self.replica_sets, self.pods, self.analysis_runs)

    def _changed(self, kind: str, obj: JsonDict, old: JsonDict | None) -> None:
        self.version += 1
        for event in self._subscribers:
            event.set()

    def start(self) -> None:
        self._tasks = [asyncio.create_task(i.run()) for i in self.informers]

    async def wait_synced(self, timeout: float = SYNC_TIMEOUT) -> None:
        try:
            async with asyncio.timeout(timeout):
                await asyncio.gather(*(i.synced.wait() for i in self.informers))
        except TimeoutError:
            raise NotSynced(
                f"cannot list and watch rollouts, replicasets, pods and analysisruns in "
                f"namespace {self.namespace!r}"
            ) from None

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    @contextlib.contextmanager
    def subscribe(self) -> Any:
        """An event set on every change while the `with` block runs."""
        event = asyncio.Event()
        self._subscribers.add(event)
        try:
            yield event
        finally:
            self._subscribers.discard(event)

    # -- reading --------------------------------------------------------------------------

    def rollout(self, name: str) -> JsonDict | None:
        return self.rollouts.get(self.namespace, name)

    def info(self, ro: JsonDict, *, full: bool = True) -> JsonDict:
        uid = str((ro.get("metadata") or {}).get("uid", ""))
        replica_sets = self.replica_sets.by_index(OWNER, uid)
        pods = [
            pod
            for rs in replica_sets
            for pod in self.pods.by_index(OWNER, str(rs["metadata"].get("uid", "")))
        ]
        runs = self.analysis_runs.by_index(OWNER, uid) if full else []
        return rollout_info_json(ro, replica_sets, pods, runs, full=full)

    def infos(self) -> list[JsonDict]:
        """The shallow info of every Rollout, by name."""
        rollouts = sorted(self.rollouts.items(), key=lambda r: r["metadata"]["name"])
        return [self.info(ro, full=False) for ro in rollouts]


class Views:
    """The NamespaceViews made so far, one per namespace, started on first use."""

    def __init__(self, kube: KubeClient) -> None:
        self.kube = kube
        self._views: dict[str, NamespaceView] = {}
        self._lock = asyncio.Lock()

    async def get(self, namespace: str) -> NamespaceView:
        async with self._lock:
            view = self._views.get(namespace)
            if view is None:
                view = NamespaceView(self.kube, namespace)
                view.start()
                self._views[namespace] = view
        await view.wait_synced()
        return view

    async def close(self) -> None:
        for view in self._views.values():
            await view.stop()
