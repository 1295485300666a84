"""The pure part of sharding: which shard a Rollout is in, who owns a shard, may we write.

Everything here is a function of its arguments (no I/O, no clock of its own), so every
replica that sees the same membership computes the same assignment, and the tests can drive
the fencing rule with an injected clock. `rolloutd/kube/shards.py` is the I/O around it.

- `shard_of`: a stable hash (BLAKE2b, not Python's per-process salted `hash()`) of
  `namespace/name`, or of the namespace alone, modulo the shard count.
- `assign`: rendezvous (highest-random-weight) hashing with a load bound. All
  (shard, member) pairs are ranked by their weight and taken greedily, highest first; a member
  takes a shard while it has fewer than floor(S/N) or while fewer than S mod N members hold
  ceil(S/N). So every member holds floor or ceil of S/N, and since the weight of a pair does
  not depend on the other members, a join or a leave moves the shards it must plus a few
  displaced by the load bound (the unit tests bound that by the minimum again).
- `fresh`: the fencing rule. A shard may be written only while its last successful renewal
  (measured from when the renewal request *started*) is younger than the lease duration minus
  a safety margin.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Literal

ShardBy = Literal["name", "namespace"]
MEMBER_PREFIX = "rolloutd-member-"
SHARD_PREFIX = "rolloutd-shard-"


def stable_hash(text: str) -> int:
    """A 64-bit hash that is the same in every process and on every machine."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


def shard_of(namespace: str, name: str, shards: int, by: ShardBy = "name") -> int:
    """The shard of the Rollout `namespace/name` (its AnalysisRuns and Experiments follow it)."""
    if shards <= 0:
        raise ValueError(f"shard count must be positive, not {shards}")
    text = namespace if by == "namespace" else f"{namespace}/{name}"
    return stable_hash(text) % shards


def weight(shard: int, member: str) -> int:
    """The rendezvous weight of `member` for `shard`."""
    return stable_hash(f"{shard}\x00{member}")


def assign(shards: int, members: Iterable[str]) -> dict[int, str]:
    """shard -> member for every shard, the same for every caller given the same members."""
    live = sorted(set(members))
    if not live:
        return {}
    floor, extra = divmod(shards, len(live))
    # Ties of weight (astronomically rare) are broken by shard then member name, so the
    # result never depends on the order the members were given in.
    pairs = sorted(
        ((weight(s, m), s, m) for s in range(shards) for m in live),
        key=lambda p: (-p[0], p[1], p[2]),
    )
    held = dict.fromkeys(live, 0)
    at_ceiling = 0
    out: dict[int, str] = {}
    for _, shard, member in pairs:
        if shard in out:
            continue
        count = held[member]
        if count < floor or (count == floor and at_ceiling < extra):
            out[shard] = member
            held[member] = count + 1
            if count + 1 == floor + 1:
                at_ceiling += 1
            if len(out) == shards:
                break
    return out


def owned_by(assignment: Mapping[int, str], member: str) -> set[int]:
    return {shard for shard, who in assignment.items() if who == member}


def fresh(renewed_at: float, now: float, lease_duration: float, margin: float) -> bool:
    """May a holder whose last renewal started at `renewed_at` still write at `now`?

    Both instants are on the holder's own monotonic clock (which keeps running while the
    process is stopped), so a process frozen past its lease finds itself stale on resume.
    """
    return now < renewed_at + lease_duration - margin


def expired(
    renew_time: float | None,
    duration: float,
    wall_now: float,
    unchanged_for: float,
) -> bool:
    """Is another replica's Lease free to take?

    Conservative on purpose: both the record's own `renewTime + leaseDurationSeconds` must be
    in the past by our wall clock, and we must have seen the record unchanged for a whole
    duration on our monotonic clock. The first alone trusts the clocks of two nodes; the second
    alone would let a replica that just started take a Lease it has never watched.
    """
    wall_expired = renew_time is None or renew_time + duration < wall_now
    return wall_expired and unchanged_for >= duration


def validate(shards: int, lease_duration: float, renew: float, margin: float) -> None:
    """Refuse settings under which fencing cannot work, naming the flag."""
    if shards < 1:
        raise ValueError(f"--shards must be at least 1, not {shards}")
    if not 0 < margin < lease_duration:
        raise ValueError(
            f"--shard-safety-margin ({margin:g}s) must be positive and below "
            f"--lease-duration ({lease_duration:g}s)"
        )
    if not 0 < renew < lease_duration - margin:
        raise ValueError(
            f"--shard-renew ({renew:g}s) must be positive and below --lease-duration minus "
            f"--shard-safety-margin ({lease_duration - margin:g}s), or every shard goes stale "
            "between two renewals"
        )
