"""The APISIX router on the real cluster, against rolloutd's minimal ApisixRoute CRD (no upstream
CRD is at hand here): the conformance kit, rules, header routes and their clean-up."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from rolloutd_apisix.router import Router

from rolloutd.kube.client import ApiError, KubeClient
from rolloutd.traffic.contract import HeaderMatch, HeaderRoute, RouterError
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

ROUTES = Router({}).routes
ROUTE = "demo-route"
RULE = "main"


def route_body(pair: ServicePair, foreign: Sequence[ForeignBackend] = ()) -> dict[str, Any]:
    backends: list[dict[str, Any]] = [
        # No weights, as Argo's guide has it (so a GitOps tool does not fight over them).
        {"serviceName": pair.stable, "servicePort": 80},
        {"serviceName": pair.canary, "servicePort": 80},
    ]
    if foreign:
        backends[0]["weight"] = 100 - sum(f.weight for f in foreign)
        backends[1]["weight"] = 0
    backends += [{"serviceName": f.service, "servicePort": 80, "weight": f.weight} for f in foreign]
    return {
        "apiVersion": ROUTES.api_version,
        "kind": "ApisixRoute",
        "metadata": {"name": ROUTE, "labels": {"team": "web"}},
        "spec": {
            "http": [
                {
                    "name": RULE,
                    "match": {"paths": ["/*"], "hosts": ["demo.example.com"]},
                    "backends": backends,
                },
                {
                    "name": "someone-elses",
                    "match": {"paths": ["/admin/*"]},
                    "backends": [{"serviceName": "admin", "servicePort": 80}],
                },
            ]
        },
    }


async def backends_of(kube: KubeClient, pair: ServicePair) -> dict[str, int]:
    route = await kube.get(ROUTES, ROUTE, namespace=pair.namespace)
    rule = next(r for r in route["spec"]["http"] if r["name"] == RULE)
    raw = {b["serviceName"]: b.get("weight") for b in rule["backends"]}
    if all(w is None for w in raw.values()):
        # All unweighted: equal shares, as the ingress controller splits them. The kit wants
        # the state before the first write as 100/0, which is what rolloutd reads at 0 weight.
        return {pair.stable: 100, pair.canary: 0}
    return {k: 100 if w is None else int(w) for k, w in raw.items()}


class TestApisixConformance(RouterConformance):
    @pytest.fixture
    def router(self) -> Router:
        return Router({})

    @pytest.fixture
    def router_config(self, service_pair: ServicePair) -> Mapping[str, Any]:
        return {"route": {"name": ROUTE, "rules": [RULE]}}

    @pytest.fixture
    def create_routing(self) -> CreateRouting:
        async def create(
            kube: KubeClient,
            pair: ServicePair,
            foreign: Sequence[ForeignBackend],
            rollout: RolloutRef,
        ) -> None:
            body = route_body(pair, foreign)
            if not foreign:
                # The kit starts from 100/0: write it, as the route would be after a rollout.
                body["spec"]["http"][0]["backends"][0]["weight"] = 100
                body["spec"]["http"][0]["backends"][1]["weight"] = 0
            await kube.create(ROUTES, body, namespace=pair.namespace)

        return create

    @pytest.fixture
    def read_backends(self) -> ReadBackends:
        async def read(kube: KubeClient, pair: ServicePair) -> dict[str, int]:
            try:
                return await backends_of(kube, pair)
            except ApiError as exc:
                if exc.not_found:
                    return {}
                raise

        return read

    @pytest.fixture
    def tamper(self) -> Tamper:
        async def tamper(kube: KubeClient, pair: ServicePair, canary: int) -> None:
            route = await kube.get(ROUTES, ROUTE, namespace=pair.namespace)
            rule = next(r for r in route["spec"]["http"] if r["name"] == RULE)
            others = sum(
                int(b.get("weight") or 0)
                for b in rule["backends"]
                if b["serviceName"] not in (pair.canary, pair.stable)
            )
            for b in rule["backends"]:
                if b["serviceName"] == pair.canary:
                    b["weight"] = canary
                elif b["serviceName"] == pair.stable:
                    b["weight"] = 100 - canary - others
            await kube.replace(ROUTES, ROUTE, route, namespace=pair.namespace)

        return tamper

    @pytest.fixture
    def missing_config(self, service_pair: ServicePair) -> tuple[Mapping[str, Any], str]:
        return {"route": {"name": "no-such-route"}}, "trafficRouting.apisix.route.name"

    # -- beyond the kit ------------------------------------------------------------------------

    async def test_unweighted_backends_get_weights_and_other_rules_stay(
        self, harness: Harness
    ) -> None:
        await harness.kube.create(
            ROUTES, route_body(harness.pair), namespace=harness.pair.namespace
        )
        before = await harness.kube.get(ROUTES, ROUTE, namespace=harness.pair.namespace)
        assert await harness.set_weight(20) is True
        after = await harness.kube.get(ROUTES, ROUTE, namespace=harness.pair.namespace)
        assert [b.get("weight") for b in after["spec"]["http"][0]["backends"]] == [80, 20]
        assert after["spec"]["http"][1] == before["spec"]["http"][1]
        assert after["metadata"]["labels"] == {"team": "web"}

    async def test_missing_rule_and_backend_are_named(self, harness: Harness) -> None:
        await harness.create()
        ctx = dataclasses.replace(
            harness.context(), config={"route": {"name": ROUTE, "rules": ["nope"]}}
        )
        await harness.reader.refresh()
        problems = harness.router.validate(ctx)
        assert problems == [
            f"spec.strategy.canary.trafficRouting.apisix.route.rules[0]: HTTP rule 'nope' not "
            f"found in ApisixRoute {harness.pair.namespace}/{ROUTE} (spec.http)"
        ]
        with pytest.raises(RouterError, match="HTTP rule 'nope' not found"):
            await harness.router.set_weight(ctx, 10)
        wrong = dataclasses.replace(harness.context(), canary_service="not-a-backend")
        assert any("no backend for the canary Service" in p for p in harness.router.validate(wrong))

    async def test_header_route_is_created_owned_and_removed(self, harness: Harness) -> None:
        await harness.create()
        ns = harness.pair.namespace
        ctx = dataclasses.replace(harness.context(), managed_routes=["set-header"])
        await harness.reader.refresh()
        route = HeaderRoute("set-header", [HeaderMatch("trace", exact="debug")])
        assert await harness.router.set_header_route(ctx, route) is True
        made = await harness.kube.get(ROUTES, "set-header", namespace=ns)
        assert made["metadata"]["ownerReferences"][0]["uid"] == harness.rollout_uid
        assert made["spec"]["http"] == [
            {
                "name": RULE,
                "priority": 1,
                "match": {
                    "paths": ["/*"],
                    "hosts": ["demo.example.com"],
                    "exprs": [
                        {
                            "subject": {"scope": "Header", "name": "trace"},
                            "op": "Equal",
                            "value": "debug",
                        }
                    ],
                },
                "backends": [
                    {"serviceName": harness.pair.canary, "servicePort": 80, "weight": 100}
                ],
            }
        ]
        await harness.reader.refresh()
        assert await harness.router.set_header_route(ctx, route) is False  # nothing differs
        assert await harness.router.remove_managed_routes(ctx) is True
        with pytest.raises(ApiError) as gone:
            await harness.kube.get(ROUTES, "set-header", namespace=ns)
        assert gone.value.not_found
        main = await harness.kube.get(ROUTES, ROUTE, namespace=ns)
        assert len(main["spec"]["http"]) == 2

    async def test_header_route_of_someone_else_is_refused(self, harness: Harness) -> None:
        await harness.create()
        ns = harness.pair.namespace
        theirs = route_body(harness.pair)
        theirs["metadata"] = {"name": "set-header"}
        await harness.kube.create(ROUTES, theirs, namespace=ns)
        await harness.reader.refresh()
        ctx = dataclasses.replace(harness.context(), managed_routes=["set-header"])
        route = HeaderRoute("set-header", [HeaderMatch("trace", prefix="a.b")])
        with pytest.raises(RouterError, match="is not owned by Rollout"):
            await harness.router.set_header_route(ctx, route)
        assert await harness.router.remove_managed_routes(ctx) is False
        still = await harness.kube.get(ROUTES, "set-header", namespace=ns)
        assert still["spec"] == theirs["spec"]
