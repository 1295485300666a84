"""Objects pulled from under a running canary, and daemons racing for the Lease.

- The VirtualService, then the canary Service, deleted and recreated (from the user's manifest,
  so without the weights or the pod-hash selector rolloutd had set) mid-rollout: the daemon
  puts back what the step needs, and the rollout finishes with the invariants held.
- Two `--leader-elect` daemons started at once race for one Lease; the leader is SIGKILLed
  again and again mid-rollout. One leads at a time and the rollout finishes, invariants held.
"""

from __future__ import annotations

import asyncio
import copy
from pathlib import Path

import pytest

from rolloutd.kube.client import ApiError, KubeClient
from rolloutd.kube.resources import ROLLOUTS, SERVICES, Resource
from rolloutd_dev.sandbox.cluster import Status
from tests.chaos.conftest import FULL
from tests.chaos.kit import (
    Steps,
    Tally,
    apply_fast_seed,
    apply_routing,
    finish_revision,
    healthy,
    set_image,
)
from tests.e2e.harness import (
    POD_HASH,
    VIRTUAL_SERVICES,
    Monitor,
    eventually,
    promote,
    route_weights,
    sample,
)
from tests.integration.test_metrics_daemon import Rolloutd

pytestmark = [pytest.mark.sandbox, pytest.mark.chaos]
COLOURS = ("yellow", "green", "red") if FULL else ("yellow",)
LEASES = Resource("coordination.k8s.io", "v1", "leases", "Lease")
PAUSED_STEPS = [{"setWeight": 20}, {"pause": {}}, {"setWeight": 60}, {"pause": {"duration": 1}}]


async def recreate(kube: KubeClient, res: Resource, name: str, ns: str, source: str) -> None:
    """Delete the object, wait until it is gone, create it again from the sample manifest."""
    await kube.delete(res, name, namespace=ns)

    async def gone() -> bool:
        try:
            await kube.get(res, name, namespace=ns)
        except ApiError as exc:
            return exc.not_found
        return False

    await eventually(gone, f"{name} to be deleted", timeout=30)
    [doc] = [d for d in sample(source) if d["metadata"]["name"] == name]
    await kube.create(res, copy.deepcopy(doc), namespace=ns)


async def test_router_object_and_service_deleted_and_recreated_mid_rollout(
    chaos_sandbox: Status, chaos_kube: KubeClient, chaos_namespace: str, tmp_path: Path
) -> None:
    kube, ns, tally = chaos_kube, chaos_namespace, Tally()
    daemon = Rolloutd(chaos_sandbox, ns, tmp_path).start()
    try:
        async with Monitor(kube, ns) as monitor, Steps(kube, ns) as steps:
            await apply_routing(kube, ns)
            rollout = copy.deepcopy(sample("rollout")[0])
            rollout["spec"]["strategy"]["canary"]["steps"] = PAUSED_STEPS
            await kube.create(ROLLOUTS, rollout, namespace=ns)
            await eventually(lambda: healthy(kube, ns), "the first revision", timeout=120)
            since = len(monitor.weights)
            await set_image(kube, ns, "argoproj/rollouts-demo:yellow")

            async def paused_at_20() -> bool:
                ro = await kube.get(ROLLOUTS, "rollouts-demo", namespace=ns)
                vs = await kube.get(VIRTUAL_SERVICES, "rollouts-demo-vsvc", namespace=ns)
                return (ro.get("status") or {}).get("phase") == "Paused" and route_weights(vs).get(
                    "rollouts-demo-canary"
                ) == 20

            await eventually(paused_at_20, "the pause at weight 20", timeout=90)
            await recreate(kube, VIRTUAL_SERVICES, "rollouts-demo-vsvc", ns, "virtual-service")
            tally.notes.append("virtualservice recreated")
            await eventually(paused_at_20, "the weight of 20 put back on the new VS", 60)
            # The recreated VS came with weight 0: the test's doing, not a reversed step.
            reset = max(i for i, w in enumerate(monitor.weights) if w == 0)

            canary = await kube.get(SERVICES, "rollouts-demo-canary", namespace=ns)
            want = canary["spec"]["selector"][POD_HASH]
            await recreate(kube, SERVICES, "rollouts-demo-canary", ns, "services")
            tally.notes.append("canary service recreated")

            async def selector_back() -> bool:
                svc = await kube.get(SERVICES, "rollouts-demo-canary", namespace=ns)
                return bool(svc["spec"].get("selector", {}).get(POD_HASH) == want)

            await eventually(selector_back, "the canary Service to select the canary again", 60)
            await promote(kube, ns)
            await finish_revision(
                kube, ns, monitor, steps, tally, image="argoproj/rollouts-demo:yellow",
                since=since, logs=daemon.log_tail, weights=[20, 60], resets=(reset,),
            )  # fmt: skip
        assert daemon.alive(), daemon.log_tail()
    finally:
        print(tally.line("objects"))
        code = await daemon.stop()
    assert code == 0, daemon.log_tail()


async def test_two_daemons_race_a_lease_while_the_leader_is_killed(
    chaos_sandbox: Status, chaos_kube: KubeClient, chaos_namespace: str, tmp_path: Path
) -> None:
    kube, ns, tally = chaos_kube, chaos_namespace, Tally()
    timings = ["--lease-duration", "3", "--renew-deadline", "2", "--retry-period", "0.5"]
    replicas = {
        name: Rolloutd(chaos_sandbox, ns, tmp_path, "--leader-elect", "--identity", name,
                       *timings, name=name)
        for name in ("replica-a", "replica-b")
    }  # fmt: skip
    for replica in replicas.values():
        replica.start()  # both at once: a real race for the Lease

    async def holder() -> str:
        try:
            lease = await kube.get(LEASES, "rolloutd-controller-lock", namespace=ns)
        except ApiError as exc:
            if exc.not_found:
                return ""
            raise
        return str(lease["spec"].get("holderIdentity") or "")

    async def states() -> list[str]:
        found: list[str] = []
        for r in replicas.values():
            found.append(str((await r.probe("/readyz"))[1].get("leaderElection", {}).get("state")))
        return sorted(found)

    async def one_leader() -> bool:
        return await states() == ["leader", "standby"]

    try:
        await eventually(one_leader, "one leader and one standby", timeout=60)
        async with Monitor(kube, ns) as monitor, Steps(kube, ns) as steps:
            await apply_fast_seed(kube, ns)
            await eventually(lambda: healthy(kube, ns), "the first revision", timeout=120)
            for revision, colour in enumerate(COLOURS):
                since = len(monitor.weights)
                image = f"argoproj/rollouts-demo:{colour}"
                await set_image(kube, ns, image)
                for _ in range(3):
                    await asyncio.sleep(1.5)
                    leader = await holder()
                    if leader in replicas and replicas[leader].alive():
                        replicas[leader].kill()
                        tally.kills += 1
                        await asyncio.sleep(0.3)
                        replicas[leader].start()
                await finish_revision(
                    kube, ns, monitor, steps, tally, image=image, since=since,
                    logs=lambda: "\n".join(r.log_tail() for r in replicas.values()),
                )  # fmt: skip
                tally.notes.append(f"revision {revision} done under leader {await holder()}")
        await eventually(one_leader, "one leader and one standby at the end", timeout=60)
        lease = await kube.get(LEASES, "rolloutd-controller-lock", namespace=ns)
        assert int(lease["spec"].get("leaseTransitions") or 0) >= 1, lease["spec"]
    finally:
        print(tally.line("lease"))
        codes = [await r.stop() for r in replicas.values()]
    assert codes == [0, 0], "\n".join(r.log_tail() for r in replicas.values())
