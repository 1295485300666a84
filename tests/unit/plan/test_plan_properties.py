"""Property tests: the design's invariants hold for random steps, sizes and event orders.

A hypothesis state machine drives the simulated cluster through random interleavings of
reconciles, pods coming up (all, some, or none), pods lost on the canary, time passing, and
the user's commands (set image, promote, promote --full, abort, retry, pause, resume, new
steps, a broken spec). Every reconcile is checked against the invariants in `invariants.py`:

(a) weight only on pods that can carry it, at every instant inside a plan;
(b) with traffic routing the stable ReplicaSet stays at full size;
(c) status weights sum to 100 and match the router;
(d) the step index never skips a step, and resets only for a reason;
(e) the same snapshot plans the same; with the world unchanged, planning again quiesces;
(f) an invalid spec produces no action;
(g) a user who keeps promoting, with pods that keep coming up, always reaches Healthy;
(h) no silent hang: with every pod available, the rollout comes to rest with a reason
    (Healthy, a pause, an abort) rather than sit Progressing or time out.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, rule
from invariants import (
    canary_target_size,
    check_progress_or_reason,
    check_quiescent,
    check_reconcile,
    need,
)
from sim import BLUE, CANARY_SVC, GREEN, YELLOW, Cluster, Reconcile, hash_of, service

JsonDict = dict[str, Any]

IMAGES = [BLUE, YELLOW, GREEN, "argoproj/rollouts-demo:red"]

# -- strategies ----------------------------------------------------------------------------------

set_weight = st.integers(0, 100).map(lambda w: {"setWeight": w})
pause_forever: st.SearchStrategy[JsonDict] = st.just({"pause": {}})
pause_for = st.one_of(
    st.integers(0, 90).map(lambda s: {"pause": {"duration": s}}),
    st.sampled_from(["10s", "1m", "45"]).map(lambda d: {"pause": {"duration": d}}),
)
canary_scale = st.one_of(
    st.integers(0, 100).map(lambda w: {"setCanaryScale": {"weight": w}}),
    st.integers(0, 25).map(lambda r: {"setCanaryScale": {"replicas": r}}),
    st.just({"setCanaryScale": {"matchTrafficWeight": True}}),
)


def step_lists(*, with_scale: bool = True) -> st.SearchStrategy[list[JsonDict]]:
    kinds = [set_weight, set_weight, pause_forever, pause_for]
    if with_scale:
        kinds.append(canary_scale)
    return st.lists(st.one_of(*kinds), max_size=7)


@st.composite
def rollout_setups(draw: st.DrawFn, *, with_scale: bool = True) -> JsonDict:
    routed = draw(st.sampled_from([True, True, False]))  # mostly the seed's traffic routing
    steps = draw(step_lists(with_scale=with_scale and routed))  # setCanaryScale needs routing
    canary: JsonDict = {}
    if routed:
        if draw(st.booleans()):
            canary["scaleDownDelaySeconds"] = draw(st.sampled_from([0, 5, 30]))
        if draw(st.booleans()):
            canary["abortScaleDownDelaySeconds"] = draw(st.sampled_from([0, 5, 30]))
    else:
        # Surge and unavailable as counts or percentages; both 0 is invalid, and that case is
        # the invalid-spec tests' business.
        surge = draw(st.sampled_from([None, 0, 1, 3, "0%", "25%", "50%"]))
        unavailable = draw(st.sampled_from([None, 0, 1, 2, "0%", "25%", "100%"]))
        if str(surge).rstrip("%") != "0" or str(unavailable).rstrip("%") != "0":
            canary.update(
                {
                    k: v
                    for k, v in (("maxSurge", surge), ("maxUnavailable", unavailable))
                    if v is not None
                }
            )
    return {
        "replicas": draw(st.integers(1, 20)),
        "steps": steps,
        "routed": routed,
        "canary": canary,
    }


def new_cluster(setup: JsonDict) -> Cluster:
    return Cluster.seed(checkers=[check_reconcile], **copy.deepcopy(setup))


# -- (g) liveness --------------------------------------------------------------------------------


def finished(c: Cluster) -> bool:
    """Healthy on the current template, traffic back on stable, old pods gone."""
    stable = c.status.get("stableRS")
    if c.phase != ("Healthy", "") or stable != c.current_hash:
        return False
    if c.status.get("observedGeneration") != str(c.rollout["metadata"]["generation"]):
        return False
    if c.is_routed() and (c.router_weight != 0 or c.status_weights != (0, 100)):
        return False
    others = [
        rs
        for rs in c.replica_sets.values()
        if rs["metadata"]["labels"]["rollouts-pod-template-hash"] != stable
    ]
    return all(rs["spec"]["replicas"] == 0 for rs in others)


def held_by_canary_scale(c: Cluster) -> bool:
    """The current step is a setWeight that a setCanaryScale to no pods keeps the canary
    from carrying: the planner sends no traffic to a canary without pods, so it holds there
    (until the progress deadline, or a promote). A scale to some pods carries any weight:
    Argo routes the weight to the pods the scale asked for."""
    index = c.index
    if index is None or index >= len(c.steps) or "setWeight" not in c.steps[index]:
        return False
    size = canary_target_size(c.steps, index, c.replicas)
    return size == 0 and need(c.replicas, int(c.steps[index]["setWeight"])) > 0


def keep_promoting(c: Cluster) -> None:
    """The user of (g): retries an abort, resumes a manual pause, promotes a pause step, and
    skips a setWeight step that a setCanaryScale made impossible (the planner caps the weight
    at what the canary's pods carry and waits there, where Argo would overload them)."""
    if c.status.get("abort"):
        c.retry()
    elif c.spec.get("paused") or c.status.get("pauseConditions") or held_by_canary_scale(c):
        c.promote()


def passes_bound(c: Cluster) -> int:
    """Passes an update may take: a few per step plus the longest waits (pauses, scale-down
    delays), and for a basic canary, at worst, a few per pod (maxSurge and maxUnavailable
    may let only one pod change at a time)."""
    bound = 30 + 8 * len(c.steps)
    if not c.is_routed():
        bound += 3 * c.replicas
    return bound


def drive_to_healthy(c: Cluster) -> int:
    """Run the controller with pods that come up and a user who promotes."""
    return c.run_until(finished, rounds=passes_bound(c), user=keep_promoting)


# -- the state machine ---------------------------------------------------------------------------


class RolloutMachine(RuleBasedStateMachine):
    """Random histories of one Rollout, checked at every reconcile.

    Hypothesis picks rules uniformly, so the controller's own loop (`tick`) is listed three
    times: most of a history is the controller working, with the user and the pods
    interfering now and then.
    """

    def __init__(self) -> None:
        super().__init__()
        self.c: Cluster = Cluster.seed()

    @initialize(setup=rollout_setups(), image=st.sampled_from([None, YELLOW]))
    def first_deploy(self, setup: JsonDict, image: str | None) -> None:
        self.c = new_cluster(setup)
        self.c.settle()
        # The first deploy goes straight to Healthy, every step skipped.
        assert self.c.phase == ("Healthy", "")
        assert self.c.index == (len(self.c.steps) if self.c.steps else None)
        if image is not None:
            self.c.set_image(image)

    # -- the controller and the pods ---------------------------------------------------

    def _tick(self, budget: int | None, wait: bool) -> None:
        result = self.c.reconcile()
        check_quiescent(self.c)
        self.c.kubelet(budget)
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

    @rule(budget=st.one_of(st.none(), st.integers(0, 2)), canary_only=st.booleans())
    def kubelet(self, budget: int | None, canary_only: bool) -> None:
        self.c.kubelet(budget, only=self.c.current_hash if canary_only else None)

    @rule(count=st.integers(1, 3))
    def lose_canary_pods(self, count: int) -> None:
        self.c.lose_pods(self.c.current_hash, count)
        if self.c.is_routed():
            target = self.c.selector_hash(CANARY_SVC)
            if target is not None and target != self.c.status.get("stableRS"):
                self.c.lose_pods(target, count)

    @rule(count=st.integers(1, 2))
    def lose_stable_pods(self, count: int) -> None:
        self.c.lose_pods(self.c.status.get("stableRS"), count)

    @rule(actions=st.integers(0, 4))
    def crash_mid_plan(self, actions: int) -> None:
        """The controller dies after a few of a plan's actions, before the status write."""
        self.c.reconcile(crash_after=actions)

    @rule(seconds=st.sampled_from([5, 31, 61, 700]))
    def clock(self, seconds: int) -> None:
        self.c.advance(seconds)

    # -- the user ------------------------------------------------------------------------

    @rule(image=st.sampled_from(IMAGES))
    def set_image(self, image: str) -> None:
        self.c.set_image(image)

    @rule()
    def promote(self) -> None:
        self.c.promote()

    @rule()
    def promote_again(self) -> None:
        self.c.promote()

    @rule()
    def promote_full(self) -> None:
        self.c.promote(full=True)

    @rule()
    def abort(self) -> None:
        self.c.abort()

    @rule()
    def retry(self) -> None:
        self.c.retry()

    @rule(paused=st.booleans())
    def manual_pause(self, paused: bool) -> None:
        if paused:
            self.c.pause()
        else:
            self.c.resume()

    @rule(steps=step_lists(with_scale=False))
    def new_steps(self, steps: list[JsonDict]) -> None:
        self.c.set_steps(steps)

    @rule(replicas=st.integers(1, 20))
    def scale(self, replicas: int) -> None:
        """`kubectl scale` (or an HPA) changes spec.replicas."""
        self.c.edit_spec(lambda spec: spec.update(replicas=replicas))

    @rule(
        how=st.sampled_from(["weight", "duration", "router", "service"]), passes=st.integers(1, 3)
    )
    def broken_for_a_while(self, how: str, passes: int) -> None:
        """(f) The spec goes bad for a few passes (pods keep coming up), then is fixed."""
        c = self.c
        if how in ("router", "service") and not c.is_routed():
            how = "weight"
        steps = copy.deepcopy(c.steps)
        if how == "weight":
            c.set_steps([*steps, {"setWeight": 120}])
        elif how == "duration":
            c.set_steps([*steps, {"pause": {"duration": "1d"}}])
        elif how == "router":
            c.router_errors.append("spec.strategy.canary.trafficRouting.istio: route not found")
        else:
            del c.services[CANARY_SVC]
        kept = c.world()
        for _ in range(passes):
            assert list(c.reconcile().actions) == []
            c.kubelet()
            c.advance(5)
        after = c.world()
        assert after["services"] == kept["services"] and after["weight"] == kept["weight"]
        if how in ("weight", "duration"):
            c.set_steps(steps)
        elif how == "router":
            c.router_errors.clear()
        else:
            c.services[CANARY_SVC] = after["services"].get(CANARY_SVC) or service(CANARY_SVC)

    # -- (g) ---------------------------------------------------------------------------------

    @rule()
    def keeps_promoting_ends_healthy(self) -> None:
        """(g) From wherever this history got to, a user who keeps promoting finishes."""
        drive_to_healthy(self.c.fork())

    # -- (h) ---------------------------------------------------------------------------------

    @rule()
    def never_hangs_silently(self) -> None:
        """(h) From wherever this history got to, with every pod available, the planner
        either makes progress or says why it waits."""
        check_progress_or_reason(self.c)


RolloutMachine.TestCase.settings = settings(
    max_examples=150,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestRolloutMachine = RolloutMachine.TestCase


# -- (g) from fresh updates ----------------------------------------------------------------------


@settings(max_examples=120, deadline=None)
@given(setup=rollout_setups(), image=st.sampled_from(IMAGES[1:]), budget=st.integers(1, 3))
def test_every_update_ends_healthy_when_promoted(setup: JsonDict, image: str, budget: int) -> None:
    """(g) An update with any steps and size, pods coming up a few at a time, and a user who
    promotes every pause, finishes: Healthy on the new template, traffic back on stable."""
    c = new_cluster(setup)
    c.settle()
    c.set_image(image)
    c.run_until(finished, rounds=passes_bound(c), budget=budget, user=keep_promoting)
    assert c.status["stableRS"] == c.current_hash


# -- (f) invalid specs ---------------------------------------------------------------------------


@st.composite
def invalid_mutations(draw: st.DrawFn) -> tuple[str, Any]:
    kind = draw(st.sampled_from(["setWeight", "duration", "scale", "service", "router"]))
    if kind == "setWeight":
        return kind, draw(st.one_of(st.integers(101, 1000), st.integers(-100, -1)))
    if kind == "duration":
        return kind, draw(st.sampled_from(["1d", "abc", "-5", "5 minutes", "1w"]))
    if kind == "scale":
        return kind, draw(st.integers(101, 500))
    if kind == "service":
        return kind, draw(st.sampled_from(["canaryService", "stableService"]))
    return kind, "spec.strategy.canary.trafficRouting.istio.virtualServices[0]: not found"


@settings(max_examples=100, deadline=None)
@given(
    setup=rollout_setups(with_scale=False),
    mutation=invalid_mutations(),
    at=st.integers(0, 6),
    promote=st.booleans(),
)
def test_invalid_spec_never_acts(
    setup: JsonDict, mutation: tuple[str, Any], at: int, promote: bool
) -> None:
    """(f) Whatever the rollout was doing, a bad spec gets InvalidSpec naming the field and
    changes nothing in the cluster, for as long as it stays bad."""
    setup = {**setup, "routed": True}
    c = new_cluster(setup)
    c.settle()
    c.set_image(YELLOW)
    for _ in range(at):
        c.reconcile()
        c.kubelet(1)
    if promote:
        c.promote()
    kind, value = mutation
    steps = c.steps
    if kind == "setWeight":
        c.set_steps([*steps, {"setWeight": value}])
        field = f"spec.strategy.canary.steps[{len(steps)}].setWeight"
    elif kind == "duration":
        c.set_steps([*steps, {"pause": {"duration": value}}])
        field = f"spec.strategy.canary.steps[{len(steps)}].pause.duration"
    elif kind == "scale":
        c.set_steps([*steps, {"setCanaryScale": {"weight": value}}])
        field = f"spec.strategy.canary.steps[{len(steps)}].setCanaryScale.weight"
    elif kind == "service":
        name = c.spec["strategy"]["canary"][value]
        del c.services[name]
        field = f"spec.strategy.canary.{value}"
    else:
        c.router_errors.append(value)
        field = "spec.strategy.canary.trafficRouting.istio.virtualServices[0]"
    world = c.world()
    for _ in range(3):
        result = c.reconcile()
        c.kubelet()
        c.advance(30)
        assert list(result.actions) == []
        assert c.phase[0] == "Degraded"
        invalid = c.condition("InvalidSpec")
        assert invalid is not None and invalid["status"] == "True"
        assert invalid["reason"] == "InvalidSpec"
        assert invalid["message"].startswith('The Rollout "rollouts-demo" is invalid: ')
        assert field in invalid["message"], invalid["message"]
        assert c.phase[1] == f"InvalidSpec: {invalid['message']}"
        assert result.requeue_after is not None and result.requeue_after.total_seconds() == 20
    # Pods came up, but the planner moved nothing: no ReplicaSet size, Service or weight.
    after = c.world()
    for key in ("services", "weight", "hashes", "rollout_meta"):
        assert after[key] == world[key], key
    assert {n: rs["spec"] for n, rs in after["replica_sets"].items()} == {
        n: rs["spec"] for n, rs in world["replica_sets"].items()
    }


@pytest.mark.parametrize("replicas", [1, 3, 5, 20])
def test_quiescent_at_every_point_of_the_seed_walkthrough(replicas: int) -> None:
    """(e) At each pass of a whole update, re-planning with nothing changed writes nothing."""
    c = Cluster.seed(checkers=[check_reconcile], replicas=replicas)
    c.settle()
    c.set_image(YELLOW)

    def user(cl: Cluster) -> None:
        check_quiescent(cl)
        keep_promoting(cl)

    c.run_until(finished, rounds=200, budget=1, user=user)


# -- managed routes ------------------------------------------------------------------------------

MANAGED = {
    "trafficRouting": {
        "istio": {"virtualServices": [{"name": "rollouts-demo-vsvc", "routes": ["primary"]}]},
        "managedRoutes": [{"name": "hdr"}, {"name": "mir"}],
    }
}
HEADER_STEP = {
    "setHeaderRoute": {
        "name": "hdr",
        "match": [{"headerName": "x-canary", "headerValue": {"exact": "yes"}}],
    }
}
MIRROR_STEP = {
    "setMirrorRoute": {"name": "mir", "percentage": 50, "match": [{"method": {"exact": "GET"}}]}
}
route_steps = st.lists(
    st.one_of(set_weight, pause_forever, st.just(HEADER_STEP), st.just(MIRROR_STEP)), max_size=6
)
user_ops = st.lists(
    st.sampled_from(["tick", "tick", "tick", "promote", "abort", "retry", "full", "image", "back"]),
    max_size=40,
)


def managed_routes_only_while_a_canary_runs(c: Cluster, rec: Reconcile) -> None:
    check_reconcile(c, rec)
    s = rec.plan.status
    if s.get("stableRS") == s.get("currentPodHash") or s.get("abort"):
        assert not c.header_routes and not c.mirror_routes, (c.header_routes, c.mirror_routes)


@settings(max_examples=100, deadline=None)
@given(steps=route_steps, ops=user_ops, replicas=st.integers(1, 8))
def test_header_and_mirror_routes_exist_only_while_a_canary_runs(
    steps: list[JsonDict], ops: list[str], replicas: int
) -> None:
    """Managed routes are set by their steps and removed on promotion, abort and full promotion
    (reference §3.9), whatever the user does in between."""
    c = Cluster.seed(
        steps=steps,
        canary=MANAGED,
        replicas=replicas,
        checkers=[managed_routes_only_while_a_canary_runs],
    )
    c.settle()
    assert not c.header_routes and not c.mirror_routes  # never on a first revision
    for op in ops:
        if op == "tick":
            c.reconcile()
            c.kubelet(1)
            c.advance(31)
        elif op == "promote":
            c.promote()
        elif op == "abort":
            c.abort()
        elif op == "retry":
            c.retry()
        elif op == "full":
            c.promote(full=True)
        elif op == "image":
            c.set_image(YELLOW if c.current_hash != hash_of(YELLOW) else GREEN)
        else:
            c.set_image(BLUE)
