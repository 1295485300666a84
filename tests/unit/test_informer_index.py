"""Informer indexes: objects are found by value and the index follows every change to the cache.

No cluster: the informer is fed through `remember` (a write's answer), a fake list, and fake
watch events, the three ways its store changes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

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


class FakeKube:
    def __init__(self, items: list[JsonDict], events: list[JsonDict]) -> None:
        self.items = items
        self.events = events

    async def list_all(self, res: Any, **kw: Any) -> JsonDict:
        return {"metadata": {"resourceVersion": "100"}, "items": self.items}

    async def watch(self, res: Any, **kw: Any) -> AsyncIterator[JsonDict]:
        for event in self.events:
            yield event


def names(objs: list[JsonDict]) -> list[str]:
    return [o["metadata"]["name"] for o in objs]


def test_index_follows_writes_owner_changes_and_deletes() -> None:
    inf = Informer(FakeKube([], []), REPLICA_SETS)  # type: ignore[arg-type]
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


async def test_index_is_rebuilt_by_a_list_and_kept_by_watch_events() -> None:
    kube = FakeKube(
        [rs("a", "u1", 1), rs("b", "u1", 2)],
        [
            {"type": "ADDED", "object": rs("c", "u1", 3)},
            {"type": "DELETED", "object": rs("a", "u1", 4)},
            {"type": "MODIFIED", "object": rs("b", "u9", 5)},
        ],
    )
    inf = Informer(kube, REPLICA_SETS)  # type: ignore[arg-type]
    inf.add_index("owner", owners)
    inf.remember(rs("stale", "u1", 1))  # dropped by the list, index too
    await inf._list()
    assert names(inf.by_index("owner", "u1")) == ["a", "b"]
    await inf._watch()
    assert names(inf.by_index("owner", "u1")) == ["c"]
    assert names(inf.by_index("owner", "u9")) == ["b"]
