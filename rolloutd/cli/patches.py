"""The writes each CLI command makes, built purely from the Rollout it read.

Every function here returns patch bodies (dicts, later sent as JSON) and never talks to the
cluster, so the exact bytes each command sends can be tested against the behaviour reference
(§3.11-3.16) without a cluster. The rules are the Go plugin's:

- status changes (`abort`, `retry`, promotion's pause clearing and step skipping,
  `promote --full`) are JSON merge patches on the `status` subresource;
- spec changes (`pause`, unpausing, `restart`) are JSON merge patches on the object;
- `undo` is a JSON patch replacing `/spec/template`; `set image` rewrites the object and
  sends it back with an update, so a concurrent writer makes it retry instead of clobbering.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from rolloutd.cli import info as ri
from rolloutd.cli.timefmt import format_rfc3339

JsonDict = dict[str, Any]

ABORT_PATCH: JsonDict = {"status": {"abort": True}}
RETRY_PATCH: JsonDict = {"status": {"abort": False}}
PAUSE_PATCH: JsonDict = {"spec": {"paused": True}}
UNPAUSE_PATCH: JsonDict = {"spec": {"paused": False}}
CLEAR_PAUSE_CONDITIONS_PATCH: JsonDict = {"status": {"pauseConditions": None}}
PROMOTE_FULL_PATCH: JsonDict = {"status": {"promoteFull": True}}


class PatchError(Exception):
    """The command cannot be applied to this Rollout; the message says why."""


@dataclass(frozen=True, slots=True)
class Patches:
    """What one command sends: the status patch first (when any), then the spec patch."""

    status: JsonDict | None = None
    spec: JsonDict | None = None


def _next_step_index(rollout: Mapping[str, Any]) -> int | None:
    """The current step index plus one, capped at the number of steps; None without steps."""
    index = ri.current_step_index(rollout)
    if index is None:
        return None
    steps = len(ri.canary_steps(rollout))
    return index + 1 if index < steps else index


def _step_analysis_inconclusive(rollout: Mapping[str, Any]) -> bool:
    canary_status = ri.status(rollout).get("canary")
    if ri.canary_strategy(rollout) is None or not isinstance(canary_status, dict):
        return False
    run = canary_status.get("currentStepAnalysisRunStatus")
    return isinstance(run, dict) and run.get("status") == "Inconclusive"


def promote_patches(
    rollout: Mapping[str, Any],
    *,
    full: bool = False,
    skip_current_step: bool = False,
    skip_all_steps: bool = False,
) -> Patches:
    """`promote` (§3.12): unpause, clear the pause conditions, or skip the running step.

    Plain promote sends at most one status patch: it clears pause conditions when there are
    any (the controller then completes the pause step); with an inconclusive step analysis it
    also drops `controllerPause` and moves to the next step; otherwise, on a canary with steps,
    it moves to the next step. A manual `spec.paused` is cleared with a separate spec patch.
    """
    if skip_current_step and skip_all_steps:
        raise PatchError("Cannot use skip-current-step and skip-all-steps flags at the same time")
    st = ri.status(rollout)
    spec_paused = bool(ri.spec(rollout).get("paused"))
    if skip_current_step or skip_all_steps:
        if ri.blue_green_strategy(rollout) is not None:
            raise PatchError("Cannot skip steps of a bluegreen rollout. Run without a flags")
        steps = ri.canary_steps(rollout)
        if ri.canary_strategy(rollout) is not None and not steps:
            raise PatchError("Cannot skip steps of a rollout without steps")
        if skip_all_steps:
            return Patches(status={"status": {"currentStepIndex": len(steps)}})
        index = _next_step_index(rollout)
        return Patches(status=None if index is None else {"status": {"currentStepIndex": index}})

    unpause = copy.deepcopy(UNPAUSE_PATCH) if spec_paused else None
    if full:
        status_patch = None
        if st.get("currentPodHash") != st.get("stableRS"):
            status_patch = copy.deepcopy(PROMOTE_FULL_PATCH)
        return Patches(status=status_patch, spec=unpause)

    pause_conditions = st.get("pauseConditions")
    if _step_analysis_inconclusive(rollout) and pause_conditions and st.get("controllerPause"):
        index = _next_step_index(rollout)
        if index is None:
            return Patches(spec=unpause)
        return Patches(
            status={
                "status": {
                    "pauseConditions": None,
                    "controllerPause": False,
                    "currentStepIndex": index,
                }
            },
            spec=unpause,
        )
    if pause_conditions:
        return Patches(status=copy.deepcopy(CLEAR_PAUSE_CONDITIONS_PATCH), spec=unpause)
    if ri.canary_strategy(rollout) is not None:
        # Mid-analysis, mid-experiment or mid-setWeight: promotion skips the running step.
        index = _next_step_index(rollout)
        if index is not None:
            return Patches(
                status={"status": {"pauseConditions": None, "currentStepIndex": index}},
                spec=unpause,
            )
    return Patches(spec=unpause)


def restart_patch(now: datetime, delay_seconds: float = 0.0) -> JsonDict:
    """`restart [--in D]` (§3.16): ask the controller to replace pods older than now + D."""
    return {"spec": {"restartAt": format_rfc3339(now + timedelta(seconds=delay_seconds))}}


def parse_image_spec(text: str) -> tuple[str, str]:
    """`CONTAINER=IMAGE` (or `*=IMAGE`) split in two; anything else is a usage error."""
    parts = text.split("=")
    if len(parts) != 2 or not parts[0] or not parts[1]:
        raise PatchError(
            f'invalid image spec "{text}": expected CONTAINER=IMAGE (or *=IMAGE for all containers)'
        )
    return parts[0], parts[1]


def set_image(rollout: Mapping[str, Any], container: str, image: str) -> JsonDict:
    """A copy of the Rollout with the named container's image replaced (`*` means all).

    Init and ephemeral containers count, as in the Go plugin.
    """
    updated: JsonDict = copy.deepcopy(dict(rollout))
    pod_spec = updated.setdefault("spec", {}).setdefault("template", {}).setdefault("spec", {})
    found = False
    for key in ("initContainers", "containers", "ephemeralContainers"):
        containers = pod_spec.get(key)
        if not isinstance(containers, list):
            continue
        for ctr in containers:
            if isinstance(ctr, dict) and (container == "*" or ctr.get("name") == container):
                ctr["image"] = image
                found = True
    if not found:
        raise PatchError(f'unable to find container named "{container}"')
    return updated


# -- undo ---------------------------------------------------------------------------------------


def _revision_of(obj: Mapping[str, Any]) -> int:
    annotations = ri.meta(obj).get("annotations") or {}
    value = annotations.get(ri.REVISION_ANNOTATION) if isinstance(annotations, dict) else None
    if value is None:
        return 0
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise PatchError(f"ReplicaSet has an invalid revision annotation {value!r}") from exc


def owned_replica_sets(
    rollout: Mapping[str, Any], replica_sets: Sequence[Mapping[str, Any]]
) -> list[Mapping[str, Any]]:
    """The ReplicaSets whose controller reference is this Rollout."""
    uid = ri.meta(rollout).get("uid")
    owned: list[Mapping[str, Any]] = []
    for rs in replica_sets:
        refs = ri.meta(rs).get("ownerReferences") or []
        if any(isinstance(r, dict) and r.get("uid") == uid and r.get("controller") for r in refs):
            owned.append(rs)
    return owned


def undo_target(
    rollout: Mapping[str, Any], replica_sets: Sequence[Mapping[str, Any]], to_revision: int = 0
) -> Mapping[str, Any]:
    """The ReplicaSet `undo` restores: revision `to_revision`, or the one before the newest."""
    owned = owned_replica_sets(rollout, replica_sets)
    if to_revision > 0:
        for rs in owned:
            if _revision_of(rs) == to_revision:
                return rs
        raise PatchError(f"unable to find specified revision {to_revision} in history")
    ranked = sorted(owned, key=_revision_of, reverse=True)
    if len(ranked) < 2:
        name = ri.meta(rollout).get("name", "")
        raise PatchError(f'no revision found for rollout "{name}"')
    return ranked[1]


def _is_unset(value: object) -> bool:
    # Go's DeepDerivative skips nil pointers and empty strings, maps and slices; numbers and
    # booleans that are present in the JSON are compared as they are.
    return value is None or (isinstance(value, str | dict | list) and len(value) == 0)


def is_derivative(left: object, right: object) -> bool:
    """`left` equals `right` where `left` says anything (k8s `Semantic.DeepDerivative`).

    The API server fills in defaults on a ReplicaSet's pod template that the Rollout's template
    never had; a field left unset in `left` therefore matches whatever `right` holds.
    """
    if _is_unset(left):
        return True
    if isinstance(left, dict):
        if not isinstance(right, dict):
            return False
        return all(is_derivative(value, right.get(key)) for key, value in left.items())
    if isinstance(left, list):
        if not isinstance(right, list) or len(left) != len(right):
            return False
        return all(is_derivative(a, b) for a, b in zip(left, right, strict=True))
    return left == right


def _template_without_hash(template: object) -> JsonDict:
    result: JsonDict = copy.deepcopy(template) if isinstance(template, dict) else {}
    metadata = result.get("metadata")
    labels = metadata.get("labels") if isinstance(metadata, dict) else None
    if isinstance(labels, dict):
        labels.pop(ri.POD_HASH_LABEL, None)
    return result


def undo_patch(
    rollout: Mapping[str, Any], replica_sets: Sequence[Mapping[str, Any]], to_revision: int = 0
) -> list[JsonDict] | None:
    """The JSON patch `undo` sends (§3.15), or None when the template already matches."""
    workload = ri.spec(rollout).get("workloadRef")
    if isinstance(workload, dict):
        # Argo patches the referenced workload instead; writing a template into a Rollout that
        # takes its template from elsewhere would make it invalid, so refuse rather than guess.
        raise PatchError(
            f"undo of a Rollout that uses workloadRef is not supported: roll back the "
            f"{workload.get('kind', 'workload')} {workload.get('name', '')!r} it references"
        )
    target = undo_target(rollout, replica_sets, to_revision)
    wanted = _template_without_hash(ri.spec(target).get("template"))
    current = _template_without_hash(ri.spec(rollout).get("template"))
    if is_derivative(current, wanted):
        return None
    return [{"op": "replace", "path": "/spec/template", "value": wanted}]
