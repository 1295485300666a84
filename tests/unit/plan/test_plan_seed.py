"""The seed walkthrough (docs/mission.md), pass by pass, against the pure planner.

Five replicas, steps `setWeight 20, pause {}, setWeight 40, pause {}, setWeight 60,
pause {duration: 30}, setWeight 80, pause {duration: 60}`, Istio traffic routing. Every
reconcile is also checked against the design's invariants (`invariants.check_reconcile`).
"""

from __future__ import annotations

import datetime as dt

import pytest
from invariants import check_reconcile
from sim import (
    BLUE,
    CANARY_SVC,
    NAME,
    STABLE_SVC,
    YELLOW,
    Cluster,
    hash_of,
    rs_name,
)

from rolloutd.plan.types import (
    CreateReplicaSet,
    ScaleReplicaSet,
    SetWeight,
    SwitchService,
    UpdateHash,
)

V1, V2 = hash_of(BLUE), hash_of(YELLOW)


@pytest.fixture
def c() -> Cluster:
    return Cluster.seed(checkers=[check_reconcile])


def event_messages(c: Cluster, reason: str) -> list[str]:
    return [e.message for e in c.events if e.reason == reason]


def at_first_pause(c: Cluster) -> Cluster:
    c.settle()
    c.set_image(YELLOW)
    c.settle()
    return c


def test_first_deploy_goes_straight_to_healthy_with_every_step_skipped(c: Cluster) -> None:
    first = c.reconcile()
    created = [a for a in first.actions if isinstance(a, CreateReplicaSet)]
    assert len(created) == 1
    body = created[0].body
    assert body["metadata"]["name"] == f"{NAME}-{V1}"
    assert body["spec"]["replicas"] == 5  # all of it at once: no canary on a first deploy
    assert body["metadata"]["annotations"]["rollout.argoproj.io/revision"] == "1"
    assert body["spec"]["selector"]["matchLabels"]["rollouts-pod-template-hash"] == V1
    assert body["metadata"]["ownerReferences"][0]["kind"] == "Rollout"
    assert c.status["stableRS"] == V1
    assert c.index == 8
    assert c.phase == ("Progressing", "more replicas need to be updated")

    c.kubelet()
    c.settle()
    assert c.phase == ("Healthy", "")
    assert c.index == 8  # Step: 8/8
    assert c.status["currentPodHash"] == V1
    assert c.status_weights == (0, 100) and c.router_weight == 0
    assert c.selector_hash(STABLE_SVC) == V1 and c.selector_hash(CANARY_SVC) == V1
    assert c.rollout["metadata"]["annotations"]["rollout.argoproj.io/revision"] == "1"
    assert (c.status["replicas"], c.status["availableReplicas"]) == (5, 5)
    assert event_messages(c, "RolloutCompleted") == [
        f"Rollout completed update to revision 1 ({V1}): Initial deploy"
    ]
    conditions = {k: c.condition(k) for k in ("Available", "Healthy", "Completed", "Progressing")}
    assert {k: v["status"] for k, v in conditions.items() if v} == {
        "Available": "True",
        "Healthy": "True",
        "Completed": "True",
        "Progressing": "True",
    }
    progressing = c.condition("Progressing")
    assert progressing is not None
    assert progressing["reason"] == "NewReplicaSetAvailable"
    assert progressing["message"] == f'ReplicaSet "{NAME}-{V1}" has successfully progressed.'


def test_image_change_moves_weight_only_once_the_canary_pod_is_available(c: Cluster) -> None:
    c.settle()
    c.set_image(YELLOW)
    created = c.reconcile()
    new = [a for a in created.actions if isinstance(a, CreateReplicaSet)]
    assert [a.body["spec"]["replicas"] for a in new] == [1]
    assert c.rollout["metadata"]["annotations"]["rollout.argoproj.io/revision"] == "2"
    assert c.index == 0
    assert event_messages(c, "RolloutNotCompleted") == [
        f"Rollout not completed, started update to revision 2 ({V2})"
    ]

    # The pod exists but is not ready: however often we reconcile, no traffic moves.
    c.kubelet(budget=0)
    for _ in range(3):
        c.advance(5)
        c.reconcile()
        assert c.router_weight == 0 and c.status_weights == (0, 100)
        assert c.selector_hash(CANARY_SVC) == V1
        assert c.index == 0
    assert 20 not in c.weight_writes

    c.kubelet()
    moved = c.reconcile()
    kinds = [type(a) for a in moved.actions]
    switch = kinds.index(SwitchService)
    assert kinds.index(SetWeight) > switch  # the canary Service has its pod before traffic
    assert c.router_weight == 20 and c.status_weights == (20, 80)
    assert c.selector_hash(CANARY_SVC) == V2 and c.selector_hash(STABLE_SVC) == V1
    assert c.index == 1
    assert "Rollout step 1/8 completed (setWeight: 20)" in event_messages(c, "RolloutStepCompleted")

    c.settle()
    assert c.phase == ("Paused", "CanaryPauseStep")
    assert c.index == 1  # Step: 1/8
    assert [p["reason"] for p in c.status["pauseConditions"]] == ["CanaryPauseStep"]
    assert c.status["controllerPause"] is True
    # Desired 5, Current 6, Updated 1: the stable stays at full size.
    assert (c.status["replicas"], c.status["updatedReplicas"]) == (6, 1)
    assert c.pods(V1) == (5, 5) and c.pods(V2) == (1, 1)
    paused = c.condition("Paused")
    assert paused is not None and (paused["status"], paused["reason"]) == ("True", "RolloutPaused")
    assert "Rollout is paused (CanaryPauseStep)" in event_messages(c, "RolloutPaused")
    completed = c.condition("Completed")
    assert completed is not None and completed["status"] == "False"


def test_promote_goes_to_40_percent_and_pauses_at_step_3(c: Cluster) -> None:
    at_first_pause(c)
    c.promote()
    assert "pauseConditions" not in c.status  # what the CLI sends
    c.settle()
    assert c.phase == ("Paused", "CanaryPauseStep")
    assert c.index == 3
    assert c.router_weight == 40 and c.status_weights == (40, 60)
    assert (c.status["replicas"], c.status["updatedReplicas"]) == (7, 2)
    assert c.pods(V1) == (5, 5) and c.pods(V2) == (2, 2)
    assert event_messages(c, "RolloutResumed")[-1:] == ["Rollout is resumed"]
    assert "Rollout step 2/8 completed (pause)" in event_messages(c, "RolloutStepCompleted")


def test_timed_pauses_are_honoured_to_the_second(c: Cluster) -> None:
    at_first_pause(c)
    c.promote()
    c.settle()
    c.promote()
    c.settle()
    assert c.index == 5 and c.router_weight == 60 and c.pods(V2) == (3, 3)
    started = c.status["pauseConditions"][0]["startTime"]
    assert started == c.now.strftime("%Y-%m-%dT%H:%M:%SZ")
    last = c.history[-1].plan
    assert last.requeue_after == dt.timedelta(seconds=30)  # woken exactly when it ends

    c.advance(29)
    c.settle()
    assert (c.index, c.phase) == (5, ("Paused", "CanaryPauseStep"))
    assert c.router_weight == 60

    c.advance(1)
    c.settle()
    assert c.index == 7 and c.router_weight == 80 and c.pods(V2) == (4, 4)
    assert c.phase == ("Paused", "CanaryPauseStep")
    assert c.history[-1].plan.requeue_after == dt.timedelta(seconds=60)
    c.advance(59)
    c.settle()
    assert c.index == 7 and c.router_weight == 80
    assert "Rollout step 6/8 completed (pause: 30s)" in event_messages(c, "RolloutStepCompleted")


def test_the_end_of_the_update_promotes_switches_and_scales_down_after_the_delay(
    c: Cluster,
) -> None:
    at_first_pause(c)
    for _ in range(2):
        c.promote()
        c.settle()
    c.advance(30)
    c.settle()
    c.advance(60)
    c.kubelet()
    # Step 8/8: the canary grows to full size, then takes 100% once all its pods serve.
    c.reconcile()
    assert c.index == 8
    c.kubelet(budget=0)
    c.reconcile()
    assert c.pods(V2) == (5, 4) and c.router_weight == 80  # not before the 5th pod serves
    assert c.status["stableRS"] == V1
    c.kubelet()
    c.reconcile()
    assert c.router_weight == 100
    assert c.status["stableRS"] == V2
    assert event_messages(c, "RolloutCompleted")[-1] == (
        f"Rollout completed update to revision 2 ({V2}): Completed all 8 canary steps"
    )

    promoted_at = c.now
    c.reconcile()
    assert c.selector_hash(STABLE_SVC) == V2 and c.selector_hash(CANARY_SVC) == V2
    assert c.router_weight == 0 and c.status_weights == (0, 100)
    assert c.phase == ("Healthy", "")
    old = c.rs_named(rs_name(BLUE))
    deadline = promoted_at + dt.timedelta(seconds=30)
    assert old["metadata"]["annotations"]["scale-down-deadline"] == deadline.strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )
    assert c.pods(V1) == (5, 5)  # kept for scaleDownDelaySeconds (default 30)
    assert c.history[-1].plan.requeue_after == dt.timedelta(seconds=30)

    c.advance(29)
    c.settle()
    assert c.pods(V1) == (5, 5)
    c.advance(1)
    c.settle()
    assert c.pods(V1) == (0, 0)
    assert "scale-down-deadline" not in (c.rs_named(rs_name(BLUE))["metadata"]["annotations"])
    assert c.phase == ("Healthy", "")
    assert (c.status["replicas"], c.status["updatedReplicas"]) == (5, 5)
    healthy = c.condition("Healthy")
    assert healthy is not None and healthy["status"] == "True"
    progressing = c.condition("Progressing")
    assert progressing is not None and progressing["reason"] == "NewReplicaSetAvailable"
    # The whole way, the stable was never scaled below 5 while it was stable.
    scaled_v1 = [
        a.replicas
        for r in c.history
        for a in r.plan.actions
        if isinstance(a, ScaleReplicaSet) and a.name == rs_name(BLUE)
    ]
    assert scaled_v1 == [0]
    distinct = [w for i, w in enumerate(c.weight_writes) if i == 0 or w != c.weight_writes[i - 1]]
    assert distinct == [0, 20, 40, 60, 80, 100, 0]


def test_update_hash_names_the_serving_replica_sets(c: Cluster) -> None:
    at_first_pause(c)
    hashes = [
        (a.canary_hash, a.stable_hash)
        for a in c.history[-1].plan.actions
        if isinstance(a, UpdateHash)
    ]
    assert hashes == [(V2, V1)]
    assert c.router_hashes == (V2, V1)


@pytest.mark.parametrize("where", ["healthy", "paused"])
def test_replanning_an_unchanged_world_writes_nothing(c: Cluster, where: str) -> None:
    """Design invariant 6: at rest, a plan holds only the router's idempotent calls, with the
    values the router already has, and the same status."""
    if where == "healthy":
        c.settle()
    else:
        at_first_pause(c)
    status = dict(c.status)
    for _ in range(2):
        result = c.plan()
        assert [type(a) for a in result.actions] in (
            [UpdateHash, SetWeight],
            [SetWeight, UpdateHash],
        )
        assert all(not c.changes_anything(a) for a in result.actions)
        assert result.status == status
        assert list(result.events) == []


def test_a_legacy_step_hash_is_not_a_change_of_steps(c: Cluster) -> None:
    """An earlier rolloutd wrote a BLAKE2b `currentStepHash`: at the first pause, that status
    must keep its step and pause, and get Argo's hash on the next status write."""
    from rolloutd.plan.hashing import legacy_steps_hash, steps_hash

    at_first_pause(c)
    index, pauses = c.index, c.status.get("pauseConditions")
    assert index == 1 and pauses
    argo = c.status["currentStepHash"]
    assert argo == steps_hash(c.steps)
    c.status["currentStepHash"] = legacy_steps_hash(c.steps)
    c.settle()
    assert c.index == index
    assert c.status.get("pauseConditions") == pauses
    assert c.status["currentStepHash"] == argo
    # A legacy hash of other steps still counts as a change: the steps start again.
    c.advance(5)
    c.status["currentStepHash"] = legacy_steps_hash(c.steps[:-1])
    c.reconcile()
    assert c.status["currentStepHash"] == argo
    assert c.status.get("pauseConditions") != pauses  # the old pause was let go
