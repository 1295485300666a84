"""The I/O of `spec.workloadRef` (the rules are in `rolloutd.plan.workload`).

- A cache per referenced kind (Deployment, ReplicaSet, PodTemplate), started the first time a
  Rollout names that kind, as Argo starts its informers on demand: a rolloutd whose Rollouts
  never use workloadRef neither watches nor needs the right to read Deployments.
- A change to a workload wakes the Rollouts that reference it (an index on the Rollout cache),
  so a new Deployment template starts an update as an edit of `spec.template` would, and a
  Deployment created after its Rollout clears the Rollout's InvalidSpec.
- Before planning, the Rollout is resolved in memory (never written back); the workload's
  generation is written to the Rollout's `rollout.argoproj.io/workload-generation` annotation
  when it differs, like Argo's informer handler does.
- After the plan is carried out, the referenced Deployment's `spec.replicas` is patched when
  `scaleDown` asks for another value.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Hashable, Sequence
from typing import Any

import structlog

from rolloutd.kube.client import ApiError, KubeClient
from rolloutd.kube.informer import Informer
from rolloutd.kube.resources import DEPLOYMENTS, POD_TEMPLATES, REPLICA_SETS, ROLLOUTS, Resource
from rolloutd.plan.types import ReplicaSetView
from rolloutd.plan.workload import (
    WORKLOAD_GENERATION_ANNOTATION,
    Resolved,
    WorkloadRef,
    deployment_replicas,
    recorded_generation,
    resolve,
    workload_ref,
)

JsonDict = dict[str, Any]
Key = tuple[str, str]
log = structlog.get_logger("rolloutd.controller.workload")

REF_INDEX = "workload-ref"
RESOURCES: dict[str, Resource] = {
    "Deployment": DEPLOYMENTS,
    "ReplicaSet": REPLICA_SETS,
    "PodTemplate": POD_TEMPLATES,
}
SYNC_TIMEOUT = 30.0


def ref_index(obj: JsonDict) -> list[Hashable]:
    """Index of the Rollout cache: (namespace, kind, name) of the workload a Rollout names."""
    ref = workload_ref(obj)
    if ref is None:
        return []
    return [((obj.get("metadata") or {}).get("namespace") or "", ref.kind.kind, ref.name)]


class Workloads:
    """The caches of referenced workloads, the resolution, and the Deployment scaling."""

    def __init__(
        self,
        kube: KubeClient,
        rollouts: Informer,
        *,
        namespace: str | None,
        wake: Callable[[Key], None],
        allowed: Callable[[], bool],
    ) -> None:
        self.kube = kube
        self.rollouts = rollouts
        self.namespace = namespace
        self.wake = wake
        self.allowed = allowed
        self.informers: dict[str, Informer] = {}
        self._tasks: list[asyncio.Task[None]] = []
        rollouts.add_index(REF_INDEX, ref_index)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    async def _cache(self, kind: str) -> Informer:
        informer = self.informers.get(kind)
        if informer is None:
            informer = Informer(self.kube, RESOURCES[kind], namespace=self.namespace)

            def on_workload(
                event: str, obj: JsonDict, old: JsonDict | None, kind: str = kind
            ) -> None:
                meta = obj.get("metadata") or {}
                key = (meta.get("namespace") or "", kind, meta.get("name") or "")
                for rollout in self.rollouts.by_index(REF_INDEX, key):
                    meta = rollout.get("metadata") or {}
                    self.wake((meta.get("namespace") or "", meta.get("name") or ""))

            informer.add_handler(on_workload)
            self.informers[kind] = informer
            self._tasks.append(asyncio.create_task(informer.run()))
            log.info("watching referenced workloads", kind=kind)
        if not informer.synced.is_set():
            # Only the first Rollout naming a kind waits, once; a timeout is retried.
            await asyncio.wait_for(informer.synced.wait(), SYNC_TIMEOUT)
        return informer

    async def resolve(self, obj: JsonDict) -> tuple[JsonDict, list[str], str | None]:
        """The Rollout as the planner sees it, the errors that make it invalid, and the
        workload generation its status should report (None without a workloadRef)."""
        ref = workload_ref(obj)
        if ref is None:
            return obj, [], None
        informer = await self._cache(ref.kind.kind)
        namespace = (obj.get("metadata") or {}).get("namespace") or ""
        result = resolve(obj, ref, informer.get(namespace, ref.name))
        if not isinstance(result, Resolved):
            return obj, result, None
        if recorded_generation(obj) != result.generation:
            await self._record_generation(obj, result.generation)
        return result.obj, [], result.generation

    async def _record_generation(self, obj: JsonDict, generation: str) -> None:
        if not self.allowed():
            return
        meta = obj.get("metadata") or {}
        body = {"metadata": {"annotations": {WORKLOAD_GENERATION_ANNOTATION: generation}}}
        written = await self.kube.patch(
            ROLLOUTS, meta.get("name", ""), body, namespace=meta.get("namespace")
        )
        self.rollouts.remember(written)

    async def scale(
        self,
        obj: JsonDict,
        replica_sets: Sequence[ReplicaSetView],
        *,
        replicas: int,
        pod_hash: str | None,
    ) -> None:
        """Scale the referenced Deployment as `scaleDown` asks, given the Rollout's
        ReplicaSets as the plan saw them (`obj` is the Rollout before this reconcile)."""
        ref = workload_ref(obj)
        if ref is None or ref.kind.kind != "Deployment" or not self.allowed():
            return
        current = next((rs for rs in replica_sets if rs.pod_hash == pod_hash), None)
        if current is None:
            return
        target = deployment_replicas(
            scale_down=ref.scale_down,
            revision=current.revision,
            phase=str((obj.get("status") or {}).get("phase") or ""),
            replicas=replicas,
            available=sum(rs.available for rs in replica_sets),
        )
        if target is not None:
            await self._scale_deployment(obj, ref, target)

    async def _scale_deployment(self, obj: JsonDict, ref: WorkloadRef, target: int) -> None:
        namespace = (obj.get("metadata") or {}).get("namespace") or ""
        informer = self.informers.get("Deployment")
        deployment = informer.get(namespace, ref.name) if informer else None
        if deployment is None:
            return
        if (deployment.get("spec") or {}).get("replicas", 1) == target:
            return
        try:
            written = await self.kube.patch(
                DEPLOYMENTS, ref.name, {"spec": {"replicas": target}}, namespace=namespace
            )
        except ApiError as exc:
            if exc.not_found:
                return  # deleted meanwhile: its delete event wakes the Rollout
            raise
        if informer is not None:
            informer.remember(written)
        log.info("scaled referenced deployment", deployment=ref.name, replicas=target)
