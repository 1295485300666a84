"""An informer's index on the real API server: built by the first list (dropping what the list
does not have) and kept by watch events as objects are added, deleted and change owners."""

from __future__ import annotations

import asyncio
from typing import Any

from rolloutd.kube.client import KubeClient
from rolloutd.kube.informer import Informer
from rolloutd.kube.resources import CONFIG_MAPS, REPLICA_SETS
from tests.e2e.harness import eventually

JsonDict = dict[str, Any]


def owners(obj: JsonDict) -> list[str]:
    refs = obj["metadata"].get("ownerReferences") or []
    return [r["uid"] for r in refs if r.get("controller")]


def owner_ref(owner: JsonDict) -> JsonDict:
    # A real owner: the garbage collector deletes dependents whose owner does not exist.
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": True,
    }


def replica_set(name: str, owner: JsonDict) -> JsonDict:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {"name": name, "ownerReferences": [owner_ref(owner)]},
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "app", "image": "example.invalid/app:1"}]},
            },
        },
    }


def names(objs: list[JsonDict]) -> list[str]:
    return sorted(o["metadata"]["name"] for o in objs)


async def test_index_is_built_by_the_list_and_kept_by_watch_events(
    kube: KubeClient, namespace: str
) -> None:
    ns = namespace
    first, second = [
        await kube.create(CONFIG_MAPS, {"metadata": {"name": n}}, namespace=ns)
        for n in ("owner-1", "owner-2")
    ]
    uid1, uid2 = first["metadata"]["uid"], second["metadata"]["uid"]
    for name in ("a", "b"):
        await kube.create(REPLICA_SETS, replica_set(name, first), namespace=ns)

    inf = Informer(kube, REPLICA_SETS, namespace=ns)
    inf.add_index("owner", owners)
    stale = replica_set("stale", first)
    stale["metadata"].update(namespace=ns, uid="gone", resourceVersion="1")
    inf.remember(stale)  # not on the server: the first list drops it, from the index too
    task = asyncio.create_task(inf.run())
    try:
        await asyncio.wait_for(inf.synced.wait(), timeout=30)
        assert names(inf.by_index("owner", uid1)) == ["a", "b"]

        await kube.create(REPLICA_SETS, replica_set("c", first), namespace=ns)
        await kube.delete(REPLICA_SETS, "a", namespace=ns)
        await kube.patch(
            REPLICA_SETS,
            "b",
            {"metadata": {"ownerReferences": [owner_ref(second)]}},
            namespace=ns,
        )

        async def followed() -> bool:
            return names(inf.by_index("owner", uid1)) == ["c"] and names(
                inf.by_index("owner", uid2)
            ) == ["b"]

        await eventually(followed, "the index to follow the add, the delete and the new owner")
        assert inf.get(ns, "a") is None
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
