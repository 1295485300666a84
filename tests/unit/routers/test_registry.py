"""Finding routers: Argo's names, entry points, and the errors a user sees."""

from __future__ import annotations

from importlib.metadata import EntryPoint

import pytest

from rolloutd.traffic.contract import API_VERSION
from rolloutd.traffic.registry import (
    GROUP,
    RouterNotInstalled,
    RouterRegistry,
    RouterUnavailable,
    RouterVersionMismatch,
    routers_in,
)


def ep(name: str, value: str) -> EntryPoint:
    return EntryPoint(name=name, value=value, group=GROUP)


def test_argo_names_map_to_ours() -> None:
    tr = {
        "istio": {"virtualService": {"name": "vs"}},
        "smi": {},
        "managedRoutes": [{"name": "header"}],
        "maxTrafficWeight": 100,
        "plugins": {
            "argoproj-labs/openshift": {"routes": ["r"]},
            "argoproj-labs/gatewayAPI": {"httpRoute": "h"},
            "acme/Contour": {"httpProxies": ["p"]},
        },
    }
    blocks = routers_in(tr)
    assert [(name, dict(config)) for name, config in blocks] == [
        ("istio", {"virtualService": {"name": "vs"}}),
        ("smi", {}),
        ("openshift", {"routes": ["r"]}),
        ("gatewayapi", {"httpRoute": "h"}),
        ("acme/Contour", {"httpProxies": ["p"]}),
    ]
    assert blocks[2].field == "spec.strategy.canary.trafficRouting.plugins[argoproj-labs/openshift]"
    assert blocks[4].candidates == ("acme/Contour", "Contour", "acme/contour", "contour")
    assert routers_in(None) == [] and routers_in({"managedRoutes": []}) == []


def test_installed_routers_are_found_and_made_once_with_their_settings() -> None:
    registry = RouterRegistry({"istio": {"apiVersion": "v1beta1"}})
    assert {"istio", "openshift", "smi"} <= set(registry.available)
    [(istio, block)] = registry.routers_for({"istio": {"virtualService": {"name": "vs"}}})
    assert (istio.name, istio.API_VERSION) == ("istio", API_VERSION)
    assert istio.watched_resources()[0].version == "v1beta1"
    assert registry.router("istio") is istio
    assert block.field == "spec.strategy.canary.trafficRouting.istio"
    [(openshift, _)] = registry.routers_for({"plugins": {"argoproj-labs/openshift": {}}})
    assert openshift.name == "openshift"


def test_a_plugin_is_found_by_its_short_name() -> None:
    registry = RouterRegistry(installed=[ep("contour", "rolloutd_smi.router:Router")])
    [(router, block)] = registry.routers_for({"plugins": {"acme/contour": {"x": 1}}})
    assert block.name == "acme/contour" and router.name == "smi"


def test_a_router_that_is_not_installed_says_how_to_install_it() -> None:
    registry = RouterRegistry(installed=[])
    with pytest.raises(RouterNotInstalled) as err:
        registry.routers_for({"plugins": {"argoproj-labs/gatewayAPI": {}}})
    assert str(err.value) == (
        "traffic router 'gatewayapi' named in spec.strategy.canary.trafficRouting.plugins is "
        "not installed: pip install rolloutd-gatewayapi (installed routers: none)"
    )
    with pytest.raises(
        RouterNotInstalled, match=r"named in spec\.strategy\.canary\.trafficRouting\.nginx"
    ):
        registry.routers_for({"nginx": {}})
    with pytest.raises(RouterNotInstalled, match="entry point named 'acme/x'"):
        registry.routers_for({"plugins": {"acme/x": {}}})


class OldRouter:
    API_VERSION = API_VERSION + 1

    def __init__(self, settings: object) -> None:
        raise AssertionError("must not be instantiated")


def test_a_router_for_another_contract_version_is_refused() -> None:
    registry = RouterRegistry(installed=[ep("old", f"{__name__}:OldRouter")])
    with pytest.raises(RouterVersionMismatch, match=f"contract version {API_VERSION + 1}"):
        registry.router("old")
    broken = RouterRegistry(installed=[ep("broken", "no_such_module_anywhere:Router")])
    with pytest.raises(RouterUnavailable, match="failed to load"):
        broken.router("broken")
    picky = RouterRegistry({"smi": {"apiVersion": "v9"}})
    with pytest.raises(RouterUnavailable, match="Unsupported TrafficSplit API version 'v9'"):
        picky.router("smi")
