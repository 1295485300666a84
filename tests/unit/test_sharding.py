"""Shard assignment and fencing (rolloutd/kube/sharding.py): pure functions, no cluster."""

from __future__ import annotations

import random

import pytest

from rolloutd.kube import sharding


def _counts(assignment: dict[int, str], members: list[str]) -> list[int]:
    return [sum(1 for who in assignment.values() if who == m) for m in members]


@pytest.mark.parametrize("shards", [12, 32, 100])
def test_three_members_each_within_one_shard_of_a_third(shards: int) -> None:
    rng = random.Random(shards)
    for _ in range(50):
        members = [f"rolloutd-{rng.randrange(10**9)}" for _ in range(3)]
        assignment = sharding.assign(shards, members)
        assert sorted(assignment) == list(range(shards))
        for count in _counts(assignment, members):
            assert abs(count - shards / 3) < 1


def test_every_shard_count_is_floor_or_ceiling() -> None:
    for n in range(1, 8):
        members = [f"m{i}" for i in range(n)]
        for shards in (1, 5, 10, 33):
            counts = _counts(sharding.assign(shards, members), members)
            assert set(counts) <= {shards // n, -(-shards // n)}
            assert sum(counts) == shards


def test_assignment_is_deterministic_and_ignores_member_order() -> None:
    members = ["c", "a", "b", "a"]
    first = sharding.assign(32, members)
    assert first == sharding.assign(32, list(reversed(members)))
    assert first == sharding.assign(32, ["a", "b", "c"])
    assert sharding.assign(32, []) == {}


def _moves(before: dict[int, str], after: dict[int, str]) -> set[int]:
    return {s for s in before if before[s] != after[s]}


@pytest.mark.parametrize("shards", [12, 32])
def test_a_join_moves_about_one_share(shards: int) -> None:
    rng = random.Random(7)
    for _ in range(100):
        old = [f"r{rng.randrange(10**9)}" for _ in range(3)]
        before = sharding.assign(shards, old)
        after = sharding.assign(shards, [*old, "newcomer"])
        moved = _moves(before, after)
        share = len(sharding.owned_by(after, "newcomer"))
        assert share in (shards // 4, -(-shards // 4))
        # Every shard the newcomer got moved; the load bound may displace a few more between
        # old members, never more than the newcomer's share again.
        assert len(moved) <= 2 * share


@pytest.mark.parametrize("shards", [12, 32])
def test_a_leave_keeps_most_survivor_shards(shards: int) -> None:
    rng = random.Random(11)
    for _ in range(100):
        members = [f"r{rng.randrange(10**9)}" for _ in range(3)]
        before = sharding.assign(shards, members)
        gone = members[2]
        after = sharding.assign(shards, members[:2])
        orphaned = sharding.owned_by(before, gone)
        moved = _moves(before, after)
        assert orphaned <= moved
        assert len(moved - orphaned) <= len(orphaned)
        assert gone not in after.values()


def test_shard_of_is_stable_and_spreads() -> None:
    # Pinned values: a change of hash function would silently move every Rollout.
    assert sharding.stable_hash("demo/canary") == sharding.stable_hash("demo/canary")
    assert sharding.shard_of("demo", "canary", 32) == sharding.stable_hash("demo/canary") % 32
    by_ns = {sharding.shard_of("team-a", f"r{i}", 32, "namespace") for i in range(50)}
    assert len(by_ns) == 1
    spread = {sharding.shard_of("ns", f"r{i}", 32) for i in range(500)}
    assert len(spread) == 32
    with pytest.raises(ValueError, match="shard count"):
        sharding.shard_of("ns", "r", 0)


def test_fencing_with_an_injected_clock() -> None:
    # Renewal started at t=100 with a 10 s lease and a 3 s margin: writes until t=107 only.
    assert sharding.fresh(100.0, 100.0, 10.0, 3.0)
    assert sharding.fresh(100.0, 106.9, 10.0, 3.0)
    assert not sharding.fresh(100.0, 107.0, 10.0, 3.0)
    # A process stopped for 60 s resumes at t=160: stale until it renews again.
    assert not sharding.fresh(100.0, 160.0, 10.0, 3.0)
    assert sharding.fresh(160.0, 160.5, 10.0, 3.0)


def test_expiry_needs_both_clocks() -> None:
    # Wall clock says expired, but we have watched it unchanged for only 2 s of 10.
    assert not sharding.expired(1000.0, 10.0, wall_now=1020.0, unchanged_for=2.0)
    # Unchanged for long enough on our clock, but its renewTime is recent by our wall clock.
    assert not sharding.expired(1015.0, 10.0, wall_now=1020.0, unchanged_for=30.0)
    assert sharding.expired(1000.0, 10.0, wall_now=1020.0, unchanged_for=10.0)
    assert sharding.expired(None, 10.0, wall_now=0.0, unchanged_for=10.0)


def test_settings_that_cannot_fence_are_refused() -> None:
    sharding.validate(32, 15.0, 2.0, 5.0)
    with pytest.raises(ValueError, match="--shards"):
        sharding.validate(0, 15.0, 2.0, 5.0)
    with pytest.raises(ValueError, match="--shard-safety-margin"):
        sharding.validate(4, 15.0, 2.0, 15.0)
    with pytest.raises(ValueError, match="--shard-renew"):
        sharding.validate(4, 15.0, 10.0, 5.0)
