"""The informer treats resourceVersions as opaque strings and follows the watch's order.

Pure client-side logic: watch events are fed to `apply_watch_event` in the order a watch would
deliver them, interleaved with a write's answer (`remember`) arriving early or late, which a real
server cannot be made to do on demand. The list and watch against the sandbox are in
tests/integration/test_informer_on_cluster.py.
"""

from __future__ import annotations

from typing import Any, cast

from rolloutd.kube.client import KubeClient
from rolloutd.kube.informer import Informer
from rolloutd.kube.resources import REPLICA_SETS

JsonDict = dict[str, Any]


def rs(rv: str, replicas: int) -> JsonDict:
    return {
        "metadata": {"name": "a", "namespace": "ns", "resourceVersion": rv},
        "spec": {"replicas": replicas},
    }


def event(kind: str, obj: JsonDict) -> JsonDict:
    return {"type": kind, "object": obj}


def informer() -> tuple[Informer, list[tuple[str, str]]]:
    inf = Informer(cast(KubeClient, None), REPLICA_SETS)  # never asked: no list, no watch
    seen: list[tuple[str, str]] = []
    inf.add_handler(lambda kind, obj, old: seen.append((kind, obj["metadata"]["resourceVersion"])))
    return inf, seen


def cached_rv(inf: Informer) -> str:
    obj = inf.get("ns", "a")
    assert obj is not None
    return str(obj["metadata"]["resourceVersion"])


def test_versions_that_do_not_sort_as_numbers_are_not_compared_as_numbers() -> None:
    inf, seen = informer()
    inf.apply_watch_event(event("ADDED", rs("9", 1)))
    inf.apply_watch_event(event("MODIFIED", rs("10", 2)))  # "10" < "9" as strings
    inf.apply_watch_event(event("MODIFIED", rs("a7f", 3)))  # not a number at all
    assert seen == [("ADDED", "9"), ("MODIFIED", "10"), ("MODIFIED", "a7f")]
    assert cached_rv(inf) == "a7f"


def test_our_write_does_not_come_back_as_a_change() -> None:
    inf, seen = informer()
    inf.apply_watch_event(event("ADDED", rs("5", 1)))
    inf.remember(rs("8", 2))  # our write's answer
    inf.apply_watch_event(event("MODIFIED", rs("6", 9)))  # someone else's, before ours: older
    inf.apply_watch_event(event("MODIFIED", rs("8", 2)))  # ours, delivered by the watch
    assert seen == [("ADDED", "5"), ("MODIFIED", "8")]
    assert cached_rv(inf) == "8"
    inf.apply_watch_event(event("MODIFIED", rs("11", 3)))  # a change after ours is news again
    assert seen[-1] == ("MODIFIED", "11")


def test_two_writes_in_a_row_wait_for_both_events() -> None:
    inf, seen = informer()
    inf.apply_watch_event(event("ADDED", rs("1", 1)))
    inf.remember(rs("2", 2))
    inf.remember(rs("3", 3))
    inf.apply_watch_event(event("MODIFIED", rs("2", 2)))
    assert cached_rv(inf) == "3"  # the first write's event is older than the second's answer
    inf.apply_watch_event(event("MODIFIED", rs("3", 3)))
    assert seen == [("ADDED", "1"), ("MODIFIED", "2"), ("MODIFIED", "3")]


def test_a_late_answer_does_not_overwrite_what_the_watch_delivered_after_it() -> None:
    inf, seen = informer()
    inf.apply_watch_event(event("ADDED", rs("1", 1)))
    inf.apply_watch_event(event("MODIFIED", rs("2", 2)))  # our write, seen by the watch first
    inf.apply_watch_event(event("MODIFIED", rs("3", 7)))  # then someone else's
    inf.remember(rs("2", 2))  # our write's answer arrives last
    assert cached_rv(inf) == "3"
    assert inf.get("ns", "a") == rs("3", 7)
    assert len(seen) == 3


def test_a_delete_forgets_the_write_it_waited_for() -> None:
    inf, seen = informer()
    inf.apply_watch_event(event("ADDED", rs("1", 1)))
    inf.remember(rs("2", 2))
    inf.apply_watch_event(event("DELETED", rs("4", 2)))
    inf.apply_watch_event(event("ADDED", rs("5", 1)))  # recreated: news, not "older than ours"
    assert cached_rv(inf) == "5"
    assert seen[-2:] == [("DELETED", "4"), ("ADDED", "5")]
