"""Property tests: the blue-green planner's invariants hold for random specs and event orders.

A hypothesis state machine drives the simulated cluster (`sim.py`, `Cluster.blue_green()`)
through random interleavings of reconciles, pods coming up (all, some, none), pods lost, the
clock moving (past autoPromotionSeconds, scaleDownDelaySeconds, the progress deadline), the
user's commands (promote, promote --full, abort, retry, spec.paused on and off, a new image,
the stable's image again = a fast rollback) and controller crashes after any action of a plan.
Every reconcile is checked at every instant inside its plan (the controller stops at the first
failed action, so any prefix of a plan is a state the cluster may stay in):

(a) the active Service never selects a ReplicaSet that lacks any of its pods: at every instant
    the ReplicaSet it selects asks for at least spec.replicas pods and has that many
    available. The one exception is the user's own pod loss being repaired: a ReplicaSet
    whose pods `lose_pods()` made unavailable, and which has not been fully available again
    since (the machine's `lost` set, cleared when the kubelet brings it back to full). The
    active Service may stay on such a ReplicaSet, and an abort may send it back to such a
    stable if at least one of its pods serves; no other switch may go to it;
(b) a ReplicaSet that was stable is never scaled below full size while it is stable, nor
    after, before the active Service as read back from the cluster (the snapshot, not the
    plan) selects another hash and its scale-down delay has passed (its deadline annotation
    is due, or the delay is 0, or scaleDownDelayRevisionLimit newer ones are already waiting);
(c) an abort puts active back on the stable once the plan acting on it is applied (unless
    spec.paused freezes every switch, or the stable has no serving pod at all);
(d) nothing is written at rest: planning again on an unchanged world soon writes nothing;
(e) the same snapshot plans the same.

Plus: invalid blue-green specs give InvalidSpec naming the field, and no action.
"""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, rule
from invariants import check_invalid, check_promotion, check_pure, check_quiescent
from sim import (
    ACTIVE_SVC,
    BLUE,
    GREEN,
    PREVIEW_SVC,
    YELLOW,
    Cluster,
    Reconcile,
    Traffic,
    hash_of,
)

from rolloutd.model.rollout import InvalidRollout, parse_rollout, validate_rollout
from rolloutd.plan.types import (
    POD_HASH_LABEL,
    SCALE_DOWN_DEADLINE_ANNOTATION,
    ScaleReplicaSet,
    SwitchService,
)

JsonDict = dict[str, Any]

RED = "argoproj/rollouts-demo:red"
IMAGES = [BLUE, YELLOW, GREEN, RED]
IMAGE_OF = {hash_of(image): image for image in IMAGES}


# -- strategies ----------------------------------------------------------------------------------


@st.composite
def blue_green_setups(draw: st.DrawFn) -> JsonDict:
    replicas = draw(st.integers(1, 5))
    bg: JsonDict = {"autoPromotionEnabled": draw(st.sampled_from([None, True, False]))}
    optional = {
        "previewReplicaCount": st.integers(1, replicas),
        "autoPromotionSeconds": st.sampled_from([0, 10, 60]),
        "scaleDownDelaySeconds": st.sampled_from([0, 5, 30]),
        "scaleDownDelayRevisionLimit": st.sampled_from([0, 1, 2]),
        "abortScaleDownDelaySeconds": st.sampled_from([0, 5, 30]),
    }
    for key, values in optional.items():
        if draw(st.booleans()):
            bg[key] = draw(values)
    spec: JsonDict = {}
    if draw(st.booleans()):
        spec["progressDeadlineSeconds"] = draw(st.sampled_from([10, 60]))
        spec["progressDeadlineAbort"] = draw(st.booleans())
    return {"replicas": replicas, "blue_green": bg, "spec": spec}


# -- helpers -------------------------------------------------------------------------------------


def _replicas(rollout: JsonDict) -> int:
    value = rollout["spec"].get("replicas")
    return 1 if value is None else int(value)


def _blue_green(rollout: JsonDict) -> JsonDict:
    bg: JsonDict = rollout["spec"]["strategy"].get("blueGreen") or {}
    return bg


def _read_hash(rec: Reconcile, service: str) -> str:
    """The pod hash a Service selected in the snapshot (what the cluster showed the planner)."""
    svc = rec.snapshot.services.get(service)
    return svc.selector.get(POD_HASH_LABEL, "") if svc is not None else ""


def active_targets(rec: Reconcile) -> list[str]:
    """The active Service's pod hash at each instant of the plan (parallel to `rec.trace`)."""
    current = _read_hash(rec, ACTIVE_SVC)
    out = [current]
    for state in rec.trace[1:]:
        action = state.action
        if isinstance(action, SwitchService) and action.service == ACTIVE_SVC:
            current = action.pod_hash
        out.append(current)
    return out


def _describe(rec: Reconcile) -> str:
    status = rec.before.get("status") or {}
    keep = ("stableRS", "currentPodHash", "abort", "abortedAt", "pauseConditions", "blueGreen")
    lines = [f"at {rec.now:%H:%M:%S}, status before: { {k: status.get(k) for k in keep} }"]
    for state, active in zip(rec.trace, active_targets(rec), strict=True):
        lines.append(
            f"  {state.action!r}: active->{active} spec={dict(state.spec_replicas)} "
            f"available={dict(state.available)}"
        )
    return "\n".join(lines)


def _valid(rec: Reconcile) -> bool:
    conds = rec.plan.status.get("conditions") or []
    return not any(c["type"] == "InvalidSpec" and c["status"] == "True" for c in conds)


def _parse(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


# -- (a) active only on pods that are all there ----------------------------------------------------


def check_active_available(rec: Reconcile, lost: set[str]) -> None:
    replicas = _replicas(rec.before)
    stable_after = rec.plan.status.get("stableRS")
    aborting = bool(rec.plan.status.get("abort"))
    targets = active_targets(rec)
    for at, (state, active) in enumerate(zip(rec.trace, targets, strict=True)):
        if not active:
            continue  # a first deploy before its pods are up: the Service has no pod hash yet
        spec = state.spec_replicas.get(active, 0)
        assert spec >= replicas, (
            f"the active Service selects {active}, asked for {spec} < {replicas} pods\n"
            f"{_describe(rec)}"
        )
        capacity = state.capacity(active)
        if capacity >= replicas:
            continue
        assert active in lost, (
            f"the active Service selects {active} with {capacity} of {replicas} pods available "
            f"(no user pod loss to repair)\n{_describe(rec)}"
        )
        switched = at > 0 and targets[at - 1] != active
        if switched:
            assert aborting and active == stable_after and capacity >= 1, (
                f"switched active to {active}, which lacks pods ({capacity}/{replicas}), and "
                f"not as an abort back to a serving stable\n{_describe(rec)}"
            )


# -- (b) the previous stable keeps full size ---------------------------------------------------


def _newer_waiting(rec: Reconcile, state: Traffic, pod_hash: str) -> int:
    """Old ReplicaSets newer than `pod_hash` still scaled up in their delay (those the
    revision limit counts: not the new one, the stable, nor one a Service selects)."""
    views = {rs.pod_hash: rs for rs in rec.snapshot.replica_sets}
    mine = views[pod_hash].revision
    skip = {
        rec.plan.status.get("currentPodHash"),
        rec.plan.status.get("stableRS"),
        (rec.before.get("status") or {}).get("stableRS"),
        _read_hash(rec, ACTIVE_SVC),
        _read_hash(rec, PREVIEW_SVC),
        *active_targets(rec),
    }
    return sum(
        1
        for h, rs in views.items()
        if h not in skip and rs.revision > mine and state.spec_replicas.get(h, 0) > 0
    )


def check_stable_kept(rec: Reconcile, ever_stable: set[str]) -> None:
    replicas = _replicas(rec.before)
    bg = _blue_green(rec.before)
    delay = bg.get("scaleDownDelaySeconds")
    delay = 30 if delay is None else int(delay)
    limit = bg.get("scaleDownDelayRevisionLimit")
    before_stable = (rec.before.get("status") or {}).get("stableRS")
    protected = set(ever_stable) | ({before_stable} if before_stable else set())
    views = {rs.pod_hash: rs for rs in rec.snapshot.replica_sets}
    for previous, state in zip(rec.trace, rec.trace[1:], strict=False):
        action = state.action
        if not isinstance(action, ScaleReplicaSet):
            continue
        for pod_hash in protected:
            size, was = state.spec_replicas.get(pod_hash), previous.spec_replicas.get(pod_hash)
            if size is None or was is None or size >= was or size >= replicas:
                continue
            where = f"{action!r} scaled {pod_hash} (a stable) to {size}\n{_describe(rec)}"
            assert pod_hash != rec.plan.status.get("stableRS"), f"stable shrunk: {where}"
            read = _read_hash(rec, ACTIVE_SVC)
            assert read and read != pod_hash, f"before active was read back elsewhere: {where}"
            deadline = views[pod_hash].annotations.get(SCALE_DOWN_DEADLINE_ANNOTATION)
            due = deadline is not None and _parse(deadline) <= rec.now
            over_limit = limit is not None and _newer_waiting(rec, previous, pod_hash) >= limit
            assert delay == 0 or due or over_limit, f"before its delay passed: {where}"


# -- (c) an abort goes back to stable ----------------------------------------------------------


def check_abort(rec: Reconcile) -> None:
    before = rec.before.get("status") or {}
    s = rec.plan.status
    if not (before.get("abort") and s.get("abort")) or not _valid(rec):
        return
    if rec.before["spec"].get("paused"):
        return  # spec.paused freezes every switch (bluegreen.py: `if not halted`)
    stable = s.get("stableRS")
    if not stable or rec.trace[-1].capacity(stable) < 1:
        return  # no serving stable pod to go back to: active stays until one serves
    assert active_targets(rec)[-1] == stable, (
        f"an aborted plan left active on {active_targets(rec)[-1]}, not stable {stable}\n"
        f"{_describe(rec)}"
    )


# -- the state machine ---------------------------------------------------------------------------


class BlueGreenMachine(RuleBasedStateMachine):
    """Random histories of one blue-green Rollout, checked at every reconcile (the
    controller's own loop is listed three times so that it does most of the work)."""

    def __init__(self) -> None:
        super().__init__()
        self.c: Cluster = Cluster.blue_green()
        self.lost: set[str] = set()
        """Pod hashes whose pods the user lost and that have not been fully available since."""
        self.ever_stable: set[str] = set()

    def check(self, cluster: Cluster, rec: Reconcile) -> None:
        check_pure(rec)
        check_invalid(rec)
        if not _valid(rec):
            return
        check_promotion(rec)
        check_active_available(rec, self.lost)
        check_stable_kept(rec, self.ever_stable)
        check_abort(rec)
        self._remember(cluster, rec)

    def _remember(self, cluster: Cluster, rec: Reconcile) -> None:
        """Which ReplicaSets count as (previous) stables from now on."""
        s = rec.plan.status
        for key in ((rec.before.get("status") or {}).get("stableRS"), s.get("stableRS")):
            if key:
                self.ever_stable.add(key)
        for pod_hash in list(self.ever_stable):
            spec, _ = cluster.pods(pod_hash)
            again_new = pod_hash == s.get("currentPodHash") and pod_hash != s.get("stableRS")
            if spec == 0 or again_new:
                # Gone (legitimately), or being previewed again: a new rollout of it.
                self.ever_stable.discard(pod_hash)

    def _repaired(self) -> None:
        for pod_hash in list(self.lost):
            spec, available = self.c.pods(pod_hash)
            if available >= spec:
                self.lost.discard(pod_hash)

    @initialize(setup=blue_green_setups(), image=st.sampled_from([None, GREEN]))
    def first_deploy(self, setup: JsonDict, image: str | None) -> None:
        self.c = Cluster.blue_green(checkers=[self.check], **copy.deepcopy(setup))
        self.c.settle()
        assert self.c.phase == ("Healthy", ""), self.c.phase
        assert self.c.selector_hash(ACTIVE_SVC) == hash_of(BLUE)
        if image is not None:
            self.c.set_image(image)

    # -- the controller and the pods ---------------------------------------------------

    def _tick(self, budget: int | None, wait: bool) -> None:
        result = self.c.reconcile()
        check_quiescent(self.c)
        self.c.kubelet(budget)
        self._repaired()
        if wait and result.requeue_after is not None:
            self.c.advance(max(1.0, result.requeue_after.total_seconds()))
        else:
            self.c.advance(1)

    @rule(budget=st.one_of(st.none(), st.integers(0, 2)), wait=st.booleans())
    def tick(self, budget: int | None, wait: bool) -> None:
        """A reconcile, pods coming up (all, some, none), and time to the next requeue."""
        self._tick(budget, wait)

    @rule(budget=st.one_of(st.none(), st.integers(0, 2)), wait=st.booleans())
    def tick_again(self, budget: int | None, wait: bool) -> None:
        self._tick(budget, wait)

    @rule(budget=st.one_of(st.none(), st.integers(0, 2)), wait=st.booleans())
    def tick_once_more(self, budget: int | None, wait: bool) -> None:
        self._tick(budget, wait)

    @rule()
    def reconcile_only(self) -> None:
        """A reconcile with nothing else happening (a watch event or a resync)."""
        self.c.reconcile()
        check_quiescent(self.c)

    @rule(budget=st.one_of(st.none(), st.integers(0, 2)), new_only=st.booleans())
    def kubelet(self, budget: int | None, new_only: bool) -> None:
        self.c.kubelet(budget, only=self.c.current_hash if new_only else None)
        self._repaired()

    @rule(which=st.sampled_from(["active", "preview", "stable"]), count=st.integers(1, 3))
    def lose_pods(self, which: str, count: int) -> None:
        if which == "stable":
            pod_hash = self.c.status.get("stableRS")
        else:
            pod_hash = self.c.selector_hash(ACTIVE_SVC if which == "active" else PREVIEW_SVC)
        if pod_hash is None or self.c.rs_for(pod_hash) is None:
            return
        _, available = self.c.pods(pod_hash)
        if available:
            self.lost.add(pod_hash)
        self.c.lose_pods(pod_hash, count)

    @rule(actions=st.integers(0, 5))
    def crash_mid_plan(self, actions: int) -> None:
        """The controller dies after a few of a plan's actions, before the status write. The
        plan is pure, so the states a crash leaves are the first instants of the same plan
        carried out whole: that plan is checked on a copy of the world first."""
        self.c.fork().reconcile()
        self.c.reconcile(crash_after=actions)

    @rule(seconds=st.sampled_from([5, 11, 31, 61, 700]))
    def clock(self, seconds: int) -> None:
        """Past autoPromotionSeconds, scaleDownDelaySeconds, the progress deadline."""
        self.c.advance(seconds)

    # -- the user ------------------------------------------------------------------------

    @rule(image=st.sampled_from(IMAGES))
    def set_image(self, image: str) -> None:
        self.c.set_image(image)

    @rule()
    def back_to_stable(self) -> None:
        """The stable's image again (`undo`): a fast rollback while it is still up."""
        image = IMAGE_OF.get(self.c.status.get("stableRS") or "")
        if image is not None:
            self.c.set_image(image)

    @rule()
    def promote(self) -> None:
        self.c.promote()

    @rule()
    def promote_full(self) -> None:
        self.c.promote(full=True)

    @rule()
    def abort(self) -> None:
        self.c.abort()

    @rule(promote=st.booleans())
    def abort_right_after_the_switch(self, promote: bool) -> None:
        """Drive toward the switch (pods come up, a promote if asked) and abort in the pass
        right after active moved to the new pods: the narrow window before the switch is
        read back and the new ReplicaSet promoted."""
        for _ in range(6):
            result = self.c.reconcile()
            stable = self.c.status.get("stableRS")
            if any(
                isinstance(a, SwitchService) and a.service == ACTIVE_SVC and a.pod_hash != stable
                for a in result.actions
            ):
                self.c.abort()
                return
            self.c.kubelet()
            self._repaired()
            if promote and self.c.status.get("pauseConditions"):
                self.c.promote()

    @rule()
    def retry(self) -> None:
        self.c.retry()

    @rule(paused=st.booleans())
    def manual_pause(self, paused: bool) -> None:
        if paused:
            self.c.pause()
        else:
            self.c.resume()


BlueGreenMachine.TestCase.settings = settings(
    max_examples=120,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestBlueGreenMachine = BlueGreenMachine.TestCase


# -- invalid specs ---------------------------------------------------------------------------------

NEGATIVE = [
    "previewReplicaCount",
    "autoPromotionSeconds",
    "scaleDownDelaySeconds",
    "scaleDownDelayRevisionLimit",
    "abortScaleDownDelaySeconds",
]


@st.composite
def invalid_mutations(draw: st.DrawFn) -> tuple[str, Any]:
    kind = draw(st.sampled_from(["both", "no-active", "same", "negative", "missing-service"]))
    if kind == "negative":
        return kind, (draw(st.sampled_from(NEGATIVE)), draw(st.integers(-1000, -1)))
    if kind == "missing-service":
        return kind, draw(st.sampled_from(["activeService", "previewService"]))
    return kind, None


@settings(max_examples=60, deadline=None)
@given(
    setup=blue_green_setups(),
    mutation=invalid_mutations(),
    at=st.integers(0, 5),
    promote=st.booleans(),
)
def test_invalid_blue_green_spec_never_acts(
    setup: JsonDict, mutation: tuple[str, Any], at: int, promote: bool
) -> None:
    """Whatever the rollout was doing, a bad blue-green spec gets InvalidSpec naming the
    field and changes nothing in the cluster, for as long as it stays bad."""
    c = Cluster.blue_green(**copy.deepcopy(setup))
    c.settle()
    c.set_image(GREEN)
    for _ in range(at):
        c.reconcile()
        c.kubelet(1)
    if promote:
        c.promote()
    kind, value = mutation
    bg = c.spec["strategy"]["blueGreen"]
    if kind == "both":
        c.edit_spec(lambda spec: spec["strategy"].update(canary={"steps": []}))
        field = "spec.strategy: Multiple Strategies can not be listed"
    elif kind == "no-active":
        c.edit_spec(lambda spec: spec["strategy"]["blueGreen"].pop("activeService"))
        field = "spec.strategy.blueGreen.activeService: Required value"
    elif kind == "same":
        c.edit_spec(lambda spec: spec["strategy"]["blueGreen"].update(previewService=ACTIVE_SVC))
        field = "spec.strategy.blueGreen.activeService: Preview service and Active service"
    elif kind == "negative":
        # The schema refuses these before any planning: the controller's shell catches
        # InvalidRollout, writes the InvalidSpec status and returns without a plan
        # (controller/rollouts.py), so what is checked here is that the refusal names the field.
        name, number = value
        c.edit_spec(lambda spec: spec["strategy"]["blueGreen"].update({name: number}))
        field = f"spec.strategy.blueGreen.{name}: "
        assert any(e.startswith(field) for e in validate_rollout(c.rollout))
        with pytest.raises(InvalidRollout) as refused:
            parse_rollout(copy.deepcopy(c.rollout))
        assert any(e.startswith(field) for e in refused.value.errors), refused.value.errors
        return
    else:
        del c.services[bg[value]]
        field = f"spec.strategy.blueGreen.{value}: "
    world = c.world()
    for _ in range(3):
        result = c.reconcile()
        c.kubelet()
        c.advance(31)
        assert list(result.actions) == []
        assert c.phase[0] == "Degraded"
        invalid = c.condition("InvalidSpec")
        assert invalid is not None and invalid["status"] == "True"
        assert invalid["message"].startswith('The Rollout "rollouts-demo" is invalid: ')
        assert field in invalid["message"], invalid["message"]
        assert c.phase[1] == f"InvalidSpec: {invalid['message']}"
    after = c.world()
    for key in ("services", "rollout_meta", "analysis_runs"):
        assert after[key] == world[key], key
    assert {n: rs["spec"] for n, rs in after["replica_sets"].items()} == {
        n: rs["spec"] for n, rs in world["replica_sets"].items()
    }
    assert {n: rs["metadata"] for n, rs in after["replica_sets"].items()} == {
        n: rs["metadata"] for n, rs in world["replica_sets"].items()
    }
