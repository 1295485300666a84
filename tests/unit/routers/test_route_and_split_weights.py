"""The OpenShift Route and SMI TrafficSplit weight rules, without a cluster."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from jsonpatch_apply import apply
from rolloutd_openshift import router as openshift
from rolloutd_smi.router import format_weight, parse_quantity

from rolloutd.traffic.contract import RouterError

REF = openshift.RouteRef(
    "ns", "r", "spec.strategy.canary.trafficRouting.plugins[argoproj-labs/openshift].routes[0]"
)


def route(to: int | None, alternates: Sequence[tuple[str, int | None]]) -> dict[str, Any]:
    spec: dict[str, Any] = {"to": {"kind": "Service", "name": "stable"}}
    if to is not None:
        spec["to"]["weight"] = to
    if alternates:
        spec["alternateBackends"] = [
            {"kind": "Service", "name": n, **({} if w is None else {"weight": w})}
            for n, w in alternates
        ]
    return {"spec": spec}


@given(
    st.integers(0, 256),
    st.none() | st.integers(0, 256),
    st.lists(st.integers(0, 30), max_size=2),
    st.data(),
)
def test_route_weights_keep_other_backends_and_total_100(
    to: int, canary: int | None, foreign: list[int], data: st.DataObject
) -> None:
    alternates = [(f"other-{i}", w) for i, w in enumerate(foreign)]
    if canary is not None:
        alternates.insert(data.draw(st.integers(0, len(alternates))), ("canary", canary))
    before = route(to, alternates)
    weight = data.draw(st.integers(0, 100 - sum(foreign)))
    after = apply(before, openshift.weight_ops(before, REF, "stable", "canary", weight))
    backends = {b["name"]: b["weight"] for b in after["spec"].get("alternateBackends", [])}
    assert {k: v for k, v in backends.items() if k != "canary"} == {
        n: w for n, w in alternates if n != "canary"
    }
    assert backends.get("canary", 0) == weight
    assert after["spec"]["to"]["weight"] + sum(backends.values()) == 100
    assert openshift.shares(after, "canary")[0] == weight
    assert openshift.weight_ops(after, REF, "stable", "canary", weight) == []


def test_route_errors_name_the_route() -> None:
    with pytest.raises(
        RouterError, match=r"routes\[0\]: Route ns/r sends spec.to to Service 'stable'"
    ):
        openshift.weight_ops(route(100, []), REF, "not-stable", "canary", 10)
    with pytest.raises(RouterError, match="stable would get -1"):
        openshift.weight_ops(route(50, [("x", 51)]), REF, "stable", "canary", 50)
    assert openshift.parse_routes({"routes": ["a", "other/b"]}, "ns")[0] == [
        openshift.RouteRef("ns", "a", f"{REF.field[:-3]}[0]"),
        openshift.RouteRef("other", "b", f"{REF.field[:-3]}[1]"),
    ]
    assert openshift.parse_routes({}, "ns")[1] == [
        "spec.strategy.canary.trafficRouting.plugins[argoproj-labs/openshift].routes: list at "
        "least one Route (name or namespace/name)"
    ]


def test_missing_route_weights_mean_the_api_default_of_100() -> None:
    assert openshift.shares(route(None, [("canary", None)]), "canary")[:2] == (50, 50)
    assert openshift.shares(route(0, [("canary", 0)]), "canary") == (0, 0, 0)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        (20, "20"),
        ("20", "20"),
        ("500m", "0.5"),
        ("1k", "1000"),
        ("1e2", "100"),
        ("1Ki", "1024"),
        (None, "0"),
        (0.25, "0.25"),
    ],
)
def test_quantities(text: Any, value: str) -> None:
    assert parse_quantity(text) == Decimal(value)


def test_bad_quantities_and_formatting() -> None:
    for bad in ("ten", "1x", True, ""):
        with pytest.raises(ValueError):
            parse_quantity(bad)
    assert format_weight(Decimal(20), "v1alpha1") == "20"
    assert format_weight(Decimal("99.5"), "v1alpha1") == "99500m"
    assert format_weight(Decimal(20), "v1alpha3") == 20
