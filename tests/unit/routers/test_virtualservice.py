"""The Istio router's editing rules, as pure functions on dicts (no cluster)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from jsonpatch_apply import apply
from rolloutd_istio import virtualservice as vs
from rolloutd_istio.virtualservice import Roles, VirtualServiceConfig

from rolloutd.traffic.contract import RouterError

ROLES = Roles("canary-svc", "stable-svc")
SUBSETS = Roles("", "", "canary", "stable")


def dest(host: str, weight: int | None, **extra: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {"destination": {"host": host, **extra}}
    if weight is not None:
        entry["weight"] = weight
    return entry


def vs_config(**kw: Any) -> VirtualServiceConfig:
    base: dict[str, Any] = {
        "namespace": "ns",
        "name": "vsvc",
        "field": "spec.strategy.canary.trafficRouting.istio.virtualServices[0]",
        "routes": None,
        "tls_routes": None,
        "tcp_routes": None,
    }
    return VirtualServiceConfig(**{**base, **kw})


def service(http: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
    return {"metadata": {"namespace": "ns", "name": "vsvc"}, "spec": {"http": http, **spec}}


# -- names and hosts ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("vsvc", ("default", "vsvc")),
        ("vsvc.other", ("other", "vsvc")),
        ("vsvc.other.svc.cluster.local", ("other", "vsvc")),
        ("vsvc.other.cluster.local", ("other", "vsvc")),
        ("my.dotted.vsvc.other", ("other", "my.dotted.vsvc")),
    ],
)
def test_split_name(ref: str, expected: tuple[str, str]) -> None:
    assert vs.split_name(ref, "default") == expected


def test_hosts_are_compared_up_to_the_first_dot() -> None:
    assert ROLES.role_of(dest("canary-svc.ns.svc.cluster.local", 0)) == "canary"
    assert ROLES.role_of(dest("stable-svc", 0)) == "stable"
    assert ROLES.role_of(dest("stable-svc-2", 0)) is None
    assert SUBSETS.role_of(dest("any", 0, subset="canary")) == "canary"
    assert SUBSETS.role_of(dest("canary-svc", 0)) is None


def test_parse_config_reports_field_paths() -> None:
    assert vs.parse_config({}, "ns").problems == (
        "spec.strategy.canary.trafficRouting.istio: either virtualService or virtualServices "
        "must be configured",
    )
    cfg = vs.parse_config(
        {
            "virtualServices": [{"name": "a", "routes": ["primary"]}, {"routes": ["x"]}],
            "destinationRule": {"name": "dr", "canarySubsetName": "c"},
        },
        "ns",
    )
    assert cfg.problems == (
        "spec.strategy.canary.trafficRouting.istio.virtualServices[1].name: a VirtualService "
        "name is required",
        "spec.strategy.canary.trafficRouting.istio.destinationRule.stableSubsetName: required",
    )
    assert [v.ref for v in cfg.virtual_services] == ["ns/a"]


# -- which routes ------------------------------------------------------------------------------


def test_named_route_missing_names_its_field() -> None:
    doc = service([{"name": "primary", "route": [dest("stable-svc", 100), dest("canary-svc", 0)]}])
    targets, problems = vs.resolve_targets(doc, vs_config(routes=("primary", "other")), ROLES)
    assert [t.index for t in targets] == [0]
    assert problems == [
        "spec.strategy.canary.trafficRouting.istio.virtualServices[0].routes[1]: HTTP Route "
        "'other' is not found in the defined Virtual Service ns/vsvc."
    ]


def test_omitted_routes_need_exactly_one_route_not_counting_managed_ones() -> None:
    route = {"route": [dest("stable-svc", 100), dest("canary-svc", 0)]}
    header = {"name": "header", "route": [dest("canary-svc", 100)]}
    targets, problems = vs.resolve_targets(service([header, route]), vs_config(), ROLES, ["header"])
    assert (targets[0].index, problems) == (1, [])
    _, problems = vs.resolve_targets(service([route, route]), vs_config(), ROLES)
    assert len(problems) == 1 and "must have exactly one route" in problems[0]
    assert problems[0].startswith("spec.strategy.canary.trafficRouting.istio.virtualServices[0]")


def test_missing_destinations_are_reported_per_route() -> None:
    doc = service([{"name": "primary", "route": [dest("stable-svc", 100)]}])
    _, problems = vs.resolve_targets(doc, vs_config(routes=("primary",)), ROLES)
    assert problems == [
        "spec.strategy.canary.trafficRouting.istio.virtualServices[0].routes[0]: Canary Service "
        "'canary-svc' not found in http route primary of ns/vsvc"
    ]


def test_tls_routes_match_port_and_sni_host_set_tcp_routes_match_port() -> None:
    both = [dest("stable-svc", 100), dest("canary-svc", 0)]
    doc = service(
        [],
        tls=[
            {"match": [{"port": 443, "sniHosts": ["a", "b"]}], "route": both},
            {
                "match": [{"port": 443, "sniHosts": ["b"]}, {"port": 443, "sniHosts": ["a"]}],
                "route": both,
            },
            {"match": [{"port": 443, "sniHosts": ["a"]}], "route": both},
            {"match": [{"port": 8443, "sniHosts": ["a", "b"]}], "route": both},
        ],
        tcp=[{"match": [{"port": 5432}], "route": both}, {"match": [{"port": 1}], "route": both}],
    )
    field = "spec.strategy.canary.trafficRouting.istio.virtualServices[0]"
    cfg = vs_config(
        tls_routes=(vs.TlsSelector(443, frozenset({"b", "a"}), f"{field}.tlsRoutes[0]"),),
        tcp_routes=(vs.TcpSelector(5432, f"{field}.tcpRoutes[0]"),),
    )
    targets, problems = vs.resolve_targets(doc, cfg, ROLES)
    assert problems == []
    assert [(t.kind, t.index) for t in targets] == [("tls", 0), ("tls", 1), ("tcp", 0)]
    missing = vs_config(tcp_routes=(vs.TcpSelector(9, f"{field}.tcpRoutes[0]"),))
    _, problems = vs.resolve_targets(doc, missing, ROLES)
    assert problems == [
        f"{field}.tcpRoutes[0]: No matching TCP routes found in the defined Virtual Service "
        "ns/vsvc (port 9)."
    ]


def test_http_routes_are_left_alone_when_only_tls_routes_are_named() -> None:
    both = [dest("stable-svc", 100), dest("canary-svc", 0)]
    doc = service([{"route": both}, {"route": both}], tls=[{"match": [{"port": 1}], "route": both}])
    cfg = vs_config(tls_routes=(vs.TlsSelector(1, None, "f"),))
    targets, problems = vs.resolve_targets(doc, cfg, ROLES)
    assert [(t.kind, t.index) for t in targets] == [("tls", 0)] and problems == []


# -- weights -----------------------------------------------------------------------------------


def test_weight_ops_touch_only_what_differs() -> None:
    route = {"route": [dest("stable-svc", 100), dest("canary-svc", 0), dest("other", 0)]}
    assert vs.weight_ops(route, "/spec/http/0", ROLES, 20) == [
        {"op": "replace", "path": "/spec/http/0/route/0/weight", "value": 80},
        {"op": "replace", "path": "/spec/http/0/route/1/weight", "value": 20},
    ]
    lone = {"route": [dest("stable-svc", None), dest("canary-svc", None)]}
    assert [op["op"] for op in vs.weight_ops(lone, "/spec/http/0", ROLES, 0)] == ["add", "add"]


def test_experiment_destinations_are_weighted_or_appended() -> None:
    route = {"route": [dest("stable-svc", 100, port={"number": 80}), dest("canary-svc", 0)]}
    patched = apply({"r": route}, vs.weight_ops(route, "/r", ROLES, 10, {"exp-svc": 20}))["r"]
    assert [(d["destination"]["host"], d["weight"]) for d in patched["route"]] == [
        ("stable-svc", 70),
        ("canary-svc", 10),
        ("exp-svc", 20),
    ]
    assert patched["route"][2]["destination"]["port"] == {"number": 80}
    assert vs.weight_ops(patched, "/r", ROLES, 10, {"exp-svc": 20}) == []


def test_foreign_weight_that_leaves_no_room_is_an_error() -> None:
    route = {"route": [dest("stable-svc", 30), dest("canary-svc", 0), dest("legacy", 70)]}
    with pytest.raises(RouterError, match="stable would get -10"):
        vs.weight_ops(route, "/r", ROLES, 40, where="routes[0]")


@st.composite
def routes(draw: st.DrawFn) -> tuple[dict[str, Any], int, list[dict[str, Any]]]:
    """A route with stable, canary and up to three foreign destinations in any order (with
    any current weights, as after drift), plus a canary weight that fits."""
    foreign_weights = draw(st.lists(st.integers(0, 40), max_size=3).filter(lambda w: sum(w) <= 100))
    foreign = [
        dest(f"foreign-{i}.other.svc.cluster.local", w) for i, w in enumerate(foreign_weights)
    ]
    ours = [
        dest("stable-svc.ns.svc.cluster.local", draw(st.none() | st.integers(0, 100))),
        dest("canary-svc", draw(st.none() | st.integers(0, 100))),
    ]
    entries = draw(st.permutations(ours + foreign))
    weight = draw(st.integers(0, 100 - sum(foreign_weights)))
    return {"name": "primary", "route": list(entries)}, weight, foreign


@given(routes())
def test_weights_sum_to_100_and_foreign_destinations_are_untouched(
    case: tuple[dict[str, Any], int, list[dict[str, Any]]],
) -> None:
    route, weight, foreign = case
    doc = {"spec": {"http": [route]}}
    patched = apply(doc, vs.weight_ops(route, "/spec/http/0", ROLES, weight))
    after = patched["spec"]["http"][0]
    assert sum(vs.weights(after)) == 100
    assert vs.observed(after, ROLES)[0] == weight
    assert [e for e in after["route"] if e in foreign] == [
        e for e in route["route"] if e in foreign
    ]
    assert len(after["route"]) == len(route["route"])
    assert after["name"] == "primary"


@given(routes())
def test_patch_is_empty_when_nothing_differs(
    case: tuple[dict[str, Any], int, list[dict[str, Any]]],
) -> None:
    route, weight, _ = case
    once = apply({"r": route}, vs.weight_ops(route, "/r", ROLES, weight))["r"]
    assert vs.weight_ops(once, "/r", ROLES, weight) == []
    assert vs.carries(once, ROLES, weight)


@given(st.integers(0, 100), st.integers(1, 100))
def test_no_room_means_error_never_a_negative_weight(weight: int, foreign: int) -> None:
    route = {"route": [dest("stable-svc", 0), dest("canary-svc", 0), dest("x", foreign)]}
    if weight + foreign > 100:
        with pytest.raises(RouterError):
            vs.weight_ops(route, "/r", ROLES, weight)
    else:
        patched = apply({"r": route}, vs.weight_ops(route, "/r", ROLES, weight))["r"]
        assert min(vs.weights(patched)) >= 0


# -- managed routes ------------------------------------------------------------------------------


def test_header_route_goes_to_canary_with_the_weighted_routes_first_port() -> None:
    weighted = {
        "route": [
            dest("stable-svc", 80, port={"number": 15372}),
            dest("canary-svc.ns.svc.cluster.local", 20, port={"number": 9000}),
        ]
    }
    destination = vs.canary_destination(weighted, ROLES)
    assert destination == {"host": "canary-svc.ns.svc.cluster.local", "port": {"number": 15372}}
    route = vs.header_route("hdr", [{"header": "x-v", "prefix": "2"}], destination)
    assert route == {
        "name": "hdr",
        "match": [{"headers": {"x-v": {"prefix": "2"}}}],
        "route": [{"destination": destination, "weight": 100}],
    }
    with pytest.raises(RouterError, match="exactly one of"):
        vs.header_route("hdr", [{"header": "x-v"}], destination)


def test_mirror_route_copies_the_split_and_maps_path_to_uri() -> None:
    weighted = {"route": [dest("stable-svc", 70), dest("canary-svc", 30)]}
    route = vs.mirror_route("m", [{"path": {"exact": "/"}}], 50, weighted, {"host": "canary-svc"})
    assert route["match"] == [{"uri": {"exact": "/"}}]
    assert route["route"] == weighted["route"] and route["route"] is not weighted["route"]
    assert route["mirrorPercentage"] == {"value": 50.0}


NAMES = ["u1", "u2", "u3", "m1", "m2", "m3"]


@given(
    st.permutations(NAMES).flatmap(
        lambda order: st.tuples(st.just(order), st.sampled_from(["m1", "m2", "m3"]))
    ),
    st.sets(st.sampled_from(["m1", "m2", "m3"])),
)
def test_managed_routes_end_on_top_in_managed_order(
    case: tuple[list[str], str], absent: set[str]
) -> None:
    order, new = case
    managed = ["m1", "m2", "m3"]
    http = [{"name": n, "route": [dest("canary-svc", 100)]} for n in order if n not in absent]
    route = {"name": new, "route": [dest("canary-svc", 100)], "match": [{"uri": {"exact": "/x"}}]}
    patched = apply({"spec": {"http": http}}, vs.place_route_ops(http, route, managed))
    names = [r["name"] for r in patched["spec"]["http"]]
    present = [m for m in managed if m == new or (m not in absent)]
    assert names[: len(present)] == present
    assert names[len(present) :] == [n for n in order if n.startswith("u")]
    assert next(r for r in patched["spec"]["http"] if r["name"] == new) == route
    # In place: a second call changes nothing.
    assert vs.place_route_ops(patched["spec"]["http"], route, managed) == []
    # Removing them leaves the user's routes in their order.
    left = apply(patched, vs.remove_routes_ops(patched["spec"]["http"], managed))
    assert [r["name"] for r in left["spec"]["http"]] == [n for n in order if n.startswith("u")]


def test_a_route_not_listed_in_managed_routes_is_refused() -> None:
    with pytest.raises(RouterError, match="managedRoutes"):
        vs.place_route_ops([], {"name": "x"}, ["y"])


# -- DestinationRule -------------------------------------------------------------------------------


def test_subset_ops_set_hashes_keep_the_rest_and_annotate() -> None:
    rule = {
        "metadata": {"namespace": "ns", "name": "dr"},
        "spec": {
            "subsets": [
                {"name": "canary"},
                {"name": "stable", "labels": {"rollouts-pod-template-hash": "old", "a": "b"}},
                {"name": "extra", "labels": {"v": "1"}, "trafficPolicy": {"tls": {}}},
            ]
        },
    }
    ops = vs.subset_ops(rule, {"canary": "c1", "stable": "s1"}, "demo")
    after = apply(rule, ops)
    assert after["spec"]["subsets"] == [
        {"name": "canary", "labels": {"rollouts-pod-template-hash": "c1"}},
        {"name": "stable", "labels": {"rollouts-pod-template-hash": "s1", "a": "b"}},
        {"name": "extra", "labels": {"v": "1"}, "trafficPolicy": {"tls": {}}},
    ]
    assert after["metadata"]["annotations"] == {vs.MANAGED_BY: "demo"}
    assert vs.subset_ops(after, {"canary": "c1", "stable": "s1"}, "demo") == []
    cleared = apply(after, vs.subset_ops(after, {"canary": None, "stable": "s1"}, "demo"))
    assert cleared["spec"]["subsets"][0]["labels"] == {}
    with pytest.raises(RouterError, match="subset 'nope' not found in DestinationRule ns/dr"):
        vs.subset_ops(rule, {"nope": "x"}, "demo")
