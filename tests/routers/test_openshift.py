"""The OpenShift Route router on the real cluster, against OpenShift's Route CRD."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from rolloutd_openshift.router import ROUTES, Router

from rolloutd.kube.client import KubeClient
from rolloutd.traffic.contract import RouterError, VerifyResult
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

pytestmark = [pytest.mark.usefixtures("openshift_crds"), pytest.mark.asyncio(loop_scope="session")]

ROUTE = "demo-route"


def route_body(pair: ServicePair, foreign: Sequence[ForeignBackend] = ()) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "host": f"{pair.app}.apps.example.com",
        "to": {
            "kind": "Service",
            "name": pair.stable,
            "weight": 100 - sum(f.weight for f in foreign),
        },
        "port": {"targetPort": "http"},
    }
    if foreign:
        spec["alternateBackends"] = [
            {"kind": "Service", "name": f.service, "weight": f.weight} for f in foreign
        ]
    return {
        "apiVersion": ROUTES.api_version,
        "kind": "Route",
        "metadata": {
            "name": ROUTE,
            "annotations": {"haproxy.router.openshift.io/balance": "roundrobin"},
        },
        "spec": spec,
    }


async def backends_of(kube: KubeClient, pair: ServicePair) -> dict[str, int]:
    route = await kube.get(ROUTES, ROUTE, namespace=pair.namespace)
    spec = route["spec"]
    found = {spec["to"]["name"]: int(spec["to"]["weight"])}
    found.update({b["name"]: int(b["weight"]) for b in spec.get("alternateBackends") or []})
    found.setdefault(pair.canary, 0)  # no canary backend yet: it gets no traffic
    return found


class TestOpenShiftConformance(RouterConformance):
    @pytest.fixture
    def router(self) -> Router:
        return Router({})

    @pytest.fixture
    def router_config(self, service_pair: ServicePair) -> Mapping[str, Any]:
        return {"routes": [ROUTE]}

    @pytest.fixture
    def create_routing(self) -> CreateRouting:
        async def create(
            kube: KubeClient, pair: ServicePair, foreign: Sequence[ForeignBackend], _: RolloutRef
        ) -> None:
            await kube.create(ROUTES, route_body(pair, foreign), namespace=pair.namespace)

        return create

    @pytest.fixture
    def read_backends(self) -> ReadBackends:
        return backends_of

    @pytest.fixture
    def tamper(self) -> Tamper:
        async def tamper(kube: KubeClient, pair: ServicePair, canary: int) -> None:
            route = await kube.get(ROUTES, ROUTE, namespace=pair.namespace)
            spec = route["spec"]
            alternates = spec.setdefault("alternateBackends", [])
            others = sum(b["weight"] for b in alternates if b["name"] != pair.canary)
            spec["to"]["weight"] = 100 - canary - others
            for b in alternates:
                if b["name"] == pair.canary:
                    b["weight"] = canary
                    break
            else:
                alternates.append({"kind": "Service", "name": pair.canary, "weight": canary})
            await kube.replace(ROUTES, ROUTE, route, namespace=pair.namespace)

        return tamper

    @pytest.fixture
    def missing_config(self, service_pair: ServicePair) -> tuple[Mapping[str, Any], str]:
        return (
            {"routes": [ROUTE, "no-such-route"]},
            "spec.strategy.canary.trafficRouting.plugins[argoproj-labs/openshift].routes[1]",
        )

    async def test_routes_keep_the_canary_at_zero_and_other_fields(self, harness: Harness) -> None:
        await harness.create([ForeignBackend("mirror-svc", 5)])
        await harness.set_weight(95)
        route = await harness.kube.get(ROUTES, ROUTE, namespace=harness.pair.namespace)
        assert route["spec"]["to"] == {"kind": "Service", "name": harness.pair.stable, "weight": 0}
        await harness.set_weight(0)
        route = await harness.kube.get(ROUTES, ROUTE, namespace=harness.pair.namespace)
        assert route["spec"]["alternateBackends"] == [
            {"kind": "Service", "name": "mirror-svc", "weight": 5},
            {"kind": "Service", "name": harness.pair.canary, "weight": 0},
        ]
        assert route["spec"]["host"] == f"{harness.pair.app}.apps.example.com"
        assert route["metadata"]["annotations"] == {
            "haproxy.router.openshift.io/balance": "roundrobin"
        }

    async def test_read_weight_normalises_a_route_on_another_scale(self, harness: Harness) -> None:
        await harness.create()
        route = await harness.kube.get(ROUTES, ROUTE, namespace=harness.pair.namespace)
        route["spec"]["to"]["weight"] = 192
        route["spec"]["alternateBackends"] = [
            {"kind": "Service", "name": harness.pair.canary, "weight": 64}
        ]
        await harness.kube.replace(ROUTES, ROUTE, route, namespace=harness.pair.namespace)
        observed = await harness.read_weight()
        assert [(o.canary, o.stable) for o in observed] == [(25, 75)]
        assert await harness.verify_weight(25) is VerifyResult.VERIFIED
        assert await harness.set_weight(25) is True  # brought back to the 0..100 scale
        assert await harness.backends() == {harness.pair.stable: 75, harness.pair.canary: 25}

    async def test_verify_waits_for_admission(self, harness: Harness) -> None:
        await harness.create()
        await harness.set_weight(10)
        ns = harness.pair.namespace
        route = await harness.kube.get(ROUTES, ROUTE, namespace=ns)
        route["status"] = {
            "ingress": [
                {
                    "host": "demo.apps.example.com",
                    "routerName": "default",
                    "conditions": [{"type": "Admitted", "status": "False", "reason": "HostInUse"}],
                }
            ]
        }
        await harness.kube.replace(ROUTES, ROUTE, route, namespace=ns, subresource="status")
        assert await harness.verify_weight(10) is VerifyResult.NOT_VERIFIED
        route = await harness.kube.get(ROUTES, ROUTE, namespace=ns)
        route["status"]["ingress"][0]["conditions"][0].update(status="True", reason="")
        await harness.kube.replace(ROUTES, ROUTE, route, namespace=ns, subresource="status")
        assert await harness.verify_weight(10) is VerifyResult.VERIFIED

    async def test_full_alternate_list_and_wrong_stable_are_errors(self, harness: Harness) -> None:
        await harness.create(
            [ForeignBackend("a", 1), ForeignBackend("b", 1), ForeignBackend("c", 1)]
        )
        with pytest.raises(RouterError, match="at most 3 alternateBackends"):
            await harness.set_weight(10)
        swapped = dataclasses.replace(harness.context(), stable_service="not-the-stable")
        assert any(
            "must send spec.to to the stable Service" in p for p in harness.router.validate(swapped)
        )

    async def test_namespace_slash_name_routes(self, harness: Harness) -> None:
        await harness.create()
        config = {"routes": [f"{harness.pair.namespace}/{ROUTE}"]}
        await harness.reader.refresh()
        assert await harness.router.set_weight(harness.context(config), 45) is True
        assert (await harness.backends())[harness.pair.canary] == 45
