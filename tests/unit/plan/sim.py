"""A fake cluster for the pure planner: plain dicts, a fake clock, and the controller's loop.

`Cluster` holds what the controller's caches would hold for one Rollout (the Rollout with its
status, its ReplicaSets, the Services it names, and one router's canary weight) and carries out
a `Plan` the way the controller does:

- the actions, in order (a ReplicaSet is created, scaled, annotated or deleted; a Service's
  pod-hash selector is switched; the router's weight and subset hashes are set);
- then the status is replaced by `plan.status` (the controller patches only what differs,
  which ends in the same object);
- or, with `reconcile(crash_after=n)`, only the first n actions and no status (a crash or a
  failed write: the next pass starts from there).

Nothing happens to pods unless a test says so: `kubelet()` is the ReplicaSet controller and the
kubelet together (pods created or removed, some or all of them becoming available), so tests
decide exactly when the canary's pods are ready. `lose_pods()` makes pods unavailable. Until
`kubelet()` runs after a scale, a ReplicaSet's status is stale (observedGeneration behind), as
an informer cache can be.

User commands go through the same patches the CLI sends (`rolloutd.cli.patches`), applied as
JSON merge patches, so "promote" here is exactly what `kubectl argo rollouts promote` does.

Every reconcile is recorded (`history`) with its snapshot and the traffic state after each
action, so the invariant checks (`invariants.py`) can compare what the planner saw with what
it decided, at every instant of the plan.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rolloutd.cli import patches as cli_patches
from rolloutd.model.rollout import parse_rollout
from rolloutd.plan.hashing import pod_template_hash
from rolloutd.plan.planner import plan as make_plan
from rolloutd.plan.types import (
    EPHEMERAL_METADATA_ANNOTATION,
    MANAGED_BY_ANNOTATION,
    POD_HASH_LABEL,
    Action,
    AnnotateReplicaSet,
    AnnotateRollout,
    CreateAnalysisRun,
    CreateReplicaSet,
    DeleteAnalysisRun,
    DeleteReplicaSet,
    Event,
    Plan,
    RemoveManagedRoutes,
    ReplicaSetView,
    RouterState,
    ScaleReplicaSet,
    ServiceView,
    SetHeaderRoute,
    SetMirrorRoute,
    SetWeight,
    Snapshot,
    SwitchService,
    SyncPodMetadata,
    TerminateAnalysisRun,
    UpdateHash,
)

JsonDict = dict[str, Any]

NAME = "rollouts-demo"
NAMESPACE = "demo"
STABLE_SVC = "rollouts-demo-stable"
CANARY_SVC = "rollouts-demo-canary"
BLUE = "argoproj/rollouts-demo:blue"
YELLOW = "argoproj/rollouts-demo:yellow"
GREEN = "argoproj/rollouts-demo:green"
T0 = dt.datetime(2024, 1, 1, 10, 0, 0, tzinfo=dt.UTC)

SEED_STEPS: list[JsonDict] = [
    {"setWeight": 20},
    {"pause": {}},
    {"setWeight": 40},
    {"pause": {}},
    {"setWeight": 60},
    {"pause": {"duration": 30}},
    {"setWeight": 80},
    {"pause": {"duration": 60}},
]


# -- objects -------------------------------------------------------------------------------


def template(image: str = BLUE) -> JsonDict:
    """The seed's pod template with `image`."""
    return {
        "metadata": {"labels": {"app": NAME, "istio-injection": "enabled"}},
        "spec": {
            "containers": [
                {
                    "name": NAME,
                    "image": image,
                    "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
                    "resources": {"requests": {"memory": "32Mi", "cpu": "5m"}},
                }
            ]
        },
    }


def rollout(
    *,
    replicas: int | None = 5,
    steps: list[JsonDict] | None = None,
    image: str = BLUE,
    routed: bool = True,
    canary: Mapping[str, Any] | None = None,
    spec: Mapping[str, Any] | None = None,
) -> JsonDict:
    """The seed's Rollout (`steps=None` means the seed's steps; `[]` means no steps).

    `canary` and `spec` are merged into the canary strategy and the spec; `routed=False` drops
    the Services and the traffic routing (a basic canary).
    """
    strategy: JsonDict = {"steps": copy.deepcopy(SEED_STEPS if steps is None else steps)}
    if routed:
        strategy.update(
            canaryService=CANARY_SVC,
            stableService=STABLE_SVC,
            trafficRouting={
                "istio": {
                    "virtualServices": [{"name": "rollouts-demo-vsvc", "routes": ["primary"]}]
                }
            },
        )
    strategy.update(canary or {})
    body: JsonDict = {
        "replicas": replicas,
        "strategy": {"canary": strategy},
        "revisionHistoryLimit": 2,
        "selector": {"matchLabels": {"app": NAME}},
        "template": template(image),
    }
    if replicas is None:
        del body["replicas"]
    body.update(spec or {})
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": NAME, "namespace": NAMESPACE, "uid": "uid-1", "generation": 1},
        "spec": body,
    }


ACTIVE_SVC = "rollouts-demo-active"
PREVIEW_SVC = "rollouts-demo-preview"


def blue_green_rollout(
    *,
    replicas: int | None = 3,
    image: str = BLUE,
    blue_green: Mapping[str, Any] | None = None,
    spec: Mapping[str, Any] | None = None,
) -> JsonDict:
    """The seed's Rollout with `strategy.blueGreen` (active and preview Services, manual
    promotion unless `blue_green` says otherwise) instead of the canary."""
    body = rollout(replicas=replicas, image=image, routed=False, spec=spec)
    strategy: JsonDict = {
        "activeService": ACTIVE_SVC,
        "previewService": PREVIEW_SVC,
        "autoPromotionEnabled": False,
    }
    strategy.update(blue_green or {})
    body["spec"]["strategy"] = {"blueGreen": strategy}
    return body


def service(name: str) -> JsonDict:
    """The seed's Services: selecting `app: rollouts-demo`, no pod hash yet."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "selector": {"app": NAME},
            "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
        },
    }


def events_of(plan: Plan) -> list[Event]:
    """Every Event one reconcile records: its checkpoint's first, then its own."""
    first = list(plan.checkpoint.events) if plan.checkpoint is not None else []
    return [*first, *plan.events]


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: what the API server does with a JSON merge patch (returns a new object)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


# -- the cluster ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Traffic:
    """Where traffic can go at one instant: the router's weight, the Services' targets, and
    each ReplicaSet's size. Recorded before a plan's first action and after each action, so
    checks can ask what a crash at that instant would leave behind."""

    action: Action | None
    """The action just carried out (None: the state before the plan)."""
    weight: int | None
    canary_target: str | None
    """Pod hash the canary Service selects."""
    stable_target: str | None
    spec_replicas: Mapping[str, int]
    """spec.replicas by pod hash."""
    available: Mapping[str, int]
    """Available pods by pod hash (pods do not change while a plan is carried out)."""

    def capacity(self, pod_hash: str | None) -> int:
        """Pods of that ReplicaSet that can serve now and will be kept."""
        if pod_hash is None:
            return 0
        return min(self.available.get(pod_hash, 0), self.spec_replicas.get(pod_hash, 0))


@dataclass(frozen=True)
class Reconcile:
    """One pass of the controller: what the planner saw and what it decided."""

    snapshot: Snapshot
    plan: Plan
    now: dt.datetime
    before: JsonDict
    """The whole Rollout (with status) as the planner saw it."""
    trace: tuple[Traffic, ...]
    """The traffic state before the plan and after each of its actions."""


Checker = Callable[["Cluster", Reconcile], None]


@dataclass
class Cluster:
    """One Rollout's world, as plain dicts, and a fake clock."""

    rollout: JsonDict
    services: dict[str, JsonDict] = field(default_factory=dict)
    replica_sets: dict[str, JsonDict] = field(default_factory=dict)
    now: dt.datetime = T0
    router: str | None = "istio"
    router_weight: int | None = 0
    """The canary weight the routing object holds (the seed's VirtualService starts at 0)."""
    router_hashes: tuple[str | None, str | None] | None = None
    router_errors: list[str] = field(default_factory=list)
    header_routes: dict[str, JsonDict] = field(default_factory=dict)
    mirror_routes: dict[str, JsonDict] = field(default_factory=dict)
    metadata_syncs: list[SyncPodMetadata] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    history: list[Reconcile] = field(default_factory=list)
    checkers: list[Checker] = field(default_factory=list)
    weight_writes: list[int] = field(default_factory=list)
    """Every weight the router was asked to set, in order."""
    analysis_runs: dict[str, JsonDict] = field(default_factory=dict)
    """AnalysisRuns the planner created (these tests use no analysis; kept for completeness)."""

    @classmethod
    def seed(
        cls,
        *,
        checkers: list[Checker] | None = None,
        **kwargs: Any,
    ) -> Cluster:
        """The seed walkthrough's world: its Rollout (see `rollout()`) and its two Services."""
        body = rollout(**kwargs)
        routed = kwargs.get("routed", True)
        return cls(
            rollout=body,
            services={n: service(n) for n in (STABLE_SVC, CANARY_SVC)} if routed else {},
            router="istio" if routed else None,
            router_weight=0 if routed else None,
            checkers=list(checkers or []),
        )

    @classmethod
    def blue_green(
        cls,
        *,
        checkers: list[Checker] | None = None,
        **kwargs: Any,
    ) -> Cluster:
        """A blue-green Rollout (see `blue_green_rollout()`) and its active and preview
        Services (the seed's two Services, under the blue-green names)."""
        body = blue_green_rollout(**kwargs)
        return cls(
            rollout=body,
            services={n: service(n) for n in (ACTIVE_SVC, PREVIEW_SVC)},
            router=None,
            router_weight=None,
            checkers=list(checkers or []),
        )

    # -- reads --------------------------------------------------------------------------------

    @property
    def status(self) -> JsonDict:
        status: JsonDict = self.rollout.setdefault("status", {})
        return status

    @property
    def spec(self) -> JsonDict:
        spec: JsonDict = self.rollout["spec"]
        return spec

    @property
    def steps(self) -> list[JsonDict]:
        steps: list[JsonDict] = (self.spec["strategy"].get("canary") or {}).get("steps") or []
        return steps

    @property
    def replicas(self) -> int:
        value = self.spec.get("replicas")
        return 1 if value is None else int(value)

    @property
    def current_hash(self) -> str:
        """The pod hash of the template in the spec now."""
        return pod_template_hash(self.spec["template"], self.status.get("collisionCount"))

    @property
    def phase(self) -> tuple[str, str]:
        return self.status.get("phase", ""), self.status.get("message", "")

    @property
    def index(self) -> int | None:
        value = self.status.get("currentStepIndex")
        return None if value is None else int(value)

    @property
    def status_weights(self) -> tuple[int, int] | None:
        weights = (self.status.get("canary") or {}).get("weights")
        if not weights:
            return None
        return int(weights["canary"]["weight"]), int(weights["stable"]["weight"])

    def condition(self, kind: str) -> JsonDict | None:
        return next((c for c in self.status.get("conditions") or [] if c["type"] == kind), None)

    def rs_for(self, pod_hash: str | None) -> JsonDict | None:
        if not pod_hash:
            return None
        return next(
            (
                rs
                for rs in self.replica_sets.values()
                if rs["metadata"]["labels"].get(POD_HASH_LABEL) == pod_hash
            ),
            None,
        )

    def rs_named(self, name: str) -> JsonDict:
        return self.replica_sets[name]

    def pods(self, pod_hash: str | None) -> tuple[int, int]:
        """(spec.replicas, available) of the ReplicaSet with this hash; (0, 0) if none."""
        rs = self.rs_for(pod_hash)
        if rs is None:
            return 0, 0
        return int(rs["spec"]["replicas"]), int(rs["status"].get("availableReplicas") or 0)

    def selector_hash(self, service_name: str) -> str | None:
        svc = self.services.get(service_name)
        if svc is None:
            return None
        value = (svc["spec"].get("selector") or {}).get(POD_HASH_LABEL)
        return None if value is None else str(value)

    def named_services(self) -> list[str]:
        canary = self.spec["strategy"].get("canary") or {}
        blue_green = self.spec["strategy"].get("blueGreen") or {}
        names = (
            canary.get("canaryService"),
            canary.get("stableService"),
            blue_green.get("activeService"),
            blue_green.get("previewService"),
        )
        return [n for n in names if n]

    def is_routed(self) -> bool:
        canary = self.spec["strategy"].get("canary") or {}
        return canary.get("trafficRouting") is not None

    # -- the controller -------------------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        """What the controller builds from its caches (deep copies: later writes don't leak)."""
        services: dict[str, ServiceView | None] = {}
        for svc_name in self.named_services():
            svc = self.services.get(svc_name)
            services[svc_name] = ServiceView.from_dict(copy.deepcopy(svc)) if svc else None
        routers: list[RouterState] = []
        if self.router is not None and self.is_routed():
            errors = tuple(self.router_errors)
            routers.append(
                RouterState(
                    name=self.router,
                    errors=errors,
                    canary_weight=None if errors else self.router_weight,
                )
            )
        return Snapshot(
            rollout=parse_rollout(copy.deepcopy(self.rollout)),
            replica_sets=[
                ReplicaSetView.from_dict(copy.deepcopy(rs)) for rs in self.replica_sets.values()
            ],
            services=services,
            routers=routers,
            raw=copy.deepcopy(self.rollout),
            analysis_runs=[copy.deepcopy(run) for run in self.analysis_runs.values()],
        )

    def plan(self) -> Plan:
        """Plan without applying anything."""
        return make_plan(self.snapshot(), self.now)

    def reconcile(self, *, crash_after: int | None = None) -> Plan:
        """One controller pass: snapshot, plan, carry out the actions, write the status.

        `crash_after=n` stops after the plan's first n actions, before the status write (a
        crash, a lost leader lease, or an API error): the next pass starts from there."""
        before = copy.deepcopy(self.rollout)
        snap = self.snapshot()
        result = make_plan(snap, self.now)
        if result.checkpoint is not None:
            # A finished step is recorded before the next one acts (a crash comes after it).
            self.rollout["status"] = copy.deepcopy(result.checkpoint.status)
            self.events.extend(result.checkpoint.events)
        if crash_after is not None:
            for action in list(result.actions)[:crash_after]:
                self.do(action)
            return result
        trace = [self.traffic(None)]
        for action in result.actions:
            self.do(action)
            trace.append(self.traffic(action))
        self.rollout["status"] = copy.deepcopy(result.status)
        self.events.extend(result.events)
        record = Reconcile(
            snapshot=snap,
            plan=result,
            now=self.now,
            before=before,
            trace=tuple(trace),
        )
        self.history.append(record)
        for check in self.checkers:
            check(self, record)
        return result

    def apply(self, result: Plan) -> None:
        if result.checkpoint is not None:
            self.rollout["status"] = copy.deepcopy(result.checkpoint.status)
            self.events.extend(result.checkpoint.events)
        for action in result.actions:
            self.do(action)
        self.rollout["status"] = copy.deepcopy(result.status)
        self.events.extend(result.events)

    def do(self, action: Action) -> None:
        """Carry out one action the way the actuator does."""
        if isinstance(action, CreateReplicaSet):
            body = copy.deepcopy(action.body)
            name = body["metadata"]["name"]
            if name in self.replica_sets:
                return  # AlreadyExists: the actuator adopts the existing one
            body["metadata"]["generation"] = 1
            body["metadata"]["creationTimestamp"] = self.now.strftime("%Y-%m-%dT%H:%M:%SZ")
            body["status"] = {"replicas": 0, "observedGeneration": 0}
            self.replica_sets[name] = body
        elif isinstance(action, ScaleReplicaSet):
            rs = self.replica_sets[action.name]
            if int(rs["spec"]["replicas"]) != action.replicas:
                rs["spec"]["replicas"] = action.replicas
                rs["metadata"]["generation"] = int(rs["metadata"]["generation"]) + 1
            self._annotate(rs, action.annotations)
        elif isinstance(action, AnnotateReplicaSet):
            self._annotate(self.replica_sets[action.name], action.annotations)
        elif isinstance(action, DeleteReplicaSet):
            self.replica_sets.pop(action.name, None)
        elif isinstance(action, SyncPodMetadata):
            # The sim has no pods: the template stands for them (born from it, relabelled).
            rs = self.replica_sets[action.name]
            meta = rs["spec"]["template"].setdefault("metadata", {})
            for kind, changes in action.template.items():
                values = meta.setdefault(kind, {})
                for key, value in changes.items():
                    if value is None:
                        values.pop(key, None)
                    else:
                        values[key] = value
            self._annotate(rs, {EPHEMERAL_METADATA_ANNOTATION: action.record})
            self.metadata_syncs.append(action)
        elif isinstance(action, SwitchService):
            svc = self.services[action.service]
            svc["spec"].setdefault("selector", {})[POD_HASH_LABEL] = action.pod_hash
            svc["metadata"].setdefault("annotations", {})[MANAGED_BY_ANNOTATION] = NAME
        elif isinstance(action, SetWeight):
            self.router_weight = action.weight
            self.weight_writes.append(action.weight)
        elif isinstance(action, UpdateHash):
            self.router_hashes = (action.canary_hash, action.stable_hash)
        elif isinstance(action, SetHeaderRoute):
            # A step without `match` removes the route, as the routers do.
            if action.step.get("match"):
                self.header_routes[str(action.step.get("name"))] = dict(action.step)
            else:
                self.header_routes.pop(str(action.step.get("name")), None)
        elif isinstance(action, SetMirrorRoute):
            if action.step.get("match"):
                self.mirror_routes[str(action.step.get("name"))] = dict(action.step)
            else:
                self.mirror_routes.pop(str(action.step.get("name")), None)
        elif isinstance(action, RemoveManagedRoutes):
            self.header_routes.clear()
            self.mirror_routes.clear()
        elif isinstance(action, AnnotateRollout):
            meta = self.rollout["metadata"]
            annotations = meta.setdefault("annotations", {})
            annotations.update(action.annotations)
        elif isinstance(action, CreateAnalysisRun):
            self.analysis_runs[action.body["metadata"]["name"]] = copy.deepcopy(action.body)
        elif isinstance(action, TerminateAnalysisRun):
            run = self.analysis_runs.get(action.name)
            if run is not None:
                run.setdefault("spec", {})["terminate"] = True
        elif isinstance(action, DeleteAnalysisRun):
            self.analysis_runs.pop(action.name, None)
        else:  # pragma: no cover - the Action union is closed
            raise TypeError(f"unknown action {action!r}")

    @staticmethod
    def _annotate(rs: JsonDict, annotations: Mapping[str, str | None]) -> None:
        current = rs["metadata"].setdefault("annotations", {})
        for key, value in annotations.items():
            if value is None:
                current.pop(key, None)
            else:
                current[key] = value

    def traffic(self, action: Action | None) -> Traffic:
        specs: dict[str, int] = {}
        available: dict[str, int] = {}
        for rs in self.replica_sets.values():
            pod_hash = rs["metadata"]["labels"].get(POD_HASH_LABEL, "")
            specs[pod_hash] = int(rs["spec"]["replicas"])
            available[pod_hash] = int((rs.get("status") or {}).get("availableReplicas") or 0)
        return Traffic(
            action=action,
            weight=self.router_weight,
            canary_target=self.selector_hash(CANARY_SVC),
            stable_target=self.selector_hash(STABLE_SVC),
            spec_replicas=specs,
            available=available,
        )

    def world(self) -> JsonDict:
        """Everything an action can change (for "did this write change anything?")."""
        return copy.deepcopy(
            {
                "rollout_meta": self.rollout["metadata"],
                "replica_sets": self.replica_sets,
                "services": self.services,
                "weight": self.router_weight,
                "hashes": self.router_hashes,
                "header": self.header_routes,
                "mirror": self.mirror_routes,
                "analysis_runs": self.analysis_runs,
            }
        )

    def fork(self, *, checkers: list[Checker] | None = None) -> Cluster:
        """An independent copy of the world and the clock (without the history), to try
        something out without touching this one."""
        return Cluster(
            rollout=copy.deepcopy(self.rollout),
            services=copy.deepcopy(self.services),
            replica_sets=copy.deepcopy(self.replica_sets),
            now=self.now,
            router=self.router,
            router_weight=self.router_weight,
            router_hashes=self.router_hashes,
            router_errors=list(self.router_errors),
            header_routes=copy.deepcopy(self.header_routes),
            mirror_routes=copy.deepcopy(self.mirror_routes),
            analysis_runs=copy.deepcopy(self.analysis_runs),
            checkers=list(self.checkers if checkers is None else checkers),
        )

    def changes_anything(self, action: Action) -> bool:
        """True when carrying out `action` now would change the cluster."""
        probe = self.fork(checkers=[])
        before = probe.world()
        probe.do(action)
        return probe.world() != before

    # -- pods -----------------------------------------------------------------------------------

    def kubelet(self, budget: int | None = None, *, only: str | None = None) -> None:
        """The ReplicaSet controller and kubelet catch up: pods are created or removed to match
        spec.replicas, and up to `budget` more pods per ReplicaSet become available (all of
        them when None). `only` limits this to the ReplicaSet with that pod hash."""
        for rs in self.replica_sets.values():
            if only is not None and rs["metadata"]["labels"].get(POD_HASH_LABEL) != only:
                continue
            spec = int(rs["spec"]["replicas"])
            status = rs.setdefault("status", {})
            available = min(int(status.get("availableReplicas") or 0), spec)
            available = spec if budget is None else min(spec, available + budget)
            status["observedGeneration"] = rs["metadata"]["generation"]
            status["replicas"] = spec
            status["readyReplicas"] = available
            status["availableReplicas"] = available

    def lose_pods(self, pod_hash: str | None, count: int) -> None:
        """`count` pods of that ReplicaSet stop being ready (they crash and restart)."""
        rs = self.rs_for(pod_hash)
        if rs is None:
            return
        status = rs["status"]
        left = max(0, int(status.get("availableReplicas") or 0) - count)
        status["availableReplicas"] = left
        status["readyReplicas"] = min(int(status.get("readyReplicas") or 0), left)

    # -- the clock ------------------------------------------------------------------------------

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)

    # -- the user (the CLI's patches) -----------------------------------------------------------

    def edit_spec(self, change: Callable[[JsonDict], None]) -> None:
        """A `kubectl apply`/edit: change the spec and bump the generation."""
        change(self.spec)
        meta = self.rollout["metadata"]
        meta["generation"] = int(meta["generation"]) + 1

    def set_image(self, image: str) -> None:
        def change(spec: JsonDict) -> None:
            spec["template"]["spec"]["containers"][0]["image"] = image

        self.edit_spec(change)

    def set_steps(self, steps: list[JsonDict]) -> None:
        def change(spec: JsonDict) -> None:
            spec["strategy"]["canary"]["steps"] = copy.deepcopy(steps)

        self.edit_spec(change)

    def patch(self, body: JsonDict) -> None:
        """A merge patch on the Rollout (spec patches bump the generation)."""
        if "spec" in body:
            self.edit_spec(lambda spec: spec.update(merge_patch(spec, body["spec"])))
        if "status" in body:
            self.rollout["status"] = merge_patch(self.status, body["status"])

    def promote(self, *, full: bool = False) -> None:
        """`kubectl argo rollouts promote [--full]`."""
        sent = cli_patches.promote_patches(self.rollout, full=full)
        if sent.status is not None:
            self.patch(sent.status)
        if sent.spec is not None:
            self.patch(sent.spec)

    def abort(self) -> None:
        self.patch(cli_patches.ABORT_PATCH)

    def retry(self) -> None:
        self.patch(cli_patches.RETRY_PATCH)

    def pause(self) -> None:
        self.patch(cli_patches.PAUSE_PATCH)

    def resume(self) -> None:
        self.patch(cli_patches.UNPAUSE_PATCH)

    # -- driving --------------------------------------------------------------------------------

    def settle(self, *, budget: int | None = None, rounds: int = 50) -> Plan:
        """Reconcile and let pods come up (without moving the clock) until nothing changes:
        the last plan changes no object and no status. Returns that last plan."""
        for _ in range(rounds):
            state = (self.world(), copy.deepcopy(self.status))
            result = self.reconcile()
            self.kubelet(budget)
            if (self.world(), self.status) == state:
                return result
        raise AssertionError(f"no fixed point after {rounds} reconciles: {self.status}")

    def run_until(
        self,
        done: Callable[[Cluster], bool],
        *,
        rounds: int = 200,
        budget: int | None = None,
        user: Callable[[Cluster], None] | None = None,
    ) -> int:
        """Reconcile, bring pods up and move the clock (to the plan's requeue time, or by a
        second) until `done`; `user` may act between passes. Returns the passes it took."""
        for n in range(rounds):
            if done(self):
                return n
            result = self.reconcile()
            self.kubelet(budget)
            if user is not None:
                user(self)
            wait = result.requeue_after.total_seconds() if result.requeue_after else 1.0
            self.advance(max(1.0, min(wait, 600.0)))
        raise AssertionError(f"not done after {rounds} passes: {self.phase} {self.status}")


def hash_of(image: str) -> str:
    """The pod hash of the seed's template with `image`."""
    return pod_template_hash(template(image))


def rs_name(image: str) -> str:
    return f"{NAME}-{hash_of(image)}"
