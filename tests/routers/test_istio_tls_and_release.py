"""The Istio router where Argo's e2e fixtures expect more than rolloutd did: a VirtualService
with only TLS routes named by a Rollout that also lists an HTTP route (Argo's
`istio-host-only-tls-split`), and a DestinationRule given back when the Rollout lets go of it."""

from __future__ import annotations

from typing import Any

import pytest
from rolloutd_istio.router import Router

from rolloutd_dev.testing.conformance import Harness, count_writes
from tests.routers.test_istio import DR, VS, VS_NAME, harness, router, router_config

__all__ = ["harness", "router", "router_config"]  # fixtures used below

pytestmark = [pytest.mark.usefixtures("istio_crds"), pytest.mark.asyncio(loop_scope="session")]
MANAGED_BY = "argo-rollouts.argoproj.io/managed-by-rollouts"
HASH = "rollouts-pod-template-hash"


def tls_only_virtual_service(stable: str, canary: str) -> dict[str, Any]:
    return {
        "apiVersion": VS.api_version,
        "kind": "VirtualService",
        "metadata": {"name": VS_NAME},
        "spec": {
            "hosts": ["istio-host-split-tls"],
            "tls": [
                {
                    "match": [{"port": 3000, "sniHosts": ["istio-host-split-tls"]}],
                    "route": [
                        {"destination": {"host": stable}, "weight": 100},
                        {"destination": {"host": canary}, "weight": 0},
                    ],
                }
            ],
        },
    }


async def test_tls_only_virtual_service_ignores_the_http_route_names(harness: Harness) -> None:
    h = harness
    ns = h.pair.namespace
    await h.kube.create(VS, tls_only_virtual_service(h.pair.stable, h.pair.canary), namespace=ns)
    await h.reader.refresh()
    config = {
        "virtualService": {
            "name": VS_NAME,
            "routes": ["primary"],
            "tlsRoutes": [{"port": 3000, "sniHosts": ["istio-host-split-tls"]}],
        }
    }
    assert h.router.validate(h.context(config)) == []
    assert await h.router.set_weight(h.context(config), 10) is True
    vs = await h.kube.get(VS, VS_NAME, namespace=ns)
    assert [d["weight"] for d in vs["spec"]["tls"][0]["route"]] == [90, 10]
    assert "http" not in vs["spec"]
    await h.reader.refresh()
    assert [(o.canary, o.stable) for o in h.router.read_weight(h.context(config))] == [(10, 90)]

    # With nothing selecting the TLS routes there is nothing to shift: a clear error.
    bare = {"virtualService": {"name": VS_NAME, "routes": ["primary"]}}
    problems = h.router.validate(h.context(bare))
    assert len(problems) == 1
    assert problems[0].startswith("spec.strategy.canary.trafficRouting.istio.virtualService: ")
    assert "has no spec.http" in problems[0]


async def test_release_gives_the_destination_rule_back(harness: Harness) -> None:
    h = harness
    ns = h.pair.namespace
    await h.kube.create(
        DR,
        {
            "apiVersion": DR.api_version,
            "kind": "DestinationRule",
            "metadata": {"name": "demo-dr", "annotations": {"team": "payments"}},
            "spec": {
                "host": "demo",
                "subsets": [
                    {"name": "canary", "labels": {"app": "demo"}},
                    {"name": "stable"},
                    {"name": "legacy", "labels": {"version": "v0"}},
                ],
            },
        },
        namespace=ns,
    )
    config = {
        "virtualService": {"name": VS_NAME},
        "destinationRule": {
            "name": "demo-dr",
            "canarySubsetName": "canary",
            "stableSubsetName": "stable",
        },
    }
    await h.reader.refresh()
    assert await h.router.update_hash(h.context(config), "c4n4ry", "st4bl3") is True
    marked = await h.kube.get(DR, "demo-dr", namespace=ns)
    assert marked["metadata"]["annotations"][MANAGED_BY] == h.rollout_name
    router = Router({})
    assert isinstance(h.router, Router)

    # Another Rollout's name, or another kind: nothing to give back.
    assert await router.release(h.kube, h.reader, DR, marked, "someone-else") is False
    assert await router.release(h.kube, h.reader, VS, marked, h.rollout_name) is False

    assert await router.release(h.kube, h.reader, DR, marked, h.rollout_name) is True
    rule = await h.kube.get(DR, "demo-dr", namespace=ns)
    assert rule["metadata"]["annotations"] == {"team": "payments"}
    subsets = {s["name"]: s for s in rule["spec"]["subsets"]}
    assert subsets["canary"]["labels"] == {"app": "demo"}
    assert HASH not in (subsets["stable"].get("labels") or {})
    assert subsets["legacy"] == {"name": "legacy", "labels": {"version": "v0"}}

    with count_writes(h.kube) as writes:
        assert await router.release(h.kube, h.reader, DR, rule, h.rollout_name) is False
    assert writes == []
