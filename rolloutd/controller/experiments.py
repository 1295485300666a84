"""The Experiment controller: caches -> work queue -> pure planner -> actions -> status.

A thin I/O shell around `rolloutd.plan.experiment`. Each reconcile of one Experiment reads it
and what it owns (ReplicaSets, Services, AnalysisRuns, found by owner uid) from the informer
caches, plans, then applies the actions in order. Every action is idempotent: a create that
answers 409 reads the existing object (create-or-get by name), a scale or delete of something
already so is a no-op, so a crash between two actions is safe; the next pass plans from what is
there. The status is written (one merge patch of what changed, to `/status`) only after every
action took effect, then the Events (Argo's reasons: `ExperimentRunning`, `ExperimentFailed`,
..., `CreatedReplicaSet`, `ScalingReplicaSet`, `Terminate`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from typing import Any

import structlog

from rolloutd.controller.patches import merge_patch
from rolloutd.kube.client import ApiError, ClusterUnreachable, KubeClient
from rolloutd.kube.events import EventRecorder
from rolloutd.kube.informer import Informer
from rolloutd.kube.resources import (
    ANALYSIS_RUNS,
    ANALYSIS_TEMPLATES,
    CLUSTER_ANALYSIS_TEMPLATES,
    REPLICA_SETS,
    SERVICES,
    Resource,
)
from rolloutd.kube.shards import ShardManager, owner_key, scope
from rolloutd.kube.workqueue import WorkQueue
from rolloutd.model.experiment import InvalidExperiment, parse_experiment
from rolloutd.model.rollout import INSTANCE_ID_LABEL
from rolloutd.plan.experiment import (
    Action,
    CreateAnalysisRun,
    CreateReplicaSet,
    CreateService,
    DeleteService,
    ScaleReplicaSet,
    TerminateAnalysisRun,
    plan_experiment,
)

log = structlog.get_logger("rolloutd.experiments")

EXPERIMENTS = Resource("argoproj.io", "v1alpha1", "experiments", "Experiment")
JsonDict = dict[str, Any]
Key = tuple[str, str]
_OWNER = "owner"


def _owner_uids(obj: JsonDict) -> list[str]:
    refs = (obj.get("metadata") or {}).get("ownerReferences") or []
    return [str(r.get("uid")) for r in refs if r.get("kind") == "Experiment" and r.get("uid")]


def _key(obj: JsonDict) -> Key:
    meta = obj.get("metadata") or {}
    return (str(meta.get("namespace") or ""), str(meta.get("name") or ""))


class ExperimentController:
    def __init__(
        self,
        kube: KubeClient,
        *,
        namespace: str | None = None,
        workers: int = 4,
        events: EventRecorder | None = None,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
        allowed: Callable[[], bool] = lambda: True,
        instance_id: str | None = None,
    ) -> None:
        self.kube = kube
        self.namespace = namespace
        self.workers = workers
        self.events = events or EventRecorder(kube)
        self.clock = clock
        self.allowed = allowed
        self.queue: WorkQueue[Key] = WorkQueue("experiments")
        self.shards: ShardManager | None = None
        """With sharding on: an Experiment is reconciled by the holder of its Rollout's shard."""
        selector = f"{INSTANCE_ID_LABEL}={instance_id}" if instance_id else f"!{INSTANCE_ID_LABEL}"
        self.experiments = Informer(kube, EXPERIMENTS, namespace=namespace, label_selector=selector)
        self.replica_sets = Informer(kube, REPLICA_SETS, namespace=namespace)
        self.services = Informer(kube, SERVICES, namespace=namespace)
        self.runs = Informer(kube, ANALYSIS_RUNS, namespace=namespace)
        self.templates = Informer(kube, ANALYSIS_TEMPLATES, namespace=namespace)
        self.cluster_templates = Informer(kube, CLUSTER_ANALYSIS_TEMPLATES)
        self.informers = [
            self.experiments,
            self.replica_sets,
            self.services,
            self.runs,
            self.templates,
        ]
        # Scoped to one namespace, no cluster-scoped kind is read (a namespaced install holds a
        # Role only, and a watch it may not make never syncs), as the Rollout controller does.
        if namespace is None:
            self.informers.append(self.cluster_templates)
        self._by_uid: dict[str, Key] = {}
        self._wire()

    def _wire(self) -> None:
        def on_experiment(kind: str, obj: JsonDict, old: JsonDict | None) -> None:
            uid = (obj.get("metadata") or {}).get("uid")
            if uid:
                self._by_uid[str(uid)] = _key(obj)
            self.queue.add(_key(obj))

        def on_owned(kind: str, obj: JsonDict, old: JsonDict | None) -> None:
            # A change to something an Experiment owns requeues that Experiment.
            for uid in _owner_uids(obj):
                key = self._by_uid.get(uid)
                if key is not None:
                    self.queue.add(key)

        def on_template(kind: str, obj: JsonDict, old: JsonDict | None) -> None:
            for exp in self.experiments.items():
                self.queue.add(_key(exp))

        self.experiments.add_handler(on_experiment)
        for informer in (self.replica_sets, self.services, self.runs):
            informer.add_index(_OWNER, _owner_uids)
            informer.add_handler(on_owned)
        self.templates.add_handler(on_template)
        self.cluster_templates.add_handler(on_template)

    async def run(self, *, leading: asyncio.Event | None = None) -> None:
        """Caches, then (once leading) the workers; until cancelled."""
        async with asyncio.TaskGroup() as tasks:
            for informer in self.informers:
                tasks.create_task(informer.run())
            await asyncio.gather(*(inf.synced.wait() for inf in self.informers))
            log.info("experiment caches synced")
            if leading is not None:
                await leading.wait()
            tasks.create_task(self.queue.run_timers())
            for _ in range(self.workers):
                tasks.create_task(self._worker())

    async def _worker(self) -> None:
        while True:
            key = await self.queue.get()
            owner = owner_key(self.experiments.get(*key), key)
            if self.shards is not None and not self.shards.owns(owner):
                self.queue.done(key)
                continue
            try:
                with (
                    scope(self.shards, owner),
                    structlog.contextvars.bound_contextvars(namespace=key[0], experiment=key[1]),
                ):
                    requeue = await self.reconcile(key)
                self.queue.forget(key)
                if requeue is not None:
                    self.queue.add_after(key, requeue)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if isinstance(exc, ApiError | ClusterUnreachable | PermissionError):
                    log.warning("experiment reconcile failed", key=key, error=str(exc))
                else:
                    log.exception("experiment reconcile crashed", key=key)
                self.queue.add_rate_limited(key)
            finally:
                self.queue.done(key)

    async def reconcile(self, key: Key) -> float | None:
        """Reconcile one Experiment; returns seconds until time alone changes its plan."""
        obj = self.experiments.get(*key)
        if obj is None or (obj.get("metadata") or {}).get("deletionTimestamp"):
            return None
        try:
            experiment = parse_experiment(obj)
        except InvalidExperiment as exc:
            # Bad input: the Experiment says why (field by field) and nothing else changes.
            status = dict(obj.get("status") or {})
            message = f"The Experiment is invalid: {exc}"
            if status.get("phase") != "Error" or status.get("message") != message:
                await self._write_status(obj, {**status, "phase": "Error", "message": message})
            return None
        uid = str((obj.get("metadata") or {}).get("uid") or "")
        templates = {
            (False, str(t["metadata"]["name"])): t
            for t in self.templates.items()
            if (t.get("metadata") or {}).get("namespace") == key[0]
        }
        templates.update(
            {(True, str(t["metadata"]["name"])): t for t in self.cluster_templates.items()}
        )
        plan = plan_experiment(
            obj,
            experiment,
            replica_sets=self.replica_sets.by_index(_OWNER, uid),
            services=self.services.by_index(_OWNER, uid),
            analysis_runs=self.runs.by_index(_OWNER, uid),
            analysis_templates=templates,
            now=self.clock(),
        )
        changes = plan.actions or merge_patch(obj.get("status") or {}, plan.status)
        if changes and not self.allowed():
            raise PermissionError("not the leader: refusing to write")
        for action in plan.actions:
            await self._apply(obj, action)
        if plan.actions:
            # Status follows what the actions did: plan again on the caches once they catch up.
            return 0.2
        await self._write_status(obj, plan.status)
        for event in plan.events:
            await self.events.record(obj, event.type, event.reason, event.message)
        return plan.requeue_after

    async def _apply(self, obj: JsonDict, action: Action) -> None:
        ns = _key(obj)[0]
        match action:
            case CreateReplicaSet(obj=rs):
                created = await self._create(REPLICA_SETS, rs, ns, self.replica_sets)
                if created:
                    await self.events.record(
                        obj, "Normal", "NewReplicaSetCreated", f"Created ReplicaSet {created}"
                    )
            case ScaleReplicaSet(name=name, replicas=n):
                updated = await self.kube.patch(
                    REPLICA_SETS, name, {"spec": {"replicas": n}}, namespace=ns
                )
                self.replica_sets.remember(updated)
                await self.events.record(
                    obj, "Normal", "ScalingReplicaSet", f"Scaled ReplicaSet {name} to {n}"
                )
            case CreateService(obj=svc):
                await self._create(SERVICES, svc, ns, self.services)
            case DeleteService(name=name):
                try:
                    await self.kube.delete(SERVICES, name, namespace=ns)
                except ApiError as exc:
                    if not exc.not_found:
                        raise
            case CreateAnalysisRun(obj=run):
                await self._create(ANALYSIS_RUNS, run, ns, self.runs)
            case TerminateAnalysisRun(name=name):
                updated = await self.kube.patch(
                    ANALYSIS_RUNS, name, {"spec": {"terminate": True}}, namespace=ns
                )
                self.runs.remember(updated)
                await self.events.record(obj, "Normal", "Terminate", f"Terminating {name}")

    async def _create(self, res: Resource, body: JsonDict, ns: str, cache: Informer) -> str | None:
        """Create-or-get by name; the created object's name, or None when it already existed."""
        try:
            created = await self.kube.create(res, body, namespace=ns)
        except ApiError as exc:
            if exc.status != 409:
                raise
            existing = await self.kube.get(res, str(body["metadata"]["name"]), namespace=ns)
            cache.remember(existing)
            return None
        cache.remember(created)
        return str(created["metadata"]["name"])

    async def _write_status(self, obj: JsonDict, status: JsonDict) -> None:
        patch = merge_patch(obj.get("status") or {}, status)
        if not patch:
            return
        ns, name = _key(obj)
        updated = await self.kube.patch(
            EXPERIMENTS, name, {"status": patch}, namespace=ns, subresource="status"
        )
        self.experiments.remember(updated)
