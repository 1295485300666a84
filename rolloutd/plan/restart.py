"""`spec.restartAt`: which pods to evict now, and when the restart is done (Argo's restart.go).

Pure: the controller hands in the Rollout's pods and the time. Pods created before restartAt
are evicted a few at a time: at most max(maxUnavailable, 1) at once (pods already going away
count against that), and only while the available pods stay at or above
max(replicas, pods) minus that number. When no pod older than restartAt is left and the
replacements are ready, the controller copies restartAt to `status.restartedAt`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from rolloutd.plan.status import parse_time


@dataclass(frozen=True)
class PodInfo:
    name: str
    created: dt.datetime
    ready: bool
    deleting: bool


def restart_pending(restart_at: str | None, restarted_at: str | None) -> bool:
    """Argo's phase rule: restartAt set and not yet recorded as done."""
    wanted = parse_time(restart_at)
    return wanted is not None and wanted != parse_time(restarted_at)


def pods_to_evict(
    pods: Sequence[PodInfo], *, restart_at: dt.datetime, replicas: int, max_unavailable: int
) -> tuple[list[str], bool]:
    """(names of the pods to evict now, whether every pod is already newer than restartAt)."""
    old = [p for p in pods if p.created < restart_at]
    if not old:
        # Done only once the replacements serve: a restart must not report success short.
        ready = sum(1 for p in pods if p.ready and not p.deleting)
        return [], ready >= replicas
    at_once = max(max_unavailable, 1)
    going = sum(1 for p in pods if p.deleting)
    staying = [p for p in pods if not p.deleting]
    available = sum(1 for p in staying if p.ready)
    floor = max(replicas, len(staying)) - at_once
    budget = min(at_once - going, available - floor)
    # Pods that serve nothing go first: evicting them costs no availability.
    candidates = sorted(
        (p for p in old if not p.deleting), key=lambda p: (p.ready, p.created, p.name)
    )
    unready = [p for p in candidates if not p.ready]
    chosen = unready[: max(at_once - going, 0)]
    rest = [p for p in candidates if p.ready][: max(budget - len(chosen), 0)]
    return [p.name for p in chosen + rest], False
