"""The sample third-party Gateway API router passes the conformance kit on the upstream
HTTPRoute CRD. It is not part of rolloutd's workspace: install it first
(`uv pip install plugins/gatewayapi`), else these tests skip."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from rolloutd.kube.client import KubeClient
from rolloutd.traffic.registry import RouterRegistry, routers_in
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

gatewayapi = pytest.importorskip(
    "rolloutd_gatewayapi.router",
    reason="the sample router is not installed: uv pip install plugins/gatewayapi",
)

pytestmark = [pytest.mark.usefixtures("gateway_crds"), pytest.mark.asyncio(loop_scope="session")]

ROUTE = "demo-httproute"


def _ref(service: str, weight: int) -> dict[str, Any]:
    return {"name": service, "port": 80, "weight": weight}


def _rules(route: Mapping[str, Any]) -> list[dict[str, Any]]:
    return route["spec"]["rules"]  # type: ignore[no-any-return]


class TestGatewayApiConformance(RouterConformance):
    @pytest.fixture
    def router(self) -> Any:
        return gatewayapi.Router({})

    @pytest.fixture
    def router_config(self, service_pair: ServicePair) -> Mapping[str, Any]:
        return {"httpRoutes": [{"name": ROUTE, "useHeaderRoutes": False}]}

    @pytest.fixture
    def create_routing(self, router: Any) -> CreateRouting:
        async def create(
            kube: KubeClient, pair: ServicePair, foreign: Sequence[ForeignBackend], _: RolloutRef
        ) -> None:
            refs = [_ref(pair.stable, 100 - sum(f.weight for f in foreign)), _ref(pair.canary, 0)]
            refs += [_ref(f.service, f.weight) for f in foreign]
            body = {
                "apiVersion": router.http_routes.api_version,
                "kind": "HTTPRoute",
                "metadata": {"name": ROUTE},
                "spec": {
                    "parentRefs": [{"name": "gateway"}],
                    "rules": [
                        {
                            "matches": [{"path": {"type": "PathPrefix", "value": "/static"}}],
                            "backendRefs": [_ref("static-files", 1)],
                        },
                        {"backendRefs": refs},
                    ],
                },
            }
            await kube.create(router.http_routes, body, namespace=pair.namespace)

        return create

    @pytest.fixture
    def read_backends(self, router: Any) -> ReadBackends:
        async def read(kube: KubeClient, pair: ServicePair) -> dict[str, int]:
            route = await kube.get(router.http_routes, ROUTE, namespace=pair.namespace)
            untouched = [(r["name"], r["weight"]) for r in _rules(route)[0]["backendRefs"]]
            assert untouched == [("static-files", 1)], "a rule without our Services was edited"
            return {r["name"]: int(r["weight"]) for r in _rules(route)[1]["backendRefs"]}

        return read

    @pytest.fixture
    def tamper(self, router: Any) -> Tamper:
        async def tamper(kube: KubeClient, pair: ServicePair, canary: int) -> None:
            route = await kube.get(router.http_routes, ROUTE, namespace=pair.namespace)
            refs = _rules(route)[1]["backendRefs"]
            others = sum(r["weight"] for r in refs if r["name"] not in (pair.stable, pair.canary))
            for r in refs:
                if r["name"] == pair.canary:
                    r["weight"] = canary
                elif r["name"] == pair.stable:
                    r["weight"] = 100 - canary - others
            await kube.replace(router.http_routes, ROUTE, route, namespace=pair.namespace)

        return tamper

    @pytest.fixture
    def missing_config(self, service_pair: ServicePair) -> tuple[Mapping[str, Any], str]:
        return (
            {"httpRoute": "no-such-route"},
            "spec.strategy.canary.trafficRouting.plugins[argoproj-labs/gatewayAPI].httpRoute",
        )

    async def test_found_through_its_entry_point(self, harness: Harness) -> None:
        tr = {"plugins": {"argoproj-labs/gatewayAPI": {"httpRoute": ROUTE}}}
        [(router, block)] = RouterRegistry().routers_for(tr)
        assert type(router).__module__ == "rolloutd_gatewayapi.router"
        assert [b.name for b in routers_in(tr)] == ["gatewayapi"]
        await harness.create()
        await harness.reader.refresh()
        assert await router.set_weight(harness.context(block.config), 10) is True
        assert (await harness.backends())[harness.pair.canary] == 10
