"""apply_plan, the guarded JSON patch every router writes with, against the sandbox's API
server: a VirtualService whose canary weight is planned from a cached copy that may be stale.

The client is the real one; `Recording` only notes each patch on its way through (and, for one
test, makes a real write just before it, so the object keeps moving under the guard).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from rolloutd.kube.client import KubeClient
from rolloutd.kube.resources import Resource
from rolloutd.traffic.contract import JsonDict, RouterError
from rolloutd.traffic.patching import apply_plan
from tests.e2e.harness import VIRTUAL_SERVICES

WEIGHT = "/spec/http/0/route/1/weight"


class Recording:
    """The real client, with every patch body noted; `move_first` makes another real write to
    the object before each patch (someone else editing it at that very moment)."""

    def __init__(self, kube: KubeClient, *, move_first: bool = False) -> None:
        self.kube = kube
        self.move_first = move_first
        self.patches: list[list[dict[str, Any]]] = []

    async def patch(self, resource: Resource, name: str, body: Any, **kw: Any) -> JsonDict:
        self.patches.append(body)
        if self.move_first:
            n = len(self.patches)
            edit = {"metadata": {"annotations": {"example.com/edits": str(n)}}}
            await self.kube.patch(resource, name, edit, namespace=kw.get("namespace"))
        return await self.kube.patch(resource, name, body, **kw)

    async def get(self, resource: Resource, name: str, **kw: Any) -> JsonDict:
        return await self.kube.get(resource, name, **kw)


class Remembered:
    def __init__(self) -> None:
        self.seen: list[JsonDict] = []

    def get(self, resource: Resource, namespace: str, name: str) -> JsonDict | None:
        return None

    def remember(self, resource: Resource, obj: JsonDict) -> None:
        self.seen.append(obj)


def virtual_service(weight: int) -> JsonDict:
    return {
        "apiVersion": "networking.istio.io/v1alpha3",
        "kind": "VirtualService",
        "metadata": {"name": "t"},
        "spec": {
            "hosts": ["t"],
            "http": [
                {
                    "name": "primary",
                    "route": [
                        {"destination": {"host": "stable"}, "weight": 100 - weight},
                        {"destination": {"host": "canary"}, "weight": weight},
                    ],
                }
            ],
        },
    }


def set_weight(to: Any) -> Callable[[JsonDict], list[dict[str, Any]]]:
    def plan(obj: JsonDict) -> list[dict[str, Any]]:
        if obj["spec"]["http"][0]["route"][1]["weight"] == to:
            return []
        return [{"op": "replace", "path": WEIGHT, "value": to}]

    return plan


def weight_of(obj: JsonDict) -> Any:
    return obj["spec"]["http"][0]["route"][1]["weight"]


async def create(kube: KubeClient, namespace: str, weight: int) -> JsonDict:
    return await kube.create(VIRTUAL_SERVICES, virtual_service(weight), namespace=namespace)


async def run(client: Recording, cached: JsonDict, plan: Any) -> tuple[JsonDict | None, Remembered]:
    objects = Remembered()
    result = await apply_plan(client, objects, VIRTUAL_SERVICES, cached, plan)  # type: ignore[arg-type]
    return result, objects


async def test_nothing_to_do_means_no_request(kube: KubeClient, namespace: str) -> None:
    cached = await create(kube, namespace, 5)
    client = Recording(kube)
    assert (await run(client, cached, set_weight(5)))[0] is None
    assert client.patches == []


async def test_patch_is_guarded_and_remembered(kube: KubeClient, namespace: str) -> None:
    cached = await create(kube, namespace, 5)
    client = Recording(kube)
    written, objects = await run(client, cached, set_weight(7))
    assert client.patches == [
        [
            {
                "op": "test",
                "path": "/metadata/resourceVersion",
                "value": cached["metadata"]["resourceVersion"],
            },
            {"op": "replace", "path": WEIGHT, "value": 7},
        ]
    ]
    assert written is not None and weight_of(written) == 7
    assert objects.seen == [written]
    server = await kube.get(VIRTUAL_SERVICES, "t", namespace=namespace)
    assert weight_of(server) == 7


async def test_a_stale_cache_is_reread_and_replanned(kube: KubeClient, namespace: str) -> None:
    cached = await create(kube, namespace, 5)
    moved = copy.deepcopy(cached)
    moved["spec"]["http"][0]["route"][1]["weight"] = 9
    moved = await kube.replace(VIRTUAL_SERVICES, "t", moved, namespace=namespace)
    client = Recording(kube)
    written, _ = await run(client, cached, set_weight(7))  # planned from version 1 first
    assert [p[0]["value"] for p in client.patches] == [
        cached["metadata"]["resourceVersion"],
        moved["metadata"]["resourceVersion"],
    ]
    assert written is not None and weight_of(written) == 7

    # ... and when the server already holds what we want, the re-read ends it: one patch.
    client = Recording(kube)
    assert (await run(client, cached, set_weight(7)))[0] is None
    assert len(client.patches) == 1


async def test_gives_up_after_three_retries(kube: KubeClient, namespace: str) -> None:
    cached = await create(kube, namespace, 5)
    client = Recording(kube, move_first=True)  # it moves before every patch
    with pytest.raises(RouterError, match="kept changing"):
        await run(client, cached, set_weight(7))
    assert len(client.patches) == 4
    server = await kube.get(VIRTUAL_SERVICES, "t", namespace=namespace)
    assert weight_of(server) == 5


async def test_a_refusal_that_is_not_a_race_is_a_router_error(
    kube: KubeClient, namespace: str
) -> None:
    cached = await create(kube, namespace, 5)
    client = Recording(kube)
    with pytest.raises(RouterError, match=rf"VirtualService {namespace}/t refused the change: "):
        await run(client, cached, set_weight("seven"))  # the schema wants an integer
    assert len(client.patches) == 1
    server = await kube.get(VIRTUAL_SERVICES, "t", namespace=namespace)
    assert weight_of(server) == 5
