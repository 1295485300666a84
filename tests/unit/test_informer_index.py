"""Informer indexes: objects are found by value and the index follows every change to the cache.

No cluster and no API calls: the cache is fed through `remember` (a write's answer). The list
and watch paths run against the sandbox in tests/integration/test_informer_on_cluster.py.
"""

from __future__ import annotations

from typing import Any, cast

from rolloutd.kube.client import KubeClient
from rolloutd.kube.informer import Informer
from rolloutd.kube.resources import REPLICA_SETS

JsonDict = dict[str, Any]


def rs(name: str, owner: str | None, rv: int) -> JsonDict:
    meta: JsonDict = {"name": name, "namespace": "ns", "resourceVersion": str(rv)}
    if owner:
        meta["ownerReferences"] = [{"uid": owner, "controller": True}]
    return {"metadata": meta}


def owners(obj: JsonDict) -> list[str]:
    refs = obj["metadata"].get("ownerReferences") or []
    return [r["uid"] for r in refs if r.get("controller")]


def names(objs: list[JsonDict]) -> list[str]:
    return [o["metadata"]["name"] for o in objs]


def test_index_follows_writes_owner_changes_and_deletes() -> None:
    inf = Informer(cast(KubeClient, None), REPLICA_SETS)  # never asked: no list, no watch
    inf.remember(rs("a", "u1", 1))
    inf.add_index("owner", owners)  # added late: built from what is cached
    inf.remember(rs("b", "u1", 2))
    inf.remember(rs("c", "u2", 3))
    assert names(inf.by_index("owner", "u1")) == ["a", "b"]
    assert names(inf.by_index("owner", "u2")) == ["c"]
    assert inf.by_index("owner", "nobody") == []

    inf.remember(rs("a", "u2", 4))  # adopted by another owner
    assert names(inf.by_index("owner", "u1")) == ["b"]
    assert sorted(names(inf.by_index("owner", "u2"))) == ["a", "c"]

    inf.remember(rs("b", None, 5))  # orphaned: in no index entry
    assert inf.by_index("owner", "u1") == []
