"""The seed's walkthrough, end to end, with the daemon as its own process.

Healthy 100/0 with 5 pods -> image change -> 80/20 paused at step 1/8 with 6 pods -> promote ->
60/40 at step 3/8 with 7 pods -> promote -> 60 (30 s pause) -> 80 (60 s pause) -> 100 ->
Healthy on the new version, VirtualService back to 100/0, old ReplicaSet at 0 after its delay,
and the TLS route never touched. Before the image change, `plan` (the dry run the CLI prints)
is asked what the change will do; what the run then observes must be that plan.
"""

from __future__ import annotations

import datetime as dt

from rolloutd.cli import plan_cmd
from rolloutd.cli.session import Session
from rolloutd.kube.client import KubeClient
from rolloutd.kube.resources import REPLICA_SETS, ROLLOUTS
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
T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


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

        # What `kubectl argo rollouts plan --image ...` computes, read from the live objects.
        live = await kube.get(ROLLOUTS, "rollouts-demo", namespace=ns)
        changed = plan_cmd.changed_rollout(
            live, filename=None, image="rollouts-demo=argoproj/rollouts-demo:yellow"
        )
        world = await plan_cmd.read_world(Session(kube=kube, namespace=ns), changed, T0)
        planned = plan_cmd.simulate(world)
        by_index = {s.index: s for s in planned.steps}

        await set_image(kube, ns, "argoproj/rollouts-demo:yellow")
        ro = await wait_phase(kube, ns, "Paused", step=1)
        assert ro["status"]["message"] == "CanaryPauseStep"
        assert ro["status"]["replicas"] == 6 and ro["status"]["updatedReplicas"] == 1
        assert await vs(kube, ns) == {STABLE: 80, CANARY: 20}
        assert sum(by_index[1].pods.values()) == ro["status"]["replicas"]
        assert by_index[1].weights == {"stable": 80, "canary": 20}
        assert by_index[1].waits_for_person

        await promote(kube, ns)
        ro = await wait_phase(kube, ns, "Paused", step=3)
        assert ro["status"]["replicas"] == 7 and ro["status"]["updatedReplicas"] == 2
        assert await vs(kube, ns) == {STABLE: 60, CANARY: 40}
        assert sum(by_index[3].pods.values()) == ro["status"]["replicas"]
        assert by_index[3].weights == {"stable": 60, "canary": 40}

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
        # The plan printed before the change is the sequence the run went through.
        assert list(planned.weight_changes) == monitor.weights
        assert [i for i, s in by_index.items() if s.waits_for_person] == [1, 3]
        assert monitor.violations == []
        assert monitor.tls_changes == 0
