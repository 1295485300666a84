"""Pod arithmetic: how many pods each ReplicaSet should have at a given weight.

With traffic routing the canary gets ceil(replicas x weight / max) pods and the stable keeps
all of its pods, so an abort can send 100% back to stable at once. Without traffic routing the
Service spreads traffic over pods, so the split of pods *is* the split of traffic (Argo's basic
canary, which picks the split closest to the wanted percentage), and the way there is paced
like a Deployment's rolling update: never more than replicas + maxSurge pods asked for, never
fewer than replicas - maxUnavailable available.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction


def canary_replicas(replicas: int, weight: int, max_weight: int = 100) -> int:
    """Pods the canary needs to carry `weight` of `max_weight` with traffic routing."""
    if weight <= 0 or replicas <= 0:
        return 0
    return min(replicas, math.ceil(replicas * weight / max_weight))


def weight_supported(
    available: int, replicas: int, weight: int, max_weight: int = 100, *, cap: int | None = None
) -> bool:
    """True when `available` canary pods are enough to take `weight` of the traffic.

    `cap` is the canary size a setCanaryScale asked for: it fixes the canary's size on purpose
    (50% of the traffic to one pod, say), so the weight needs only those pods, but never
    fewer than one (no traffic goes to a canary without pods)."""
    if weight <= 0:
        return True
    needed = canary_replicas(replicas, weight, max_weight)
    if cap is not None:
        needed = max(1, min(needed, cap))
    return available >= needed


def basic_canary_split(replicas: int, weight: int, max_surge: int = 0) -> tuple[int, int]:
    """(canary, stable) pods for a basic canary: the split closest to `weight` percent.

    The split adds up to `replicas`, or to one more when a surge is allowed and that comes
    closer (5 pods at 10%: 1 canary + 5 stable is 16.7%, nearer than 1 + 4 at 20%). Ties go to
    the larger canary, and for 1..99 percent neither side drops to 0 when there is more than one
    pod (a canary with no pods, or a stable with none, is not a canary).
    """
    if replicas <= 0:
        return 0, 0
    if weight >= 100:
        return replicas, 0
    if weight <= 0:
        return 0, replicas
    exact = replicas * weight / 100
    low, high = math.floor(exact), math.ceil(exact)
    # A lone pod with no room to surge is either the canary or the stable.
    zero_allowed = replicas == 1 and max_surge == 0
    # (canary, total) in order of preference: on equal distance the first wins, so a tie
    # goes to the larger canary when it leaves the stable a pod, else to the smaller one.
    # (Argo drops the smaller one on a tie even then, and ends with no canary at all, e.g.
    # for 10 pods at 95% with no surge.)
    candidates: list[tuple[int, int]] = []
    for total in (replicas, replicas + 1) if max_surge > 0 else (replicas,):
        if high < total or zero_allowed:
            candidates.append((high, total))
        if low > 0 or zero_allowed:
            candidates.append((low, total))
    if not candidates:
        return 0, replicas
    canary, total = min(candidates, key=lambda c: Fraction(abs(100 * c[0] - weight * c[1]), c[1]))
    return canary, total - canary


@dataclass(frozen=True)
class Pods:
    """One ReplicaSet's size as the planner sees it: what it asks for and what is available."""

    spec: int
    available: int

    def for_scale_down(self, *, ignore_availability: bool) -> int:
        """Pods this ReplicaSet counts as available when budgeting a scale-down: its available
        ones, or its spec when its availability may be ignored (pods that crash loop must not
        block the other side forever). Never more than its spec, since pods above it are on
        their way out."""
        if self.spec < self.available or ignore_availability:
            return self.spec
        return self.available


def basic_canary_sizes(
    desired: tuple[int, int],
    new: Pods,
    stable: Pods | None,
    *,
    replicas: int,
    max_surge: int,
    max_unavailable: int,
    others: int = 0,
) -> tuple[int, int]:
    """(canary, stable) sizes for this reconcile on the way to `desired` (Argo's
    CalculateReplicaCountsForBasicCanary).

    Scale-ups fit under replicas + maxSurge pods in all, the stable first. Scale-downs keep
    at least replicas - maxUnavailable pods available, counting the side that grows by its
    availability and the side that shrinks by its spec. While `others` (older ReplicaSets)
    still have pods, nothing here shrinks: they go first.
    """
    want_new, want_stable = desired if stable is not None else (replicas, 0)
    new_size = new.spec
    stable_size = stable.spec if stable is not None else 0
    ceiling = replicas + max_surge
    room = ceiling - (others + new_size + stable_size)
    if stable is not None and stable_size < want_stable and room > 0:
        grow = min(room, want_stable - stable_size)
        stable_size += grow
        room -= grow
    if new_size < want_new and room > 0:
        new_size += min(room, want_new - new_size)
    if others > 0:
        return new_size, stable_size

    floor = replicas - max_unavailable
    growing = want_new >= new.spec
    counted = new.for_scale_down(ignore_availability=not growing)
    if stable is not None:
        counted += stable.for_scale_down(ignore_availability=growing)
    budget = counted - floor
    if budget <= 0:
        return new_size, stable_size
    if not growing:
        if new.spec > want_new:
            new_size = max(want_new, new.spec - budget)
        if stable is not None:
            new_size, stable_size = _within_limits(
                new, stable, new_size, stable_size, ceiling, floor
            )
    elif stable is not None:
        if stable.spec > want_stable:
            stable_size = max(want_stable, stable.spec - budget)
        stable_size, new_size = _within_limits(stable, new, stable_size, new_size, ceiling, floor)
    return new_size, stable_size


def _within_limits(
    draining: Pods, kept: Pods, drain_size: int, kept_size: int, ceiling: int, floor: int
) -> tuple[int, int]:
    """Bring a (draining, kept) pair of sizes back under the surge ceiling: take the excess
    from the kept side, but give it back as much as the availability floor needs, and take
    what is still over the ceiling from the draining side."""
    kept_size -= max(0, kept_size + drain_size - ceiling)
    available = min(draining.available, drain_size) + min(kept.available, kept_size)
    lost = max(0, kept.available - kept_size)
    kept_size += min(lost, max(0, floor - available))
    drain_size -= max(0, kept_size + drain_size - ceiling)
    return drain_size, kept_size


def old_scale_down_budget(available_total: int, replicas: int, max_unavailable: int) -> int:
    """Pods older ReplicaSets of a basic canary may give up now without leaving fewer than
    replicas - maxUnavailable available."""
    return max(0, available_total - (replicas - max_unavailable))


def surge_and_unavailable(
    max_surge: int | str | None, max_unavailable: int | str | None, replicas: int
) -> tuple[int, int]:
    """maxSurge (rounded up) and maxUnavailable (rounded down) as pod counts; both 0 would
    stall a rollout, so maxUnavailable becomes 1 then (as in Kubernetes' resolveFenceposts)."""
    surge = resolve_int_or_percent(max_surge, replicas, round_up=True)
    unavailable = resolve_int_or_percent(max_unavailable, replicas, round_up=False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def resolve_int_or_percent(value: int | str | None, total: int, *, round_up: bool) -> int:
    """Kubernetes IntOrString against a total: `2` is 2, `"25%"` is 25% rounded as asked."""
    if value is None:
        value = "25%"
    if isinstance(value, int):
        return value
    text = value.strip()
    if text.endswith("%"):
        fraction = total * int(text[:-1]) / 100
        return math.ceil(fraction) if round_up else math.floor(fraction)
    # Argo's old helper reads a bare number string as a percentage ("25" means 25%).
    fraction = total * int(text) / 100
    return math.ceil(fraction) if round_up else math.floor(fraction)
