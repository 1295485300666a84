"""The App Mesh router on the real cluster, against rolloutd's minimal App Mesh CRDs (no upstream
CRD is at hand here): the conformance kit, route filters, VirtualNode hashes and release.

The kit names backends by Service; here each VirtualNode is named like the Service it fronts,
so the weights read per VirtualNode are the weights per Service."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import pytest
import pytest_asyncio
from rolloutd_appmesh.router import HASH_LABEL, MANAGED_BY, Router

from rolloutd.kube.client import ApiError, KubeClient
from rolloutd.traffic.contract import RouterError
from rolloutd_dev.testing.conformance import (
    CreateRouting,
    ForeignBackend,
    Harness,
    ReadBackends,
    RolloutRef,
    RouterConformance,
    Tamper,
)
from rolloutd_dev.testing.objects import ServicePair
from tests.appmesh_crd import appmesh_crds

pytestmark = pytest.mark.asyncio(loop_scope="session")

R = Router({})
VS, VR = "demo-vs", "demo-vr"


def node(name: str, app: str = "demo") -> dict[str, Any]:
    return {
        "apiVersion": R.virtual_nodes.api_version,
        "kind": "VirtualNode",
        "metadata": {"name": name},
        "spec": {
            "podSelector": {"matchLabels": {"app": app}},
            "listeners": [{"portMapping": {"port": 80, "protocol": "http"}}],
            "serviceDiscovery": {"dns": {"hostname": f"{name}.svc.cluster.local"}},
        },
    }


def virtual_router(targets: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "apiVersion": R.virtual_routers.api_version,
        "kind": "VirtualRouter",
        "metadata": {"name": VR},
        "spec": {
            "listeners": [{"portMapping": {"port": 80, "protocol": "http"}}],
            "routes": [
                {
                    "name": "primary",
                    "httpRoute": {
                        "match": {"prefix": "/"},
                        "action": {"weightedTargets": targets},
                    },
                },
                {
                    "name": "someone-elses",
                    "tcpRoute": {
                        "action": {
                            "weightedTargets": [
                                {"virtualNodeRef": {"name": "legacy"}, "weight": 100}
                            ]
                        }
                    },
                },
            ],
        },
    }


def target(name: str, weight: int) -> dict[str, Any]:
    return {"virtualNodeRef": {"name": name}, "weight": weight}


async def create_mesh(
    kube: KubeClient, pair: ServicePair, foreign: Sequence[ForeignBackend] = ()
) -> None:
    ns = pair.namespace
    for name in (pair.stable, pair.canary, *(f.service for f in foreign)):
        await kube.create(R.virtual_nodes, node(name), namespace=ns)
    vs = {
        "apiVersion": R.virtual_services.api_version,
        "kind": "VirtualService",
        "metadata": {"name": VS},
        "spec": {"provider": {"virtualRouter": {"virtualRouterRef": {"name": VR}}}},
    }
    await kube.create(R.virtual_services, vs, namespace=ns)
    targets = [target(pair.canary, 0), target(pair.stable, 100 - sum(f.weight for f in foreign))]
    targets += [target(f.service, f.weight) for f in foreign]
    await kube.create(R.virtual_routers, virtual_router(targets), namespace=ns)


def config_for(pair: ServicePair, **vs: Any) -> dict[str, Any]:
    return {
        "virtualService": {"name": VS, **vs},
        "virtualNodeGroup": {
            "canaryVirtualNodeRef": {"name": pair.canary},
            "stableVirtualNodeRef": {"name": pair.stable},
        },
    }


async def primary(kube: KubeClient, ns: str) -> list[dict[str, Any]]:
    vr = await kube.get(R.virtual_routers, VR, namespace=ns)
    targets: list[dict[str, Any]] = vr["spec"]["routes"][0]["httpRoute"]["action"][
        "weightedTargets"
    ]
    return targets


@pytest_asyncio.fixture(scope="module", loop_scope="session", autouse=True)
async def _appmesh_crds(kube: KubeClient) -> AsyncIterator[None]:
    async with appmesh_crds(kube):
        yield


class TestAppMeshConformance(RouterConformance):
    @pytest.fixture
    def router(self) -> Router:
        return Router({})

    @pytest.fixture
    def router_config(self, service_pair: ServicePair) -> Mapping[str, Any]:
        return config_for(service_pair)

    @pytest.fixture
    def create_routing(self) -> CreateRouting:
        async def create(
            kube: KubeClient,
            pair: ServicePair,
            foreign: Sequence[ForeignBackend],
            rollout: RolloutRef,
        ) -> None:
            await create_mesh(kube, pair, foreign)

        return create

    @pytest.fixture
    def read_backends(self) -> ReadBackends:
        async def read(kube: KubeClient, pair: ServicePair) -> dict[str, int]:
            try:
                targets = await primary(kube, pair.namespace)
            except ApiError as exc:
                if exc.not_found:
                    return {}
                raise
            return {t["virtualNodeRef"]["name"]: int(t["weight"]) for t in targets}

        return read

    @pytest.fixture
    def tamper(self) -> Tamper:
        async def tamper(kube: KubeClient, pair: ServicePair, canary: int) -> None:
            vr = await kube.get(R.virtual_routers, VR, namespace=pair.namespace)
            targets = vr["spec"]["routes"][0]["httpRoute"]["action"]["weightedTargets"]
            others = sum(
                t["weight"]
                for t in targets
                if t["virtualNodeRef"]["name"] not in (pair.canary, pair.stable)
            )
            for t in targets:
                if t["virtualNodeRef"]["name"] == pair.canary:
                    t["weight"] = canary
                elif t["virtualNodeRef"]["name"] == pair.stable:
                    t["weight"] = 100 - canary - others
            await kube.replace(R.virtual_routers, VR, vr, namespace=pair.namespace)

        return tamper

    @pytest.fixture
    def missing_config(self, service_pair: ServicePair) -> tuple[Mapping[str, Any], str]:
        config = config_for(service_pair)
        config["virtualNodeGroup"]["canaryVirtualNodeRef"] = {"name": "no-such-node"}
        return config, "appMesh.virtualNodeGroup.canaryVirtualNodeRef.name"

    # -- beyond the kit ------------------------------------------------------------------------

    async def test_other_routes_are_untouched(self, harness: Harness) -> None:
        await harness.create()
        ns = harness.pair.namespace
        before = await harness.kube.get(R.virtual_routers, VR, namespace=ns)
        await harness.set_weight(35)
        after = await harness.kube.get(R.virtual_routers, VR, namespace=ns)
        assert after["spec"]["routes"][1] == before["spec"]["routes"][1]
        assert after["spec"]["listeners"] == before["spec"]["listeners"]

    async def test_route_filter_names_a_missing_route(self, harness: Harness) -> None:
        await harness.create()
        ctx = dataclasses.replace(
            harness.context(), config=config_for(harness.pair, routes=["primary", "nope"])
        )
        await harness.reader.refresh()
        problems = harness.router.validate(ctx)
        assert problems == [
            "spec.strategy.canary.trafficRouting.appMesh.virtualService.routes[1]: route 'nope' "
            f"not found in VirtualRouter {harness.pair.namespace}/{VR}"
        ]
        with pytest.raises(RouterError, match="route 'nope' not found"):
            await harness.router.set_weight(ctx, 10)
        assert (await harness.backends())[harness.pair.canary] == 0

    async def test_hashes_go_to_the_virtual_nodes_and_release_keeps_the_label(
        self, harness: Harness
    ) -> None:
        await harness.create()
        ns, pair = harness.pair.namespace, harness.pair
        ctx = harness.context()
        assert await harness.router.update_hash(ctx, pair.canary_hash, pair.stable_hash) is True
        await harness.reader.refresh()
        assert await harness.router.update_hash(ctx, pair.canary_hash, pair.stable_hash) is False
        canary = await harness.kube.get(R.virtual_nodes, pair.canary, namespace=ns)
        stable = await harness.kube.get(R.virtual_nodes, pair.stable, namespace=ns)
        assert canary["spec"]["podSelector"]["matchLabels"] == {
            "app": "demo",
            HASH_LABEL: pair.canary_hash,
        }
        assert stable["spec"]["podSelector"]["matchLabels"][HASH_LABEL] == pair.stable_hash
        assert canary["metadata"]["annotations"] == {MANAGED_BY: harness.rollout_name}
        # Fully promoted: both hashes the same; Argo's stand-in keeps the selectors apart.
        await harness.reader.refresh()
        await harness.router.update_hash(ctx, pair.stable_hash, pair.stable_hash)
        canary = await harness.kube.get(R.virtual_nodes, pair.canary, namespace=ns)
        assert canary["spec"]["podSelector"]["matchLabels"][HASH_LABEL] == "canary-hash"
        router = harness.router
        assert isinstance(router, Router)
        released = await router.release(
            harness.kube, harness.reader, R.virtual_nodes, canary, harness.rollout_name
        )
        assert released is True
        after = await harness.kube.get(R.virtual_nodes, pair.canary, namespace=ns)
        assert MANAGED_BY not in (after["metadata"].get("annotations") or {})
        assert after["spec"]["podSelector"] == canary["spec"]["podSelector"]
