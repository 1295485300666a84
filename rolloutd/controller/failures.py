"""What a reconcile that fails tells the user: a condition on the Rollout and a Warning Event.

Two kinds of failure are not the cluster's passing trouble, and retrying them in silence
(only the daemon's log knew) left a Rollout stuck with a status that still claimed what its
last good pass had seen:

- the planner raised (a bug, or an input validation missed): `ReconcileError`, with the
  exception as the cause;
- the API server refused a write (a 4xx other than a conflict, a vanished object or a rate
  limit): Argo's `ReplicaSetCreateError` for a new ReplicaSet, else `ReconcileError`, naming
  the object and quoting the server.

The condition is written on top of the status the Rollout already has (nothing else in it
changes, so it claims no more than before), the phase becomes Degraded with the cause as its
message, and the caller re-raises so the work queue backs off per key, growing. The condition
and message go at the next pass whose actions all succeed (`clear`).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from rolloutd.kube.client import ApiError
from rolloutd.plan import status as st
from rolloutd.plan.types import (
    Action,
    AnnotateReplicaSet,
    AnnotateRollout,
    CreateAnalysisRun,
    CreateReplicaSet,
    DeleteAnalysisRun,
    DeleteReplicaSet,
    ScaleReplicaSet,
    SwitchService,
    TerminateAnalysisRun,
)

JsonDict = dict[str, Any]
RECONCILE_ERROR = "ReconcileError"
"""The condition type (and the Event reason for failures other than a ReplicaSet create)."""
RS_CREATE_ERROR = "ReplicaSetCreateError"
"""Argo's reason when the API server refuses a new ReplicaSet."""
MAX_MESSAGE = 1000
_TRANSIENT = {404, 409, 429}
"""4xx answers a retry can cure: a cached object gone, a conflict, a rate limit."""


class WriteRefused(Exception):
    """The API server refused one of a plan's writes; names the object and the reason."""

    def __init__(self, reason: str, target: str, error: ApiError) -> None:
        super().__init__(f"{target}: {error.message or error}")
        self.reason = reason
        self.target = target
        self.error = error


def refusal(action: Action, error: ApiError, router: str | None = None) -> WriteRefused | None:
    """The WriteRefused for an action the server refused, or None when a retry may succeed."""
    if not 400 <= error.status < 500 or error.status in _TRANSIENT:
        return None
    if isinstance(action, CreateReplicaSet):
        name = (action.body.get("metadata") or {}).get("name", "")
        return WriteRefused(RS_CREATE_ERROR, f'Failed to create new replica set "{name}"', error)
    return WriteRefused(RECONCILE_ERROR, describe(action, router), error)


def describe(action: Action, router: str | None = None) -> str:
    """The object an action writes, as a user would name it."""
    if isinstance(action, ScaleReplicaSet | AnnotateReplicaSet | DeleteReplicaSet):
        return f'ReplicaSet "{action.name}"'
    if isinstance(action, SwitchService):
        return f'Service "{action.service}"'
    if isinstance(action, AnnotateRollout):
        return "the Rollout's annotations"
    if isinstance(action, CreateAnalysisRun):
        return f'AnalysisRun "{(action.body.get("metadata") or {}).get("name", "")}"'
    if isinstance(action, TerminateAnalysisRun | DeleteAnalysisRun):
        return f'AnalysisRun "{action.name}"'
    return f"traffic router {router or ''}".strip()


def planner_failure(exc: BaseException) -> str:
    return f"planning failed: {type(exc).__name__}: {exc}"


def failed_status(
    obj: JsonDict, message: str, now: dt.datetime, reason: str = RECONCILE_ERROR
) -> JsonDict:
    """The Rollout's current status with the failure as a condition and the phase's cause.

    A refused ReplicaSet also turns Progressing False with Argo's `ReplicaSetCreateError`, as
    Argo's sync does: its metrics call that phase Error, and dashboards and alerts count it.
    """
    status: JsonDict = dict(obj.get("status") or {})
    message = short(message)
    conditions = [dict(c) for c in status.get("conditions") or []]
    st.set_condition(conditions, RECONCILE_ERROR, "True", RECONCILE_ERROR, message, now)
    if reason == RS_CREATE_ERROR:
        st.set_condition(conditions, "Progressing", "False", RS_CREATE_ERROR, message, now)
    status["conditions"] = conditions
    status["phase"] = "Degraded"
    status["message"] = f"{RECONCILE_ERROR}: {message}"
    return status


def clear(status: JsonDict) -> JsonDict:
    """A plan's status without the failure condition (its actions have all succeeded)."""
    conditions = status.get("conditions") or []
    if not any(c.get("type") == RECONCILE_ERROR for c in conditions):
        return status
    return {**status, "conditions": [c for c in conditions if c.get("type") != RECONCILE_ERROR]}


def short(message: str) -> str:
    """Server messages can quote a whole object back: keep conditions and Events small."""
    message = " ".join(message.split())
    return message if len(message) <= MAX_MESSAGE else message[: MAX_MESSAGE - 3] + "..."
