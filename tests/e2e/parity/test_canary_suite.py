"""Argo Rollouts' canary e2e scenarios (`test/e2e/canary_test.go`, and the canary parts of
`functional_test.go`), replayed on the sandbox with rolloutd.

Each test names the Argo test it follows; the manifests are this project's, as small as the
scenario allows. Where Argo's test uses the ALB or NGINX router, Istio takes its place (the
scenario is about replicas and Services, not the router). On kwok every scheduled pod is Ready
at once, so a pod that never gets Ready (Argo's `/bad-command`, a slow readiness probe) is a pod
of a template with a nodeSelector no node has (`kit.UNSCHEDULABLE`).
"""

from __future__ import annotations

import asyncio

from rolloutd.kube.client import KubeClient
from rolloutd.kube.resources import ROLLOUTS, SERVICES
from tests.e2e.harness import get_rollout, patch_status, promote
from tests.e2e.parity.kit import (
    SCALE_DOWN_DEADLINE,
    UNSCHEDULABLE,
    PhaseWatch,
    condition,
    create_istio,
    expect_pods,
    expect_revision_pods,
    istio_routing,
    rollout,
    rs_by_revision,
    scale,
    selector_hash,
    service,
    update_template,
    wait_phase,
)


async def test_scaling_when_paused(kube: KubeClient, ns: str) -> None:
    """Argo `TestRolloutScalingWhenPaused`: scaling a Rollout paused at 25% keeps the split."""
    name = "scaling-when-paused"
    steps = [{"setWeight": 25}, {"pause": {}}]
    await kube.create(ROLLOUTS, rollout(name, steps=steps), namespace=ns)
    await wait_phase(kube, ns, "Healthy", name=name)
    await update_template(kube, ns, name, "two")
    await wait_phase(kube, ns, "Paused", name=name)
    await expect_pods(kube, ns, name, (1, 1))
    await scale(kube, ns, name, 8)
    await expect_pods(kube, ns, name, (2, 6))
    await scale(kube, ns, name, 4)
    await expect_pods(kube, ns, name, (1, 3))


async def test_max_surge_scaling_during_update(kube: KubeClient, ns: str) -> None:
    """Argo `TestRolloutWithMaxSurgeScalingDuringUpdate`: `maxSurge: 100%`, a new template whose
    pods never get Ready; scaling up and down in the middle of the update."""
    name = "max-surge-scaling"
    ro = rollout(name, replicas=4, canary={"maxSurge": "100%"})
    await kube.create(ROLLOUTS, ro, namespace=ns)
    await wait_phase(kube, ns, "Healthy", name=name)
    await update_template(kube, ns, name, "two", nodeSelector=UNSCHEDULABLE)
    await expect_pods(kube, ns, name, (4, 3))
    await scale(kube, ns, name, 8)
    await expect_pods(kube, ns, name, (8, 3))
    await scale(kube, ns, name, 4)
    await expect_pods(kube, ns, name, (4, 3))


async def test_scaling_during_update(kube: KubeClient, ns: str) -> None:
    """Argo `TestRolloutScalingDuringUpdate`: `maxSurge: 2, maxUnavailable: 0`, a new template
    whose pods never get Ready; scaling up and down in the middle of the update."""
    name = "scaling-during-update"
    ro = rollout(name, replicas=4, canary={"maxSurge": 2, "maxUnavailable": 0})
    await kube.create(ROLLOUTS, ro, namespace=ns)
    await wait_phase(kube, ns, "Healthy", name=name)
    await update_template(kube, ns, name, "two", nodeSelector=UNSCHEDULABLE)
    await expect_pods(kube, ns, name, (2, 4))
    await scale(kube, ns, name, 8)
    await expect_pods(kube, ns, name, (6, 4))
    await scale(kube, ns, name, 4)
    await expect_pods(kube, ns, name, (2, 4))


async def test_set_canary_scale_with_traffic_routing(kube: KubeClient, ns: str) -> None:
    """Argo `TestCanarySetCanaryScale`, the steps that size the canary apart from its weight
    (`setCanaryScale: {replicas}`, then a weight those pods carry, then `matchTrafficWeight`),
    with Istio. The scenario verbatim (a weight larger than the scaled canary) is the canary
    helper's `tests/e2e/test_canary_parity.py` (issue 21, case 1)."""
    name = "set-canary-scale-routed"
    steps = [
        {"pause": {}},
        {"setCanaryScale": {"replicas": 3}},
        {"setWeight": 50},
        {"pause": {}},
        {"setCanaryScale": {"matchTrafficWeight": True}},
        {"pause": {}},
    ]
    ro = rollout(name, replicas=4, steps=steps, canary=istio_routing(name))
    await create_istio(kube, ns, ro)
    await wait_phase(kube, ns, "Healthy", name=name)
    await update_template(kube, ns, name, "two")
    await wait_phase(kube, ns, "Paused", step=0, name=name)
    await expect_pods(kube, ns, name, (0, 4))
    await promote(kube, ns, name)
    ro = await wait_phase(kube, ns, "Paused", step=3, name=name)
    await expect_pods(kube, ns, name, (3, 4))
    assert ro["status"]["canary"]["weights"]["canary"]["weight"] == 50
    await promote(kube, ns, name)
    await wait_phase(kube, ns, "Paused", step=5, name=name)
    await expect_pods(kube, ns, name, (2, 4))
    await promote(kube, ns, name)
    await wait_phase(kube, ns, "Healthy", name=name)
    await expect_pods(kube, ns, name, (4, 4))


async def test_scale_down_delay_with_progress_deadline(kube: KubeClient, ns: str) -> None:
    """Argo `TestCanaryScaleDownDelayWithProgressDeadline`: an old ReplicaSet waiting out its
    scale-down delay is no lack of progress; the Rollout stays Healthy past the deadline."""
    name = "scale-down-delay-deadline"
    routing = {**istio_routing(name), "scaleDownDelayRevisionLimit": 1}
    ro = rollout(name, canary=routing, spec={"progressDeadlineSeconds": 2})
    await create_istio(kube, ns, ro)
    await wait_phase(kube, ns, "Healthy", name=name)
    async with PhaseWatch(kube, ns, name) as watch:
        await update_template(kube, ns, name, "two")
        await wait_phase(kube, ns, "Healthy", name=name)
        rs1 = await rs_by_revision(kube, ns, name, 1)
        assert rs1["spec"]["replicas"] == 1  # kept for its scale-down delay (30 s by default)
        await asyncio.sleep(4)  # twice the progress deadline, while revision 1 waits
    assert "Degraded" not in watch.phases, watch.seen
    ro = await get_rollout(kube, ns, name)
    assert ro["status"]["phase"] == "Healthy", ro["status"]


async def test_scale_down_on_abort(kube: KubeClient, ns: str) -> None:
    """Argo `TestCanaryScaleDownOnAbort` (`abortScaleDownDelaySeconds: 1`; Istio instead of
    ALB): the canary Service goes back to the stable at the abort, the canary's pods go after
    the delay."""
    name = "scale-down-on-abort"
    routing = {
        **istio_routing(name),
        "abortScaleDownDelaySeconds": 1,
        "scaleDownDelayRevisionLimit": 1,
    }
    steps = [{"setCanaryScale": {"replicas": 1}}, {"pause": {}}]
    await create_istio(kube, ns, rollout(name, steps=steps, canary=routing))
    ro = await wait_phase(kube, ns, "Healthy", name=name)
    stable = ro["status"]["stableRS"]
    await update_template(kube, ns, name, "two")
    await wait_phase(kube, ns, "Paused", name=name)
    await expect_revision_pods(kube, ns, name, 2, 1)
    await patch_status(kube, ns, {"abort": True}, name=name)
    await wait_phase(kube, ns, "Degraded", name=name)
    assert await selector_hash(kube, ns, f"{name}-canary") == stable
    await expect_revision_pods(kube, ns, name, 2, 0)
    await expect_revision_pods(kube, ns, name, 1, 1)


async def test_scale_down_on_abort_without_traffic_routing(kube: KubeClient, ns: str) -> None:
    """Argo `TestCanaryScaleDownOnAbortNoTrafficRouting`: a basic canary with Services; the
    abort points the canary Service back at the stable and scales the canary to zero."""
    name = "scale-down-on-abort-basic"
    for svc in (f"{name}-stable", f"{name}-canary"):
        await kube.create(SERVICES, service(svc, name), namespace=ns)
    canary = {"canaryService": f"{name}-canary", "stableService": f"{name}-stable"}
    steps = [{"setWeight": 50}, {"pause": {}}]
    await kube.create(ROLLOUTS, rollout(name, steps=steps, canary=canary), namespace=ns)
    ro = await wait_phase(kube, ns, "Healthy", name=name)
    stable = ro["status"]["stableRS"]
    await update_template(kube, ns, name, "two")
    await wait_phase(kube, ns, "Paused", name=name)
    await patch_status(kube, ns, {"abort": True}, name=name)
    await wait_phase(kube, ns, "Degraded", name=name)
    assert await selector_hash(kube, ns, f"{name}-canary") == stable
    await expect_revision_pods(kube, ns, name, 2, 0)


async def test_abort_scale_down_delay_zero_keeps_the_canary(kube: KubeClient, ns: str) -> None:
    """Argo `TestCanaryUnScaleDownOnAbort`: `abortScaleDownDelaySeconds: 0` means never scale
    the canary down on abort: its pod stays, with no scale-down deadline."""
    name = "unscale-down-on-abort"
    routing = {
        **istio_routing(name),
        "abortScaleDownDelaySeconds": 0,
        "scaleDownDelayRevisionLimit": 1,
    }
    steps = [{"setCanaryScale": {"replicas": 1}}, {"pause": {}}]
    await create_istio(kube, ns, rollout(name, steps=steps, canary=routing))
    ro = await wait_phase(kube, ns, "Healthy", name=name)
    stable = ro["status"]["stableRS"]
    await update_template(kube, ns, name, "two")
    await wait_phase(kube, ns, "Paused", name=name)
    await patch_status(kube, ns, {"abort": True}, name=name)
    await wait_phase(kube, ns, "Degraded", name=name)
    assert await selector_hash(kube, ns, f"{name}-canary") == stable
    await asyncio.sleep(2)  # Argo waits 3 s; a scale-down would have begun by then
    await expect_revision_pods(kube, ns, name, 2, 1, timeout=1)
    rs2 = await rs_by_revision(kube, ns, name, 2)
    assert rs2["spec"]["replicas"] == 1
    assert SCALE_DOWN_DEADLINE not in (rs2["metadata"].get("annotations") or {})


async def test_spec_paused(kube: KubeClient, ns: str) -> None:
    """Argo `TestCanaryWithSpecPause`: `spec.paused: true` pauses a Healthy Rollout without an
    update loop (Argo's bug was a Progressing condition patched back and forth)."""
    name = "spec-paused"
    ro = rollout(name, replicas=3, steps=[{"setWeight": 20}], spec={"progressDeadlineSeconds": 5})
    await kube.create(ROLLOUTS, ro, namespace=ns)
    await wait_phase(kube, ns, "Healthy", name=name)
    await kube.patch(ROLLOUTS, name, {"spec": {"paused": True}}, namespace=ns)
    ro = await wait_phase(kube, ns, "Paused", name=name)
    async with PhaseWatch(kube, ns, name) as watch:
        await asyncio.sleep(2)
    # The watch's first event is the object as it is; any further one would be a write.
    assert watch.writes <= 1, f"the paused Rollout was written {watch.writes - 1} times"
    progressing = condition(ro, "Progressing")
    assert progressing is not None and progressing["status"] in ("True", "Unknown")


async def test_progress_deadline_on_an_update_that_does_not_come_up(
    kube: KubeClient, ns: str
) -> None:
    """Argo `TestRolloutGoodToBadUpdate` (`functional_test.go`): an update whose pods never get
    Ready goes Degraded at the progress deadline; a second bad update replaces the first one's
    ReplicaSet (scaled to zero) while the stable keeps all its pods."""
    name = "good-to-bad"
    ro = rollout(name, replicas=4, canary={"maxSurge": 1, "maxUnavailable": 0})
    await kube.create(ROLLOUTS, ro, namespace=ns)
    await wait_phase(kube, ns, "Healthy", name=name)
    await kube.patch(ROLLOUTS, name, {"spec": {"progressDeadlineSeconds": 3}}, namespace=ns)
    await update_template(kube, ns, name, "two", nodeSelector=UNSCHEDULABLE)
    ro = await wait_phase(kube, ns, "Degraded", name=name)
    progressing = condition(ro, "Progressing")
    assert progressing is not None and progressing["reason"] == "ProgressDeadlineExceeded"
    await expect_pods(kube, ns, name, (1, 4))
    await update_template(kube, ns, name, "three", nodeSelector=UNSCHEDULABLE)
    await wait_phase(kube, ns, "Degraded", name=name)
    await expect_revision_pods(kube, ns, name, 1, 4)
    await expect_revision_pods(kube, ns, name, 2, 0)
    await expect_revision_pods(kube, ns, name, 3, 1)


async def test_a_pause_longer_than_the_progress_deadline(kube: KubeClient, ns: str) -> None:
    """Argo `TestRolloutPauseDurationGreaterThanProgressDeadlineSeconds`: waiting at a pause is
    not a lack of progress; the update goes Healthy and is never Degraded on the way."""
    name = "pause-over-deadline"
    steps = [{"setWeight": 32}, {"pause": {"duration": 5}}, {"setWeight": 67}]
    ro = rollout(name, replicas=3, steps=steps, spec={"progressDeadlineSeconds": 2})
    await kube.create(ROLLOUTS, ro, namespace=ns)
    await wait_phase(kube, ns, "Healthy", name=name)
    async with PhaseWatch(kube, ns, name) as watch:
        await update_template(kube, ns, name, "two")
        await wait_phase(kube, ns, "Paused", name=name)
        await wait_phase(kube, ns, "Healthy", name=name)
    assert "Degraded" not in watch.phases, watch.seen
