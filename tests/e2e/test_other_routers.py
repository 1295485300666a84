"""The seed's canary with the traffic shifted by an OpenShift Route, by SMI, and by the sample
third-party Gateway API router installed into a fresh environment (then removed)."""

from __future__ import annotations

import asyncio
import copy
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from rolloutd.kube.client import KubeClient
from rolloutd.kube.resources import ROLLOUTS, SERVICES, Resource
from rolloutd_dev.sandbox.cluster import Status
from tests.e2e.harness import (
    REPO,
    VIRTUAL_SERVICES,
    Daemon,
    apply_seed,
    eventually,
    get_rollout,
    promote,
    route_weights,
    sample,
    set_image,
    wait_phase,
)

ROUTES = Resource("route.openshift.io", "v1", "routes", "Route")
SPLITS = Resource("split.smi-spec.io", "v1alpha1", "trafficsplits", "TrafficSplit")
HTTP_ROUTES = Resource("gateway.networking.k8s.io", "v1", "httproutes", "HTTPRoute")
STABLE, CANARY = "rollouts-demo-stable", "rollouts-demo-canary"
STEPS = [
    {"setWeight": 20},
    {"pause": {}},
    {"setWeight": 40},
    {"pause": {}},
    {"setWeight": 60},
    {"pause": {"duration": 2}},
    {"setWeight": 80},
    {"pause": {"duration": 2}},
]
JsonDict = dict[str, Any]


def route_obj() -> JsonDict:
    return {
        "apiVersion": "route.openshift.io/v1",
        "kind": "Route",
        "metadata": {"name": "rollouts-demo"},
        "spec": {
            "to": {"kind": "Service", "name": STABLE, "weight": 100},
            "alternateBackends": [{"kind": "Service", "name": CANARY, "weight": 0}],
            "port": {"targetPort": "http"},
        },
    }


def http_route_obj() -> JsonDict:
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "rollouts-demo"},
        "spec": {
            "parentRefs": [{"name": "gateway"}],
            "rules": [
                {
                    "backendRefs": [
                        {"name": STABLE, "port": 80, "weight": 100},
                        {"name": CANARY, "port": 80, "weight": 0},
                    ]
                }
            ],
        },
    }


def rollout_with(traffic_routing: JsonDict) -> JsonDict:
    ro = copy.deepcopy(sample("rollout")[0])
    canary = ro["spec"]["strategy"]["canary"]
    canary["trafficRouting"] = traffic_routing
    canary["steps"] = STEPS
    return ro


async def openshift_weight(kube: KubeClient, ns: str) -> int:
    route = await kube.get(ROUTES, "rollouts-demo", namespace=ns)
    stable = int(route["spec"]["to"].get("weight") or 0)
    canary = sum(
        int(b.get("weight") or 0)
        for b in route["spec"].get("alternateBackends") or []
        if b["name"] == CANARY
    )
    return round(100 * canary / (stable + canary)) if stable + canary else 0


async def smi_weight(kube: KubeClient, ns: str) -> int:
    split = await kube.get(SPLITS, "rollouts-demo", namespace=ns)
    weights = {b["service"]: b.get("weight") for b in split["spec"]["backends"]}
    assert split["spec"]["service"] == STABLE
    assert split["metadata"]["ownerReferences"][0]["kind"] == "Rollout"
    return int(str(weights.get(CANARY) or 0).removesuffix("m") or 0) // (
        1000 if str(weights.get(CANARY, "")).endswith("m") else 1
    )


async def gateway_weight(kube: KubeClient, ns: str) -> int:
    route = await kube.get(HTTP_ROUTES, "rollouts-demo", namespace=ns)
    refs = {b["name"]: int(b.get("weight") or 0) for b in route["spec"]["rules"][0]["backendRefs"]}
    return refs[CANARY]


async def walk(kube: KubeClient, ns: str, weight: Callable[[KubeClient, str], Any]) -> None:
    """The seed's stages with this router: 0 -> 20 -> 40 -> ... -> 100 -> Healthy -> 0."""
    await wait_phase(kube, ns, "Healthy", step=8)
    assert await weight(kube, ns) == 0
    await set_image(kube, ns, "argoproj/rollouts-demo:yellow")
    await wait_phase(kube, ns, "Paused", step=1)
    assert await weight(kube, ns) == 20
    await promote(kube, ns)
    await wait_phase(kube, ns, "Paused", step=3)
    assert await weight(kube, ns) == 40
    await promote(kube, ns)
    ro = await wait_phase(kube, ns, "Healthy", step=8, timeout=120)
    assert ro["status"]["stableRS"] == ro["status"]["currentPodHash"]

    # Promotion lands in two reconciles (100% to canary, then stable Service switch + 0%).
    async def back_to_zero() -> bool:
        return bool(await weight(kube, ns) == 0)

    await eventually(back_to_zero, "the weight to return to 0 after promotion", timeout=15)


async def create_services(kube: KubeClient, ns: str) -> None:
    for doc in sample("services"):
        await kube.create(SERVICES, doc, namespace=ns)


async def test_openshift_route(kube: KubeClient, namespace: str, daemon: Daemon) -> None:
    await create_services(kube, namespace)
    await kube.create(ROUTES, route_obj(), namespace=namespace)
    routing = {"plugins": {"argoproj-labs/openshift": {"routes": ["rollouts-demo"]}}}
    await kube.create(ROLLOUTS, rollout_with(routing), namespace=namespace)
    await walk(kube, namespace, openshift_weight)


async def test_smi_traffic_split(kube: KubeClient, namespace: str, daemon: Daemon) -> None:
    await create_services(kube, namespace)
    await kube.create(ROLLOUTS, rollout_with({"smi": {}}), namespace=namespace)
    await walk(kube, namespace, smi_weight)


@pytest.fixture
def fresh_env(tmp_path: Path) -> Path:
    """A brand-new virtual environment with rolloutd and the sample plugin, installed by pip."""
    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("uv is needed to build a fresh environment quickly")
    venv = tmp_path / "venv"
    subprocess.run([uv, "venv", "--quiet", "--python", sys.executable, str(venv)], check=True)
    py = str(venv / "bin" / "python")
    subprocess.run(
        [
            uv,
            "pip",
            "install",
            "--quiet",
            "--python",
            py,
            str(REPO),
            str(REPO / "plugins" / "gatewayapi"),
        ],
        check=True,
    )
    return venv


async def test_third_party_router_installs_and_uninstalls(
    sandbox: Status, kube: KubeClient, namespace: str, fresh_env: Path, tmp_path: Path
) -> None:
    ns = namespace
    await create_services(kube, ns)
    await kube.create(HTTP_ROUTES, http_route_obj(), namespace=ns)
    routing = {"plugins": {"argoproj-labs/gatewayAPI": {"httpRoute": "rollouts-demo"}}}
    await kube.create(ROLLOUTS, rollout_with(routing), namespace=ns)

    daemon_python = str(fresh_env / "bin" / "python")
    daemon = Daemon(str(sandbox.kubeconfig), ns, tmp_path, python=daemon_python)
    try:
        daemon.start()
        await walk(kube, ns, gateway_weight)
        daemon.stop()

        # Uninstall the router: the Rollout gets a clear condition; the daemon keeps running.
        uninstall = await asyncio.create_subprocess_exec(
            shutil.which("uv") or "uv",
            "pip",
            "uninstall",
            "--quiet",
            "--python",
            daemon_python,
            "rolloutd-gatewayapi",
        )
        assert await uninstall.wait() == 0
        daemon.start()
        await set_image(kube, ns, "argoproj/rollouts-demo:green")

        async def invalid() -> bool:
            ro = await get_rollout(kube, ns)
            conds = (ro.get("status") or {}).get("conditions") or []
            return any(c["type"] == "InvalidSpec" and c["status"] == "True" for c in conds)

        await eventually(invalid, "an InvalidSpec condition about the missing router")
        ro = await get_rollout(kube, ns)
        message = next(
            c["message"] for c in ro["status"]["conditions"] if c["type"] == "InvalidSpec"
        )
        assert "gatewayapi" in message and "not installed" in message
        await asyncio.sleep(1)
        assert daemon.alive(), daemon.logs()
        assert await gateway_weight(kube, ns) == 0  # nothing was routed to the new version
    finally:
        daemon.stop()


async def test_istio_and_openshift_route_together(
    kube: KubeClient, namespace: str, daemon: Daemon
) -> None:
    """Several routers in one Rollout move together, step by step."""
    ns = namespace
    await kube.create(ROUTES, route_obj(), namespace=ns)

    def both(rollout: JsonDict) -> None:
        canary = rollout["spec"]["strategy"]["canary"]
        canary["steps"] = STEPS
        canary["trafficRouting"]["plugins"] = {
            "argoproj-labs/openshift": {"routes": ["rollouts-demo"]}
        }

    await apply_seed(kube, ns, rollout_edit=both)

    async def istio_weight(kube: KubeClient, ns: str) -> int:
        vs = await kube.get(VIRTUAL_SERVICES, "rollouts-demo-vsvc", namespace=ns)
        return route_weights(vs)[CANARY]

    async def both_weights(kube: KubeClient, ns: str) -> int | tuple[int, int]:
        # The routers are patched one after the other, so a read during a transition may see
        # them apart: return both then, which equals no single weight. At a pause or at Healthy
        # they must agree, and the assertion shows both when they do not.
        istio, route = await istio_weight(kube, ns), await openshift_weight(kube, ns)
        return istio if istio == route else (istio, route)

    await walk(kube, ns, both_weights)
