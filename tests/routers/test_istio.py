"""The Istio router on the real cluster, against Istio's own CRDs: the conformance kit, the
seed's VirtualService, TLS/TCP routes, DestinationRule subsets and managed routes."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from rolloutd_istio.router import Router

from rolloutd.kube.client import KubeClient
from rolloutd.kube.resources import Resource
from rolloutd.traffic.contract import (
    HeaderMatch,
    HeaderRoute,
    MirrorRoute,
    RouterContext,
    RouterError,
    VerifyResult,
)
from rolloutd_dev.testing.conformance import (
    ApiObjectReader,
    CreateRouting,
    ForeignBackend,
    Harness,
    ReadBackends,
    RolloutRef,
    RouterConformance,
    Tamper,
    count_writes,
    create_rollout_owner,
)
from rolloutd_dev.testing.objects import ServicePair, create_service_pair

pytestmark = [pytest.mark.usefixtures("istio_crds"), pytest.mark.asyncio(loop_scope="session")]

VS = Resource("networking.istio.io", "v1alpha3", "virtualservices", "VirtualService")
DR = Resource("networking.istio.io", "v1alpha3", "destinationrules", "DestinationRule")
VS_NAME = "demo-vsvc"


def _destination(host: str, weight: int) -> dict[str, Any]:
    return {"destination": {"host": host, "port": {"number": 80}}, "weight": weight}


def virtual_service(pair: ServicePair, foreign: Sequence[ForeignBackend] = ()) -> dict[str, Any]:
    rest = 100 - sum(f.weight for f in foreign)
    route = [_destination(pair.stable, rest), _destination(pair.canary, 0)]
    route += [_destination(f.service, f.weight) for f in foreign]
    return {
        "apiVersion": VS.api_version,
        "kind": "VirtualService",
        "metadata": {"name": VS_NAME},
        "spec": {"hosts": [f"{pair.app}.local"], "http": [{"name": "primary", "route": route}]},
    }


def primary(vs: Mapping[str, Any]) -> list[dict[str, Any]]:
    return next(r for r in vs["spec"]["http"] if r.get("name") == "primary")["route"]  # type: ignore[no-any-return]


def assert_valid_for_istio(vs: Mapping[str, Any]) -> None:
    """What Istio's validating webhook insists on: every route has a destination, and the
    weights of a route with several destinations sum to 100."""
    for kind in ("http", "tls", "tcp"):
        for route in vs["spec"].get(kind) or []:
            assert route.get("route"), f"{kind} route {route.get('name')} has no destination"
            if len(route["route"]) > 1:
                assert sum(d.get("weight", 0) for d in route["route"]) == 100, route


class TestIstioConformance(RouterConformance):
    @pytest.fixture
    def router(self) -> Router:
        return Router({})

    @pytest.fixture
    def router_config(self, service_pair: ServicePair) -> Mapping[str, Any]:
        return {"virtualServices": [{"name": VS_NAME, "routes": ["primary"]}]}

    @pytest.fixture
    def create_routing(self) -> CreateRouting:
        async def create(
            kube: KubeClient, pair: ServicePair, foreign: Sequence[ForeignBackend], _: RolloutRef
        ) -> None:
            await kube.create(VS, virtual_service(pair, foreign), namespace=pair.namespace)

        return create

    @pytest.fixture
    def read_backends(self) -> ReadBackends:
        async def read(kube: KubeClient, pair: ServicePair) -> dict[str, int]:
            vs = await kube.get(VS, VS_NAME, namespace=pair.namespace)
            assert_valid_for_istio(vs)
            return {d["destination"]["host"]: int(d["weight"]) for d in primary(vs)}

        return read

    @pytest.fixture
    def tamper(self) -> Tamper:
        async def tamper(kube: KubeClient, pair: ServicePair, canary: int) -> None:
            vs = await kube.get(VS, VS_NAME, namespace=pair.namespace)
            route = primary(vs)
            others = sum(
                int(d["weight"])
                for d in route
                if d["destination"]["host"] not in (pair.stable, pair.canary)
            )
            for d in route:
                if d["destination"]["host"] == pair.canary:
                    d["weight"] = canary
                elif d["destination"]["host"] == pair.stable:
                    d["weight"] = 100 - canary - others
            await kube.replace(VS, VS_NAME, vs, namespace=pair.namespace)

        return tamper

    @pytest.fixture
    def missing_config(self, service_pair: ServicePair) -> tuple[Mapping[str, Any], str]:
        return (
            {"virtualServices": [{"name": "no-such-vsvc", "routes": ["primary"]}]},
            "spec.strategy.canary.trafficRouting.istio.virtualServices[0].name",
        )


# -- beyond the kit -------------------------------------------------------------------------------


def seed_virtual_service(pair: ServicePair) -> dict[str, Any]:
    """The seed's VirtualService, for this pair: an HTTP route `primary` and a TLS route."""
    return {
        "apiVersion": VS.api_version,
        "kind": "VirtualService",
        "metadata": {"name": VS_NAME},
        "spec": {
            "gateways": ["rollouts-demo-gateway"],
            "hosts": ["rollouts-demo-vsvc.local"],
            "http": [
                {
                    "name": "primary",
                    "route": [
                        {
                            "destination": {"host": pair.stable, "port": {"number": 15372}},
                            "weight": 100,
                        },
                        {
                            "destination": {"host": pair.canary, "port": {"number": 15372}},
                            "weight": 0,
                        },
                    ],
                }
            ],
            "tls": [
                {
                    "match": [{"port": 3000, "sniHosts": ["rollouts-demo-vsvc.local"]}],
                    "route": [
                        {"destination": {"host": pair.stable}, "weight": 100},
                        {"destination": {"host": pair.canary}, "weight": 0},
                    ],
                }
            ],
            "tcp": [
                {
                    "match": [{"port": 5432}],
                    "route": [
                        {"destination": {"host": pair.stable}, "weight": 100},
                        {"destination": {"host": pair.canary}, "weight": 0},
                    ],
                }
            ],
        },
    }


@pytest.fixture
async def seeded(harness: Harness) -> Harness:
    await harness.kube.create(
        VS, seed_virtual_service(harness.pair), namespace=harness.pair.namespace
    )
    await harness.reader.refresh()
    return harness


@pytest.fixture
def router() -> Router:
    return Router({})


@pytest.fixture
def router_config() -> Mapping[str, Any]:
    return {"virtualServices": [{"name": VS_NAME, "routes": ["primary"]}]}


@pytest.fixture
async def harness(
    kube: KubeClient, namespace: str, router: Router, router_config: Mapping[str, Any]
) -> Harness:
    pair = await create_service_pair(kube, namespace)
    uid = await create_rollout_owner(kube, namespace, "demo-rollout")

    async def unused(*_: Any) -> Any:  # these tests build their objects themselves
        return {}

    return Harness(kube, pair, router, router_config, unused, unused, unused, "demo-rollout", uid)


async def _vs(h: Harness) -> dict[str, Any]:
    return await h.kube.get(VS, VS_NAME, namespace=h.pair.namespace)


async def test_seed_walkthrough_moves_only_the_named_route(seeded: Harness) -> None:
    h = seeded
    before = await _vs(h)
    for weight in (20, 40, 60, 80, 100, 0):
        assert await h.set_weight(weight) is True
        vs = await _vs(h)
        assert [d["weight"] for d in primary(vs)] == [100 - weight, weight]
        assert vs["spec"]["tls"] == before["spec"]["tls"]
        assert vs["spec"]["tcp"] == before["spec"]["tcp"]
        assert await h.verify_weight(weight) is VerifyResult.VERIFIED
    observed = await h.read_weight()
    assert [(o.canary, o.stable) for o in observed] == [(0, 100)]
    assert "http route primary" in observed[0].object


async def test_tls_and_tcp_routes_by_port_and_sni(seeded: Harness) -> None:
    h = seeded
    config = {
        "virtualService": {
            "name": VS_NAME,
            "routes": ["primary"],
            "tlsRoutes": [{"port": 3000, "sniHosts": ["rollouts-demo-vsvc.local"]}],
            "tcpRoutes": [{"port": 5432}],
        }
    }
    await h.reader.refresh()
    assert await h.router.set_weight(h.context(config), 30) is True
    vs = await _vs(h)
    for kind in ("http", "tls", "tcp"):
        assert [d["weight"] for d in vs["spec"][kind][0]["route"]] == [70, 30], kind
    await h.reader.refresh()
    assert len(h.router.read_weight(h.context(config))) == 3

    wrong = {
        "virtualService": {"name": VS_NAME, "tlsRoutes": [{"port": 3000, "sniHosts": ["x.local"]}]}
    }
    problems = h.router.validate(h.context(wrong))
    assert any(
        p.startswith("spec.strategy.canary.trafficRouting.istio.virtualService.tlsRoutes[0]")
        and "No matching TLS routes" in p
        for p in problems
    ), problems


async def test_validate_names_a_missing_route_with_its_field_path(seeded: Harness) -> None:
    h = seeded
    config = {"virtualServices": [{"name": VS_NAME, "routes": ["primary", "secondary"]}]}
    problems = h.router.validate(h.context(config))
    assert problems == [
        "spec.strategy.canary.trafficRouting.istio.virtualServices[0].routes[1]: "
        f"HTTP Route 'secondary' is not found in the defined Virtual Service "
        f"{h.pair.namespace}/{VS_NAME}."
    ]
    with pytest.raises(RouterError, match="routes\\[1\\]"):
        await h.router.set_weight(h.context(config), 10)
    assert primary(await _vs(h))[1]["weight"] == 0, "a bad config must change nothing"


async def test_virtual_service_in_another_namespace(
    kube: KubeClient, namespace: str, harness: Harness
) -> None:
    from rolloutd.kube.resources import NAMESPACES

    other = f"{namespace}-vs"
    await kube.create(
        NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": other}}
    )
    try:
        await kube.create(VS, virtual_service(harness.pair), namespace=other)
        config = {
            "virtualServices": [
                {"name": f"{VS_NAME}.{other}.svc.cluster.local", "routes": ["primary"]}
            ]
        }
        harness.reader = harness.reader_for(config)
        assert any(r.namespace == other for r in harness.router.references(config, namespace))
        await harness.reader.refresh()
        assert await harness.router.set_weight(harness.context(config), 15) is True
        vs = await kube.get(VS, VS_NAME, namespace=other)
        assert [d["weight"] for d in primary(vs)] == [85, 15]
    finally:
        await kube.delete(NAMESPACES, other)


async def test_stale_cache_conflict_is_replanned(seeded: Harness) -> None:
    h = seeded
    stale = ApiObjectReader(h.kube, h.router.watched_resources(), h.pair.namespace)
    await stale.refresh()
    # Someone moves the weights after our cache was filled.
    vs = await _vs(h)
    primary(vs)[0]["weight"], primary(vs)[1]["weight"] = 50, 50
    await h.kube.replace(VS, VS_NAME, vs, namespace=h.pair.namespace)
    h.reader = stale
    with count_writes(h.kube) as writes:
        assert await h.router.set_weight(h.context(), 20) is True
    assert [w[0] for w in writes] == ["patch", "patch"], writes
    assert writes[0][2] in (409, 422) and writes[1][2] == 200
    assert [d["weight"] for d in primary(await _vs(h))] == [80, 20]


async def test_foreign_weight_too_large_is_an_error_naming_the_route(harness: Harness) -> None:
    h = harness
    await h.kube.create(
        VS, virtual_service(h.pair, [ForeignBackend("legacy", 70)]), namespace=h.pair.namespace
    )
    with pytest.raises(RouterError, match=r"routes\[0\].*http route primary.*stable would get -10"):
        await h.set_weight(40)
    assert await h.set_weight(30) is True
    assert {d["destination"]["host"]: d["weight"] for d in primary(await _vs(h))} == {
        h.pair.stable: 0,
        h.pair.canary: 30,
        "legacy": 70,
    }


def _managed_ctx(h: Harness, managed: Sequence[str]) -> RouterContext:
    return dataclasses.replace(h.context(), managed_routes=tuple(managed))


async def test_header_and_mirror_routes_sit_on_top_and_keep_the_service_valid(
    seeded: Harness,
) -> None:
    h = seeded
    managed = ["mirror-route", "header-route"]
    await h.set_weight(20)
    await h.reader.refresh()
    header = HeaderRoute("header-route", [HeaderMatch("x-canary", exact="yes")])
    assert await h.router.set_header_route(_managed_ctx(h, managed), header) is True
    vs = await _vs(h)
    assert [r.get("name") for r in vs["spec"]["http"]] == ["header-route", "primary"]
    assert vs["spec"]["http"][0] == {
        "name": "header-route",
        "match": [{"headers": {"x-canary": {"exact": "yes"}}}],
        "route": [
            {"destination": {"host": h.pair.canary, "port": {"number": 15372}}, "weight": 100}
        ],
    }
    assert_valid_for_istio(vs)

    mirror = MirrorRoute(
        "mirror-route", [{"method": {"exact": "GET"}, "path": {"prefix": "/api"}}], 35
    )
    await h.reader.refresh()
    assert await h.router.set_mirror_route(_managed_ctx(h, managed), mirror) is True
    vs = await _vs(h)
    assert [r.get("name") for r in vs["spec"]["http"]] == [
        "mirror-route",
        "header-route",
        "primary",
    ]
    mirrored = vs["spec"]["http"][0]
    assert mirrored["match"] == [{"method": {"exact": "GET"}, "uri": {"prefix": "/api"}}]
    assert mirrored["mirror"] == {"host": h.pair.canary, "port": {"number": 15372}}
    assert mirrored["mirrorPercentage"] == {"value": 35}
    assert [d["weight"] for d in mirrored["route"]] == [80, 20]
    assert_valid_for_istio(vs)

    # Again: nothing to do, nothing written.
    await h.reader.refresh()
    with count_writes(h.kube) as writes:
        assert await h.router.set_header_route(_managed_ctx(h, managed), header) is False
        assert await h.router.set_mirror_route(_managed_ctx(h, managed), mirror) is False
    assert writes == []

    # The mirror route follows the weight; the header route stays at 100% canary.
    await h.reader.refresh()
    assert await h.router.set_weight(_managed_ctx(h, managed), 60) is True
    vs = await _vs(h)
    assert [d["weight"] for d in vs["spec"]["http"][0]["route"]] == [40, 60]
    assert vs["spec"]["http"][1]["route"][0]["weight"] == 100
    assert_valid_for_istio(vs)

    await h.reader.refresh()
    assert await h.router.remove_managed_routes(_managed_ctx(h, managed)) is True
    vs = await _vs(h)
    assert [r.get("name") for r in vs["spec"]["http"]] == ["primary"]
    assert_valid_for_istio(vs)
    await h.reader.refresh()
    assert await h.router.remove_managed_routes(_managed_ctx(h, managed)) is False


async def test_destination_rule_subsets(harness: Harness) -> None:
    h = harness
    ns = h.pair.namespace
    await h.kube.create(
        DR,
        {
            "apiVersion": DR.api_version,
            "kind": "DestinationRule",
            "metadata": {"name": "demo-dr"},
            "spec": {
                "host": "demo",
                "subsets": [
                    {"name": "canary", "labels": {"app": "demo"}},
                    {
                        "name": "stable",
                        "trafficPolicy": {"loadBalancer": {"simple": "ROUND_ROBIN"}},
                    },
                    {"name": "legacy", "labels": {"version": "v0"}},
                ],
            },
        },
        namespace=ns,
    )
    vs = {
        "apiVersion": VS.api_version,
        "kind": "VirtualService",
        "metadata": {"name": VS_NAME},
        "spec": {
            "hosts": ["demo"],
            "http": [
                {
                    "route": [
                        {"destination": {"host": "demo", "subset": "stable"}, "weight": 90},
                        {"destination": {"host": "demo", "subset": "canary"}, "weight": 0},
                        {"destination": {"host": "demo", "subset": "legacy"}, "weight": 10},
                    ]
                }
            ],
        },
    }
    await h.kube.create(VS, vs, namespace=ns)
    config = {
        "virtualService": {"name": VS_NAME},
        "destinationRule": {
            "name": "demo-dr",
            "canarySubsetName": "canary",
            "stableSubsetName": "stable",
        },
    }
    await h.reader.refresh()
    ctx = h.context(config)
    assert h.router.validate(ctx) == []
    assert await h.router.update_hash(ctx, "c4n4ry", "st4bl3") is True
    rule = await h.kube.get(DR, "demo-dr", namespace=ns)
    subsets = {s["name"]: s for s in rule["spec"]["subsets"]}
    assert subsets["canary"]["labels"] == {"app": "demo", "rollouts-pod-template-hash": "c4n4ry"}
    assert subsets["stable"]["labels"] == {"rollouts-pod-template-hash": "st4bl3"}
    assert subsets["stable"]["trafficPolicy"] == {"loadBalancer": {"simple": "ROUND_ROBIN"}}
    assert subsets["legacy"] == {"name": "legacy", "labels": {"version": "v0"}}
    assert rule["metadata"]["annotations"]["argo-rollouts.argoproj.io/managed-by-rollouts"] == (
        h.rollout_name
    )
    await h.reader.refresh()
    with count_writes(h.kube) as writes:
        assert await h.router.update_hash(h.context(config), "c4n4ry", "st4bl3") is False
    assert writes == []

    await h.reader.refresh()
    assert await h.router.set_weight(h.context(config), 25) is True
    route = (await _vs(h))["spec"]["http"][0]["route"]
    assert [(d["destination"]["subset"], d["weight"]) for d in route] == [
        ("stable", 65),
        ("canary", 25),
        ("legacy", 10),
    ]
    await h.reader.refresh()
    assert await h.router.verify_weight(h.context(config), 25) is VerifyResult.VERIFIED
    assert [(o.canary, o.stable) for o in h.router.read_weight(h.context(config))] == [(25, 65)]

    missing = {
        **config,
        "destinationRule": {**config["destinationRule"], "canarySubsetName": "nope"},
    }
    problems = h.router.validate(h.context(missing))
    assert any("destinationRule.canarySubsetName" in p for p in problems), problems
