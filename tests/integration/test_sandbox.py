"""The sandbox is a real cluster: controllers schedule pods, kwok runs them, schemas bite."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from rolloutd.kube.client import ApiError, KubeClient
from rolloutd.kube.resources import NODES, PODS, REPLICA_SETS, Resource
from rolloutd_dev.sandbox.cluster import apply_crd

VIRTUAL_SERVICES = Resource("networking.istio.io", "v1alpha3", "virtualservices", "VirtualService")


async def eventually(check: Callable[[], Awaitable[bool]], what: str, timeout: float = 60) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await check():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.3)


def _replica_set(name: str, replicas: int) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "app", "image": "example.invalid/app:1"}]},
            },
        },
    }


async def _ready_pods(kube: KubeClient, namespace: str, app: str) -> list[dict[str, Any]]:
    pods = (await kube.list(PODS, namespace=namespace, label_selector=f"app={app}"))["items"]
    live = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
    return [
        p
        for p in live
        if p.get("spec", {}).get("nodeName")
        and any(
            c["type"] == "Ready" and c["status"] == "True"
            for c in p.get("status", {}).get("conditions", [])
        )
    ]


async def test_nodes_are_ready(kube: KubeClient) -> None:
    nodes = (await kube.list(NODES))["items"]
    ready = [
        n["metadata"]["name"]
        for n in nodes
        if any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"]["conditions"])
    ]
    assert len(ready) >= 3


async def test_replicaset_pods_are_scheduled_ready_and_scaled_down(
    kube: KubeClient, namespace: str
) -> None:
    await kube.create(REPLICA_SETS, _replica_set("web", 3), namespace=namespace)

    async def three_ready() -> bool:
        return len(await _ready_pods(kube, namespace, "web")) == 3

    await eventually(three_ready, "3 Ready pods")
    nodes = {p["spec"]["nodeName"] for p in await _ready_pods(kube, namespace, "web")}
    assert nodes <= {f"kwok-node-{i}" for i in range(3)}

    await kube.patch(REPLICA_SETS, "web", {"spec": {"replicas": 1}}, namespace=namespace)

    async def one_left() -> bool:
        pods = (await kube.list(PODS, namespace=namespace, label_selector="app=web"))["items"]
        return len(pods) == 1

    await eventually(one_left, "2 of 3 pods deleted")
    rs = await kube.get(REPLICA_SETS, "web", namespace=namespace)
    assert rs["status"].get("readyReplicas") == 1


async def test_upstream_istio_schema_rejects_a_wrong_weight_type(
    kube: KubeClient, namespace: str, upstream_crds: Path
) -> None:
    docs = yaml.safe_load_all((upstream_crds / "istio-crds.yaml").read_text())
    vs_crd = next(
        d for d in docs if d and d["metadata"]["name"] == "virtualservices.networking.istio.io"
    )
    await apply_crd(kube, vs_crd)
    vs = {
        "apiVersion": "networking.istio.io/v1alpha3",
        "kind": "VirtualService",
        "metadata": {"name": "bad"},
        "spec": {
            "hosts": ["x"],
            "http": [{"route": [{"destination": {"host": "a"}, "weight": "eighty"}]}],
        },
    }
    with pytest.raises(ApiError) as caught:
        await kube.create(VIRTUAL_SERVICES, vs, namespace=namespace)
    assert caught.value.status == 422
    assert "weight" in caught.value.message

    vs["spec"]["http"][0]["route"][0]["weight"] = 100
    created = await kube.create(VIRTUAL_SERVICES, vs, namespace=namespace)
    assert created["spec"]["http"][0]["route"][0]["weight"] == 100
