"""`spec.restartAt`: which pods go now, and when the restart counts as done."""

from __future__ import annotations

import datetime as dt

from rolloutd.plan.restart import PodInfo, pods_to_evict, restart_pending
from rolloutd.plan.status import parse_time

T0 = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)
AT = T0 + dt.timedelta(minutes=5)


def pod(name: str, minutes: int, *, ready: bool = True, deleting: bool = False) -> PodInfo:
    return PodInfo(name, T0 + dt.timedelta(minutes=minutes), ready, deleting)


def test_pending_until_restarted_at_matches() -> None:
    assert restart_pending("2026-01-01T12:05:00Z", None)
    assert restart_pending("2026-01-01T12:05:00Z", "2026-01-01T11:00:00Z")
    assert not restart_pending("2026-01-01T12:05:00Z", "2026-01-01T12:05:00Z")
    assert not restart_pending(None, "2026-01-01T12:05:00Z")
    assert not restart_pending("not a time", None)
    assert parse_time("2026-01-01T12:05:00Z") == AT


def test_one_pod_at_a_time_while_all_are_available() -> None:
    pods = [pod(f"p{i}", 0) for i in range(5)]
    evict, done = pods_to_evict(pods, restart_at=AT, replicas=5, max_unavailable=1)
    assert (len(evict), done) == (1, False)


def test_nothing_more_while_one_is_going_away() -> None:
    pods = [pod("p0", 0, deleting=True)] + [pod(f"p{i}", 0) for i in range(1, 5)]
    evict, done = pods_to_evict(pods, restart_at=AT, replicas=5, max_unavailable=1)
    assert (evict, done) == ([], False)


def test_not_below_the_floor_when_a_replacement_is_not_ready() -> None:
    pods = [pod("new", 6, ready=False)] + [pod(f"p{i}", 0) for i in range(1, 5)]
    evict, done = pods_to_evict(pods, restart_at=AT, replicas=5, max_unavailable=1)
    assert (evict, done) == ([], False)


def test_unready_old_pods_go_first_and_cost_nothing() -> None:
    pods = [pod("sick", 1, ready=False)] + [pod(f"p{i}", 0) for i in range(4)]
    evict, _ = pods_to_evict(pods, restart_at=AT, replicas=5, max_unavailable=1)
    assert evict == ["sick"]


def test_max_unavailable_allows_several() -> None:
    pods = [pod(f"p{i}", 0) for i in range(10)]
    evict, _ = pods_to_evict(pods, restart_at=AT, replicas=10, max_unavailable=3)
    assert len(evict) == 3


def test_done_only_when_every_pod_is_newer_and_ready() -> None:
    newer = [pod(f"n{i}", 6) for i in range(4)]
    assert pods_to_evict(newer, restart_at=AT, replicas=5, max_unavailable=1) == ([], False)
    assert pods_to_evict([*newer, pod("n4", 7)], restart_at=AT, replicas=5, max_unavailable=1) == (
        [],
        True,
    )
