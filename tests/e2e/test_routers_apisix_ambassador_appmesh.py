"""The seed's canary through the APISIX, Ambassador and App Mesh routers, with the daemon as a
process: 20 -> 40 -> 60 -> 80 -> 100 -> promoted (0 on the new stable), then a second update
aborted at 40 -> 0. Every weight the routing object carried is recorded from a watch, so the
sequence is checked without polling at the right moment; objects the Rollout does not own stay
exactly as they were."""

from __future__ import annotations

import asyncio
import contextlib
import copy
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import pytest
from rolloutd_ambassador.router import Router as AmbassadorRouter
from rolloutd_apisix.router import Router as ApisixRouter
from rolloutd_appmesh.router import HASH_LABEL
from rolloutd_appmesh.router import Router as AppMeshRouter

from rolloutd.kube.client import KubeClient
from rolloutd.kube.informer import Informer
from rolloutd.kube.resources import ROLLOUTS, SERVICES, Resource
from tests.appmesh_crd import appmesh_crds
from tests.e2e.harness import (
    Daemon,
    eventually,
    patch_status,
    promote,
    sample,
    set_image,
    wait_phase,
)

STABLE, CANARY = "rollouts-demo-stable", "rollouts-demo-canary"
# Indefinite pauses, so every weight is reached and seen however slow the machine is.
STEPS = [s for w in (20, 40, 60, 80) for s in ({"setWeight": w}, {"pause": {}})]
JsonDict = dict[str, Any]
Objects = Callable[[], Iterable[JsonDict]]

APISIX = ApisixRouter({}).routes
MAPPINGS = AmbassadorRouter({}).mappings
MESH = AppMeshRouter({})


@dataclass(frozen=True)
class Case:
    """How one router is set up, read and checked."""

    routing: JsonDict
    resource: Resource  # the kind whose events carry the weight
    setup: Callable[[KubeClient, str], Awaitable[None]]
    weight: Callable[[Objects], int]  # the canary weight, from the watched objects
    foreign: list[tuple[Resource, str]]  # objects (kind, name) that must never change


# -- APISIX -----------------------------------------------------------------------------------


async def apisix_setup(kube: KubeClient, ns: str) -> None:
    def route(name: str, backends: list[JsonDict]) -> JsonDict:
        return {
            "apiVersion": APISIX.api_version,
            "kind": "ApisixRoute",
            "metadata": {"name": name},
            "spec": {
                "http": [
                    {"name": "demo", "match": {"paths": ["/*"]}, "backends": backends},
                    {
                        "name": "someone-elses",
                        "match": {"paths": ["/admin/*"]},
                        "backends": [{"serviceName": "admin", "servicePort": 80}],
                    },
                ]
            },
        }

    ours = [{"serviceName": STABLE, "servicePort": 80}, {"serviceName": CANARY, "servicePort": 80}]
    await kube.create(APISIX, route("rollouts-demo", ours), namespace=ns)
    other = [{"serviceName": "admin", "servicePort": 80}]
    await kube.create(APISIX, route("another-app", other), namespace=ns)


def apisix_weight(objects: Objects) -> int:
    route = next((o for o in objects() if o["metadata"]["name"] == "rollouts-demo"), None)
    rule = next(r for r in (route or {"spec": {"http": []}})["spec"]["http"] if r["name"] == "demo")
    return next(int(b.get("weight") or 0) for b in rule["backends"] if b["serviceName"] == CANARY)


# -- Ambassador -------------------------------------------------------------------------------


async def ambassador_setup(kube: KubeClient, ns: str) -> None:
    for name, prefix, service in (
        ("rollouts-demo", "/", f"{STABLE}:80"),
        ("someone-elses", "/admin/", "admin:80"),
    ):
        body = {
            "apiVersion": MAPPINGS.api_version,
            "kind": "Mapping",
            "metadata": {"name": name},
            "spec": {"prefix": prefix, "rewrite": "/", "service": service},
        }
        await kube.create(MAPPINGS, body, namespace=ns)


def ambassador_weight(objects: Objects) -> int:
    canary = next((o for o in objects() if o["metadata"]["name"] == "rollouts-demo-canary"), None)
    return int((canary or {"spec": {}})["spec"].get("weight") or 0)


# -- App Mesh ---------------------------------------------------------------------------------


async def appmesh_setup(kube: KubeClient, ns: str) -> None:
    for name, app in (
        ("vn-canary", "rollouts-demo"),
        ("vn-stable", "rollouts-demo"),
        ("vn-legacy", "legacy"),
    ):
        node = {
            "apiVersion": MESH.virtual_nodes.api_version,
            "kind": "VirtualNode",
            "metadata": {"name": name},
            "spec": {
                "podSelector": {"matchLabels": {"app": app}},
                "listeners": [{"portMapping": {"port": 80, "protocol": "http"}}],
            },
        }
        await kube.create(MESH.virtual_nodes, node, namespace=ns)
    vs = {
        "apiVersion": MESH.virtual_services.api_version,
        "kind": "VirtualService",
        "metadata": {"name": "rollouts-demo"},
        "spec": {"provider": {"virtualRouter": {"virtualRouterRef": {"name": "rollouts-demo"}}}},
    }
    await kube.create(MESH.virtual_services, vs, namespace=ns)

    def targets(*pairs: tuple[str, int]) -> JsonDict:
        return {"weightedTargets": [{"virtualNodeRef": {"name": n}, "weight": w} for n, w in pairs]}

    vr = {
        "apiVersion": MESH.virtual_routers.api_version,
        "kind": "VirtualRouter",
        "metadata": {"name": "rollouts-demo"},
        "spec": {
            "listeners": [{"portMapping": {"port": 80, "protocol": "http"}}],
            "routes": [
                {
                    "name": "legacy",
                    "tcpRoute": {"action": targets(("vn-legacy", 100))},
                },
                {
                    "name": "primary",
                    "httpRoute": {
                        "match": {"prefix": "/"},
                        "action": targets(("vn-canary", 0), ("vn-stable", 100)),
                    },
                },
            ],
        },
    }
    await kube.create(MESH.virtual_routers, vr, namespace=ns)


def appmesh_weight(objects: Objects) -> int:
    vr = next(o for o in objects() if o["metadata"]["name"] == "rollouts-demo")
    route = next(r for r in vr["spec"]["routes"] if r["name"] == "primary")
    wt = route["httpRoute"]["action"]["weightedTargets"]
    return next(int(t["weight"]) for t in wt if t["virtualNodeRef"]["name"] == "vn-canary")


CASES = {
    "apisix": Case(
        {"apisix": {"route": {"name": "rollouts-demo", "rules": ["demo"]}}},
        APISIX,
        apisix_setup,
        apisix_weight,
        [(APISIX, "another-app")],
    ),
    "ambassador": Case(
        {"ambassador": {"mappings": ["rollouts-demo"]}},
        MAPPINGS,
        ambassador_setup,
        ambassador_weight,
        # The base Mapping is the user's: rolloutd never writes it.
        [(MAPPINGS, "someone-elses"), (MAPPINGS, "rollouts-demo")],
    ),
    "appMesh": Case(
        {
            "appMesh": {
                "virtualService": {"name": "rollouts-demo"},
                "virtualNodeGroup": {
                    "canaryVirtualNodeRef": {"name": "vn-canary"},
                    "stableVirtualNodeRef": {"name": "vn-stable"},
                },
            }
        },
        MESH.virtual_routers,
        appmesh_setup,
        appmesh_weight,
        [(MESH.virtual_nodes, "vn-legacy"), (MESH.virtual_services, "rollouts-demo")],
    ),
}


@pytest.mark.parametrize("router", list(CASES))
async def test_seed_canary_and_abort(
    kube: KubeClient, namespace: str, daemon: Daemon, router: str
) -> None:
    async with contextlib.AsyncExitStack() as stack:
        if router == "appMesh":
            await stack.enter_async_context(appmesh_crds(kube))
        await _seed_canary_and_abort(kube, namespace, daemon, router)


async def _seed_canary_and_abort(
    kube: KubeClient, namespace: str, daemon: Daemon, router: str
) -> None:
    case, ns = CASES[router], namespace
    for doc in sample("services"):
        await kube.create(SERVICES, doc, namespace=ns)
    await case.setup(kube, ns)
    foreign_before = [await kube.get(res, name, namespace=ns) for res, name in case.foreign]

    seen: list[int] = []
    informer = Informer(kube, case.resource, namespace=ns)

    def on_event(kind: str, obj: JsonDict, old: JsonDict | None) -> None:
        weight = case.weight(informer.items)
        if not seen or seen[-1] != weight:
            seen.append(weight)

    informer.add_handler(on_event)
    task = asyncio.create_task(informer.run())
    try:
        await informer.synced.wait()
        rollout = copy.deepcopy(sample("rollout")[0])
        rollout["spec"]["strategy"]["canary"]["trafficRouting"] = case.routing
        rollout["spec"]["strategy"]["canary"]["steps"] = STEPS
        await kube.create(ROLLOUTS, rollout, namespace=ns)
        await wait_phase(kube, ns, "Healthy", step=8)

        await set_image(kube, ns, "argoproj/rollouts-demo:yellow")
        for step in (1, 3, 5, 7):
            await wait_phase(kube, ns, "Paused", step=step)
            assert seen[-1] == 10 * (step + 1), seen
            await promote(kube, ns)
        ro = await wait_phase(kube, ns, "Healthy", step=8, timeout=120)
        assert ro["status"]["stableRS"] == ro["status"]["currentPodHash"]

        async def settled_at_zero() -> bool:
            return bool(seen) and seen[-1] == 0

        await eventually(settled_at_zero, "the weight to return to 0 after promotion", timeout=15)
        assert seen == [0, 20, 40, 60, 80, 100, 0], seen

        # A second update, aborted at 40: straight back to 0.
        await set_image(kube, ns, "argoproj/rollouts-demo:green")
        await wait_phase(kube, ns, "Paused", step=1)
        await promote(kube, ns)
        await wait_phase(kube, ns, "Paused", step=3)
        assert seen[-1] == 40
        await patch_status(kube, ns, {"abort": True})
        await wait_phase(kube, ns, "Degraded")
        await eventually(settled_at_zero, "the weight to return to 0 after the abort", timeout=15)
        assert seen[-3:] == [20, 40, 0], seen
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    foreign_after = [await kube.get(res, name, namespace=ns) for res, name in case.foreign]
    assert foreign_after == foreign_before  # resourceVersion included: never written
    if router == "ambassador":
        assert not any(o["metadata"]["name"].endswith("-canary") for o in informer.items()), (
            "the canary Mapping outlived weight 0"
        )
    if router == "appMesh":
        stable_rs = ro["status"]["stableRS"]
        node = await kube.get(MESH.virtual_nodes, "vn-stable", namespace=ns)
        assert node["spec"]["podSelector"]["matchLabels"][HASH_LABEL] == stable_rs
