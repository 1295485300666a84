"""Argo's canary semantics where rolloutd hung or ignored a field (issue 21, cases 1, 2, 4 and
"no silent hang"), each test after the Argo e2e test it names (argoproj/argo-rollouts
`test/e2e/canary_test.go`), replayed on the simulated cluster. Each failed on 623c306.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from invariants import check_progress_or_reason, check_reconcile
from sim import (
    BLUE,
    CANARY_SVC,
    GREEN,
    STABLE_SVC,
    YELLOW,
    Cluster,
    hash_of,
    service,
)

from rolloutd.plan.types import REVISION_ANNOTATION, SCALE_DOWN_DEADLINE_ANNOTATION

JsonDict = dict[str, Any]

SET_CANARY_SCALE_STEPS: list[JsonDict] = [
    {"pause": {}},
    {"setCanaryScale": {"weight": 25}},
    {"pause": {"duration": "100s"}},
    {"setWeight": 50},
    {"pause": {"duration": "10s"}},
    {"setCanaryScale": {"replicas": 3}},
    {"pause": {}},
    {"setCanaryScale": {"matchTrafficWeight": True}},
    {"pause": {"duration": "5s"}},
]


def run_until(c: Cluster, done: Callable[[Cluster], bool], rounds: int = 60) -> None:
    """Reconcile with pods coming up and a second passing each time, until `done` (checked
    after each reconcile, so the state before the first one does not count)."""
    for _ in range(rounds):
        c.reconcile()
        c.kubelet()
        if done(c):
            return
        c.advance(1)
    raise AssertionError(f"not reached: {c.phase} at step {c.index}")


def at_step(index: int) -> Callable[[Cluster], bool]:
    return lambda c: c.index == index


def canary_stable(c: Cluster, canary: str, stable: str) -> tuple[int, int]:
    return c.pods(hash_of(canary))[0], c.pods(hash_of(stable))[0]


# -- case 1: setCanaryScale, then setWeight -----------------------------------------------


def test_set_canary_scale_then_set_weight_follows_argo() -> None:
    """TestCanarySetCanaryScale: (canary, stable) pods (0,4), (1,4), (1,4), (3,4), (2,4) at
    the pauses and (4,4) at the end; setWeight 50 goes to the one pod setCanaryScale asked
    for (it hung at step 3 before, weight 0)."""
    c = Cluster.seed(replicas=4, steps=SET_CANARY_SCALE_STEPS, checkers=[check_reconcile])
    c.settle()
    c.set_image(YELLOW)
    c.settle()
    assert c.phase == ("Paused", "CanaryPauseStep") and c.index == 0
    assert canary_stable(c, YELLOW, BLUE) == (0, 4)
    seen = []
    for index in (2, 4, 6, 8):
        c.promote()
        run_until(c, at_step(index))
        seen.append(canary_stable(c, YELLOW, BLUE))
        if index == 4:
            assert c.router_weight == 50 and c.status_weights == (50, 50)
            assert c.pods(hash_of(YELLOW)) == (1, 1)
    assert seen == [(1, 4), (1, 4), (3, 4), (2, 4)]
    c.promote()
    run_until(c, lambda c: c.phase == ("Healthy", ""))
    assert canary_stable(c, YELLOW, BLUE) == (4, 4)


def test_a_weight_in_place_stays_while_match_traffic_weight_grows_the_canary() -> None:
    """setCanaryScale matchTrafficWeight after a setWeight 50 on one pod: the weight stays on
    that pod while the canary grows to the two pods 50% needs (no dip to 0 and back)."""
    c = Cluster.seed(
        replicas=4,
        steps=[
            {"setCanaryScale": {"replicas": 1}},
            {"setWeight": 50},
            {"setCanaryScale": {"matchTrafficWeight": True}},
            {"pause": {}},
        ],
        checkers=[check_reconcile],
    )
    c.settle()
    c.set_image(YELLOW)
    c.settle(budget=0)  # the new pods never come up: the canary has one pod
    assert c.index == 0 and c.router_weight == 0
    c.kubelet()
    run_until(c, at_step(2))
    assert c.router_weight == 50
    c.reconcile()  # asks for a second canary pod, which is not available yet
    assert c.pods(hash_of(YELLOW)) == (2, 1)
    assert c.router_weight == 50 and 0 not in c.weight_writes[-2:]
    c.kubelet()
    c.settle()
    assert c.phase == ("Paused", "CanaryPauseStep") and c.pods(hash_of(YELLOW)) == (2, 2)


# -- case 2: an update while paused ------------------------------------------------------


def paused_basic_canary() -> Cluster:
    """Argo's functional/rollout-canary-with-pause.yaml: 3 replicas, canary and stable
    Services, no traffic routing, setWeight 20 then an indefinite pause, deadline 5s."""
    c = Cluster.seed(
        replicas=3,
        steps=[{"setWeight": 20}, {"pause": {}}],
        routed=False,
        checkers=[check_reconcile],
        canary={"canaryService": CANARY_SVC, "stableService": STABLE_SVC},
        spec={"progressDeadlineSeconds": 5, "revisionHistoryLimit": 3},
    )
    c.services = {n: service(n) for n in (STABLE_SVC, CANARY_SVC)}
    c.settle()
    return c


def revisions(c: Cluster) -> dict[str, int]:
    return {
        rs["metadata"]["annotations"][REVISION_ANNOTATION]: int(rs["spec"]["replicas"])
        for rs in c.replica_sets.values()
    }


def test_an_update_while_paused_scales_the_interrupted_canary_down_first() -> None:
    """TestCanaryWithPausedRollout: paused with revision 1 at 3 pods and revision 2 at 1, a
    new update scales revision 2 to 0 and revision 3 to 1, and pauses again (before: revision
    2 kept its pod, revision 3 got none, Progressing forever)."""
    c = paused_basic_canary()
    c.set_image(YELLOW)
    c.settle()
    assert c.phase == ("Paused", "CanaryPauseStep")
    assert revisions(c) == {"1": 3, "2": 1}
    c.set_image(GREEN)
    run_until(c, lambda c: c.phase == ("Paused", "CanaryPauseStep"))
    assert revisions(c) == {"1": 3, "2": 0, "3": 1}
    assert c.selector_hash(CANARY_SVC) == hash_of(GREEN)
    assert c.selector_hash(STABLE_SVC) == hash_of(BLUE)


def test_an_update_while_paused_times_out_when_its_pods_never_come() -> None:
    """The same update with pods that never become available: after progressDeadlineSeconds
    the rollout is Degraded with ProgressDeadlineExceeded (before: Progressing forever)."""
    c = paused_basic_canary()
    c.set_image(YELLOW)
    c.settle()
    c.set_image(GREEN)
    for _ in range(8):
        c.reconcile()
        c.kubelet(0, only=hash_of(GREEN))  # revision 3's pod is created but never ready
        c.kubelet(only=hash_of(YELLOW))
        c.advance(1)
    assert c.phase[0] == "Degraded"
    assert c.phase[1].startswith("ProgressDeadlineExceeded: ")
    assert revisions(c) == {"1": 3, "2": 0, "3": 1}


# -- case 4: scaleDownDelayRevisionLimit --------------------------------------------------


def set_rev(c: Cluster, value: str) -> None:
    c.edit_spec(lambda spec: spec["template"]["metadata"].update(annotations={"rev": value}))


def by_revision(c: Cluster) -> dict[int, tuple[int, bool]]:
    """revision -> (spec.replicas, has a scale-down deadline)."""
    return {
        int(rs["metadata"]["annotations"][REVISION_ANNOTATION]): (
            int(rs["spec"]["replicas"]),
            SCALE_DOWN_DEADLINE_ANNOTATION in rs["metadata"]["annotations"],
        )
        for rs in c.replica_sets.values()
    }


def test_scale_down_delay_revision_limit() -> None:
    """TestCanaryScaleDownDelay (functional/canary-scaledowndelay.yaml: one replica, no steps,
    scaleDownDelayRevisionLimit 1, the default 30s delay): revision 1 waits with a deadline
    after revision 2; after revision 3 it goes to 0 at once (beyond the limit) while revision
    2 waits; going back to revision 2's template makes it revision 4 without a deadline (before:
    revision 1 kept its pod after revision 3)."""
    c = Cluster.seed(
        replicas=1,
        steps=[],
        checkers=[check_reconcile],
        canary={"scaleDownDelayRevisionLimit": 1},
    )
    c.settle()
    set_rev(c, "two")
    c.settle()
    assert c.phase == ("Healthy", "")
    assert by_revision(c) == {1: (1, True), 2: (1, False)}
    set_rev(c, "three")
    c.settle()
    assert c.phase == ("Healthy", "")
    assert by_revision(c) == {1: (0, False), 2: (1, True), 3: (1, False)}
    set_rev(c, "two")
    c.settle()
    assert c.phase == ("Healthy", "")
    assert by_revision(c) == {1: (0, False), 3: (1, True), 4: (1, False)}


@pytest.mark.parametrize("limit", [None, 2])
def test_within_the_revision_limit_old_revisions_keep_their_delay(limit: int | None) -> None:
    """Without a limit (or within it) every old revision waits out its own delay."""
    canary = {} if limit is None else {"scaleDownDelayRevisionLimit": limit}
    c = Cluster.seed(replicas=1, steps=[], checkers=[check_reconcile], canary=canary)
    c.settle()
    set_rev(c, "two")
    c.settle()
    set_rev(c, "three")
    c.settle()
    assert by_revision(c) == {1: (1, True), 2: (1, True), 3: (1, False)}
    c.advance(31)
    c.settle()
    assert by_revision(c) == {1: (0, False), 2: (0, False), 3: (1, False)}


# -- no silent hang ------------------------------------------------------------------------


@pytest.mark.parametrize("abort", [False, True], ids=["degraded", "progressDeadlineAbort"])
def test_waiting_at_a_step_for_pods_that_never_come_times_out(abort: bool) -> None:
    """TestCanaryProgressDeadlineExceededWithPause, the waiting half: a canary whose pods
    never become available (on kwok: unschedulable) turns Degraded with
    ProgressDeadlineExceeded after progressDeadlineSeconds, and with progressDeadlineAbort it
    is aborted (traffic back to stable)."""
    c = Cluster.seed(
        replicas=4,
        steps=[{"setWeight": 25}, {"pause": {}}],
        checkers=[check_reconcile],
        spec={"progressDeadlineSeconds": 5, "progressDeadlineAbort": abort},
    )
    c.settle()
    c.set_image(YELLOW)
    for _ in range(10):
        c.reconcile()
        c.kubelet(0)
        c.advance(1)
    assert c.index == 0 and c.router_weight == 0
    if abort:
        assert c.phase[0] == "Degraded" and c.status.get("abort") is True
        assert c.phase[1].startswith("RolloutAborted: ")
        assert c.pods(hash_of(BLUE))[0] == 4
    else:
        assert c.phase[0] == "Degraded"
        assert c.phase[1].startswith("ProgressDeadlineExceeded: ")
        # Pods that come at last resume the rollout: it goes on to its pause.
        c.kubelet()
        run_until(c, lambda c: c.phase == ("Paused", "CanaryPauseStep"))


def test_a_rollout_waiting_at_a_pause_never_times_out() -> None:
    """An indefinite pause is not a lack of progress: no deadline, however long."""
    c = Cluster.seed(
        replicas=3,
        steps=[{"setWeight": 34}, {"pause": {}}],
        checkers=[check_reconcile],
        spec={"progressDeadlineSeconds": 5, "progressDeadlineAbort": True},
    )
    c.settle()
    c.set_image(YELLOW)
    c.settle()
    for seconds in (6, 60, 3600):
        c.advance(seconds)
        c.settle()
        assert c.phase == ("Paused", "CanaryPauseStep")
        assert not c.status.get("abort")


def test_progress_deadline_with_slow_pods_then_healthy() -> None:
    """TestCanaryProgressDeadlineExceededWithPause: pods that take longer than the deadline
    to become ready turn the first deploy Degraded, then Healthy once they are; an update
    goes Degraded, then Paused at its pause; the promotion Degraded, then Healthy."""
    c = Cluster.seed(
        replicas=3,
        steps=[{"setWeight": 20}, {"pause": {}}],
        routed=False,
        checkers=[check_reconcile],
        spec={"progressDeadlineSeconds": 5},
    )

    def slow(until: str) -> None:
        seen = []
        for _ in range(10):
            c.reconcile()
            c.kubelet(0)
            c.advance(1)
            seen.append(c.phase[0])
        assert "Degraded" in seen and c.phase[1].startswith("ProgressDeadlineExceeded: ")
        c.kubelet()
        run_until(c, lambda c: c.phase[0] == until)

    slow("Healthy")
    c.set_image(YELLOW)
    slow("Paused")
    assert canary_stable(c, YELLOW, BLUE) == (1, 3)
    c.promote()
    slow("Healthy")
    c.settle()
    assert canary_stable(c, YELLOW, BLUE) == (3, 0)


def test_a_new_replica_set_that_never_gets_pods_times_out() -> None:
    """Was: after a ReplicaSet was created the deadline was never checked again (a creation
    counted as progress for ever)."""
    c = Cluster.seed(replicas=2, steps=[{"setWeight": 50}], spec={"progressDeadlineSeconds": 10})
    c.settle()
    c.set_image(YELLOW)
    c.reconcile()
    assert (c.condition("Progressing") or {}).get("reason") == "NewReplicaSetCreated"
    c.advance(11)
    c.reconcile()
    assert c.phase[0] == "Degraded"
    assert c.phase[1].startswith("ProgressDeadlineExceeded: ")


@pytest.mark.parametrize(
    "case",
    ["set-canary-scale", "update-while-paused"],
)
def test_no_silent_hang_in_the_issue_cases(case: str) -> None:
    """The invariant (h) of the property tests on the two hangs of issue 21: with every pod
    available, each comes to rest with a reason."""
    if case == "set-canary-scale":
        c = Cluster.seed(replicas=4, steps=SET_CANARY_SCALE_STEPS)
        c.settle()
        c.set_image(YELLOW)
        c.settle()
        c.promote()
        run_until(c, at_step(2))
        c.promote()
    else:
        c = paused_basic_canary()
        c.set_image(YELLOW)
        c.settle()
        c.set_image(GREEN)
    check_progress_or_reason(c)


def test_set_canary_scale_without_traffic_routing_is_an_invalid_spec() -> None:
    """TestCanarySetCanaryScale without traffic routing: Argo's validation refuses it
    (setCanaryScale requires trafficRouting), and so does rolloutd, naming the step; the
    update changes nothing."""
    c = Cluster.seed(replicas=4, steps=[{"setWeight": 25}, {"pause": {}}], routed=False)
    c.settle()
    before = c.world()
    c.set_steps(SET_CANARY_SCALE_STEPS)
    c.set_image(YELLOW)
    before["rollout_meta"] = c.world()["rollout_meta"]  # the user's edit (its generation)
    result = c.reconcile()
    assert list(result.actions) == [] and c.world() == before
    assert c.phase[0] == "Degraded"
    assert "spec.strategy.canary.steps[1].setCanaryScale" in c.phase[1]
    assert "requires TrafficRouting" in c.phase[1]
