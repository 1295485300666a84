"""The seed's walkthrough, end to end, with the daemon as its own process.

Healthy 100/0 with 5 pods -> image change -> 80/20 paused at step 1/8 with 6 pods -> promote ->
60/40 at step 3/8 with 7 pods -> promote -> 60 (30 s pause) -> 80 (60 s pause) -> 100 ->
Healthy on the new version, VirtualService back to 100/0, old ReplicaSet at 0 after its delay,
and the TLS route never touched.
"""

from __future__ import annotations

from rolloutd.kube.client import KubeClient
from rolloutd.kube.resources import REPLICA_SETS
from tests.e2e.harness import (
    VIRTUAL_SERVICES,
    Daemon,
    Monitor,
    apply_seed,
    eventually,
    promote,
    route_weights,
    set_image,
    wait_phase,
)

STABLE, CANARY = "rollouts-demo-stable", "rollouts-demo-canary"


async def vs(kube: KubeClient, ns: str) -> dict[str, int]:
    return route_weights(await kube.get(VIRTUAL_SERVICES, "rollouts-demo-vsvc", namespace=ns))


async def test_seed_walkthrough(kube: KubeClient, namespace: str, daemon: Daemon) -> None:
    ns = namespace
    async with Monitor(kube, ns) as monitor:
        await apply_seed(kube, ns)
        ro = await wait_phase(kube, ns, "Healthy", step=8)
        status = ro["status"]
        assert status["availableReplicas"] == 5
        assert status["stableRS"] == status["currentPodHash"]
        assert await vs(kube, ns) == {STABLE: 100, CANARY: 0}

        await set_image(kube, ns, "argoproj/rollouts-demo:yellow")
        ro = await wait_phase(kube, ns, "Paused", step=1)
        assert ro["status"]["message"] == "CanaryPauseStep"
        assert ro["status"]["replicas"] == 6 and ro["status"]["updatedReplicas"] == 1
        assert await vs(kube, ns) == {STABLE: 80, CANARY: 20}

        await promote(kube, ns)
        ro = await wait_phase(kube, ns, "Paused", step=3)
        assert ro["status"]["replicas"] == 7 and ro["status"]["updatedReplicas"] == 2
        assert await vs(kube, ns) == {STABLE: 60, CANARY: 40}

        await promote(kube, ns)
        ro = await wait_phase(kube, ns, "Healthy", step=8, timeout=180)
        new_hash = ro["status"]["currentPodHash"]
        assert ro["status"]["stableRS"] == new_hash

        async def weights_reset() -> bool:
            return await vs(kube, ns) == {STABLE: 100, CANARY: 0}

        await eventually(weights_reset, "the VirtualService back at 100/0", timeout=15)

        # Both pauses were honoured: 60 held for >= 30 s, 80 for >= 60 s.
        times = dict((w, t) for t, w in monitor.weight_times)
        assert times[80] - times[60] >= 30
        assert times[100] - times[80] >= 60

        # The old ReplicaSet is kept for its 30 s delay, then scaled to zero.
        async def old_scaled_down() -> bool:
            sets = (await kube.list(REPLICA_SETS, namespace=ns))["items"]
            old = [
                s for s in sets if s["metadata"]["labels"]["rollouts-pod-template-hash"] != new_hash
            ]
            return len(old) == 1 and old[0]["spec"]["replicas"] == 0

        await eventually(old_scaled_down, "the old ReplicaSet to be scaled down", timeout=90)
        assert monitor.weights == [0, 20, 40, 60, 80, 100, 0]
        assert monitor.violations == []
        assert monitor.tls_changes == 0
