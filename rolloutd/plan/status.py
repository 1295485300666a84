"""Conditions, phase and message, computed exactly the way Argo Rollouts users read them.

The phase is derived from conditions and pause state in Argo's order (InvalidSpec, then an
aborted or timed-out Progressing condition, then pauses, then replica counts, then steps), so
`kubectl argo rollouts status` and CI scripts that grep for `Healthy` or `Degraded` behave the
same against rolloutd.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from rolloutd.gotime import parse_time as parse_time
from rolloutd.gotime import timestamp as timestamp

JsonDict = dict[str, Any]

PROGRESSING = "Progressing"
AVAILABLE = "Available"
PAUSED = "Paused"
HEALTHY = "Healthy"
COMPLETED = "Completed"
INVALID_SPEC = "InvalidSpec"

# Progressing reasons
NEW_RS_CREATED = "NewReplicaSetCreated"
FOUND_NEW_RS = "FoundNewReplicaSet"
RS_UPDATED = "ReplicaSetUpdated"
NEW_RS_AVAILABLE = "NewReplicaSetAvailable"
RS_NOT_AVAILABLE = "ReplicaSetNotAvailable"
ROLLOUT_PAUSED = "RolloutPaused"
ROLLOUT_RESUMED = "RolloutResumed"
ROLLOUT_RETRY = "RolloutRetry"
ROLLOUT_ABORTED = "RolloutAborted"
DEADLINE_EXCEEDED = "ProgressDeadlineExceeded"

CANARY_PAUSE_STEP = "CanaryPauseStep"
INCONCLUSIVE_ANALYSIS = "InconclusiveAnalysisRun"


def find(conditions: Sequence[JsonDict], kind: str) -> JsonDict | None:
    return next((c for c in conditions if c.get("type") == kind), None)


def set_condition(
    conditions: list[JsonDict],
    kind: str,
    status: str,
    reason: str,
    message: str,
    now: dt.datetime,
    *,
    touch: bool = False,
) -> None:
    """Set a condition in place, keeping lastTransitionTime while its status is unchanged.

    lastUpdateTime moves when reason or message change, or when `touch` says progress was made.
    """
    stamp = timestamp(now)
    old = find(conditions, kind)
    if old is None:
        conditions.append(
            {
                "type": kind,
                "status": status,
                "reason": reason,
                "message": message,
                "lastUpdateTime": stamp,
                "lastTransitionTime": stamp,
            }
        )
        return
    changed = old.get("reason") != reason or old.get("message") != message
    if old.get("status") != status:
        old["lastTransitionTime"] = stamp
        changed = True
    old.update(status=status, reason=reason, message=message)
    if changed or touch:
        old["lastUpdateTime"] = stamp


def remove_condition(conditions: list[JsonDict], kind: str) -> None:
    conditions[:] = [c for c in conditions if c.get("type") != kind]


def phase_and_message(
    *,
    conditions: Sequence[JsonDict],
    spec_paused: bool,
    pause_conditions: Sequence[JsonDict],
    spec_replicas: int,
    updated_replicas: int,
    available_replicas: int,
    fully_promoted: bool,
    basic_canary_old_pods: bool,
    restarting: bool = False,
) -> tuple[str, str]:
    """Argo's CalculateRolloutPhase, first match wins."""
    invalid = find(conditions, INVALID_SPEC)
    if invalid is not None and invalid.get("status") == "True":
        return "Degraded", f"{INVALID_SPEC}: {invalid.get('message', '')}"
    for cond in conditions:
        if cond.get("reason") in (ROLLOUT_ABORTED, DEADLINE_EXCEEDED):
            return "Degraded", f"{cond['reason']}: {cond.get('message', '')}"
    if spec_paused:
        return "Paused", "manually paused"
    if pause_conditions:
        return "Paused", str(pause_conditions[0].get("reason", ""))
    if restarting:
        return "Progressing", "rollout is restarting"
    if updated_replicas < spec_replicas:
        return "Progressing", "more replicas need to be updated"
    if available_replicas < updated_replicas:
        return "Progressing", "updated replicas are still becoming available"
    if basic_canary_old_pods:
        return "Progressing", "old replicas are pending termination"
    if not fully_promoted:
        return "Progressing", "waiting for all steps to complete"
    return "Healthy", ""
