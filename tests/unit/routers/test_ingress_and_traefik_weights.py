"""The NGINX, ALB and Traefik routers' pure rules, without a cluster."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from jsonpatch_apply import apply
from rolloutd_alb import router as alb
from rolloutd_nginx import router as nginx
from rolloutd_traefik import router as traefik

from rolloutd.traffic.contract import RouterError

# -- Traefik ------------------------------------------------------------------------------------


def weighted(*entries: tuple[str, int | None]) -> dict[str, Any]:
    services = [{"name": n, **({} if w is None else {"weight": w})} for n, w in entries]
    return {"metadata": {}, "spec": {"weighted": {"services": services}}}


@given(st.integers(0, 100), st.integers(0, 40), st.integers(0, 100))
def test_traefik_keeps_foreign_shares_and_sums_to_100(
    weight: int, foreign: int, start: int
) -> None:
    obj = weighted(("stable", start), ("canary", None), ("other", foreign))
    if weight + foreign > 100:
        with pytest.raises(RouterError, match="stable would get"):
            traefik.weight_ops(obj, "T", "stable", "canary", weight, {}, mark="ro")
        return
    ops = traefik.weight_ops(obj, "T", "stable", "canary", weight, {}, mark="ro")
    after = apply(obj, ops)
    got = {s["name"]: s["weight"] for s in after["spec"]["weighted"]["services"]}
    assert got == {"stable": 100 - weight - foreign, "canary": weight, "other": foreign}
    assert traefik.weight_ops(after, "T", "stable", "canary", weight, {}, mark="ro") == []
    assert after["metadata"]["annotations"] == {traefik.MANAGED_BY: "ro"}


def test_traefik_names_what_is_missing() -> None:
    with pytest.raises(RouterError, match="no canary Service 'canary'"):
        traefik.weight_ops(weighted(("stable", 100)), "T", "stable", "canary", 5, {}, mark=None)
    with pytest.raises(RouterError, match=r"no spec\.weighted\.services"):
        traefik.weight_ops({"spec": {}}, "T", "stable", "canary", 5, {}, mark=None)
    with pytest.raises(ValueError, match="group/version"):
        traefik.Router({"apiVersion": "v1alpha1"})


def test_traefik_reads_shares_of_any_scale() -> None:
    assert traefik.shares(weighted(("stable", 3), ("canary", 1)), "canary", "stable") == (25, 75)
    assert traefik.shares(weighted(("stable", 0), ("canary", 0)), "canary", "stable") is None


# -- NGINX --------------------------------------------------------------------------------------


def test_canary_ingress_name_is_argos_and_fits() -> None:
    assert nginx.canary_ingress_name("ro", "web") == "ro-web-canary"
    long = nginx.canary_ingress_name("r" * 200, "i" * 100)
    assert len(long) == 253 and long.endswith("-canary")


def test_nginx_config_problems_name_the_field() -> None:
    assert nginx.parse_stable({"stableIngress": "a", "stableIngresses": ["b"]})[1] == [
        "spec.strategy.canary.trafficRouting.nginx: set either stableIngress or stableIngresses, "
        "not both"
    ]
    assert nginx.parse_stable({})[1][0].startswith(
        "spec.strategy.canary.trafficRouting.nginx.stableIngress:"
    )


def test_nginx_annotations_prefix_and_precedence() -> None:
    config = {
        "annotationPrefix": "custom.nginx.ingress.kubernetes.io",
        "additionalIngressAnnotations": {"canary-by-header": "X-A", "team": "a"},
        "canaryIngressAnnotations": {"custom.nginx.ingress.kubernetes.io/team": "b"},
    }
    stable = {"metadata": {"annotations": {"kubernetes.io/ingress.class": "nginx", "x": "y"}}}
    got = nginx.desired_annotations(config, stable, 30, "ro")
    assert got == {
        "kubernetes.io/ingress.class": "nginx",
        "custom.nginx.ingress.kubernetes.io/canary-by-header": "X-A",
        "custom.nginx.ingress.kubernetes.io/team": "b",  # canaryIngressAnnotations win
        "custom.nginx.ingress.kubernetes.io/canary": "true",
        "custom.nginx.ingress.kubernetes.io/canary-weight": "30",
        nginx.MANAGED_BY: "ro",
    }


def test_nginx_observed_weight_honours_total_and_canary_flag() -> None:
    p = nginx.DEFAULT_PREFIX

    def ing(**a: str) -> dict[str, Any]:
        return {
            "metadata": {"annotations": {f"{p}/{k.replace('_', '-')}": v for k, v in a.items()}}
        }

    assert nginx.observed(None, p) == 0
    assert nginx.observed(ing(canary="true", canary_weight="20"), p) == 20
    assert nginx.observed(ing(canary="false", canary_weight="20"), p) == 0
    assert (
        nginx.observed(ing(canary="true", canary_weight="250", canary_weight_total="1000"), p) == 25
    )
    assert nginx.observed(ing(canary="true", canary_weight="x"), p) == 0


def test_nginx_canary_ops_keep_foreign_annotations_and_are_idempotent() -> None:
    current = {
        "metadata": {
            "annotations": {"other": "1", "nginx.ingress.kubernetes.io/canary-weight": "5"}
        },
        "spec": {"rules": [], "defaultBackend": {"service": {"name": "x"}}},
    }
    wanted = {"nginx.ingress.kubernetes.io/canary-weight": "40"}
    spec = {"rules": [{"host": "h"}]}
    after = apply(current, nginx.canary_ops(current, wanted, spec))
    assert after["metadata"]["annotations"]["other"] == "1"
    assert after["metadata"]["annotations"]["nginx.ingress.kubernetes.io/canary-weight"] == "40"
    assert after["spec"] == {"rules": [{"host": "h"}], "defaultBackend": {"service": {"name": "x"}}}
    assert nginx.canary_ops(after, wanted, spec) == []


# -- ALB ----------------------------------------------------------------------------------------


def cfg(**extra: Any) -> alb.Config:
    parsed, problems = alb.parse_config({"ingress": "i", "servicePort": 80, **extra}, "ns")
    assert parsed is not None, problems
    return parsed


def test_alb_config_problems_name_the_field() -> None:
    _, problems = alb.parse_config({"ingress": "i"}, "ns")
    assert problems == [
        "spec.strategy.canary.trafficRouting.alb.servicePort: must be a port number "
        "(1..65535), got None"
    ]
    _, problems = alb.parse_config(
        {"ingress": "i", "servicePort": 80, "stickinessConfig": {"enabled": True}}, "ns"
    )
    assert problems[0].startswith(
        "spec.strategy.canary.trafficRouting.alb.stickinessConfig.durationSeconds:"
    )


@given(st.integers(0, 100), st.integers(0, 30))
def test_alb_action_keeps_foreign_groups_and_sums_to_100(weight: int, foreign: int) -> None:
    current = {
        "Type": "forward",
        "ForwardConfig": {
            "TargetGroups": [
                {"TargetGroupARN": "arn:aws:x", "Weight": foreign},
                {"ServiceName": "stable", "ServicePort": "80", "Weight": 100 - foreign},
            ]
        },
    }
    if weight + foreign > 100:
        with pytest.raises(RouterError, match="stable would get"):
            alb.desired_action(current, cfg(), "stable", "canary", weight, {}, "I")
        return
    action = alb.desired_action(current, cfg(), "stable", "canary", weight, {}, "I")
    groups = action["ForwardConfig"]["TargetGroups"]
    assert groups[0] == {"ServiceName": "canary", "ServicePort": "80", "Weight": weight}
    assert {"TargetGroupARN": "arn:aws:x", "Weight": foreign} in groups
    assert sum(g["Weight"] for g in groups) == 100


def test_alb_stickiness_is_written_like_argo() -> None:
    sticky = cfg(stickinessConfig={"enabled": True, "durationSeconds": 3600})
    action = alb.desired_action(None, sticky, "s", "c", 10, {}, "I")
    assert alb.dump(action).endswith(
        '"TargetGroupStickinessConfig":{"Enabled":true,"DurationSeconds":3600}}}'
    )


def test_alb_equal_json_is_not_rewritten_and_marks_are_kept_per_rollout() -> None:
    key = alb.action_key(alb.DEFAULT_PREFIX, "s")
    value = alb.dump(alb.desired_action(None, cfg(), "s", "c", 10, {}, "I"))
    other = {"other-ro": ["x/actions.y"]}
    obj = {
        "metadata": {
            "annotations": {
                key: json.dumps(json.loads(value), indent=2),
                alb.MANAGED_ANNOTATIONS: json.dumps({"ro": [key], **other}),
                alb.MANAGED_BY: "ro",
            }
        }
    }
    assert alb.annotation_ops(obj, {key: value}, "ro", add=True) == []
    # Giving it back drops this Rollout's entry and mark, keeps the other Rollout's.
    after = apply(obj, alb.release_ops(obj, "ro"))
    annotations = after["metadata"]["annotations"]
    assert json.loads(annotations[alb.MANAGED_ANNOTATIONS]) == other
    assert alb.MANAGED_BY not in annotations
    assert json.loads(annotations[key])["ForwardConfig"]["TargetGroups"] == [
        {"ServiceName": "s", "ServicePort": "80", "Weight": 100}
    ]


def test_alb_header_route_paths_go_first_and_come_out() -> None:
    obj = {"spec": {"rules": [{"http": {"paths": [{"backend": {"service": {"name": "s"}}}]}}]}}
    added = apply(obj, alb.path_ops(obj, "hdr", add=True))
    paths = added["spec"]["rules"][0]["http"]["paths"]
    assert paths[0]["backend"]["service"] == {"name": "hdr", "port": {"name": "use-annotation"}}
    assert alb.path_ops(added, "hdr", add=True) == []
    assert apply(added, alb.path_ops(added, "hdr", add=False)) == obj
