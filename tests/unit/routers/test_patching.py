"""apply_plan: the guarded JSON patch every router writes with, against a fake API server."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from jsonpatch_apply import apply

from rolloutd.kube.client import ApiError
from rolloutd.kube.resources import Resource
from rolloutd.traffic.contract import JsonDict, RouterError
from rolloutd.traffic.patching import apply_plan, pointer

THING = Resource("example.com", "v1", "things", "Thing")


class FakeServer:
    """Holds one object; a patch whose resourceVersion test fails gets 422, like the API server."""

    def __init__(self, obj: JsonDict, *, reject: str | None = None) -> None:
        self.obj = obj
        self.patches: list[list[dict[str, Any]]] = []
        self.reject = reject
        self.on_patch: list[JsonDict] = []  # objects to swap in before the next patches

    async def patch(self, res: Resource, name: str, body: Any, **_: Any) -> JsonDict:
        self.patches.append(body)
        if self.on_patch:
            self.obj = self.on_patch.pop(0)
        if body[0]["value"] != self.obj["metadata"]["resourceVersion"]:
            raise ApiError(422, "Invalid", "the server rejected our request: test failed")
        if self.reject:
            raise ApiError(422, "Invalid", self.reject)
        patched = apply(self.obj, body[1:])
        patched["metadata"]["resourceVersion"] = str(
            int(self.obj["metadata"]["resourceVersion"]) + 1
        )
        self.obj = patched
        return copy.deepcopy(patched)

    async def get(self, res: Resource, name: str, **_: Any) -> JsonDict:
        if self.obj is None:
            raise ApiError(404, "NotFound", "gone")
        return copy.deepcopy(self.obj)


class Remembered:
    def __init__(self) -> None:
        self.seen: list[JsonDict] = []

    def get(self, resource: Resource, namespace: str, name: str) -> JsonDict | None:
        return None

    def remember(self, resource: Resource, obj: JsonDict) -> None:
        self.seen.append(obj)


def thing(version: str, weight: int) -> JsonDict:
    return {
        "metadata": {"name": "t", "namespace": "ns", "resourceVersion": version},
        "spec": {"weight": weight},
    }


def set_weight(to: int) -> Any:
    def plan(obj: JsonDict) -> list[dict[str, Any]]:
        if obj["spec"]["weight"] == to:
            return []
        return [{"op": "replace", "path": "/spec/weight", "value": to}]

    return plan


async def run(
    server: FakeServer, cached: JsonDict, plan: Any
) -> tuple[JsonDict | None, Remembered]:
    objects = Remembered()
    result = await apply_plan(server, objects, THING, cached, plan)  # type: ignore[arg-type]
    return result, objects


async def test_nothing_to_do_means_no_request() -> None:
    server = FakeServer(thing("1", 5))
    assert (await run(server, thing("1", 5), set_weight(5)))[0] is None
    assert server.patches == []


async def test_patch_is_guarded_and_remembered() -> None:
    server = FakeServer(thing("1", 5))
    written, objects = await run(server, thing("1", 5), set_weight(7))
    assert server.patches == [
        [
            {"op": "test", "path": "/metadata/resourceVersion", "value": "1"},
            {"op": "replace", "path": "/spec/weight", "value": 7},
        ]
    ]
    assert written is not None and written["spec"]["weight"] == 7
    assert objects.seen == [written]


async def test_a_stale_cache_is_reread_and_replanned() -> None:
    server = FakeServer(thing("2", 9))  # moved on since the cache saw version 1
    written, _ = await run(server, thing("1", 5), set_weight(7))
    assert [p[0]["value"] for p in server.patches] == ["1", "2"]
    assert written is not None and written["spec"]["weight"] == 7
    server = FakeServer(thing("2", 7))  # ... and already holds what we want
    assert (await run(server, thing("1", 5), set_weight(7)))[0] is None
    assert len(server.patches) == 1


async def test_gives_up_after_three_retries() -> None:
    server = FakeServer(thing("2", 9))
    server.on_patch = [thing(str(v), 9) for v in range(3, 7)]  # it moves before every patch
    with pytest.raises(RouterError, match="kept changing"):
        await run(server, thing("1", 5), set_weight(7))
    assert len(server.patches) == 4


async def test_a_refusal_that_is_not_a_race_is_a_router_error() -> None:
    server = FakeServer(thing("1", 5), reject="spec.weight: must be at most 256")
    with pytest.raises(RouterError, match=r"Thing ns/t refused the change: spec\.weight: must"):
        await run(server, thing("1", 5), set_weight(300))
    assert len(server.patches) == 1


def test_pointer_escapes() -> None:
    assert pointer("metadata", "annotations", "a/b~c", 0) == "/metadata/annotations/a~1b~0c/0"
