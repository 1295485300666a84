"""The NGINX router on the real cluster: a canary Ingress made from the stable one."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from rolloutd_nginx.router import MANAGED_BY, Router, canary_ingress_name

from rolloutd.kube.client import ApiError, KubeClient
from rolloutd.kube.resources import INGRESSES
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

STABLE_INGRESS = "demo-web"
PREFIX = "nginx.ingress.kubernetes.io"


def canary_name(pair: ServicePair) -> str:
    return canary_ingress_name(f"{pair.app}-rollout", STABLE_INGRESS)  # the kit's Rollout


def path(service: str, at: str = "/") -> dict[str, Any]:
    return {
        "path": at,
        "pathType": "Prefix",
        "backend": {"service": {"name": service, "port": {"number": 80}}},
    }


def stable_ingress(pair: ServicePair) -> dict[str, Any]:
    return {
        "apiVersion": INGRESSES.api_version,
        "kind": "Ingress",
        "metadata": {
            "name": STABLE_INGRESS,
            "annotations": {
                f"{PREFIX}/rewrite-target": "/",
                "kubernetes.io/ingress.class": "nginx",
            },
        },
        "spec": {
            "ingressClassName": "nginx",
            "tls": [{"hosts": ["demo.example.com"], "secretName": "demo-tls"}],
            "rules": [
                {
                    "host": "demo.example.com",
                    "http": {"paths": [path(pair.stable), path("docs", "/docs")]},
                },
                {"host": "other.example.com", "http": {"paths": [path("other")]}},
            ],
        },
    }


async def backends_of(kube: KubeClient, pair: ServicePair) -> dict[str, int]:
    try:
        obj = await kube.get(INGRESSES, canary_name(pair), namespace=pair.namespace)
    except ApiError as exc:
        if exc.not_found:
            return {}
        raise
    weight = int(obj["metadata"]["annotations"][f"{PREFIX}/canary-weight"])
    return {pair.canary: weight, pair.stable: 100 - weight}


class TestNginxConformance(RouterConformance):
    @pytest.fixture
    def router(self) -> Router:
        return Router({})

    @pytest.fixture
    def router_config(self, service_pair: ServicePair) -> Mapping[str, Any]:
        return {
            "stableIngress": STABLE_INGRESS,
            "additionalIngressAnnotations": {"canary-by-header": "X-Canary"},
            "canaryIngressAnnotations": {"example.com/team": "web"},
        }

    @pytest.fixture
    def create_routing(self) -> CreateRouting:
        async def create(
            kube: KubeClient, pair: ServicePair, foreign: Sequence[ForeignBackend], _: RolloutRef
        ) -> None:
            assert not foreign, "NGINX has no shared weighted list (see the test below)"
            await kube.create(INGRESSES, stable_ingress(pair), namespace=pair.namespace)

        return create

    @pytest.fixture
    def read_backends(self) -> ReadBackends:
        return backends_of

    @pytest.fixture
    def tamper(self) -> Tamper:
        async def tamper(kube: KubeClient, pair: ServicePair, canary: int) -> None:
            body = {"metadata": {"annotations": {f"{PREFIX}/canary-weight": str(canary)}}}
            await kube.patch(INGRESSES, canary_name(pair), body, namespace=pair.namespace)

        return tamper

    @pytest.fixture
    def missing_config(self, service_pair: ServicePair) -> tuple[Mapping[str, Any], str]:
        return (
            {"stableIngresses": [STABLE_INGRESS, "no-such"]},
            "spec.strategy.canary.trafficRouting.nginx.stableIngresses[1]",
        )

    async def test_foreign_backends_keep_their_weight(self, harness: Harness) -> None:
        """NGINX splits between a stable Ingress and one canary Ingress: there is no shared
        list for a third backend. What is someone else's here is the stable Ingress (never
        written) and annotations others put on the canary Ingress (kept)."""
        await harness.create()
        ns = harness.pair.namespace
        stable_before = await harness.kube.get(INGRESSES, STABLE_INGRESS, namespace=ns)
        await harness.set_weight(50)
        foreign = {"metadata": {"annotations": {"example.com/scraped": "yes"}}}
        await harness.kube.patch(INGRESSES, canary_name(harness.pair), foreign, namespace=ns)
        await harness.set_weight(0)
        canary = await harness.kube.get(INGRESSES, canary_name(harness.pair), namespace=ns)
        assert canary["metadata"]["annotations"]["example.com/scraped"] == "yes"
        assert canary["metadata"]["annotations"][f"{PREFIX}/canary-weight"] == "0"
        stable_after = await harness.kube.get(INGRESSES, STABLE_INGRESS, namespace=ns)
        assert (
            stable_after["metadata"]["resourceVersion"]
            == stable_before["metadata"]["resourceVersion"]
        )

    async def test_canary_ingress_is_made_like_argo(self, harness: Harness) -> None:
        await harness.create()
        await harness.set_weight(20)
        ns, pair = harness.pair.namespace, harness.pair
        canary = await harness.kube.get(INGRESSES, canary_name(pair), namespace=ns)
        assert canary["metadata"]["annotations"] == {
            "kubernetes.io/ingress.class": "nginx",
            f"{PREFIX}/canary-by-header": "X-Canary",
            "example.com/team": "web",
            f"{PREFIX}/canary": "true",
            f"{PREFIX}/canary-weight": "20",
            MANAGED_BY: harness.rollout_name,
        }
        assert canary["metadata"]["ownerReferences"] == [
            {
                "apiVersion": "argoproj.io/v1alpha1",
                "kind": "Rollout",
                "name": harness.rollout_name,
                "uid": harness.rollout_uid,
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]
        assert canary["spec"] == {
            "ingressClassName": "nginx",
            "tls": [{"hosts": ["demo.example.com"], "secretName": "demo-tls"}],
            "rules": [
                {
                    "host": "demo.example.com",
                    "http": {"paths": [path(pair.canary), path("docs", "/docs")]},
                }
            ],
        }
        # Given back (the Rollout stopped naming the stable Ingress): the canary Ingress goes.
        await harness.reader.refresh()
        released = await harness.router.release(  # type: ignore[attr-defined]
            harness.kube, harness.reader, INGRESSES, canary, harness.rollout_name
        )
        assert released is True
        assert await backends_of(harness.kube, pair) == {}

    async def test_a_canary_ingress_it_does_not_control_is_refused(self, harness: Harness) -> None:
        await harness.create()
        ns = harness.pair.namespace
        squatter = {
            "apiVersion": INGRESSES.api_version,
            "kind": "Ingress",
            "metadata": {"name": canary_name(harness.pair)},
            "spec": {"rules": [{"http": {"paths": [path("someone")]}}]},
        }
        made = await harness.kube.create(INGRESSES, squatter, namespace=ns)
        with pytest.raises(RouterError, match="controlled by different object"):
            await harness.set_weight(10)
        await harness.reader.refresh()
        problems = harness.router.validate(harness.context())
        assert any("stableIngress: canary ingress" in p for p in problems), problems
        after = await harness.kube.get(INGRESSES, canary_name(harness.pair), namespace=ns)
        assert after["metadata"]["resourceVersion"] == made["metadata"]["resourceVersion"]

    async def test_a_stable_ingress_without_the_stable_service_is_refused(
        self, harness: Harness
    ) -> None:
        await harness.create()
        ctx = harness.context({"stableIngress": STABLE_INGRESS})
        await harness.reader.refresh()
        ctx = dataclasses.replace(ctx, stable_service="not-routed")
        with pytest.raises(RouterError, match="has no rules using service not-routed backend"):
            await harness.router.set_weight(ctx, 10)
        assert await backends_of(harness.kube, harness.pair) == {}
