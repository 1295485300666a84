"""The Ambassador router on the real cluster, against rolloutd's minimal Mapping CRD (no upstream
CRD is at hand here): the conformance kit, the canary Mapping's life, and what it refuses.

Ambassador splits a prefix between its Mappings: weighted ones get their weight, the unweighted
(the base, sending to stable) the rest. `read_backends` reads the cluster that way."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from rolloutd_ambassador.router import MANAGED_BY, Router

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

pytestmark = pytest.mark.asyncio(loop_scope="session")

MAPPINGS = Router({}).mappings
BASE = "demo-mapping"
CANARY = "demo-mapping-canary"
PREFIX = "/demo/"


def mapping(name: str, service: str, weight: int | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"prefix": PREFIX, "rewrite": "/", "service": f"{service}:80"}
    if weight is not None:
        spec["weight"] = weight
    return {
        "apiVersion": MAPPINGS.api_version,
        "kind": "Mapping",
        "metadata": {"name": name, "labels": {"team": "web"}},
        "spec": spec,
    }


async def get_or_none(kube: KubeClient, name: str, ns: str) -> dict[str, Any] | None:
    try:
        return await kube.get(MAPPINGS, name, namespace=ns)
    except ApiError as exc:
        if exc.not_found:
            return None
        raise


async def backends_of(kube: KubeClient, pair: ServicePair) -> dict[str, int]:
    listed = await kube.list_all(MAPPINGS, namespace=pair.namespace)
    same = [m for m in listed["items"] if m["spec"].get("prefix") == PREFIX]
    if not any(m["metadata"]["name"] == BASE for m in same):
        return {}
    weighted = {
        m["spec"]["service"].split(":")[0]: int(m["spec"]["weight"])
        for m in same
        if m["spec"].get("weight") is not None
    }
    found = {pair.canary: 0, **weighted}
    found[pair.stable] = 100 - sum(weighted.values())
    return found


class TestAmbassadorConformance(RouterConformance):
    @pytest.fixture
    def router(self) -> Router:
        return Router({})

    @pytest.fixture
    def router_config(self, service_pair: ServicePair) -> Mapping[str, Any]:
        return {"mappings": [BASE]}

    @pytest.fixture
    def create_routing(self) -> CreateRouting:
        async def create(
            kube: KubeClient,
            pair: ServicePair,
            foreign: Sequence[ForeignBackend],
            rollout: RolloutRef,
        ) -> None:
            await kube.create(MAPPINGS, mapping(BASE, pair.stable), namespace=pair.namespace)
            for f in foreign:  # someone else's weighted Mapping on the same prefix
                body = mapping(f"{f.service}-mapping", f.service, f.weight)
                await kube.create(MAPPINGS, body, namespace=pair.namespace)

        return create

    @pytest.fixture
    def read_backends(self) -> ReadBackends:
        return backends_of

    @pytest.fixture
    def tamper(self) -> Tamper:
        async def tamper(kube: KubeClient, pair: ServicePair, canary: int) -> None:
            body = {"spec": {"weight": canary}}
            await kube.patch(MAPPINGS, CANARY, body, namespace=pair.namespace)

        return tamper

    @pytest.fixture
    def missing_config(self, service_pair: ServicePair) -> tuple[Mapping[str, Any], str]:
        return {"mappings": [BASE, "no-such"]}, "trafficRouting.ambassador.mappings[1]"

    # -- beyond the kit ------------------------------------------------------------------------

    async def test_canary_mapping_is_a_copy_owned_and_gone_at_zero(self, harness: Harness) -> None:
        await harness.create()
        ns = harness.pair.namespace
        base_before = await harness.kube.get(MAPPINGS, BASE, namespace=ns)
        assert await harness.set_weight(30) is True
        made = await harness.kube.get(MAPPINGS, CANARY, namespace=ns)
        assert made["spec"] == {
            "prefix": PREFIX,
            "rewrite": "/",
            "service": f"{harness.pair.canary}:80",
            "weight": 30,
        }
        assert made["metadata"]["annotations"][MANAGED_BY] == harness.rollout_name
        assert made["metadata"]["ownerReferences"][0]["uid"] == harness.rollout_uid
        # The base follows the user: a changed field is carried to the canary copy.
        await harness.kube.patch(MAPPINGS, BASE, {"spec": {"rewrite": "/v2/"}}, namespace=ns)
        assert await harness.set_weight(30) is True
        copy = await harness.kube.get(MAPPINGS, CANARY, namespace=ns)
        assert copy["spec"]["rewrite"] == "/v2/"
        assert await harness.set_weight(0) is True
        assert await get_or_none(harness.kube, CANARY, ns) is None
        base_after = await harness.kube.get(MAPPINGS, BASE, namespace=ns)
        assert base_after["spec"] == {**base_before["spec"], "rewrite": "/v2/"}
        assert [(o.canary, o.stable) for o in await harness.read_weight()] == [(0, 100)]
        assert await harness.set_weight(0) is False

    async def test_a_weighted_base_and_a_foreign_canary_are_refused(self, harness: Harness) -> None:
        ns = harness.pair.namespace
        await harness.kube.create(MAPPINGS, mapping(BASE, harness.pair.stable, 50), namespace=ns)
        await harness.kube.create(MAPPINGS, mapping(CANARY, "other", 10), namespace=ns)
        await harness.reader.refresh()
        problems = harness.router.validate(harness.context())
        field = "spec.strategy.canary.trafficRouting.ambassador.mappings[0]"
        assert f"{field}: Mapping {ns}/{BASE} can not define weight" in problems
        assert any(p.startswith(field) and "is not owned by Rollout" in p for p in problems)
        with pytest.raises(RouterError, match="can not define weight"):
            await harness.set_weight(20)
        theirs = await harness.kube.get(MAPPINGS, CANARY, namespace=ns)
        assert theirs["spec"]["weight"] == 10 and theirs["spec"]["service"] == "other:80"

    async def test_release_deletes_only_its_own_canary(self, harness: Harness) -> None:
        await harness.create()
        ns = harness.pair.namespace
        await harness.set_weight(40)
        made = await harness.kube.get(MAPPINGS, CANARY, namespace=ns)
        router = harness.router
        assert isinstance(router, Router)
        base = await harness.kube.get(MAPPINGS, BASE, namespace=ns)
        assert await router.release(harness.kube, harness.reader, MAPPINGS, base, "x") is False
        assert await router.release(harness.kube, harness.reader, MAPPINGS, made, "other") is False
        released = await router.release(
            harness.kube, harness.reader, MAPPINGS, made, harness.rollout_name
        )
        assert released is True
        assert await get_or_none(harness.kube, CANARY, ns) is None
        assert await get_or_none(harness.kube, BASE, ns) is not None

    async def test_base_not_naming_stable_is_refused(self, harness: Harness) -> None:
        ns = harness.pair.namespace
        await harness.kube.create(MAPPINGS, mapping(BASE, "elsewhere"), namespace=ns)
        await harness.reader.refresh()
        ctx = dataclasses.replace(harness.context())
        assert any("does not name the stable Service" in p for p in harness.router.validate(ctx))
        with pytest.raises(RouterError):
            await harness.router.set_weight(ctx, 10)
        assert await get_or_none(harness.kube, CANARY, ns) is None
