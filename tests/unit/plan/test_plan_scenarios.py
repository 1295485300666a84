"""Scenarios beyond the happy path: abort and retry, full promotion, manual pause, a new
template mid-rollout, going back to stable, setCanaryScale, invalid specs, the progress
deadline, revision history, and the basic canary without traffic routing.

Each scenario runs on the simulated cluster (`sim.py`) with the invariant checks on every
reconcile, and asserts what Argo Rollouts users see (reference §2-3).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from invariants import check_reconcile
from sim import (
    BLUE,
    CANARY_SVC,
    GREEN,
    NAME,
    SEED_STEPS,
    STABLE_SVC,
    YELLOW,
    Cluster,
    events_of,
    hash_of,
    rs_name,
)

from rolloutd.plan.types import (
    DeleteReplicaSet,
    RemoveManagedRoutes,
    ScaleReplicaSet,
    SetHeaderRoute,
    SetWeight,
    SwitchService,
)

JsonDict = dict[str, Any]
V1, V2, V3 = hash_of(BLUE), hash_of(YELLOW), hash_of(GREEN)


def deployed(**kwargs: Any) -> Cluster:
    c = Cluster.seed(checkers=[check_reconcile], **kwargs)
    c.settle()
    return c


def at_40_percent(**kwargs: Any) -> Cluster:
    """The seed rollout updated to yellow and promoted once: 40%, paused at step 3."""
    c = deployed(**kwargs)
    c.set_image(YELLOW)
    c.settle()
    c.promote()
    c.settle()
    assert (c.index, c.router_weight, c.pods(V2)) == (3, 40, (2, 2))
    return c


def reasons(c: Cluster) -> list[str]:
    return [e.reason for e in c.events]


def stamp(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


# -- abort and retry --------------------------------------------------------------------------


def test_abort_takes_traffic_back_in_that_very_plan() -> None:
    c = at_40_percent()
    c.abort()
    result = c.reconcile()
    assert SetWeight(0) in result.actions
    assert SwitchService(CANARY_SVC, V1) in result.actions
    assert c.router_weight == 0 and c.status_weights == (0, 100)
    assert c.selector_hash(CANARY_SVC) == V1 and c.selector_hash(STABLE_SVC) == V1
    assert c.phase == ("Degraded", "RolloutAborted: Rollout aborted update to revision 2")
    progressing = c.condition("Progressing")
    assert progressing is not None
    assert (progressing["status"], progressing["reason"], progressing["message"]) == (
        "False",
        "RolloutAborted",
        "Rollout aborted update to revision 2",
    )
    assert c.index == 0
    assert "pauseConditions" not in c.status and c.status["controllerPause"] is False
    assert c.status["abortedAt"] == stamp(c.now)
    assert next(e for e in result.events if e.reason == "RolloutAborted").type == "Warning"
    assert c.pods(V1) == (5, 5)  # stable untouched


@pytest.mark.parametrize(("delay", "expected"), [(None, 30), (10, 10)])
def test_aborted_canary_is_scaled_down_after_abort_scale_down_delay(
    delay: int | None, expected: int
) -> None:
    c = at_40_percent(canary={"abortScaleDownDelaySeconds": delay} if delay else None)
    c.abort()
    aborted_at = c.now
    c.settle()
    rs = c.rs_named(rs_name(YELLOW))
    deadline = rs["metadata"]["annotations"]["scale-down-deadline"]
    assert deadline == stamp(aborted_at + dt.timedelta(seconds=expected))
    c.advance(expected - 1)
    c.settle()
    assert c.pods(V2) == (2, 2)
    c.advance(1)
    c.settle()
    assert c.pods(V2) == (0, 0)
    assert c.phase == ("Degraded", "RolloutAborted: Rollout aborted update to revision 2")


def test_abort_scale_down_delay_zero_keeps_the_canary_up() -> None:
    c = at_40_percent(canary={"abortScaleDownDelaySeconds": 0})
    c.abort()
    for _ in range(5):
        c.settle()
        c.advance(600)
    assert c.pods(V2) == (2, 2)
    assert c.router_weight == 0 and c.selector_hash(CANARY_SVC) == V1


def test_retry_starts_again_from_step_zero() -> None:
    c = at_40_percent()
    c.abort()
    c.settle()
    c.advance(30)
    c.settle()
    assert c.pods(V2) == (0, 0)

    c.retry()
    result = c.reconcile()
    assert "RolloutRetry" in [e.reason for e in result.events]
    progressing = c.condition("Progressing")
    assert progressing is not None
    assert (progressing["status"], progressing["reason"], progressing["message"]) == (
        "Unknown",
        "RolloutRetry",
        "Retrying Rollout after abort",
    )
    assert c.index == 0 and "abortedAt" not in c.status
    assert c.pods(V2)[0] == 1 and c.router_weight == 0
    c.settle()
    assert c.index == 1 and c.router_weight == 20
    assert c.selector_hash(CANARY_SVC) == V2
    assert c.phase == ("Paused", "CanaryPauseStep")


def test_abort_is_dropped_on_a_fully_promoted_rollout() -> None:
    c = deployed()
    c.abort()
    c.settle()
    assert "abort" not in c.status
    assert c.phase == ("Healthy", "")


# -- promote --full ---------------------------------------------------------------------------


def test_promote_full_sizes_the_canary_keeps_the_weight_and_cuts_over_by_service() -> None:
    c = deployed()
    c.set_image(YELLOW)
    c.settle()
    assert (c.index, c.router_weight) == (1, 20)
    c.promote(full=True)
    assert c.status["promoteFull"] is True
    c.reconcile()
    assert c.index == 8
    assert "pauseConditions" not in c.status
    assert c.pods(V2)[0] == 5
    # The canary's pods come up one at a time: the weight stays where it was.
    for _ in range(3):
        c.kubelet(budget=1)
        c.reconcile()
        assert c.router_weight == 20
        assert c.status["stableRS"] == V1
    c.kubelet(budget=1)
    c.reconcile()
    assert c.status["stableRS"] == V2
    assert "promoteFull" not in c.status
    assert [e.message for e in c.events if e.reason == "RolloutCompleted"][-1] == (
        f"Rollout completed update to revision 2 ({V2}): Full promotion requested"
    )
    c.settle()
    assert c.selector_hash(STABLE_SVC) == V2 and c.router_weight == 0
    assert max(c.weight_writes) == 20  # never through 100% to the canary
    assert c.phase == ("Healthy", "")


# -- spec.paused ------------------------------------------------------------------------------


def test_manual_pause_holds_scaling_and_steps_until_resumed() -> None:
    c = deployed()
    c.set_image(YELLOW)
    c.settle()
    c.promote()
    c.pause()
    for _ in range(3):
        c.settle()
        c.advance(60)
    assert c.phase == ("Paused", "manually paused")
    assert c.pods(V2) == (1, 1)  # no scaling while paused
    assert c.index == 1 and c.router_weight == 20
    progressing = c.condition("Progressing")
    assert progressing is not None
    assert (progressing["status"], progressing["reason"]) == ("Unknown", "RolloutPaused")
    paused = c.condition("Paused")
    assert paused is not None and paused["status"] == "True"

    c.resume()  # `resume` clears spec.paused (`promote` would also skip this setWeight step)
    assert c.spec["paused"] is False
    result = c.reconcile()
    assert "RolloutResumed" in [e.reason for e in events_of(result)]
    c.settle()
    assert (c.index, c.router_weight, c.pods(V2)) == (3, 40, (2, 2))


# -- a new template mid-rollout ---------------------------------------------------------------


def test_new_template_mid_rollout_takes_weight_to_zero_before_moving_the_canary_service() -> None:
    c = at_40_percent()
    c.set_image(GREEN)
    first = c.reconcile()
    assert c.index == 0
    assert c.router_weight == 0
    kinds = [type(a).__name__ for a in first.actions]
    assert "SwitchService" not in kinds  # the canary Service stays on V2 for now
    assert kinds.index("SetWeight") < kinds.index("UpdateHash")  # weight first
    assert c.selector_hash(CANARY_SVC) == V2
    assert c.pods(V2) == (2, 2) and c.pods(V3)[0] == 1
    assert c.status["stableRS"] == V1

    c.kubelet(budget=0)
    c.reconcile()
    assert c.selector_hash(CANARY_SVC) == V2 and c.router_weight == 0

    c.kubelet()
    moved = c.reconcile()
    assert SwitchService(CANARY_SVC, V3) in moved.actions
    assert c.router_weight == 20
    # V2 carried traffic: it is kept for the scale-down delay, then goes.
    v2 = c.rs_named(rs_name(YELLOW))
    assert "scale-down-deadline" in v2["metadata"]["annotations"]
    c.advance(29)
    c.settle()
    assert c.pods(V2) == (2, 2)
    c.advance(1)
    c.settle()
    assert c.pods(V2) == (0, 0)
    assert c.pods(V1) == (5, 5)
    assert c.phase == ("Paused", "CanaryPauseStep") and c.index == 1


def test_back_to_the_stable_template_mid_rollout_skips_the_steps() -> None:
    c = at_40_percent()
    c.set_image(BLUE)
    result = c.reconcile()
    assert ("SkipSteps", "Rollback to stable ReplicaSets") in [
        (e.reason, e.message) for e in result.events
    ]
    assert c.index == len(SEED_STEPS)
    assert c.status["stableRS"] == V1 and c.status["currentPodHash"] == V1
    assert c.router_weight == 0 and c.selector_hash(CANARY_SVC) == V1
    assert c.phase == ("Healthy", "")
    assert not any(isinstance(a, ScaleReplicaSet) for a in result.actions)
    c.advance(30)
    c.settle()
    assert c.pods(V2) == (0, 0) and c.pods(V1) == (5, 5)


def test_changed_steps_restart_from_step_zero() -> None:
    c = at_40_percent()
    c.set_steps([{"setWeight": 40}, {"pause": {}}])
    c.settle()
    assert c.index == 1 and c.router_weight == 40
    assert c.phase == ("Paused", "CanaryPauseStep")


# -- setCanaryScale ---------------------------------------------------------------------------


def test_set_canary_scale_sizes_the_canary_without_moving_traffic() -> None:
    steps = [
        {"setCanaryScale": {"replicas": 3}},
        {"pause": {}},
        {"setWeight": 20},
        {"pause": {}},
        {"setCanaryScale": {"weight": 80}},
        {"pause": {}},
        {"setCanaryScale": {"matchTrafficWeight": True}},
        {"setWeight": 40},
        {"pause": {}},
    ]
    c = deployed(steps=steps)
    c.set_image(YELLOW)
    c.settle()
    assert c.index == 1 and c.pods(V2) == (3, 3)
    assert c.router_weight == 0  # three pods, no traffic yet
    c.promote()
    c.settle()
    assert c.index == 3 and c.router_weight == 20 and c.pods(V2) == (3, 3)
    c.promote()
    c.settle()
    assert c.index == 5 and c.router_weight == 20 and c.pods(V2) == (4, 4)  # ceil(5 * 0.8)
    c.promote()
    c.settle()
    # matchTrafficWeight: back to the size the weight needs, then the next setWeight.
    assert c.index == 8 and c.router_weight == 40 and c.pods(V2) == (2, 2)


def test_set_canary_scale_replicas_above_spec_are_capped() -> None:
    c = deployed(steps=[{"setCanaryScale": {"replicas": 9}}, {"pause": {}}])
    c.set_image(YELLOW)
    c.settle()
    assert c.pods(V2) == (5, 5) and c.router_weight == 0


def test_canary_scale_smaller_than_a_later_weight_sends_that_weight_to_its_pods() -> None:
    """setCanaryScale fixes the canary's size on purpose: a later setWeight 60 goes to the one
    pod it asked for, as in Argo (issue 21, case 1; this test held the weight back before)."""
    c = deployed(steps=[{"setCanaryScale": {"replicas": 1}}, {"setWeight": 60}, {"pause": {}}])
    c.set_image(YELLOW)
    c.settle()
    assert c.index == 2 and c.phase == ("Paused", "CanaryPauseStep")
    assert c.pods(V2) == (1, 1) and c.router_weight == 60


def test_canary_scale_to_no_pods_holds_a_later_weight_back_until_the_deadline() -> None:
    """A setCanaryScale to 0 pods leaves nothing to send a weight to: the step waits (the
    weight stays 0, never on a canary without pods) and the progress deadline says so, until
    a promote skips it."""
    c = deployed(steps=[{"setCanaryScale": {"replicas": 0}}, {"setWeight": 60}, {"pause": {}}])
    c.set_image(YELLOW)
    c.settle()
    assert c.index == 1 and c.pods(V2) == (0, 0)
    assert c.router_weight == 0
    c.advance(601)
    c.settle()
    assert c.phase[0] == "Degraded" and c.phase[1].startswith("ProgressDeadlineExceeded: ")
    c.promote()  # skips the step, as the CLI does mid-setWeight
    c.settle()
    assert c.index == 2 and c.router_weight == 0


# -- managed routes ---------------------------------------------------------------------------


def test_header_route_step_is_applied_and_removed_at_the_end() -> None:
    steps = [
        {"setWeight": 20},
        {
            "setHeaderRoute": {
                "name": "hdr",
                "match": [{"headerName": "x", "headerValue": {"exact": "1"}}],
            }
        },
        {"pause": {}},
    ]
    c = deployed(
        steps=steps,
        canary={
            "trafficRouting": {
                "istio": {
                    "virtualServices": [{"name": "rollouts-demo-vsvc", "routes": ["primary"]}]
                },
                "managedRoutes": [{"name": "hdr"}],
            }
        },
    )
    assert c.header_routes == {}  # never on a first revision
    c.set_image(YELLOW)
    c.settle()
    assert c.index == 2 and "hdr" in c.header_routes
    assert any(isinstance(a, SetHeaderRoute) for a in c.history[-1].plan.actions)
    c.promote()
    c.run_until(lambda cl: cl.status.get("stableRS") == V2)
    c.settle()
    assert c.header_routes == {}
    assert any(isinstance(a, RemoveManagedRoutes) for a in c.history[-1].plan.actions)


# -- invalid specs ----------------------------------------------------------------------------


def _break(c: Cluster, how: str) -> str:
    if how == "setWeight":
        steps = [dict(s) for s in c.steps]
        steps[0] = {"setWeight": 120}
        c.set_steps(steps)
        return "spec.strategy.canary.steps[0].setWeight: must be between 0 and 100"
    if how == "duration":
        steps = [dict(s) for s in c.steps]
        steps[5] = {"pause": {"duration": "1d"}}
        c.set_steps(steps)
        return "spec.strategy.canary.steps[5].pause.duration: Duration needs to be greater than 0"
    if how == "service":
        del c.services[CANARY_SVC]
        return f'spec.strategy.canary.canaryService: services "{CANARY_SVC}" not found'
    error = (
        "spec.strategy.canary.trafficRouting.istio.virtualServices[0].routes[0]: "
        "HTTP Route 'primary' is not found in the defined Virtual Service."
    )
    c.router_errors.append(error)
    return error


@pytest.mark.parametrize("how", ["setWeight", "duration", "service", "router"])
def test_invalid_spec_mid_rollout_changes_nothing_and_names_the_field(how: str) -> None:
    c = at_40_percent()
    field = _break(c, how)
    world = c.world()
    for _ in range(3):
        result = c.reconcile()
        assert list(result.actions) == []
        assert result.requeue_after == dt.timedelta(seconds=20)
        c.advance(60)
    assert c.world() == world
    invalid = c.condition("InvalidSpec")
    assert invalid is not None
    assert (invalid["status"], invalid["reason"]) == ("True", "InvalidSpec")
    message = invalid["message"]
    assert message.startswith(f'The Rollout "{NAME}" is invalid: {field}'), message
    assert c.phase == ("Degraded", f"InvalidSpec: {message}")
    assert [e.type for e in c.events if e.reason == "InvalidSpec"] == ["Warning"]


def test_a_fixed_spec_clears_invalid_spec_and_carries_on() -> None:
    c = at_40_percent()
    c.router_errors.append("spec.strategy.canary.trafficRouting.istio: broken")
    c.settle()
    assert c.phase[0] == "Degraded"
    c.router_errors.clear()
    c.settle()
    assert c.condition("InvalidSpec") is None
    assert c.phase == ("Paused", "CanaryPauseStep") and c.router_weight == 40


def test_invalid_spec_on_a_new_rollout_creates_nothing() -> None:
    c = Cluster.seed(checkers=[check_reconcile], steps=[{"setWeight": 101}])
    result = c.reconcile()
    assert list(result.actions) == [] and c.replica_sets == {}
    assert c.phase[0] == "Degraded"


# -- progress deadline ------------------------------------------------------------------------


def test_progress_deadline_exceeded_when_canary_pods_never_become_ready() -> None:
    c = deployed()
    c.set_image(YELLOW)
    c.reconcile()
    c.kubelet(budget=0)
    c.reconcile()  # pods exist: that counts as progress
    progressed = c.now
    c.advance(599)
    c.reconcile()
    assert c.phase[0] == "Progressing"
    assert c.history[-1].plan.requeue_after == dt.timedelta(seconds=1)
    c.advance(1)
    result = c.reconcile()
    message = f'ReplicaSet "{rs_name(YELLOW)}" has timed out progressing.'
    assert c.phase == ("Degraded", f"ProgressDeadlineExceeded: {message}")
    progressing = c.condition("Progressing")
    assert progressing is not None
    assert (progressing["status"], progressing["reason"]) == ("False", "ProgressDeadlineExceeded")
    assert [(e.reason, e.type) for e in result.events] == [("ProgressDeadlineExceeded", "Warning")]
    assert progressed + dt.timedelta(seconds=600) == c.now
    assert c.router_weight == 0

    # Not terminal: once the pod serves, the rollout goes on.
    c.kubelet()
    c.settle()
    assert c.phase == ("Paused", "CanaryPauseStep") and c.router_weight == 20


def test_progress_deadline_is_not_counted_during_a_pause_step() -> None:
    c = deployed(spec={"progressDeadlineSeconds": 60})
    c.set_image(YELLOW)
    c.settle()
    c.advance(3600)
    c.settle()
    assert c.phase == ("Paused", "CanaryPauseStep")


def test_progress_deadline_abort_aborts_the_update() -> None:
    c = deployed(spec={"progressDeadlineSeconds": 60, "progressDeadlineAbort": True})
    c.set_image(YELLOW)
    c.reconcile()
    c.kubelet(budget=0)
    c.reconcile()
    c.advance(60)
    c.reconcile()
    assert c.status.get("abort") is True
    c.reconcile()
    assert c.phase == ("Degraded", "RolloutAborted: Rollout aborted update to revision 2")
    assert c.router_weight == 0


# -- revision history -------------------------------------------------------------------------


def test_revision_history_limit_deletes_the_oldest_scaled_down_replica_sets() -> None:
    c = deployed(spec={"revisionHistoryLimit": 1})
    images = [YELLOW, GREEN, "argoproj/rollouts-demo:red", "argoproj/rollouts-demo:purple"]
    for image in images:
        c.set_image(image)
        c.settle()
        c.promote(full=True)
        c.run_until(lambda cl: cl.status.get("stableRS") == cl.current_hash)
        c.settle()  # the stable Service moves; the old stable gets its deadline
        c.advance(30)
        c.settle()
    deleted = [a.name for r in c.history for a in r.plan.actions if isinstance(a, DeleteReplicaSet)]
    assert deleted == [rs_name(BLUE), rs_name(YELLOW), rs_name(GREEN)]
    names = set(c.replica_sets)
    assert names == {
        f"{NAME}-{hash_of('argoproj/rollouts-demo:red')}",
        f"{NAME}-{hash_of('argoproj/rollouts-demo:purple')}",
    }


# -- basic canary -----------------------------------------------------------------------------


def test_basic_canary_splits_pods_one_canary_four_stable() -> None:
    # 5 pods, the default maxSurge/maxUnavailable of 25%: 2 pods of surge, 1 unavailable.
    c = deployed(routed=False, steps=[{"setWeight": 20}, {"pause": {}}])
    c.set_image(YELLOW)
    first = c.reconcile()
    assert not any(isinstance(a, (SetWeight, SwitchService)) for a in first.actions)
    assert c.pods(V2)[0] == 1 and c.pods(V1) == (4, 5)  # one stable pod may be unavailable
    c.settle()
    assert c.pods(V2) == (1, 1) and c.pods(V1) == (4, 4)
    assert c.phase == ("Paused", "CanaryPauseStep") and c.index == 1
    assert "canary" not in c.status
    assert c.history[-1].plan.desired_weight is None
    c.promote()
    c.settle()
    assert c.pods(V2) == (5, 5) and c.pods(V1) == (0, 0)
    assert c.status["stableRS"] == V2
    assert c.phase == ("Healthy", "")


def test_basic_canary_with_no_unavailable_gives_up_stable_pods_once_the_canary_serves() -> None:
    c = deployed(
        routed=False, steps=[{"setWeight": 20}, {"pause": {}}], canary={"maxUnavailable": 0}
    )
    c.set_image(YELLOW)
    c.reconcile()
    assert c.pods(V2)[0] == 1 and c.pods(V1) == (5, 5)
    c.reconcile()
    assert c.pods(V1)[0] == 5  # the canary pod is not available yet
    c.kubelet()
    c.reconcile()
    assert c.pods(V1)[0] == 4
    c.settle()
    assert (c.pods(V2), c.pods(V1), c.index) == ((1, 1), (4, 4), 1)


def test_basic_canary_paces_a_big_step_by_surge_and_unavailable() -> None:
    """10 pods from 0% to 100% with maxSurge 2 and maxUnavailable 1: never more than 12 pods
    asked for, never fewer than 9 available (check_basic_pacing holds on every reconcile),
    and it takes several rounds, not one jump."""
    c = deployed(replicas=10, routed=False, steps=[], canary={"maxSurge": 2, "maxUnavailable": 1})
    c.set_image(YELLOW)
    c.reconcile()
    assert c.pods(V2)[0] == 2 and c.pods(V1)[0] == 9
    rounds = 0
    while c.phase != ("Healthy", "") and rounds < 50:
        c.kubelet()
        c.reconcile()
        rounds += 1
    assert c.phase == ("Healthy", "") and c.status["stableRS"] == V2
    assert c.pods(V2) == (10, 10) and c.pods(V1)[0] == 0
    assert rounds >= 4


def test_basic_canary_abort_drains_the_canary_within_the_limits() -> None:
    c = deployed(
        replicas=4,
        routed=False,
        steps=[{"setWeight": 50}, {"pause": {}}],
        canary={"maxSurge": 1, "maxUnavailable": 0},
    )
    c.set_image(YELLOW)
    c.settle()
    assert c.pods(V2) == (2, 2) and c.pods(V1) == (2, 2) and c.index == 1
    c.abort()
    c.reconcile()
    assert c.pods(V1)[0] == 3 and c.pods(V2)[0] == 2  # stable grows first, within the surge
    c.settle()
    assert c.pods(V1) == (4, 4) and c.pods(V2) == (0, 0)
    assert c.phase[0] == "Degraded"


def test_basic_canary_retires_an_older_revision_within_max_unavailable() -> None:
    c = deployed(
        replicas=4,
        routed=False,
        steps=[{"setWeight": 50}, {"pause": {}}],
        canary={"maxSurge": 1, "maxUnavailable": 1},
    )
    c.set_image(YELLOW)
    c.settle()
    assert c.pods(V2) == (2, 2) and c.pods(V1) == (2, 2)
    c.set_image(GREEN)
    c.reconcile()
    # 4 available, at least 3 kept: the intermediate revision loses one pod, not both.
    assert c.pods(V2)[0] == 1
    c.settle()
    assert c.pods(V2) == (0, 0)
    assert c.pods(V3) == (2, 2) and c.pods(V1) == (2, 2)


def test_basic_canary_waits_for_old_pods_to_go() -> None:
    c = deployed(routed=False, steps=[])
    c.set_image(YELLOW)
    c.reconcile()
    for _ in range(20):  # a few rounds of surge and scale-down
        if c.pods(V1)[0] == 0:
            break
        c.kubelet()
        c.reconcile()
    assert c.pods(V2)[0] == 5 and c.pods(V1)[0] == 0 and c.pods(V1)[1] > 0  # still terminating
    c.reconcile()
    assert c.phase == ("Progressing", "old replicas are pending termination")
    assert c.status["stableRS"] == V1
    c.kubelet()
    c.reconcile()
    assert c.phase == ("Healthy", "") and c.status["stableRS"] == V2


def test_min_pods_per_replica_set_gives_a_routed_canary_at_least_that_many_pods() -> None:
    c = deployed(canary={"minPodsPerReplicaSet": 2})
    c.set_image(YELLOW)
    c.settle()
    assert (c.index, c.router_weight, c.pods(V2)) == (1, 20, (2, 2))  # 20% of 5 is 1 pod
    c.abort()
    c.settle()
    assert c.router_weight == 0 and c.pods(V1) == (5, 5)


def test_min_pods_per_replica_set_is_for_traffic_routing_only() -> None:
    c = deployed(routed=False, steps=[{"setWeight": 20}, {"pause": {}}])
    c.edit_spec(lambda spec: spec["strategy"]["canary"].update(minPodsPerReplicaSet=3))
    c.set_image(YELLOW)
    c.settle()
    assert c.pods(V2) == (1, 1) and c.index == 1


def test_a_promote_moves_traffic_in_the_same_reconcile() -> None:
    """The pass that ends a promoted pause is followed by the next step's pass in the same
    reconcile: the weight moves at once, with one status write, and the Events of both passes
    are kept in order."""
    steps = [
        {"setCanaryScale": {"replicas": 5}},
        {"setWeight": 20},
        {"pause": {}},
        {"setWeight": 40},
        {"pause": {}},
    ]
    c = deployed(steps=steps)
    c.set_image(YELLOW)
    c.settle()
    assert (c.index, c.router_weight, c.phase[0]) == (2, 20, "Paused")
    c.promote()
    result = c.reconcile()
    assert c.router_weight == 40
    assert [a.weight for a in result.actions if isinstance(a, SetWeight)] == [40]
    assert result.checkpoint is None  # a pause ends the same way after a crash: no need
    reasons = [e.reason for e in result.events]
    assert reasons.index("RolloutResumed") < reasons.index("RolloutStepCompleted")
    c.settle()
    assert (c.index, c.router_weight, c.phase[0]) == (4, 40, "Paused")


def test_a_crash_right_after_a_promote_never_takes_the_canary_back_a_step() -> None:
    """The promote's reconcile scales the canary for the next step and dies before its status
    write: the restarted controller ends the promoted pause again and goes on from the
    cluster as it is, instead of shrinking the canary back to the paused step's size."""
    c = at_40_percent()
    writes = len(c.weight_writes)
    c.promote()
    result = c.plan()
    assert any(isinstance(a, ScaleReplicaSet) for a in result.actions)
    c.reconcile(crash_after=len(result.actions))
    assert c.index == 3 and c.pods(V2)[0] == 3  # the status still says: the paused step
    for _ in range(40):
        c.kubelet()
        after = c.reconcile()
        assert not any(
            isinstance(a, ScaleReplicaSet) and a.name == rs_name(V2) and a.replicas < 3
            for a in after.actions
        ), after.actions
        if c.index == 5:
            break
    assert c.index == 5 and c.router_weight == 60
    assert c.weight_writes[writes:] == sorted(c.weight_writes[writes:])


def test_a_finished_set_weight_is_written_before_the_next_step_acts() -> None:
    """A setWeight step is done because of the cluster (weight and pods in place), so after
    a crash a restart might not decide it the same way: the reconcile that finishes it and
    moves on records it first, as a checkpoint."""
    c = deployed(steps=[{"setWeight": 20}, {"setWeight": 40}, {"pause": {}}])
    writes = len(c.weight_writes)
    c.set_image(YELLOW)
    c.reconcile()
    c.kubelet(only=V2)
    c.lose_pods(V1, 1)  # a stable pod restarts: the 20% is set, but the step waits for it
    c.reconcile()
    assert (c.index, c.router_weight) == (0, 20)
    c.kubelet()
    result = c.plan()  # nothing to do for step 0 any more: done, and step 1 begins
    assert result.checkpoint is not None
    assert result.checkpoint.status["currentStepIndex"] == 1 and c.router_weight == 20
    assert any(isinstance(a, ScaleReplicaSet) for a in result.actions)  # the 40% step's pods
    c.reconcile(crash_after=len(result.actions))
    assert c.index == 1 and c.pods(V2)[0] == 2
    c.settle()
    assert (c.index, c.router_weight, c.pods(V2), c.phase[0]) == (2, 40, (2, 2), "Paused")
    assert c.weight_writes[writes:] == sorted(c.weight_writes[writes:])
