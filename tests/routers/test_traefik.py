"""The Traefik router on the real cluster, against rolloutd's minimal TraefikService CRD."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from rolloutd_traefik.router import MANAGED_BY, Router

from rolloutd.kube.client import KubeClient
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

pytestmark = pytest.mark.asyncio(loop_scope="session")

NAME = "demo-weighted"
ROUTER = Router({})
TRAEFIK_SERVICES = ROUTER.resource


def body(pair: ServicePair, foreign: Sequence[ForeignBackend] = ()) -> dict[str, Any]:
    services: list[dict[str, Any]] = [
        {"name": pair.stable, "port": 80, "weight": 100 - sum(f.weight for f in foreign)},
        {"name": pair.canary, "port": 80, "weight": 0},
    ]
    services += [{"name": f.service, "port": 80, "weight": f.weight} for f in foreign]
    return {
        "apiVersion": TRAEFIK_SERVICES.api_version,
        "kind": "TraefikService",
        "metadata": {"name": NAME, "labels": {"team": "web"}},
        "spec": {"weighted": {"services": services, "sticky": {"cookie": {"name": "lb"}}}},
    }


async def backends_of(kube: KubeClient, pair: ServicePair) -> dict[str, int]:
    obj = await kube.get(TRAEFIK_SERVICES, NAME, namespace=pair.namespace)
    return {s["name"]: int(s.get("weight") or 0) for s in obj["spec"]["weighted"]["services"]}


class TestTraefikConformance(RouterConformance):
    @pytest.fixture
    def router(self) -> Router:
        return Router({})

    @pytest.fixture
    def router_config(self, service_pair: ServicePair) -> Mapping[str, Any]:
        return {"weightedTraefikServiceName": NAME}

    @pytest.fixture
    def create_routing(self) -> CreateRouting:
        async def create(
            kube: KubeClient, pair: ServicePair, foreign: Sequence[ForeignBackend], _: RolloutRef
        ) -> None:
            await kube.create(TRAEFIK_SERVICES, body(pair, foreign), namespace=pair.namespace)

        return create

    @pytest.fixture
    def read_backends(self) -> ReadBackends:
        return backends_of

    @pytest.fixture
    def tamper(self) -> Tamper:
        async def tamper(kube: KubeClient, pair: ServicePair, canary: int) -> None:
            obj = await kube.get(TRAEFIK_SERVICES, NAME, namespace=pair.namespace)
            services = obj["spec"]["weighted"]["services"]
            others = sum(
                s["weight"] for s in services if s["name"] not in (pair.stable, pair.canary)
            )
            for s in services:
                if s["name"] == pair.canary:
                    s["weight"] = canary
                elif s["name"] == pair.stable:
                    s["weight"] = 100 - canary - others
            await kube.replace(TRAEFIK_SERVICES, NAME, obj, namespace=pair.namespace)

        return tamper

    @pytest.fixture
    def missing_config(self, service_pair: ServicePair) -> tuple[Mapping[str, Any], str]:
        return (
            {"weightedTraefikServiceName": "no-such"},
            "spec.strategy.canary.trafficRouting.traefik.weightedTraefikServiceName",
        )

    async def test_only_weights_and_the_mark_change(self, harness: Harness) -> None:
        await harness.create()
        await harness.set_weight(20)
        obj = await harness.kube.get(TRAEFIK_SERVICES, NAME, namespace=harness.pair.namespace)
        assert obj["metadata"]["labels"] == {"team": "web"}
        assert obj["metadata"]["annotations"] == {MANAGED_BY: harness.rollout_name}
        assert obj["spec"]["weighted"]["sticky"] == {"cookie": {"name": "lb"}}
        assert obj["spec"]["weighted"]["services"] == [
            {"name": harness.pair.stable, "port": 80, "weight": 80},
            {"name": harness.pair.canary, "port": 80, "weight": 20},
        ]
        released = await harness.router.release(  # type: ignore[attr-defined]
            harness.kube, harness.reader, TRAEFIK_SERVICES, obj, harness.rollout_name
        )
        assert released is True
        obj = await harness.kube.get(TRAEFIK_SERVICES, NAME, namespace=harness.pair.namespace)
        assert "annotations" not in obj["metadata"] or not obj["metadata"]["annotations"]

    async def test_a_missing_canary_entry_is_refused_and_nothing_changes(
        self, harness: Harness
    ) -> None:
        await harness.create()
        obj = await harness.kube.get(TRAEFIK_SERVICES, NAME, namespace=harness.pair.namespace)
        obj["spec"]["weighted"]["services"] = obj["spec"]["weighted"]["services"][:1]
        written = await harness.kube.replace(
            TRAEFIK_SERVICES, NAME, obj, namespace=harness.pair.namespace
        )
        with pytest.raises(RouterError, match="no canary Service"):
            await harness.set_weight(10)
        problems = harness.router.validate(harness.context())
        assert any(p.startswith("spec.strategy.canary.trafficRouting.traefik") for p in problems)
        after = await harness.kube.get(TRAEFIK_SERVICES, NAME, namespace=harness.pair.namespace)
        assert after["metadata"]["resourceVersion"] == written["metadata"]["resourceVersion"]
