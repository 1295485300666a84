"""Abort puts all traffic back on stable at once; retry starts over; bad specs change nothing."""

from __future__ import annotations

from typing import Any

import pytest

from rolloutd.kube.client import KubeClient
from rolloutd.kube.resources import REPLICA_SETS, SERVICES
from tests.e2e.harness import (
    VIRTUAL_SERVICES,
    Daemon,
    Monitor,
    apply_seed,
    eventually,
    get_rollout,
    patch_status,
    promote,
    route_weights,
    set_image,
    wait_phase,
)

STABLE, CANARY = "rollouts-demo-stable", "rollouts-demo-canary"


async def test_abort_at_40_then_retry(kube: KubeClient, namespace: str, daemon: Daemon) -> None:
    ns = namespace
    async with Monitor(kube, ns) as monitor:
        await apply_seed(kube, ns)
        ro = await wait_phase(kube, ns, "Healthy", step=8)
        stable_hash = ro["status"]["stableRS"]
        await set_image(kube, ns, "argoproj/rollouts-demo:yellow")
        await wait_phase(kube, ns, "Paused", step=1)
        await promote(kube, ns)
        await wait_phase(kube, ns, "Paused", step=3)
        assert monitor.weights[-1] == 40

        # Someone edits the managed weight by hand: it is put back at once (from the watch).
        vs = await kube.get(VIRTUAL_SERVICES, "rollouts-demo-vsvc", namespace=ns)
        vs["spec"]["http"][0]["route"][0]["weight"] = 10
        vs["spec"]["http"][0]["route"][1]["weight"] = 90
        await kube.replace(VIRTUAL_SERVICES, "rollouts-demo-vsvc", vs, namespace=ns)

        async def put_back() -> bool:
            current = await kube.get(VIRTUAL_SERVICES, "rollouts-demo-vsvc", namespace=ns)
            return route_weights(current) == {STABLE: 60, CANARY: 40}

        await eventually(put_back, "the hand-edited weight to be put back", timeout=15)
        monitor.violations.clear()  # the 90% was the hand edit's, not rolloutd's

        await patch_status(kube, ns, {"abort": True})
        ro = await wait_phase(kube, ns, "Degraded")
        assert ro["status"]["message"] == "RolloutAborted: Rollout aborted update to revision 2"
        # One reconcile: the very next weight the VirtualService carried was 0, nothing between.
        assert monitor.weights[-2:] == [40, 0]
        vs = await kube.get(VIRTUAL_SERVICES, "rollouts-demo-vsvc", namespace=ns)
        assert route_weights(vs) == {STABLE: 100, CANARY: 0}
        svc = await kube.get(SERVICES, CANARY, namespace=ns)
        assert svc["spec"]["selector"]["rollouts-pod-template-hash"] == stable_hash
        stable_rs = await kube.get(REPLICA_SETS, f"rollouts-demo-{stable_hash}", namespace=ns)
        assert stable_rs["spec"]["replicas"] == 5

        await patch_status(kube, ns, {"abort": False})
        ro = await wait_phase(kube, ns, "Paused", step=1)
        assert ro["status"]["currentPodHash"] != stable_hash
        assert monitor.weights[-1] == 20
        assert monitor.violations == []


def _edit(path: list[Any], value: Any) -> Any:
    def edit(rollout: dict[str, Any]) -> None:
        node: Any = rollout
        for part in path[:-1]:
            node = node[part]
        node[path[-1]] = value

    return edit


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        (
            ["spec", "strategy", "canary", "steps", 0],
            {"setWeight": 120},
            "spec.strategy.canary.steps[0].setWeight: must be between 0 and 100",
        ),
        (
            [
                "spec",
                "strategy",
                "canary",
                "trafficRouting",
                "istio",
                "virtualServices",
                0,
                "routes",
            ],
            ["no-such-route"],
            "no-such-route",
        ),
        (
            ["spec", "strategy", "canary", "stableService"],
            "missing-service",
            'spec.strategy.canary.stableService: services "missing-service" not found',
        ),
    ],
    ids=["setWeight-120", "unknown-route", "missing-service"],
)
async def test_invalid_rollout_gets_invalid_spec_and_changes_nothing(
    kube: KubeClient,
    namespace: str,
    daemon: Daemon,
    path: list[Any],
    value: Any,
    expected: str,
) -> None:
    ns = namespace
    await apply_seed(kube, ns, rollout_edit=_edit(path, value))
    vs_before = await kube.get(VIRTUAL_SERVICES, "rollouts-demo-vsvc", namespace=ns)
    svc_before = {name: await kube.get(SERVICES, name, namespace=ns) for name in (STABLE, CANARY)}

    async def invalid() -> bool:
        ro = await get_rollout(kube, ns)
        conds = (ro.get("status") or {}).get("conditions") or []
        return any(c["type"] == "InvalidSpec" and c["status"] == "True" for c in conds)

    await eventually(invalid, "an InvalidSpec condition")
    ro = await get_rollout(kube, ns)
    cond = next(c for c in ro["status"]["conditions"] if c["type"] == "InvalidSpec")
    assert expected in cond["message"]
    assert ro["status"]["phase"] == "Degraded"
    assert ro["status"]["message"].startswith("InvalidSpec: ")
    # Nothing in the cluster changed: no ReplicaSet, no Service selector, no weight.
    assert (await kube.list(REPLICA_SETS, namespace=ns))["items"] == []
    vs_after = await kube.get(VIRTUAL_SERVICES, "rollouts-demo-vsvc", namespace=ns)
    assert vs_after["metadata"]["resourceVersion"] == vs_before["metadata"]["resourceVersion"]
    for name, before in svc_before.items():
        after = await kube.get(SERVICES, name, namespace=ns)
        assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
