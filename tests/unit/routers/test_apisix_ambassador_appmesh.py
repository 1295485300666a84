"""The pure parts of the APISIX, Ambassador and App Mesh routers: config parsing, planned ops,
and what each refuses, without a cluster."""

from __future__ import annotations

from typing import Any

import pytest
from rolloutd_ambassador import router as amb
from rolloutd_apisix import router as apx
from rolloutd_appmesh import router as mesh

from rolloutd.model.rollout import validate_rollout
from rolloutd.traffic.contract import HeaderMatch, RouterError
from tests.unit.routers.jsonpatch_apply import apply

# -- APISIX -----------------------------------------------------------------------------------


def apisix_route(*backends: dict[str, Any]) -> dict[str, Any]:
    return {
        "metadata": {"name": "r", "namespace": "ns"},
        "spec": {"http": [{"name": "r", "backends": list(backends)}]},
    }


def test_apisix_rules_default_to_the_route_name() -> None:
    assert apx.parse_config({"route": {"name": "r"}}).rules == ("r",)
    assert apx.parse_config({"route": {"name": "r", "rules": ["a", "b"]}}).rules == ("a", "b")
    assert apx.parse_config({}).problems == (
        "spec.strategy.canary.trafficRouting.apisix.route.name: name the ApisixRoute to edit",
    )


def test_apisix_weights_keep_foreign_backends_and_fill_missing_weights() -> None:
    route = apisix_route(
        {"serviceName": "s", "servicePort": 80},
        {"serviceName": "c", "servicePort": 80},
        {"serviceName": "other", "weight": 10},
    )
    cfg = apx.parse_config({"route": {"name": "r"}})
    patched = apply(route, apx.weight_ops(route, cfg, "s", "c", 30))
    weights = [b.get("weight") for b in patched["spec"]["http"][0]["backends"]]
    assert weights == [60, 30, 10]
    assert apx.weight_ops(patched, cfg, "s", "c", 30) == []
    assert apx.shares(patched["spec"]["http"][0], "s", "c") == (30, 60, 100)


def test_apisix_refuses_more_than_the_others_leave() -> None:
    route = apisix_route({"serviceName": "s"}, {"serviceName": "c"}, {"serviceName": "o"})
    cfg = apx.parse_config({"route": {"name": "r"}})
    # The unweighted foreign backend counts as 100 (the ingress controller's default).
    with pytest.raises(RouterError, match="other backends already take 100"):
        apx.weight_ops(route, cfg, "s", "c", 10)


def test_apisix_header_exprs_as_argo_writes_them_with_an_escaped_prefix() -> None:
    exprs = apx.header_exprs(
        [
            HeaderMatch("a", exact="x"),
            HeaderMatch("b", regex="^v[0-9]"),
            HeaderMatch("c", prefix="1.2"),
        ]
    )
    assert [(e["subject"]["name"], e["op"], e["value"]) for e in exprs] == [
        ("a", "Equal", "x"),
        ("b", "RegexMatch", "^v[0-9]"),
        ("c", "RegexMatch", r"^1\.2.*"),
    ]


# -- Ambassador -------------------------------------------------------------------------------


def test_ambassador_api_versions() -> None:
    assert amb.mapping_resource("getambassador.io/v2").api_version == "getambassador.io/v2"
    assert amb.mapping_resource("v3alpha1").plural == "mappings"
    x = amb.mapping_resource("x.getambassador.io/v3alpha1")
    assert (x.plural, x.kind) == ("ambassadormappings", "AmbassadorMapping")


def test_ambassador_canary_name_fits() -> None:
    assert amb.canary_name("m") == "m-canary"
    assert len(amb.canary_name("x" * 300)) == 253


def test_ambassador_canary_spec_and_minimal_ops() -> None:
    base = {"spec": {"prefix": "/a/", "service": "app-stable.ns:8080", "timeout_ms": 5}}
    wanted = amb.canary_spec(base, "app-stable", "app-canary", 20)
    assert wanted == {
        "prefix": "/a/",
        "service": "app-canary.ns:8080",
        "timeout_ms": 5,
        "weight": 20,
    }
    current = {"spec": {**wanted, "weight": 10, "stale": True}}
    ops = amb.spec_ops(current, wanted)
    assert apply(current, ops)["spec"] == wanted
    assert amb.spec_ops({"spec": wanted}, wanted) == []


def test_ambassador_mappings_must_be_listed() -> None:
    assert amb.parse_mappings({})[1] == [
        "spec.strategy.canary.trafficRouting.ambassador.mappings: list at least one Ambassador "
        "Mapping name"
    ]
    assert amb.parse_mappings({"mappings": ["a", "ns/b"]})[1] == [
        "spec.strategy.canary.trafficRouting.ambassador.mappings[1]: must be the name of a "
        "Mapping in the Rollout's namespace"
    ]


# -- App Mesh ---------------------------------------------------------------------------------


def vrouter(*routes: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"name": "vr", "namespace": "ns"}, "spec": {"routes": list(routes)}}


def http(name: str, *targets: tuple[str, int]) -> dict[str, Any]:
    wt = [{"virtualNodeRef": {"name": n}, "weight": w} for n, w in targets]
    return {"name": name, "httpRoute": {"action": {"weightedTargets": wt}}}


CFG = mesh.parse_config(
    {
        "virtualService": {"name": "vs"},
        "virtualNodeGroup": {
            "canaryVirtualNodeRef": {"name": "vn-c"},
            "stableVirtualNodeRef": {"name": "vn-s"},
        },
    }
)


def test_appmesh_config_problems_name_fields() -> None:
    assert mesh.parse_config({}).problems == (
        "spec.strategy.canary.trafficRouting.appMesh.virtualService.name: required",
        "spec.strategy.canary.trafficRouting.appMesh.virtualNodeGroup.canaryVirtualNodeRef.name: "
        "required",
        "spec.strategy.canary.trafficRouting.appMesh.virtualNodeGroup.stableVirtualNodeRef.name: "
        "required",
    )


def test_appmesh_weights_skip_foreign_routes_and_keep_foreign_targets() -> None:
    vr = vrouter(
        http("other", ("legacy", 100)),
        http("primary", ("vn-c", 0), ("vn-s", 90), ("mirror-ish", 10)),
    )
    found, problems = mesh.managed_routes(vr, CFG, "ns")
    assert problems == [] and [m.name for m in found] == ["primary"]
    patched = apply(vr, mesh.weight_ops(vr, CFG, "ns", 40))
    assert patched["spec"]["routes"][0] == vr["spec"]["routes"][0]
    assert [t["weight"] for t in mesh._targets(patched["spec"]["routes"][1])] == [40, 50, 10]
    with pytest.raises(RouterError, match="other targets already take 10"):
        mesh.weight_ops(vr, CFG, "ns", 95)


def test_appmesh_route_without_canary_target_is_named() -> None:
    vr = vrouter(http("primary", ("vn-s", 100)))
    _, problems = mesh.managed_routes(vr, CFG, "ns")
    assert problems == [
        "spec.strategy.canary.trafficRouting.appMesh.virtualNodeGroup.canaryVirtualNodeRef: "
        "route 'primary' of VirtualRouter ns/vr has no weightedTargets entry for VirtualNode "
        "'vn-c'"
    ]


def test_appmesh_hash_ops_add_label_and_annotation() -> None:
    node: dict[str, Any] = {"metadata": {"name": "vn"}, "spec": {"podSelector": {}}}
    patched = apply(node, mesh.hash_ops(node, "abc", "ro"))
    assert patched["spec"]["podSelector"]["matchLabels"] == {mesh.HASH_LABEL: "abc"}
    assert patched["metadata"]["annotations"] == {mesh.MANAGED_BY: "ro"}
    assert mesh.hash_ops(patched, "abc", "ro") == []


# -- validation: header routes with APISIX, as Argo allows ------------------------------------


def header_rollout(routing: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": "ro"},
        "spec": {
            "selector": {"matchLabels": {"app": "a"}},
            "template": {
                "metadata": {"labels": {"app": "a"}},
                "spec": {"containers": [{"name": "a", "image": "a:1"}]},
            },
            "strategy": {
                "canary": {
                    "canaryService": "c",
                    "stableService": "s",
                    "trafficRouting": {**routing, "managedRoutes": [{"name": "hdr"}]},
                    "steps": [
                        {
                            "setHeaderRoute": {
                                "name": "hdr",
                                "match": [{"headerName": "x", "headerValue": {"exact": "1"}}],
                            }
                        }
                    ],
                }
            },
        },
    }


def test_header_routes_are_valid_with_apisix_and_alb_but_not_with_ambassador() -> None:
    assert validate_rollout(header_rollout({"apisix": {"route": {"name": "r"}}})) == []
    assert validate_rollout(header_rollout({"alb": {"ingress": "i", "servicePort": 80}})) == []
    assert validate_rollout(header_rollout({"ambassador": {"mappings": ["m"]}})) == [
        "spec.strategy.canary.steps[0].setHeaderRoute: setHeaderRoute requires Istio, APISIX, "
        "ALB or a plugin traffic router"
    ]
