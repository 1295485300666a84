"""The planner's entry point: one pure function from a Snapshot and `now` to a Plan, which
hands the Rollout to its strategy's planner (`canary.py` or `bluegreen.py`).

A spec naming both strategies, or neither, goes to the canary planner, whose validation
reports it as an InvalidSpec naming `spec.strategy` (the shared `validate_spec`).
"""

from __future__ import annotations

import datetime as dt

from rolloutd.plan import bluegreen, canary
from rolloutd.plan.types import Plan, Snapshot


def plan(snapshot: Snapshot, now: dt.datetime) -> Plan:
    """Decide what to do for one Rollout. Pure: no I/O, `now` is the only clock."""
    strategy = snapshot.rollout.spec.strategy
    if strategy.blue_green is not None and strategy.canary is None:
        return bluegreen.plan(snapshot, now)
    return canary.plan(snapshot, now)
