"""Pod arithmetic: how many pods each ReplicaSet should have at a given weight.

With traffic routing the canary gets ceil(replicas x weight / max) pods and the stable keeps
all of its pods, so an abort can send 100% back to stable at once. Without traffic routing the
Service spreads traffic over pods, so the split of pods *is* the split of traffic (Argo's basic
canary, which picks the split closest to the wanted percentage).
"""

from __future__ import annotations

import math


def canary_replicas(replicas: int, weight: int, max_weight: int = 100) -> int:
    """Pods the canary needs to carry `weight` of `max_weight` with traffic routing."""
    if weight <= 0 or replicas <= 0:
        return 0
    return min(replicas, math.ceil(replicas * weight / max_weight))


def weight_supported(available: int, replicas: int, weight: int, max_weight: int = 100) -> bool:
    """True when `available` canary pods are enough to take `weight` of the traffic."""
    return weight <= 0 or available >= canary_replicas(replicas, weight, max_weight)


def basic_canary_split(replicas: int, weight: int) -> tuple[int, int]:
    """(canary, stable) pods for a basic canary: the split closest to `weight` percent.

    Ties go to the larger canary, and for 1..99 percent neither side drops to 0 when there
    is more than one pod (a canary with no pods, or a stable with none, is not a canary).
    """
    if replicas <= 0:
        return 0, 0
    if weight >= 100:
        return replicas, 0
    if weight <= 0:
        return 0, replicas
    exact = replicas * weight / 100
    canary = math.floor(exact + 0.5)
    if replicas > 1:
        canary = min(max(canary, 1), replicas - 1)
    return canary, replicas - canary


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
