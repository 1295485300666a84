"""Argo's canary end-to-end tests, replayed on the sandbox against the daemon (issue 21).

Each test names the test of argoproj/argo-rollouts `test/e2e/canary_test.go` it follows, with
the project's own manifests (the seed's Services and VirtualService, kwok pods): its steps and
its assertions on pods, ReplicaSets and phases, with short pauses and deadlines. Where kwok
cannot host Argo's fixture as it is (a readiness probe that holds pods back), a nodeSelector
that no node has stands in for pods that never get Ready.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from rolloutd.kube.client import KubeClient
from rolloutd.kube.resources import REPLICA_SETS, ROLLOUTS
from tests.e2e.harness import (
    VIRTUAL_SERVICES,
    Daemon,
    apply_seed,
    eventually,
    get_rollout,
    promote,
    route_weights,
    set_image,
    wait_phase,
)

JsonDict = dict[str, Any]
STABLE, CANARY = "rollouts-demo-stable", "rollouts-demo-canary"
YELLOW, GREEN = "argoproj/rollouts-demo:yellow", "argoproj/rollouts-demo:green"
REVISION = "rollout.argoproj.io/revision"
DEADLINE = "scale-down-deadline"


def edit(
    *, replicas: int, steps: list[JsonDict], routed: bool = True, **spec: Any
) -> Callable[[JsonDict], None]:
    """An edit of the seed's Rollout: size, steps, the strategy's extra fields."""

    def change(rollout: JsonDict) -> None:
        rollout["spec"]["replicas"] = replicas
        canary = rollout["spec"]["strategy"]["canary"]
        canary["steps"] = steps
        if not routed:
            del canary["trafficRouting"]
        canary.update(spec.pop("canary", {}))
        rollout["spec"].update(spec)

    return change


async def by_revision(kube: KubeClient, ns: str) -> dict[int, JsonDict]:
    """revision -> {"spec", "available", "deadline"} of the Rollout's ReplicaSets."""
    sets = (await kube.list(REPLICA_SETS, namespace=ns)).get("items") or []
    return {
        int(rs["metadata"]["annotations"][REVISION]): {
            "spec": int(rs["spec"]["replicas"]),
            "available": int((rs.get("status") or {}).get("availableReplicas") or 0),
            "deadline": DEADLINE in (rs["metadata"].get("annotations") or {}),
        }
        for rs in sets
    }


async def wait_pods(kube: KubeClient, ns: str, want: dict[int, int], what: str) -> None:
    """Until each listed revision asks for and has that many available pods (others 0)."""

    async def check() -> bool:
        sets = await by_revision(kube, ns)
        got = {rev: (s["spec"], s["available"]) for rev, s in sets.items()}
        return all(got.get(rev, (0, 0)) == (n, n) for rev, n in want.items()) and all(
            spec == 0 for rev, (spec, _) in got.items() if rev not in want
        )

    await eventually(check, what, timeout=60)


async def patch_spec(kube: KubeClient, ns: str, spec: JsonDict) -> None:
    await kube.patch(ROLLOUTS, "rollouts-demo", {"spec": spec}, namespace=ns)


async def test_set_canary_scale_then_set_weight(
    kube: KubeClient, namespace: str, daemon: Daemon
) -> None:
    """Follows TestCanarySetCanaryScale (Istio here, where Argo's uses NGINX; without traffic
    routing setCanaryScale is an invalid spec in both): canary/stable pods (0,4), (1,4),
    (1,4), (3,4), (2,4) at the pauses, (4,4) at the end, and setWeight 50 on the one pod
    setCanaryScale asked for."""
    ns = namespace
    steps: list[JsonDict] = [
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
    await apply_seed(kube, ns, rollout_edit=edit(replicas=4, steps=steps))
    await wait_phase(kube, ns, "Healthy")
    await set_image(kube, ns, YELLOW)
    await wait_phase(kube, ns, "Paused", step=0)
    await wait_pods(kube, ns, {1: 4}, "(0,4) at step 0")
    for step, canary in ((2, 1), (4, 1), (6, 3), (8, 2)):
        await promote(kube, ns)
        await wait_phase(kube, ns, "Paused", step=step)
        await wait_pods(kube, ns, {1: 4, 2: canary}, f"({canary},4) at step {step}")
        if step == 4:
            vs = await kube.get(VIRTUAL_SERVICES, "rollouts-demo-vsvc", namespace=ns)
            assert route_weights(vs) == {STABLE: 50, CANARY: 50}
    await promote(kube, ns)
    ro = await wait_phase(kube, ns, "Healthy")
    assert ro["status"]["stableRS"] == ro["status"]["currentPodHash"]
    sets = await by_revision(kube, ns)
    # The old stable keeps its pods for its scale-down delay, as in Argo's (4,4).
    assert (sets[2]["spec"], sets[1]["spec"]) == (4, 4)


async def test_update_while_paused(kube: KubeClient, namespace: str, daemon: Daemon) -> None:
    """Follows TestCanaryWithPausedRollout (functional/rollout-canary-with-pause.yaml: three
    replicas, canary and stable Services, no traffic routing, progressDeadlineSeconds 5):
    paused at revision 2, a new update scales revision 2 to 0 and revision 3 to 1, and the
    rollout pauses again."""
    ns = namespace
    steps: list[JsonDict] = [{"setWeight": 20}, {"pause": {}}]
    await apply_seed(
        kube,
        ns,
        rollout_edit=edit(
            replicas=3, steps=steps, routed=False, progressDeadlineSeconds=5, revisionHistoryLimit=3
        ),
    )
    await wait_phase(kube, ns, "Healthy")
    await set_image(kube, ns, YELLOW)
    await wait_phase(kube, ns, "Paused", step=1)
    await wait_pods(kube, ns, {1: 3, 2: 1}, "revisions 1 and 2 at (3, 1)")
    await set_image(kube, ns, GREEN)
    ro = await wait_phase(kube, ns, "Paused", step=1)
    assert ro["status"]["currentPodHash"] != ro["status"]["stableRS"]
    await wait_pods(kube, ns, {1: 3, 3: 1}, "revisions 1, 2, 3 at (3, 0, 1)")
    assert set(await by_revision(kube, ns)) == {1, 2, 3}


async def test_scale_down_delay_revision_limit(
    kube: KubeClient, namespace: str, daemon: Daemon
) -> None:
    """Follows TestCanaryScaleDownDelay (functional/canary-scaledowndelay.yaml: one replica, no
    steps, scaleDownDelayRevisionLimit 1, the default 30s delay; Istio here, ALB there)."""
    ns = namespace
    await apply_seed(
        kube,
        ns,
        rollout_edit=edit(replicas=1, steps=[], canary={"scaleDownDelayRevisionLimit": 1}),
    )
    await wait_phase(kube, ns, "Healthy")

    async def update(rev: str) -> None:
        await patch_spec(kube, ns, {"template": {"metadata": {"annotations": {"rev": rev}}}})
        await wait_phase(kube, ns, "Healthy")

    def expect(want: dict[int, tuple[int, bool]]) -> Callable[[], Any]:
        async def check() -> bool:
            sets = await by_revision(kube, ns)
            return {r: (s["spec"], s["deadline"]) for r, s in sets.items()} == want

        return check

    await update("two")
    await eventually(expect({1: (1, True), 2: (1, False)}), "revision 1 waiting", timeout=20)
    await update("three")
    await eventually(
        expect({1: (0, False), 2: (1, True), 3: (1, False)}),
        "revision 1 at 0 at once, revision 2 waiting",
        timeout=20,
    )
    await update("two")
    await eventually(
        expect({1: (0, False), 3: (1, True), 4: (1, False)}),
        "revision 2 back as revision 4 without a deadline, revision 3 waiting",
        timeout=20,
    )


@pytest.mark.parametrize("abort", [False, True], ids=["degraded", "progressDeadlineAbort"])
async def test_progress_deadline_with_pause(
    kube: KubeClient, namespace: str, daemon: Daemon, abort: bool
) -> None:
    """Follows TestCanaryProgressDeadlineExceededWithPause (three replicas, no traffic
    routing, setWeight 20 and a pause, progressDeadlineSeconds short), updated while paused:
    a canary whose pod never gets Ready (here: unschedulable, a nodeSelector no node has)
    turns the rollout Degraded with ProgressDeadlineExceeded, or aborts it with
    progressDeadlineAbort; a fixed template then reaches its pause, where the rollout waits
    past the deadline without timing out, and a promote ends Healthy. (Before, the update
    while paused hung Progressing, with no deadline.)"""
    ns = namespace
    steps: list[JsonDict] = [{"setWeight": 20}, {"pause": {}}]
    await apply_seed(
        kube,
        ns,
        rollout_edit=edit(
            replicas=3,
            steps=steps,
            routed=False,
            progressDeadlineSeconds=3,
            progressDeadlineAbort=abort,
        ),
    )
    await wait_phase(kube, ns, "Healthy")
    await set_image(kube, ns, YELLOW)
    await wait_phase(kube, ns, "Paused", step=1)
    await patch_spec(
        kube, ns, {"template": {"spec": {"nodeSelector": {"rolloutd.test/no-such-node": "x"}}}}
    )
    reason = "RolloutAborted" if abort else "ProgressDeadlineExceeded"

    async def timed_out() -> bool:
        status = (await get_rollout(kube, ns)).get("status") or {}
        return status.get("phase") == "Degraded" and str(status.get("message")).startswith(
            f"{reason}: "
        )

    await eventually(timed_out, f"Degraded with {reason}", timeout=30)
    if abort:
        await wait_pods(kube, ns, {1: 3}, "the aborted canary scaled away, stable at 3")
    # One edit (a second would first roll back to the stable template): schedulable, green.
    ro = await get_rollout(kube, ns)
    containers = ro["spec"]["template"]["spec"]["containers"]
    containers[0]["image"] = GREEN
    await patch_spec(
        kube, ns, {"template": {"spec": {"nodeSelector": None, "containers": containers}}}
    )
    await wait_phase(kube, ns, "Paused", step=1)
    await asyncio.sleep(4)  # past the deadline: a pause is not a lack of progress
    ro = await get_rollout(kube, ns)
    assert ro["status"]["phase"] == "Paused", ro["status"]
    await promote(kube, ns)
    ro = await wait_phase(kube, ns, "Healthy")
    assert ro["status"]["stableRS"] == ro["status"]["currentPodHash"]


async def test_set_canary_scale_without_traffic_routing_is_invalid(
    kube: KubeClient, namespace: str, daemon: Daemon
) -> None:
    """TestCanarySetCanaryScale without traffic routing: Argo refuses the spec
    (setCanaryScale requires trafficRouting); rolloutd says so naming the step, and creates
    nothing."""
    ns = namespace
    steps: list[JsonDict] = [{"setCanaryScale": {"replicas": 1}}, {"pause": {}}]
    await apply_seed(kube, ns, rollout_edit=edit(replicas=2, steps=steps, routed=False))
    ro = await wait_phase(kube, ns, "Degraded", timeout=30)
    message = ro["status"]["message"]
    assert message.startswith("InvalidSpec: "), message
    assert "spec.strategy.canary.steps[0].setCanaryScale" in message, message
    assert (await kube.list(REPLICA_SETS, namespace=ns)).get("items") == []
