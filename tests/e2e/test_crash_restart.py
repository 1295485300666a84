"""SIGKILL the daemon at several moments of a canary; the restarted daemon finishes it with
no step skipped and never any weight on a canary that lacks the available pods for it."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from rolloutd.kube.client import KubeClient
from tests.e2e.harness import (
    Daemon,
    Monitor,
    apply_seed,
    eventually,
    get_rollout,
    is_subsequence,
    promote,
    set_image,
    wait_phase,
)

FAST_STEPS = [
    {"setWeight": 20},
    {"pause": {"duration": 2}},
    {"setWeight": 40},
    {"pause": {}},
    {"setWeight": 60},
    {"pause": {"duration": "2s"}},
    {"setWeight": 80},
    {"pause": {"duration": 1}},
]


def fast(rollout: dict[str, Any]) -> None:
    rollout["spec"]["strategy"]["canary"]["steps"] = FAST_STEPS
    rollout["spec"]["strategy"]["canary"]["scaleDownDelaySeconds"] = 2


@pytest.mark.parametrize("kill_after", [0.2, 1.0, 2.5, 5.0], ids=lambda s: f"kill-at-{s}s")
async def test_killed_daemon_finishes_the_rollout(
    kube: KubeClient, namespace: str, daemon: Daemon, kill_after: float
) -> None:
    ns = namespace
    async with Monitor(kube, ns) as monitor:
        await apply_seed(kube, ns, rollout_edit=fast)
        await wait_phase(kube, ns, "Healthy", step=len(FAST_STEPS))
        await set_image(kube, ns, "argoproj/rollouts-demo:yellow")

        # Kill it mid-flight, twice, restarting each time after a moment of darkness.
        for delay in (kill_after, kill_after / 2 + 0.5):
            await asyncio.sleep(delay)
            daemon.kill()
            await asyncio.sleep(1.0)
            daemon.start()

        # The indefinite pause at step 3 needs a person; promote once it is reached.
        await wait_phase(kube, ns, "Paused", step=3, timeout=90)
        await promote(kube, ns)
        daemon.kill()
        daemon.start()
        ro = await wait_phase(kube, ns, "Healthy", step=len(FAST_STEPS), timeout=120)

        # Promotion lands in two reconciles: 100% to the canary, then 0% once the stable
        # Service selects the new pods. Wait for the second before judging the weights.
        async def settled() -> bool:
            return bool(monitor.weights) and monitor.weights[-1] == 0

        await eventually(settled, "the weight to return to 0 after promotion", timeout=15)

    assert ro["status"]["stableRS"] == ro["status"]["currentPodHash"]
    assert is_subsequence([20, 40, 60, 80, 100], monitor.weights), monitor.weights
    assert monitor.weights[-1] == 0
    # Weights only ever went up during the update (nothing reversed a promotion).
    update = monitor.weights[1:-1]
    assert update == sorted(update), monitor.weights
    assert monitor.violations == []

    # The status is written after the weight it records, a moment later.
    async def recorded() -> bool:
        final = await get_rollout(kube, ns)
        return bool(final["status"]["canary"]["weights"]["canary"]["weight"] == 0)

    await eventually(recorded, "the status to record the weight of 0", timeout=15)
