"""The Rollout controller: caches -> work queue -> snapshot -> plan -> actions -> status.

One informer per resource type feeds the caches; their handlers only enqueue the key of the
Rollout an object belongs to (ReplicaSets by owner, Services and routing objects through the
indexes below). Workers take keys from the queue, build a Snapshot from the caches (no API
reads), ask the pure planner what to do, carry the plan out, patch the status with only what
changed, record the plan's events, and requeue when the plan asks to be woken up.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import gc
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import structlog

from rolloutd.controller import failures
from rolloutd.controller.actuator import Actuator, BoundRouter, WeightNotVerified
from rolloutd.controller.patches import merge_patch
from rolloutd.controller.release import owned_refs, release_unused, releasing
from rolloutd.controller.restart import restart_pods
from rolloutd.controller.stats import ObjectTimings
from rolloutd.controller.templates import PodDefaults
from rolloutd.controller.workload import Workloads
from rolloutd.gotime import timestamp
from rolloutd.kube.client import ApiError, ClusterUnreachable, KubeClient
from rolloutd.kube.events import EventRecorder
from rolloutd.kube.informer import Informer
from rolloutd.kube.resources import (
    ANALYSIS_RUNS,
    ANALYSIS_TEMPLATES,
    CLUSTER_ANALYSIS_TEMPLATES,
    REPLICA_SETS,
    ROLLOUTS,
    SERVICES,
    Resource,
)
from rolloutd.kube.shards import ShardManager, scope
from rolloutd.kube.workqueue import WorkQueue
from rolloutd.model.rollout import INSTANCE_ID_LABEL, InvalidRollout, Rollout, parse_rollout
from rolloutd.plan.hashing import TemplateEncodingError, pod_template_hash
from rolloutd.plan.planner import plan
from rolloutd.plan.types import (
    MANAGED_BY_ANNOTATION,
    POD_HASH_LABEL,
    Plan,
    ReplicaSetView,
    RouterState,
    ServiceView,
    Snapshot,
)
from rolloutd.plan.workload import with_observed_generation
from rolloutd.traffic.contract import ObjectReader, ReleasingRouter, RouterContext, RouterError
from rolloutd.traffic.registry import RouterRegistry, RouterUnavailable, routers_in

JsonDict = dict[str, Any]
Key = tuple[str, str]
log = structlog.get_logger("rolloutd.controller")
OWNER_INDEX = "controller-owner-uid"
MANAGED_BY_INDEX = "managed-by"


@dataclass
class ReconcileStats:
    """Counters the metrics collector reads."""

    reconciles: int = 0
    errors: int = 0
    durations: list[float] = field(default_factory=list)
    corrections: dict[tuple[str, str, str], int] = field(default_factory=dict)
    per_rollout: ObjectTimings = field(default_factory=ObjectTimings)


@dataclass(frozen=True)
class RolloutView:
    """What the metrics collector and readiness need of one Rollout (from the caches)."""

    obj: JsonDict
    desired_weight: int | None
    observed: Mapping[str, Sequence[tuple[str, int]]]


class _Objects(ObjectReader):
    """The controller's caches, as routers see them."""

    def __init__(self, informers: Mapping[Resource, Informer]) -> None:
        self._informers = informers

    def find(self, resource: Resource) -> Informer | None:
        """The informer caching this kind (any version), if the controller watches it."""
        informer = self._informers.get(resource)
        if informer is not None:
            return informer
        # A router may name another version of a kind we watch; the cache is per kind.
        for res, inf in self._informers.items():
            if res.group == resource.group and res.plural == resource.plural:
                return inf
        return None

    def get(self, resource: Resource, namespace: str, name: str) -> JsonDict | None:
        informer = self.find(resource)
        return informer.get(namespace, name) if informer else None

    def remember(self, resource: Resource, obj: JsonDict) -> None:
        informer = self.find(resource)
        if informer is not None:
            informer.remember(obj)


class RolloutController:
    def __init__(
        self,
        kube: KubeClient,
        registry: RouterRegistry,
        *,
        namespace: str | None = None,
        workers: int = 10,
        events: EventRecorder | None = None,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
        allowed: Callable[[], bool] = lambda: True,
        enabled_routers: Sequence[str] | None = None,
        instance_id: str | None = None,
    ) -> None:
        self.kube = kube
        self.pod_defaults = PodDefaults(kube)
        self.registry = registry
        self.namespace = namespace
        self.workers = workers
        self.events = events or EventRecorder(kube)
        self.clock = clock
        self.allowed = allowed
        self.queue: WorkQueue[Key] = WorkQueue("rollouts")
        self.shards: ShardManager | None = None
        """With sharding on: only the keys of shards this replica holds are reconciled."""
        self.stats = ReconcileStats()
        # Argo's sharding rule: with no instance id, only Rollouts without the label are ours.
        instance_selector = (
            f"{INSTANCE_ID_LABEL}={instance_id}" if instance_id else f"!{INSTANCE_ID_LABEL}"
        )
        self.rollouts = Informer(
            kube, ROLLOUTS, namespace=namespace, label_selector=instance_selector
        )
        self.replica_sets = Informer(
            kube, REPLICA_SETS, namespace=namespace, label_selector=POD_HASH_LABEL
        )
        self.services = Informer(kube, SERVICES, namespace=namespace)
        # Each reconcile looks up its own ReplicaSets and Services; indexes keep that from
        # being a scan of every cached one (which made a reconcile O(number of Rollouts)).
        self.replica_sets.add_index(OWNER_INDEX, _controller_owner_uids)
        self.services.add_index(MANAGED_BY_INDEX, _managed_by)
        # AnalysisRuns made for Rollouts carry `rollout-type`; templates are few and small.
        self.analysis_runs = Informer(
            kube, ANALYSIS_RUNS, namespace=namespace, label_selector="rollout-type"
        )
        self.analysis_runs.add_index(OWNER_INDEX, _controller_owner_uids)
        self.templates = Informer(kube, ANALYSIS_TEMPLATES, namespace=namespace)
        self.cluster_templates = Informer(kube, CLUSTER_ANALYSIS_TEMPLATES)
        self.informers: dict[Resource, Informer] = {
            ROLLOUTS: self.rollouts,
            REPLICA_SETS: self.replica_sets,
            SERVICES: self.services,
            ANALYSIS_RUNS: self.analysis_runs,
            ANALYSIS_TEMPLATES: self.templates,
        }
        # Scoped to one namespace, the daemon reads no cluster-scoped kind (as Argo's
        # --namespaced controller): a namespaced install holds a Role only, and a watch it may
        # not make would never sync. The cache stays empty, so a clusterScope template is
        # reported as not found.
        if namespace is None:
            self.informers[CLUSTER_ANALYSIS_TEMPLATES] = self.cluster_templates
        names = registry.available if enabled_routers is None else list(enabled_routers)
        # kind -> the router that marks objects of that kind as a Rollout's (see release.py)
        self.releasers: dict[Resource, list[ReleasingRouter]] = {}
        for name in names:
            try:
                router = registry.router(name)
            except RouterUnavailable as exc:
                log.warning("router unavailable", router=name, error=str(exc))
                continue
            for res in router.watched_resources():
                if res not in self.informers:
                    self.informers[res] = Informer(kube, res, namespace=namespace)
                    self.informers[res].add_index(MANAGED_BY_INDEX, _managed_by)
                releaser = releasing(router)
                if releaser is not None:
                    self.releasers.setdefault(res, []).append(releaser)  # Ingress: NGINX+ALB
        self.objects = _Objects(self.informers)
        # object -> rollouts that name it; rebuilt for a rollout on each of its reconciles
        self._refs: dict[tuple[Resource, str, str], set[Key]] = defaultdict(set)
        self._refs_of: dict[Key, set[tuple[Resource, str, str]]] = {}
        self.desired_weights: dict[Key, int | None] = {}
        # Caches of the workloads Rollouts reference (spec.workloadRef), started on demand.
        self.workloads = Workloads(
            kube, self.rollouts, namespace=namespace, wake=self.queue.add, allowed=allowed
        )
        self._wire_handlers()

    # -- event handlers: enqueue only ---------------------------------------------------------

    def _wire_handlers(self) -> None:
        def on_rollout(kind: str, obj: JsonDict, old: JsonDict | None) -> None:
            self.queue.add(_key(obj))

        def on_replica_set(kind: str, obj: JsonDict, old: JsonDict | None) -> None:
            for ref in (obj.get("metadata") or {}).get("ownerReferences") or []:
                if ref.get("kind") == "Rollout" and ref.get("controller"):
                    self.queue.add((obj["metadata"].get("namespace", ""), ref["name"]))

        def on_template(kind: str, obj: JsonDict, old: JsonDict | None) -> None:
            # Rare: a template changed; wake the Rollouts that may use it (InvalidSpec clears).
            namespace = (obj.get("metadata") or {}).get("namespace")
            for rollout in list(self.rollouts.items()):
                if namespace is None or _key(rollout)[0] == namespace:
                    self.queue.add(_key(rollout))

        self.rollouts.add_handler(on_rollout)
        self.replica_sets.add_handler(on_replica_set)
        self.analysis_runs.add_handler(on_replica_set)  # same rule: wake the owning Rollout
        self.templates.add_handler(on_template)
        self.cluster_templates.add_handler(on_template)
        for res, informer in self.informers.items():
            if res in (
                ROLLOUTS,
                REPLICA_SETS,
                ANALYSIS_RUNS,
                ANALYSIS_TEMPLATES,
                CLUSTER_ANALYSIS_TEMPLATES,
            ):
                continue

            def on_named(
                kind: str, obj: JsonDict, old: JsonDict | None, res: Resource = res
            ) -> None:
                ns, name = _key(obj)
                for key in self._refs.get((res, ns, name), ()):
                    self.queue.add(key)
                # A marked object wakes its owner, which gives it back if it no longer uses it.
                owner = ((obj.get("metadata") or {}).get("annotations") or {}).get(
                    MANAGED_BY_ANNOTATION
                )
                if owner:
                    self.queue.add((ns, owner))

            informer.add_handler(on_named)

    def _index(self, key: Key, refs: set[tuple[Resource, str, str]]) -> None:
        for ref in self._refs_of.get(key, set()) - refs:
            self._refs[ref].discard(key)
        for ref in refs:
            self._refs[ref].add(key)
        self._refs_of[key] = refs

    # -- running ---------------------------------------------------------------------------------

    async def run(self, *, leading: asyncio.Event | None = None) -> None:
        """Run the caches, then the workers; with `leading`, the workers wait until it is set
        (leader election: a standby keeps its caches warm but does not reconcile)."""
        try:
            async with asyncio.TaskGroup() as tasks:
                for informer in self.informers.values():
                    tasks.create_task(informer.run())
                await self.wait_synced()
                log.info("caches synced", informers=len(self.informers))
                _freeze_heap()
                if leading is not None:
                    await leading.wait()
                tasks.create_task(self.queue.run_timers())
                for _ in range(self.workers):
                    tasks.create_task(self._worker())
        finally:
            await self.workloads.close()
            # Events of reconciles that finished are still being sent: give them a moment.
            await self.events.flush(timeout=1.0)

    async def wait_synced(self) -> None:
        await asyncio.gather(*(inf.synced.wait() for inf in self.informers.values()))

    @property
    def synced(self) -> bool:
        return all(inf.synced.is_set() for inf in self.informers.values())

    async def _worker(self) -> None:
        while True:
            key = await self.queue.get()
            if self.shards is not None and not self.shards.owns(key):
                self.queue.done(key)  # another replica's shard: it is queued again on a gain
                continue
            started = time.perf_counter()
            failed = False
            try:
                with (
                    scope(self.shards, key),
                    structlog.contextvars.bound_contextvars(namespace=key[0], rollout=key[1]),
                ):
                    requeue = await self.reconcile(key)
                self.queue.forget(key)
                if requeue is not None:
                    self.queue.add_after(key, requeue)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.stats.errors += 1
                failed = True
                self._log_failure(key, exc)
                self.queue.add_rate_limited(key)
            finally:
                seconds = time.perf_counter() - started
                self.stats.reconciles += 1
                self.stats.per_rollout.observe(key, seconds, failed=failed)
                if len(self.stats.durations) < 100_000:
                    self.stats.durations.append(seconds)
                self.queue.done(key)

    def _log_failure(self, key: Key, exc: Exception) -> None:
        expected = (
            ApiError,
            ClusterUnreachable,
            RouterError,
            WeightNotVerified,
            PermissionError,
            failures.WriteRefused,
        )
        if isinstance(exc, expected):
            log.warning(
                "reconcile failed",
                namespace=key[0],
                rollout=key[1],
                error=str(exc),
                retries=self.queue.failures(key),
            )
        else:
            log.exception("reconcile crashed", namespace=key[0], rollout=key[1])

    # -- one reconcile ---------------------------------------------------------------------------

    async def reconcile(self, key: Key) -> float | None:
        """Reconcile one Rollout; returns seconds until it wants to run again, if it does."""
        namespace, name = key
        obj = self.rollouts.get(namespace, name)
        if obj is None:
            await self._release_services(namespace, name, keep=())
            await self._release_router_objects(namespace, name, keep=set())
            self._index(key, set())
            self.desired_weights.pop(key, None)
            return None
        if (obj.get("metadata") or {}).get("deletionTimestamp"):
            return None
        before = obj
        # spec.workloadRef: the planner gets the referenced template, resolved in memory.
        obj, ref_errors, workload_generation = await self.workloads.resolve(obj)
        try:
            if ref_errors:
                raise InvalidRollout(ref_errors)
            rollout = parse_rollout(obj)
        except InvalidRollout as exc:
            status = _invalid_status(obj, exc.errors)
            if status.get("message") != (obj.get("status") or {}).get("message"):
                self.events.record_soon(obj, "Warning", "InvalidSpec", status["message"])
            await self._patch_status(obj, status)
            return 20.0
        bound, states, unknown = self._routers(obj, rollout)
        replica_sets = self._owned_replica_sets(obj)
        snapshot = Snapshot(
            rollout=rollout,
            replica_sets=replica_sets,
            services=self._named_services(namespace, rollout),
            routers=states,
            unknown_routers=unknown,
            raw=obj,
            analysis_runs=self.analysis_runs.by_index(OWNER_INDEX, obj["metadata"].get("uid")),
            analysis_templates=self._templates(namespace),
            defaulted_template=await self._defaulted_template(obj, replica_sets),
        )
        try:
            result = plan(snapshot, self.clock())
        except Exception as exc:
            # Never a crash loop in the log only: the Rollout says why it is stuck.
            await self._report_failure(obj, failures.RECONCILE_ERROR, failures.planner_failure(exc))
            raise
        if _has_failure(obj):
            result = replace(result, status=failures.clear(result.status))
        status = with_observed_generation(result.status, workload_generation)
        if status is not result.status:
            result = replace(result, status=status)
        self.desired_weights[key] = result.desired_weight
        if result.checkpoint is not None:
            # A finished step is written down before the next one acts (see plan()).
            obj = await self._write_plan_status(obj, result.checkpoint)
        actuator = Actuator(
            self.kube,
            obj,
            replica_sets=self.replica_sets,
            services=self.services,
            rollouts=self.rollouts,
            routers=bound if not any(s.errors for s in states) else [],
            analysis_runs=self.analysis_runs,
            allowed=self.allowed,
        )
        try:
            outcome = await actuator.run(result.actions, result.desired_weight)
        except RouterError as exc:
            self.events.record_soon(obj, "Warning", "TrafficRoutingError", str(exc))
            raise
        except failures.WriteRefused as exc:
            await self._report_failure(obj, exc.reason, str(exc))
            raise
        self._count_corrections(obj, rollout, result, outcome.weight_changed)
        await self._write_plan_status(obj, result)
        if workload_generation is not None:
            await self.workloads.scale(
                before,
                replica_sets,
                replicas=1 if rollout.spec.replicas is None else rollout.spec.replicas,
                pod_hash=result.status.get("currentPodHash"),
            )
        await self._release_services(namespace, name, keep=service_names(rollout))
        await self._release_router_objects(namespace, name, keep=self._refs_of.get(key, set()))
        requeue = result.requeue_after.total_seconds() if result.requeue_after is not None else None
        if rollout.spec.restart_at and not any(s.errors for s in states):
            current = self.rollouts.get(namespace, name) or obj
            owned = self.replica_sets.by_index(OWNER_INDEX, obj["metadata"].get("uid"))
            uids = [str(rs["metadata"].get("uid")) for rs in owned]
            written, again = await restart_pods(self.kube, current, uids, self.clock())
            if written is not None:
                self.rollouts.remember(written)
            if again is not None:
                requeue = again if requeue is None else min(requeue, again)
        return requeue

    async def _report_failure(self, obj: JsonDict, reason: str, message: str) -> None:
        """A condition (written only when it changes) and a Warning Event (counted)."""
        if not self.allowed():
            return  # a former leader says nothing: the new one will
        message = failures.short(message)
        self.events.record_soon(obj, "Warning", reason, message)
        try:
            await self._patch_status(
                obj, failures.failed_status(obj, message, self.clock(), reason)
            )
        except (ApiError, ClusterUnreachable) as exc:
            log.warning("could not write the failure condition", error=str(exc))

    def _templates(self, namespace: str) -> dict[tuple[bool, str], JsonDict]:
        found: dict[tuple[bool, str], JsonDict] = {
            (True, t["metadata"]["name"]): t for t in self.cluster_templates.items()
        }
        for t in self.templates.items():
            if t["metadata"].get("namespace") == namespace:
                found[(False, t["metadata"]["name"])] = t
        return found

    async def _defaulted_template(
        self, obj: JsonDict, replica_sets: Sequence[ReplicaSetView]
    ) -> JsonDict | None:
        """The template with pod defaults, only when no ReplicaSet has its hash (plan/rsmatch)."""
        template = (obj.get("spec") or {}).get("template") or {}
        if not replica_sets:
            return None
        try:
            pod_hash = pod_template_hash(template, (obj.get("status") or {}).get("collisionCount"))
        except TemplateEncodingError:
            return None  # the planner reports it
        if any(rs.pod_hash == pod_hash for rs in replica_sets):
            return None
        return await self.pod_defaults.defaulted(obj["metadata"].get("namespace", ""), template)

    def _owned_replica_sets(self, obj: JsonDict) -> list[ReplicaSetView]:
        uid = obj["metadata"].get("uid")
        namespace = obj["metadata"].get("namespace")
        owned = []
        for rs in self.replica_sets.by_index(OWNER_INDEX, uid):
            meta = rs.get("metadata") or {}
            if meta.get("namespace") != namespace or meta.get("deletionTimestamp"):
                continue
            if any(
                ref.get("uid") == uid and ref.get("controller")
                for ref in meta.get("ownerReferences") or []
            ):
                owned.append(ReplicaSetView.from_dict(rs))
        return owned

    def _named_services(self, namespace: str, rollout: Rollout) -> dict[str, ServiceView | None]:
        found: dict[str, ServiceView | None] = {}
        for svc_name in service_names(rollout):
            svc = self.services.get(namespace, svc_name)
            found[svc_name] = ServiceView.from_dict(svc) if svc else None
        return found

    def _routers(
        self, obj: JsonDict, rollout: Rollout
    ) -> tuple[list[BoundRouter], list[RouterState], list[str]]:
        key = _key(obj)
        canary = rollout.spec.strategy.canary
        routing = canary.traffic_routing if canary else None
        refs: set[tuple[Resource, str, str]] = set()
        bound: list[BoundRouter] = []
        states: list[RouterState] = []
        unknown: list[str] = []
        for svc_name in service_names(rollout):
            refs.add((SERVICES, key[0], svc_name))
        if routing is None or canary is None:
            self._index(key, refs)
            return bound, states, unknown
        routing_json = routing.to_json()
        status = rollout.status
        managed = [r.name for r in routing.managed_routes or []]
        for block in routers_in(routing_json):
            try:
                router = self.registry.router(self.registry.resolve(block), field=block.field)
            except RouterUnavailable as exc:
                unknown.append(f"{exc.field}: {exc}")
                continue
            ctx = RouterContext(
                namespace=key[0],
                rollout_name=key[1],
                rollout_uid=str(obj["metadata"].get("uid", "")),
                config=block.config,
                stable_service=canary.stable_service or "",
                canary_service=canary.canary_service or "",
                stable_hash=status.stable_rs,
                canary_hash=status.current_pod_hash,
                kube=self.kube,
                objects=self.objects,
                managed_routes=managed,
                settings={},
            )
            for ref in [*router.references(block.config, key[0]), *owned_refs(router, block, key)]:
                refs.add((ref.resource, ref.namespace, ref.name))
                if ref.resource not in self.informers and not self.objects.find(ref.resource):
                    unknown.append(
                        f"{block.field}: {ref.resource.kind} objects are not watched by this "
                        f"rolloutd; enable the '{block.name}' router in its ConfigMap"
                    )
            errors = list(router.validate(ctx))
            observed = router.read_weight(ctx) if not errors else []
            weights = {w.canary for w in observed}
            states.append(
                RouterState(
                    name=block.name,
                    errors=errors,
                    canary_weight=weights.pop()
                    if len(weights) == 1
                    else (max(weights) if weights else None),
                )
            )
            bound.append(BoundRouter(router, ctx))
        self._index(key, refs)
        return bound, states, unknown

    def _count_corrections(
        self, obj: JsonDict, rollout: Rollout, result: Plan, changed: Mapping[str, bool]
    ) -> None:
        """A weight write when our recorded weight already matched means someone drifted it."""
        old = rollout.status.canary.weights if rollout.status.canary else None
        if old is None or result.desired_weight is None:
            return
        if old.canary.weight != result.desired_weight:
            return
        ns, name = _key(obj)
        for router_name, did_change in changed.items():
            if did_change:
                k = (ns, name, router_name)
                self.stats.corrections[k] = self.stats.corrections.get(k, 0) + 1
                log.warning(
                    "traffic weight drifted; put back",
                    router=router_name,
                    weight=result.desired_weight,
                )

    async def _write_plan_status(self, obj: JsonDict, result: Plan) -> JsonDict:
        """Write a plan's status, then record its Events; returns the Rollout as written."""
        if not self.allowed():
            raise PermissionError("not the leader: refusing to write")
        obj = await self._patch_status(obj, result.status)
        # In the background: the next reconcile of this key (often due at once, after our own
        # status write) must not wait for an Event round trip per Event.
        for event in result.events:
            self.events.record_soon(obj, event.type, event.reason, event.message)
        return obj

    async def _patch_status(self, obj: JsonDict, new_status: JsonDict) -> JsonDict:
        patch = merge_patch(obj.get("status") or {}, new_status)
        if not patch:
            return obj  # nothing changed: no write
        ns, name = _key(obj)
        updated: JsonDict = await self.kube.patch(
            ROLLOUTS, name, {"status": patch}, namespace=ns, subresource="status"
        )
        self.rollouts.remember(updated)
        return updated

    async def _release_services(self, namespace: str, name: str, keep: Sequence[str]) -> None:
        """Give back Services this Rollout no longer uses: drop our selector and annotation."""
        for svc in self.services.by_index(MANAGED_BY_INDEX, (namespace, name)):
            meta = svc.get("metadata") or {}
            if meta.get("namespace") != namespace or meta.get("name") in keep:
                continue
            if (meta.get("annotations") or {}).get(MANAGED_BY_ANNOTATION) != name:
                continue
            if not self.allowed():
                return
            body = {
                "metadata": {"annotations": {MANAGED_BY_ANNOTATION: None}},
                "spec": {"selector": {POD_HASH_LABEL: None}},
            }
            try:
                self.services.remember(
                    await self.kube.patch(SERVICES, meta["name"], body, namespace=namespace)
                )
                log.info("released service", service=meta["name"])
            except ApiError as exc:
                if not exc.not_found:
                    raise

    async def _release_router_objects(
        self, namespace: str, name: str, keep: set[tuple[Resource, str, str]]
    ) -> None:
        """Give back router objects (DestinationRules) this Rollout no longer names."""
        await release_unused(
            kube=self.kube,
            objects=self.objects,
            informers=self.informers,
            routers=self.releasers,
            index=MANAGED_BY_INDEX,
            namespace=namespace,
            name=name,
            keep=keep,
            allowed=self.allowed,
        )

    # -- views for metrics -------------------------------------------------------------------

    def views(self) -> list[RolloutView]:
        out = []
        for obj in list(self.rollouts.items()):
            key = _key(obj)
            out.append(RolloutView(obj, self.desired_weights.get(key), self.observed(obj)))
        return out

    def observed(self, obj: JsonDict) -> dict[str, list[tuple[str, int]]]:
        """Per router: (object description, canary weight) read from the caches now."""
        try:
            rollout = parse_rollout(obj)
        except InvalidRollout:
            return {}
        bound, states, _ = self._routers_readonly(obj, rollout)
        result: dict[str, list[tuple[str, int]]] = {}
        for b, state in zip(bound, states, strict=True):
            if state.errors:
                continue
            result[b.router.name] = [(w.object, w.canary) for w in b.router.read_weight(b.ctx)]
        return result

    def _routers_readonly(
        self, obj: JsonDict, rollout: Rollout
    ) -> tuple[list[BoundRouter], list[RouterState], list[str]]:
        saved = self._refs_of.get(_key(obj), set())
        try:
            return self._routers(obj, rollout)
        finally:
            self._index(_key(obj), saved)


_heap_frozen = False


def _freeze_heap() -> None:
    """Once per process, after the first sync: keep what is alive now out of the cycle GC.

    Imported modules and the first lists of every cache are most of the heap and live long
    (cached objects are plain JSON dicts, freed by reference counting when replaced), yet a
    full collection walked all of them: 130-175 ms with 300 Rollouts and about 300 ms with
    1,000, stopping the event loop mid-promotion every few tens of seconds of activity.
    Collect first, so no garbage is frozen; objects made later are collected as usual.
    """
    global _heap_frozen
    if not _heap_frozen:
        _heap_frozen = True
        gc.collect()
        gc.freeze()


def _key(obj: JsonDict) -> Key:
    meta = obj.get("metadata") or {}
    return (meta.get("namespace") or "", meta.get("name") or "")


def _controller_owner_uids(rs: JsonDict) -> list[str | None]:
    """Index: the uid of each controller owner reference (the Rollout, for ours)."""
    refs = (rs.get("metadata") or {}).get("ownerReferences") or []
    return [ref.get("uid") for ref in refs if ref.get("controller")]


def service_names(rollout: Rollout) -> list[str]:
    """The Services a Rollout's strategy names (canary/stable, or active/preview)."""
    canary = rollout.spec.strategy.canary
    blue_green = rollout.spec.strategy.blue_green
    names: list[str | None] = []
    if canary is not None:
        names += [canary.canary_service, canary.stable_service]
    if blue_green is not None:
        names += [blue_green.active_service, blue_green.preview_service]
    return [n for n in dict.fromkeys(names) if n]


def _managed_by(svc: JsonDict) -> list[tuple[str, str]]:
    """Index: (namespace, Rollout) of the managed-by annotation, when a Service has one."""
    meta = svc.get("metadata") or {}
    owner = (meta.get("annotations") or {}).get(MANAGED_BY_ANNOTATION)
    return [(meta.get("namespace") or "", owner)] if owner else []


def _has_failure(obj: JsonDict) -> bool:
    conditions = (obj.get("status") or {}).get("conditions") or []
    return any(c.get("type") == failures.RECONCILE_ERROR for c in conditions)


def _invalid_status(obj: JsonDict, errors: list[str]) -> JsonDict:
    status = dict(obj.get("status") or {})
    name = (obj.get("metadata") or {}).get("name", "")
    message = f'The Rollout "{name}" is invalid: ' + "; ".join(errors)
    now = timestamp(dt.datetime.now(dt.UTC))
    conditions = [c for c in status.get("conditions") or [] if c.get("type") != "InvalidSpec"]
    conditions.append(
        {
            "type": "InvalidSpec",
            "status": "True",
            "reason": "InvalidSpec",
            "message": message,
            "lastUpdateTime": now,
            "lastTransitionTime": now,
        }
    )
    status.update(
        conditions=conditions,
        phase="Degraded",
        message=f"InvalidSpec: {message}",
        observedGeneration=str((obj.get("metadata") or {}).get("generation", "")),
    )
    return status
