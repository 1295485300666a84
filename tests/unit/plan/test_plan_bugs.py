"""Regression tests for the planner bugs these tests found, each the smallest scenario that
showed it. They were xfail(strict=True) until the planner was fixed (3755c5f and later); each
docstring says what went wrong before. The property tests check the same promises at random.
"""

from __future__ import annotations

from typing import Any

import pytest
from invariants import check_traffic, need, weight_need
from sim import (
    BLUE,
    CANARY_SVC,
    NAME,
    YELLOW,
    Cluster,
    Reconcile,
    events_of,
    hash_of,
    rs_name,
    template,
)

from rolloutd.plan.types import ScaleReplicaSet, SetWeight

JsonDict = dict[str, Any]
V1, V2 = hash_of(BLUE), hash_of(YELLOW)


def deployed(**kwargs: Any) -> Cluster:
    c = Cluster.seed(**kwargs)
    c.settle()
    return c


def canary_weight_fits_kept_pods(c: Cluster, rec: Reconcile) -> None:
    """After each plan, the canary Service's ReplicaSet keeps (spec) the pods its weight needs
    (those a setCanaryScale asked for, when one is in effect, but at least one)."""
    end = rec.trace[-1]
    if end.weight and end.canary_target:
        kept = end.spec_replicas.get(end.canary_target, 0)
        assert kept >= weight_need(rec, end.weight), (
            f"weight {end.weight} on {end.canary_target}, which keeps {kept} pods"
        )


# -- 1. traffic moves before pods go away --------------------------------------------------


@pytest.mark.parametrize(
    "steps",
    [
        [{"setWeight": 40}, {"setWeight": 20}, {"pause": {}}],
        [{"setWeight": 20}, {"setWeight": 0}, {"pause": {}}],
    ],
    ids=["40-then-20", "20-then-0"],
)
def test_lower_weight_step_takes_traffic_off_before_pods(steps: list[JsonDict]) -> None:
    """Was: a plan lowering the weight and the canary scaled the canary first (scale() ran
    before traffic()), so for a moment 40% went to one pod, or 20% to none."""
    c = deployed(steps=steps, checkers=[lambda cl, rec: check_traffic(rec)])
    c.set_image(YELLOW)
    c.settle()  # check_traffic looks at every instant of every plan


def test_a_failed_weight_write_never_leaves_traffic_on_a_canary_scaled_to_zero() -> None:
    """Was: the canary went to 0 pods before SetWeight(0); a failed router write (the actuator
    stops at the first failure) left 20% of the traffic on no pods."""
    c = deployed(steps=[{"setWeight": 20}, {"setWeight": 0}, {"pause": {}}])
    c.set_image(YELLOW)
    while c.index != 1:
        c.reconcile()
        c.kubelet()
    # The next plan lowers the weight to 0 and the canary to 0 pods; the router write fails
    # (the actuator stops at the first failure), after whatever came before it.
    actions = list(c.plan().actions)
    first_weight = next(i for i, a in enumerate(actions) if isinstance(a, SetWeight))
    c.reconcile(crash_after=first_weight)
    assert c.router_weight == 20
    assert c.pods(V2)[0] >= need(c.replicas, 20), "20% of traffic on a canary scaled to 0"


def test_new_steps_mid_rollout_lower_the_weight_before_the_canary() -> None:
    """Was: editing the steps mid-rollout scaled the canary to the new step's size (0) while
    40% of the traffic still went to it."""
    c = deployed(checkers=[lambda cl, rec: check_traffic(rec)])
    c.set_image(YELLOW)
    c.settle()
    c.promote()
    c.settle()
    assert c.router_weight == 40
    c.set_steps([{"pause": {}}, {"setWeight": 20}])
    result = c.reconcile()  # SetWeight(0), then ScaleReplicaSet(canary, 0)
    kinds = [type(a) for a in result.actions]
    assert kinds.index(SetWeight) < kinds.index(ScaleReplicaSet)


# -- 2. the weight counts only pods that stay --------------------------------------------


@pytest.mark.parametrize("scale", [{"replicas": 1}, {"weight": 0}])
def test_set_canary_scale_never_leaves_more_weight_than_the_kept_pods_carry(
    scale: JsonDict,
) -> None:
    """Was: a setCanaryScale smaller than the weight shrank the canary and kept the weight
    (the weight was checked against available pods, not against the pods kept). A scale to
    one pod keeps the weight on that pod, as Argo does; a scale to none takes it away."""
    c = deployed(steps=[{"setWeight": 40}, {"setCanaryScale": scale}, {"pause": {}}])
    c.checkers.append(canary_weight_fits_kept_pods)
    c.set_image(YELLOW)
    c.settle()  # at step 1 the canary shrinks to 1 (or 0) pods: the weight must follow


@pytest.mark.parametrize("manual_pause", [True, False], ids=["paused", "not-paused"])
def test_retry_right_after_the_aborted_canary_was_scaled_down(manual_pause: bool) -> None:
    """Was: a canary just scaled to 0 still showed its terminating pod as available (status
    not caught up), and a retry sent 20% of the traffic to it."""
    c = deployed()
    c.set_image(YELLOW)
    c.settle()
    c.abort()
    c.settle()
    c.advance(30)
    c.reconcile()  # the aborted canary goes to 0; its pod is terminating (status not caught up)
    assert c.pods(V2) == (0, 1)
    if manual_pause:
        c.pause()
    c.retry()
    c.reconcile()
    rs = c.rs_named(rs_name(YELLOW))
    synced = rs["status"]["observedGeneration"] >= rs["metadata"]["generation"]
    assert c.router_weight == 0 or (synced and c.pods(V2)[0] >= 1), (
        f"weight {c.router_weight} on a canary with spec {c.pods(V2)[0]}, status synced={synced}"
    )


# -- 3. a ReplicaSet back in service drops its scale-down deadline -------------------------


def test_second_abort_after_a_quick_retry_still_waits_and_moves_traffic_first() -> None:
    """Was: a retry inside abortScaleDownDelaySeconds left the canary's scale-down-deadline;
    the next abort found it past and scaled the canary to 0 at once, before SetWeight(0)."""
    c = deployed()
    c.set_image(YELLOW)
    c.settle()
    c.promote()
    c.settle()
    c.abort()
    c.settle()
    c.advance(10)  # retried before the 30 s delay ran out
    c.retry()
    c.settle()
    c.promote()
    c.settle()
    assert c.router_weight == 40
    annotations = c.rs_named(rs_name(YELLOW))["metadata"]["annotations"]
    stale = annotations.get("scale-down-deadline")
    c.advance(60)
    c.abort()
    result = c.reconcile()
    scaled = [a for a in result.actions if isinstance(a, ScaleReplicaSet)]
    assert scaled == [], f"canary scaled at once on abort (stale deadline {stale}): {scaled}"
    assert c.pods(V2) == (2, 2)


def test_a_replica_set_back_in_service_loses_its_old_deadline() -> None:
    """Was: a ReplicaSet rolled back to within its delay kept the old deadline while it served
    (which also turned the progress deadline off), and went to 0 with no delay when replaced."""
    c = deployed(steps=[])
    c.set_image(YELLOW)
    c.settle()  # V1 is the old stable, kept until now + 30 s
    c.advance(5)
    c.set_image(BLUE)  # back to V1 (an update to an older revision, not to the stable)
    c.settle()
    assert c.status["stableRS"] == V1
    v1 = c.rs_named(rs_name(BLUE))["metadata"]["annotations"]
    assert "scale-down-deadline" not in v1, f"stable V1 still carries {v1}"


# -- 4. status wording --------------------------------------------------------------------------


@pytest.mark.parametrize("update", [False, True], ids=["first-deploy", "update"])
def test_progressing_condition_names_the_created_replica_set(update: bool) -> None:
    """Was: `ReplicaSet "" is progressing.` (the not-yet-created ReplicaSet had no name)."""
    c = Cluster.seed()
    image = BLUE
    if update:
        c.settle()
        c.set_image(YELLOW)
        image = YELLOW
    c.reconcile()
    progressing = c.condition("Progressing")
    assert progressing is not None
    assert (progressing["status"], progressing["reason"], progressing["message"]) == (
        "True",
        "NewReplicaSetCreated",
        f'Created new replica set "{rs_name(image)}"',
    )


def test_paused_condition_message_is_argos() -> None:
    """Was: "Rollout is not paused" when False; Argo always writes "Rollout is paused"."""
    c = deployed()
    paused = c.condition("Paused")
    assert paused is not None and paused["status"] == "False"
    assert (paused["reason"], paused["message"]) == ("RolloutPaused", "Rollout is paused")


@pytest.mark.parametrize("routed", [True, False])
def test_promote_at_a_pause_step_records_one_resumed_event(routed: bool) -> None:
    """Was: RolloutResumed twice in one plan (the step and the Progressing condition)."""
    c = deployed(routed=routed, steps=[{"setWeight": 20}, {"pause": {}}, {"setWeight": 40}])
    c.set_image(YELLOW)
    c.settle()
    assert c.phase == ("Paused", "CanaryPauseStep")
    c.promote()
    result = c.reconcile()
    assert [e.reason for e in events_of(result)].count("RolloutResumed") == 1


# -- 5. revisions -----------------------------------------------------------------------------


def test_back_to_stable_renumbers_the_stable_replica_set() -> None:
    """Was: the stable ReplicaSet kept revision 1 and the Rollout's revision went back from 2
    to 1 (Argo renumbers a reused ReplicaSet to max+1, reference §3.2)."""
    c = deployed()
    c.set_image(YELLOW)
    c.settle()
    c.set_image(BLUE)
    c.settle()
    stable = c.rs_named(rs_name(BLUE))["metadata"]["annotations"]
    assert c.rollout["metadata"]["annotations"]["rollout.argoproj.io/revision"] == "3"
    assert stable["rollout.argoproj.io/revision"] == "3"
    assert stable["rollout.argoproj.io/revision-history"] == "1"


def test_undo_to_an_older_revision_names_the_new_revision_in_events() -> None:
    """Was: the plan that renumbers the reused ReplicaSet named its old revision in events."""
    c = deployed()
    c.set_image(YELLOW)
    c.settle()
    c.promote(full=True)
    c.run_until(lambda cl: cl.status.get("stableRS") == V2)
    c.settle()
    c.advance(30)
    c.settle()
    assert c.pods(V1) == (0, 0)
    c.set_image(BLUE)  # `undo`: back to revision 1's template, which becomes revision 3
    result = c.reconcile()
    annotations = c.rs_named(rs_name(BLUE))["metadata"]["annotations"]
    assert annotations["rollout.argoproj.io/revision"] == "3"
    scaled = [e.message for e in result.events if e.reason == "ScalingReplicaSet"]
    assert scaled == [f"Scaled up ReplicaSet {rs_name(BLUE)} (revision 3) from 0 to 1"]


# -- 6. a Rollout whose status was lost ----------------------------------------------------------


def test_lost_status_does_not_skip_the_steps_of_a_new_template() -> None:
    """Was: with an empty status, a new template was promoted at once as an "Initial deploy"
    and the serving ReplicaSet was put on a scale-down deadline."""
    c = deployed()
    c.rollout["status"] = {}  # e.g. the object was restored or re-created without status
    c.set_image(YELLOW)
    c.reconcile()
    c.kubelet()
    c.reconcile()
    assert c.status.get("stableRS") == V1
    # The canary got its first pod and at most its first step (setWeight 20) completed.
    assert c.pods(V2)[0] == 1 and c.index is not None and c.index <= 1
    assert "scale-down-deadline" not in c.rs_named(rs_name(BLUE))["metadata"]["annotations"]


def test_lost_status_on_the_same_template_adopts_it_quietly() -> None:
    """The existing ReplicaSet is found again as the stable, and nothing moves."""
    c = deployed()
    c.rollout["status"] = {}
    c.settle()
    assert c.status["stableRS"] == V1 and c.pods(V1) == (5, 5)
    assert c.selector_hash(CANARY_SVC) == V1
    assert len(c.replica_sets) == 1
    assert c.rs_named(f"{NAME}-{V1}")["spec"]["template"]["spec"] == template(BLUE)["spec"]


def test_two_quick_promotes_do_not_also_end_a_later_pause() -> None:
    """A first promote clears the pause condition; a second one, before the controller has
    seen the first, skips the pause step. The `controllerPause` flag that pause left behind
    then ended the next pause step as if it were a resume (found by the chained-pass
    invariant: a pause "ended in the plan that began it")."""
    c = deployed(replicas=1, routed=False, steps=[])
    c.set_image(YELLOW)
    c.set_steps([{"pause": {}}, {"setWeight": 0}, {"pause": {}}])
    c.settle()
    assert c.index == 0 and c.phase[0] == "Paused"
    c.promote()
    c.promote()
    c.settle()
    assert c.index == 2 and c.phase == ("Paused", "CanaryPauseStep")
    c.promote()
    c.settle()
    assert c.phase == ("Healthy", "") and c.status["stableRS"] == V2
