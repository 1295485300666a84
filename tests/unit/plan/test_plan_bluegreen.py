"""The blue-green planner, rule by rule, over the simulated cluster (`sim.py`).

Each test drives the pure planner the way the controller does (reconcile, pods come up, the
clock moves, the user sends the CLI's patches) and checks Argo's observable behaviour: which
Service selects which pod hash, ReplicaSet sizes, status fields, phases and Events.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from sim import (
    ACTIVE_SVC,
    BLUE,
    GREEN,
    PREVIEW_SVC,
    YELLOW,
    Cluster,
    events_of,
    hash_of,
)

from rolloutd.model.rollout import validate_rollout
from rolloutd.plan.types import SCALE_DOWN_DEADLINE_ANNOTATION, CreateAnalysisRun

H1, H2, H3 = hash_of(BLUE), hash_of(GREEN), hash_of(YELLOW)


def deployed(**kwargs: Any) -> Cluster:
    """A blue-green Rollout whose first revision is deployed and Healthy."""
    cluster = Cluster.blue_green(**kwargs)
    cluster.settle()
    assert cluster.phase == ("Healthy", "")
    return cluster


def targets(cluster: Cluster) -> tuple[str | None, str | None]:
    return cluster.selector_hash(ACTIVE_SVC), cluster.selector_hash(PREVIEW_SVC)


def reasons(cluster: Cluster) -> list[str]:
    return [e.reason for e in cluster.events]


def test_first_deploy_is_stable_at_once_and_active_switches_once_pods_are_available() -> None:
    cluster = Cluster.blue_green()
    first = cluster.reconcile()
    assert [e.reason for e in events_of(first)] == [
        "NewReplicaSetCreated",
        "ScalingReplicaSet",
        "RolloutCompleted",
        "SwitchService",
    ]
    assert "Initial deploy" in events_of(first)[2].message
    assert cluster.status["stableRS"] == H1
    # Preview follows the new ReplicaSet at once; active waits for available pods.
    assert targets(cluster) == (None, H1)
    assert cluster.phase == ("Progressing", "more replicas need to be updated")
    cluster.kubelet(2)
    cluster.reconcile()
    assert targets(cluster) == (None, H1)
    cluster.kubelet()
    cluster.reconcile()
    assert targets(cluster) == (H1, H1)
    assert cluster.events[-1].message == (
        f"Switched selector for service '{ACTIVE_SVC}' from '' to '{H1}'"
    )
    cluster.settle()
    assert cluster.phase == ("Healthy", "")
    assert cluster.status["blueGreen"] == {"activeSelector": H1, "previewSelector": H1}


def test_nothing_is_written_at_rest() -> None:
    cluster = deployed()
    result = cluster.reconcile()
    assert result.actions == [] and result.events == []
    assert result.status == cluster.rollout["status"]


def test_update_pauses_with_both_versions_up_then_promote_switches_and_completes() -> None:
    cluster = deployed()
    cluster.set_image(GREEN)
    cluster.settle()
    assert cluster.phase == ("Paused", "BlueGreenPause")
    assert targets(cluster) == (H1, H2)
    assert cluster.pods(H1) == (3, 3) and cluster.pods(H2) == (3, 3)
    assert cluster.status["pauseConditions"][0]["reason"] == "BlueGreenPause"
    assert cluster.status["controllerPause"] is True
    cluster.promote()
    cluster.reconcile()
    # Switched in this pass; stable only once the Service is read back.
    assert targets(cluster) == (H2, H2)
    assert cluster.status["stableRS"] == H1
    assert cluster.phase == ("Progressing", "waiting for analysis to complete")
    cluster.reconcile()
    assert cluster.status["stableRS"] == H2
    assert cluster.events[-1].message == (
        f"Rollout completed update to revision 2 ({H2}): Completed blue-green update"
    )
    assert cluster.phase == ("Healthy", "")


def test_auto_promotion_is_the_default() -> None:
    cluster = deployed(blue_green={"autoPromotionEnabled": None})
    del cluster.spec["strategy"]["blueGreen"]["autoPromotionEnabled"]
    cluster.set_image(GREEN)
    cluster.settle()
    assert "RolloutPaused" not in reasons(cluster)
    assert cluster.status["stableRS"] == H2 and targets(cluster) == (H2, H2)


def test_auto_promotion_seconds_pause_then_promote_by_themselves() -> None:
    cluster = deployed(blue_green={"autoPromotionEnabled": True, "autoPromotionSeconds": 20})
    cluster.set_image(GREEN)
    cluster.settle()
    assert cluster.phase == ("Paused", "BlueGreenPause")
    result = cluster.reconcile()
    assert result.requeue_after is not None and 0 < result.requeue_after.total_seconds() <= 21
    cluster.advance(10)
    cluster.settle()
    assert targets(cluster) == (H1, H2)
    cluster.advance(11)
    cluster.settle()
    assert targets(cluster) == (H2, H2) and cluster.status["stableRS"] == H2


def test_auto_promotion_seconds_are_ignored_when_auto_promotion_is_disabled() -> None:
    cluster = deployed(blue_green={"autoPromotionSeconds": 5})
    cluster.set_image(GREEN)
    cluster.settle()
    cluster.advance(60)
    cluster.settle()
    assert cluster.phase == ("Paused", "BlueGreenPause")
    assert targets(cluster) == (H1, H2)


def test_preview_replica_count_then_full_size_before_the_switch() -> None:
    cluster = deployed(replicas=2, blue_green={"previewReplicaCount": 1})
    cluster.set_image(GREEN)
    cluster.settle()
    assert cluster.phase == ("Paused", "BlueGreenPause")
    assert cluster.pods(H2) == (1, 1) and cluster.pods(H1) == (2, 2)
    s = cluster.status
    counts = (s["replicas"], s["updatedReplicas"], s["readyReplicas"], s["availableReplicas"])
    assert counts == (3, 1, 2, 2)
    cluster.promote()
    cluster.reconcile()
    assert cluster.status["blueGreen"]["scaleUpPreviewCheckPoint"] is True
    assert targets(cluster) == (H1, H2)  # not saturated yet: no switch
    cluster.settle()
    assert targets(cluster) == (H2, H2) and cluster.pods(H2) == (2, 2)
    assert cluster.phase == ("Healthy", "")
    s = cluster.status
    # The old ReplicaSet is still inside its delay: 2/4/2/2/2 as in Argo's e2e test.
    counts = (s["replicas"], s["updatedReplicas"], s["readyReplicas"], s["availableReplicas"])
    assert counts == (4, 2, 2, 2)
    assert "scaleUpPreviewCheckPoint" not in s["blueGreen"]


def test_previous_stable_keeps_full_size_for_its_delay_then_goes() -> None:
    cluster = deployed(blue_green={"scaleDownDelaySeconds": 30})
    cluster.set_image(GREEN)
    cluster.settle()
    cluster.promote()
    cluster.settle()
    old = cluster.rs_for(H1)
    assert old is not None
    assert cluster.pods(H1) == (3, 3)
    assert SCALE_DOWN_DEADLINE_ANNOTATION in old["metadata"]["annotations"]
    cluster.advance(29)
    cluster.settle()
    assert cluster.pods(H1) == (3, 3)
    cluster.advance(2)
    cluster.settle()
    assert cluster.pods(H1) == (0, 0)


def test_default_scale_down_delay_is_thirty_seconds() -> None:
    cluster = deployed()
    cluster.set_image(GREEN)
    cluster.settle()
    cluster.promote()
    cluster.settle()
    cluster.advance(29)
    cluster.settle()
    assert cluster.pods(H1) == (3, 3)
    cluster.advance(2)
    cluster.settle()
    assert cluster.pods(H1) == (0, 0)


def test_scale_down_delay_revision_limit() -> None:
    cluster = deployed(replicas=1, blue_green={"scaleDownDelaySeconds": 86400})
    images = ["argoproj/rollouts-demo:v2", "argoproj/rollouts-demo:v3", "argoproj/rollouts-demo:v4"]
    for image in images:
        cluster.set_image(image)
        cluster.settle()
        cluster.promote()
        cluster.settle()
    assert [cluster.pods(hash_of(i))[0] for i in [BLUE, *images]] == [1, 1, 1, 1]
    cluster.edit_spec(
        lambda spec: spec["strategy"]["blueGreen"].update(scaleDownDelayRevisionLimit=2)
    )
    cluster.settle()
    assert [cluster.pods(hash_of(i))[0] for i in [BLUE, *images]] == [0, 1, 1, 1]
    cluster.edit_spec(
        lambda spec: spec["strategy"]["blueGreen"].update(scaleDownDelayRevisionLimit=1)
    )
    cluster.settle()
    assert [cluster.pods(hash_of(i))[0] for i in [BLUE, *images]] == [0, 0, 1, 1]


def test_abort_puts_active_back_on_stable_and_preview_stays() -> None:
    cluster = deployed(blue_green={"abortScaleDownDelaySeconds": 5})
    cluster.set_image(GREEN)
    cluster.settle()
    cluster.abort()
    cluster.settle()
    assert targets(cluster) == (H1, H2)
    assert cluster.phase == (
        "Degraded",
        "RolloutAborted: Rollout aborted update to revision 2",
    )
    assert "pauseConditions" not in cluster.status
    assert cluster.pods(H2) == (3, 3)  # inside abortScaleDownDelaySeconds
    cluster.advance(6)
    cluster.settle()
    assert cluster.pods(H2) == (0, 0)
    cluster.retry()
    cluster.settle()
    assert "RolloutRetry" in reasons(cluster)
    assert cluster.phase == ("Paused", "BlueGreenPause")
    assert cluster.pods(H2) == (3, 3)
    cluster.promote()
    cluster.settle()
    assert targets(cluster) == (H2, H2) and cluster.phase == ("Healthy", "")


def test_abort_after_the_switch_sends_active_back_before_the_preview_shrinks() -> None:
    cluster = deployed(blue_green={"abortScaleDownDelaySeconds": 1})
    cluster.set_image(GREEN)
    cluster.settle()
    cluster.promote()
    # Stop right after the switch pass (post-promotion not configured: the next pass
    # promotes; abort before it).
    cluster.reconcile()
    assert targets(cluster) == (H2, H2)
    cluster.abort()
    result = cluster.reconcile()
    assert targets(cluster) == (H1, H2)
    assert all(getattr(a, "replicas", 3) == 3 for a in result.actions)
    cluster.settle()  # the delay starts once active is read back on stable
    assert cluster.pods(H2) == (3, 3)
    cluster.advance(2)
    cluster.settle()
    assert cluster.pods(H2) == (0, 0) and cluster.pods(H1) == (3, 3)


def test_abort_scale_down_delay_zero_keeps_the_preview_up() -> None:
    cluster = deployed(blue_green={"abortScaleDownDelaySeconds": 0})
    cluster.set_image(GREEN)
    cluster.settle()
    cluster.abort()
    cluster.advance(600)
    cluster.settle()
    assert cluster.pods(H2) == (3, 3) and targets(cluster) == (H1, H2)


def test_promote_full_skips_the_pause_and_the_preview_count() -> None:
    cluster = deployed(replicas=2, blue_green={"previewReplicaCount": 1})
    cluster.set_image(GREEN)
    cluster.settle()
    cluster.promote(full=True)
    cluster.settle()
    assert targets(cluster) == (H2, H2) and cluster.pods(H2) == (2, 2)
    assert "Full promotion requested" in cluster.events[-1].message or any(
        "Full promotion requested" in e.message for e in cluster.events
    )
    assert cluster.phase == ("Healthy", "")
    assert "promoteFull" not in cluster.status


def test_spec_paused_freezes_the_switches() -> None:
    cluster = deployed(blue_green={"autoPromotionEnabled": True})
    cluster.pause()
    cluster.set_image(GREEN)
    cluster.settle()
    assert cluster.phase == ("Paused", "manually paused")
    assert targets(cluster) == (H1, H1)
    cluster.resume()
    cluster.settle()
    assert targets(cluster) == (H2, H2) and cluster.status["stableRS"] == H2


def test_a_new_template_mid_rollout_starts_a_fresh_preview() -> None:
    cluster = deployed()
    cluster.set_image(GREEN)
    cluster.settle()
    cluster.set_image(YELLOW)
    cluster.settle()
    assert targets(cluster) == (H1, H3)
    assert cluster.phase == ("Paused", "BlueGreenPause")
    cluster.advance(31)
    cluster.settle()
    assert cluster.pods(H2) == (0, 0)  # the abandoned preview went after its delay
    cluster.promote()
    cluster.settle()
    assert targets(cluster) == (H3, H3) and cluster.status["stableRS"] == H3


def test_undo_to_a_revision_inside_its_delay_is_a_fast_rollback() -> None:
    cluster = deployed()
    cluster.set_image(GREEN)
    cluster.settle()
    cluster.promote()
    cluster.settle()
    cluster.set_image(BLUE)  # what `undo` sends: the previous template
    cluster.settle()
    assert "RolloutPaused" not in reasons(cluster)[-6:]
    assert targets(cluster) == (H1, H1) and cluster.status["stableRS"] == H1
    assert any("Fast rollback" in e.message for e in cluster.events)


def test_active_never_selects_a_replica_set_lacking_available_pods() -> None:
    cluster = deployed(blue_green={"autoPromotionEnabled": True})
    cluster.set_image(GREEN)
    for _ in range(6):
        cluster.reconcile()
        cluster.kubelet(1, only=H2)
        active = cluster.selector_hash(ACTIVE_SVC)
        spec, available = cluster.pods(active)
        assert available >= 3, (active, spec, available)
    cluster.settle()
    assert targets(cluster) == (H2, H2)


def test_progress_deadline_abort() -> None:
    cluster = deployed(spec={"progressDeadlineSeconds": 10, "progressDeadlineAbort": True})
    cluster.set_image(GREEN)
    cluster.reconcile()
    for _ in range(4):
        cluster.advance(5)
        cluster.reconcile()
    assert cluster.status.get("abort") is True
    assert targets(cluster) == (H1, H2)
    assert cluster.phase[0] == "Degraded"


def test_progress_deadline_is_not_checked_while_paused() -> None:
    cluster = deployed(spec={"progressDeadlineSeconds": 5})
    cluster.set_image(GREEN)
    cluster.settle()
    cluster.advance(60)
    cluster.settle()
    assert cluster.phase == ("Paused", "BlueGreenPause")


def test_active_and_preview_metadata_follow_the_role() -> None:
    cluster = deployed(
        blue_green={
            "activeMetadata": {"labels": {"role": "active"}},
            "previewMetadata": {"labels": {"role": "preview"}},
        }
    )

    def role(pod_hash: str) -> str | None:
        rs = cluster.rs_for(pod_hash)
        assert rs is not None
        labels: dict[str, str] = rs["spec"]["template"]["metadata"]["labels"]
        return labels.get("role")

    assert role(H1) == "active"
    cluster.set_image(GREEN)
    cluster.settle()
    assert (role(H1), role(H2)) == ("active", "preview")
    cluster.promote()
    cluster.settle()
    assert (role(H1), role(H2)) == (None, "active")


# -- analysis ---------------------------------------------------------------------------------

TEMPLATE = {
    "apiVersion": "argoproj.io/v1alpha1",
    "kind": "AnalysisTemplate",
    "metadata": {"name": "check", "namespace": "demo"},
    "spec": {"metrics": [{"name": "m", "provider": {"job": {"spec": {}}}}]},
}


class AnalysisCluster(Cluster):
    """The sim with one AnalysisTemplate in reach."""

    def snapshot(self) -> Any:
        from dataclasses import replace

        snap = super().snapshot()
        return replace(snap, analysis_templates={(False, "check"): copy.deepcopy(TEMPLATE)})


def analysed(**blue_green: Any) -> AnalysisCluster:
    base = Cluster.blue_green(blue_green=blue_green)
    cluster = AnalysisCluster(rollout=base.rollout, services=base.services, router=None)
    cluster.router_weight = None
    cluster.settle()
    return cluster


def finish_runs(cluster: Cluster, kind: str, phase: str, message: str = "") -> None:
    for run in cluster.analysis_runs.values():
        if run["metadata"]["labels"].get("rollout-type") == kind and "status" not in run:
            run["status"] = {"phase": phase, **({"message": message} if message else {})}


BLOCK = {"templates": [{"templateName": "check"}]}


def test_pre_promotion_analysis_runs_before_the_pause() -> None:
    cluster = analysed(prePromotionAnalysis=BLOCK)
    cluster.set_image(GREEN)
    cluster.settle()
    names = list(cluster.analysis_runs)
    assert names == [f"rollouts-demo-{H2}-2-pre"]
    assert "pauseConditions" not in cluster.status
    assert cluster.phase == ("Progressing", "active service cutover pending")
    finish_runs(cluster, "PrePromotion", "Successful")
    cluster.settle()
    assert cluster.phase == ("Paused", "BlueGreenPause")
    assert cluster.status["blueGreen"]["prePromotionAnalysisRunStatus"]["status"] == "Successful"
    cluster.promote()
    cluster.settle()
    assert targets(cluster) == (H2, H2) and cluster.status["stableRS"] == H2


def test_failed_pre_promotion_analysis_aborts_before_any_traffic_moves_and_retry_reruns() -> None:
    cluster = analysed(prePromotionAnalysis=BLOCK)
    cluster.set_image(GREEN)
    cluster.settle()
    finish_runs(cluster, "PrePromotion", "Failed", "metric m failed")
    cluster.settle()
    assert targets(cluster) == (H1, H2)
    assert cluster.phase == (
        "Degraded",
        "RolloutAborted: Rollout aborted update to revision 2: "
        "Blue/green pre-promotion analysis phase failed: metric m failed",
    )
    cluster.retry()
    result = cluster.reconcile()
    created = [a for a in result.actions if isinstance(a, CreateAnalysisRun)]
    assert [a.body["metadata"]["name"] for a in created] == [f"rollouts-demo-{H2}-2-pre.1"]
    cluster.kubelet()
    finish_runs(cluster, "PrePromotion", "Successful")
    cluster.settle()
    cluster.promote()
    cluster.settle()
    assert targets(cluster) == (H2, H2) and cluster.phase == ("Healthy", "")
    assert len(cluster.analysis_runs) == 2


def test_failed_post_promotion_analysis_switches_active_back_to_the_full_size_stable() -> None:
    cluster = analysed(postPromotionAnalysis=BLOCK)
    cluster.set_image(GREEN)
    cluster.settle()
    cluster.promote()
    cluster.settle()
    assert targets(cluster) == (H2, H2)
    assert cluster.status["stableRS"] == H1 and cluster.pods(H1) == (3, 3)
    assert cluster.phase == ("Progressing", "waiting for analysis to complete")
    assert [n.endswith("-post") for n in cluster.analysis_runs] == [True]
    finish_runs(cluster, "PostPromotion", "Failed")
    cluster.settle()
    assert targets(cluster) == (H1, H2)
    assert cluster.phase[0] == "Degraded"


def test_successful_post_promotion_analysis_promotes() -> None:
    cluster = analysed(postPromotionAnalysis=BLOCK)
    cluster.set_image(GREEN)
    cluster.settle()
    cluster.promote()
    cluster.settle()
    finish_runs(cluster, "PostPromotion", "Successful")
    cluster.settle()
    assert cluster.status["stableRS"] == H2 and cluster.phase == ("Healthy", "")


# -- invalid specs ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda bg: bg.pop("activeService"),
            "spec.strategy.blueGreen.activeService: Required value",
        ),
        (
            lambda bg: bg.update(previewService=ACTIVE_SVC),
            "spec.strategy.blueGreen.activeService: Preview service and Active service "
            "cannot be the same",
        ),
        (
            lambda bg: bg.update(activeService="missing"),
            'spec.strategy.blueGreen.activeService: Invalid value: "missing": '
            'service "missing" not found',
        ),
    ],
)
def test_invalid_specs_name_the_field_and_change_nothing(change: Any, message: str) -> None:
    cluster = Cluster.blue_green()
    change(cluster.spec["strategy"]["blueGreen"])
    result = cluster.plan()
    assert result.actions == []
    assert result.status["phase"] == "Degraded"
    assert message in result.status["message"]


@pytest.mark.parametrize(
    "field",
    [
        "previewReplicaCount",
        "autoPromotionSeconds",
        "scaleDownDelaySeconds",
        "scaleDownDelayRevisionLimit",
        "abortScaleDownDelaySeconds",
    ],
)
def test_negative_counts_and_seconds_name_the_field(field: str) -> None:
    body = Cluster.blue_green().rollout
    body["spec"]["strategy"]["blueGreen"][field] = -1
    errors = validate_rollout(body)
    assert any(e.startswith(f"spec.strategy.blueGreen.{field}:") for e in errors), errors


def test_both_strategies_are_invalid() -> None:
    cluster = Cluster.blue_green()
    cluster.spec["strategy"]["canary"] = {"steps": []}
    result = cluster.plan()
    assert result.actions == []
    assert "spec.strategy: Multiple Strategies can not be listed" in result.status["message"]
