"""The ALB router on the real cluster: the action annotation on a built-in Ingress."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from rolloutd_alb.router import MANAGED_ANNOTATIONS, MANAGED_BY, Router

from rolloutd.kube.client import KubeClient
from rolloutd.kube.resources import INGRESSES
from rolloutd.traffic.contract import HeaderMatch, HeaderRoute, VerifyResult
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

NAME = "demo-alb"
PREFIX = "alb.ingress.kubernetes.io"


def key(pair: ServicePair) -> str:
    return f"{PREFIX}/actions.{pair.stable}"


def ingress(pair: ServicePair, foreign: Sequence[ForeignBackend] = ()) -> dict[str, Any]:
    annotations = {f"{PREFIX}/scheme": "internet-facing"}
    if foreign:
        groups = [{"ServiceName": pair.canary, "ServicePort": "80", "Weight": 0}]
        groups += [
            {"ServiceName": f.service, "ServicePort": "80", "Weight": f.weight} for f in foreign
        ]
        groups.append(
            {
                "ServiceName": pair.stable,
                "ServicePort": "80",
                "Weight": 100 - sum(f.weight for f in foreign),
            }
        )
        annotations[key(pair)] = json.dumps(
            {"Type": "forward", "ForwardConfig": {"TargetGroups": groups}}
        )
    return {
        "apiVersion": INGRESSES.api_version,
        "kind": "Ingress",
        "metadata": {"name": NAME, "annotations": annotations},
        "spec": {
            "ingressClassName": "alb",
            "rules": [
                {
                    "http": {
                        "paths": [
                            {
                                "path": "/",
                                "pathType": "Prefix",
                                "backend": {
                                    "service": {
                                        "name": pair.stable,
                                        "port": {"name": "use-annotation"},
                                    }
                                },
                            }
                        ]
                    }
                }
            ],
        },
    }


async def backends_of(kube: KubeClient, pair: ServicePair) -> dict[str, int]:
    obj = await kube.get(INGRESSES, NAME, namespace=pair.namespace)
    text = (obj["metadata"].get("annotations") or {}).get(key(pair))
    if not text:
        return {}
    groups = json.loads(text)["ForwardConfig"]["TargetGroups"]
    return {g["ServiceName"]: int(g["Weight"]) for g in groups}


class TestAlbConformance(RouterConformance):
    @pytest.fixture
    def router(self) -> Router:
        return Router({})

    @pytest.fixture
    def router_config(self, service_pair: ServicePair) -> Mapping[str, Any]:
        return {"ingress": NAME, "servicePort": 80}

    @pytest.fixture
    def create_routing(self) -> CreateRouting:
        async def create(
            kube: KubeClient, pair: ServicePair, foreign: Sequence[ForeignBackend], _: RolloutRef
        ) -> None:
            await kube.create(INGRESSES, ingress(pair, foreign), namespace=pair.namespace)

        return create

    @pytest.fixture
    def read_backends(self) -> ReadBackends:
        return backends_of

    @pytest.fixture
    def tamper(self) -> Tamper:
        async def tamper(kube: KubeClient, pair: ServicePair, canary: int) -> None:
            obj = await kube.get(INGRESSES, NAME, namespace=pair.namespace)
            action = json.loads(obj["metadata"]["annotations"][key(pair)])
            groups = action["ForwardConfig"]["TargetGroups"]
            others = sum(
                g["Weight"] for g in groups if g["ServiceName"] not in (pair.stable, pair.canary)
            )
            for g in groups:
                if g["ServiceName"] == pair.canary:
                    g["Weight"] = canary
                elif g["ServiceName"] == pair.stable:
                    g["Weight"] = 100 - canary - others
            obj["metadata"]["annotations"][key(pair)] = json.dumps(action)
            await kube.replace(INGRESSES, NAME, obj, namespace=pair.namespace)

        return tamper

    @pytest.fixture
    def missing_config(self, service_pair: ServicePair) -> tuple[Mapping[str, Any], str]:
        return (
            {"ingress": "no-such", "servicePort": 80},
            "spec.strategy.canary.trafficRouting.alb.ingress",
        )

    async def test_verify_weight_is_honest(self, harness: Harness) -> None:
        """No AWS API here: a documented no-op, never a claim that the weight is verified."""
        await harness.create()
        await harness.set_weight(25)
        assert await harness.verify_weight(25) is VerifyResult.NOT_IMPLEMENTED
        await harness.tamper(5)
        assert await harness.verify_weight(25) is VerifyResult.NOT_IMPLEMENTED
        assert [o.canary for o in await harness.read_weight()] == [5]

    async def test_argo_annotations_and_the_rest_kept(self, harness: Harness) -> None:
        await harness.create()
        await harness.set_weight(20)
        obj = await harness.kube.get(INGRESSES, NAME, namespace=harness.pair.namespace)
        annotations = obj["metadata"]["annotations"]
        pair = harness.pair
        assert annotations[key(pair)] == (
            '{"Type":"forward","ForwardConfig":{"TargetGroups":['
            f'{{"ServiceName":"{pair.canary}","ServicePort":"80","Weight":20}},'
            f'{{"ServiceName":"{pair.stable}","ServicePort":"80","Weight":80}}]}}}}'
        )
        assert json.loads(annotations[MANAGED_ANNOTATIONS]) == {harness.rollout_name: [key(pair)]}
        assert annotations[MANAGED_BY] == harness.rollout_name
        assert annotations[f"{PREFIX}/scheme"] == "internet-facing"
        assert obj["spec"] == ingress(pair)["spec"]

    async def test_header_route_then_release(self, harness: Harness) -> None:
        await harness.create()
        await harness.set_weight(10)
        await harness.reader.refresh()
        route = HeaderRoute("canary-header", (HeaderMatch("X-Canary", exact="yes"),))
        assert await harness.router.set_header_route(harness.context(), route) is True
        obj = await harness.kube.get(INGRESSES, NAME, namespace=harness.pair.namespace)
        annotations = obj["metadata"]["annotations"]
        assert json.loads(annotations[f"{PREFIX}/conditions.canary-header"]) == [
            {
                "field": "http-header",
                "httpHeaderConfig": {"httpHeaderName": "X-Canary", "values": ["yes"]},
            }
        ]
        paths = obj["spec"]["rules"][0]["http"]["paths"]
        assert paths[0]["backend"]["service"] == {
            "name": "canary-header",
            "port": {"name": "use-annotation"},
        }
        # The Rollout stops naming the Ingress: the action goes back to 100% stable, the
        # header route and every mark go.
        await harness.reader.refresh()
        released = await harness.router.release(  # type: ignore[attr-defined]
            harness.kube, harness.reader, INGRESSES, obj, harness.rollout_name
        )
        assert released is True
        obj = await harness.kube.get(INGRESSES, NAME, namespace=harness.pair.namespace)
        annotations = obj["metadata"]["annotations"]
        assert json.loads(annotations[key(harness.pair)])["ForwardConfig"]["TargetGroups"] == [
            {"ServiceName": harness.pair.stable, "ServicePort": "80", "Weight": 100}
        ]
        assert set(annotations) == {key(harness.pair), f"{PREFIX}/scheme"}
        assert obj["spec"] == ingress(harness.pair)["spec"]
