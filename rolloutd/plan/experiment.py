"""The pure Experiment planner: Experiment + what exists + `now` -> actions and status.

Argo's `experiments/experiment.go` as a function (no I/O, no clock): one ReplicaSet per template
named `<experiment>-<template>` (labelled with the template's `rollouts-pod-template-hash`,
owned by the Experiment), an optional Service per template, one AnalysisRun per analysis
(`<experiment>-<analysis>`, created once every template is available), and the phase computed
as Argo does (`calculateStatus`, `assessTemplates`, `assessAnalysisRuns`: worst wins).

The controller applies the actions idempotently and writes `status` only after they took effect;
planning again on the resulting state returns no actions and the same status (nothing is
written at rest). `requeue_after` says when time alone will change the plan (duration end,
progress deadline, scale-down delay).
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rolloutd.analysis.build import AnalysisSpecError, build_analysis_run, run_phase_outcome
from rolloutd.model.analysis import COMPLETED_PHASES, FAILED, PENDING, RUNNING, SUCCESSFUL
from rolloutd.model.constants import POD_HASH_LABEL
from rolloutd.model.experiment import (
    DEFAULT_EXPERIMENT_PROGRESS_DEADLINE_SECONDS,
    DEFAULT_EXPERIMENT_SCALE_DOWN_DELAY_SECONDS,
    DEFAULT_TEMPLATE_REPLICAS,
    EXPERIMENT_API_VERSION,
    EXPERIMENT_NAME_ANNOTATION,
    EXPERIMENT_TEMPLATE_NAME_ANNOTATION,
    TEMPLATE_FAILED,
    TEMPLATE_PROGRESSING,
    TEMPLATE_RUNNING,
    TEMPLATE_SUCCESSFUL,
    Experiment,
    TemplateSpec,
)
from rolloutd.model.rollout import INSTANCE_ID_LABEL, parse_duration
from rolloutd.plan.hashing import TemplateEncodingError, pod_template_hash

JsonDict = dict[str, Any]

# Argo's orders for "worst wins" (utils/analysis IsWorse, utils/experiment TemplateIsWorse).
_ANALYSIS_ORDER = [PENDING, RUNNING, SUCCESSFUL, "Inconclusive", "Error", FAILED]
_TEMPLATE_ORDER = [TEMPLATE_SUCCESSFUL, TEMPLATE_RUNNING, TEMPLATE_PROGRESSING, "Error", "Failed"]
REQUIRED_ANALYSIS_COMPLETED_MESSAGE = "Required analyses completed successfully"
TERMINATED_MESSAGE = "Experiment was terminated"
COMPLETED_REASON = "ExperimentCompleted"


@dataclass(frozen=True, slots=True)
class CreateReplicaSet:
    obj: JsonDict


@dataclass(frozen=True, slots=True)
class ScaleReplicaSet:
    name: str
    replicas: int


@dataclass(frozen=True, slots=True)
class CreateService:
    obj: JsonDict


@dataclass(frozen=True, slots=True)
class DeleteService:
    name: str


@dataclass(frozen=True, slots=True)
class CreateAnalysisRun:
    obj: JsonDict


@dataclass(frozen=True, slots=True)
class TerminateAnalysisRun:
    name: str


Action = (
    CreateReplicaSet
    | ScaleReplicaSet
    | CreateService
    | DeleteService
    | CreateAnalysisRun
    | TerminateAnalysisRun
)


@dataclass(frozen=True, slots=True)
class Event:
    type: str
    reason: str
    message: str


@dataclass
class ExperimentPlan:
    actions: list[Action] = field(default_factory=list)
    status: JsonDict = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    requeue_after: float | None = None


def _ts(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_ts(text: str | None) -> dt.datetime | None:
    if not text:
        return None
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def replica_set_name(experiment: str, template: str) -> str:
    """Argo's `ReplicasetNameFromExperiment`."""
    return f"{experiment}-{template}"


def analysis_run_name(experiment: str, analysis: str) -> str:
    return f"{experiment}-{analysis}"


def _owner(obj: Mapping[str, Any]) -> JsonDict:
    meta = obj.get("metadata") or {}
    return {
        "apiVersion": EXPERIMENT_API_VERSION,
        "kind": "Experiment",
        "name": meta.get("name"),
        "uid": meta.get("uid"),
        "controller": True,
        "blockOwnerDeletion": True,
    }


def new_replica_set(obj: Mapping[str, Any], template: TemplateSpec, replicas: int) -> JsonDict:
    """The ReplicaSet of one template (Argo's `newReplicaSetFromTemplate`)."""
    meta = obj.get("metadata") or {}
    pod = copy.deepcopy(template.template)
    pod_hash = pod_template_hash(pod, None)
    pod_meta = pod.setdefault("metadata", {})
    labels = {**(pod_meta.get("labels") or {}), POD_HASH_LABEL: pod_hash}
    pod_meta["labels"] = labels
    selector = copy.deepcopy(template.selector.to_json()) if template.selector else {}
    selector["matchLabels"] = {**(selector.get("matchLabels") or {}), POD_HASH_LABEL: pod_hash}
    rs_meta: JsonDict = {
        "name": replica_set_name(str(meta.get("name")), template.name),
        "namespace": meta.get("namespace"),
        "labels": dict(labels),
        "annotations": {
            EXPERIMENT_NAME_ANNOTATION: str(meta.get("name")),
            EXPERIMENT_TEMPLATE_NAME_ANNOTATION: template.name,
        },
        "ownerReferences": [_owner(obj)],
    }
    if template.metadata:
        rs_meta["labels"].update(template.metadata.labels or {})
        rs_meta["annotations"].update(template.metadata.annotations or {})
    instance = (meta.get("labels") or {}).get(INSTANCE_ID_LABEL)
    if instance:
        rs_meta["labels"][INSTANCE_ID_LABEL] = instance
    spec: JsonDict = {"replicas": replicas, "selector": selector, "template": pod}
    if template.min_ready_seconds:
        spec["minReadySeconds"] = template.min_ready_seconds
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": rs_meta, "spec": spec}


def new_service(obj: Mapping[str, Any], template: TemplateSpec, rs: Mapping[str, Any]) -> JsonDict:
    """The Service in front of a template's pods: its ReplicaSet's selector and container ports."""
    meta = obj.get("metadata") or {}
    rs_meta = rs.get("metadata") or {}
    name = (template.service.name if template.service else None) or rs_meta.get("name")
    selector = dict(((rs.get("spec") or {}).get("selector") or {}).get("matchLabels") or {})
    ports: list[JsonDict] = []
    containers = ((rs.get("spec") or {}).get("template") or {}).get("spec", {}).get("containers")
    for container in containers or []:
        for port in container.get("ports") or []:
            entry: JsonDict = {
                "protocol": port.get("protocol", "TCP"),
                "port": port.get("containerPort"),
                "targetPort": port.get("containerPort"),
            }
            if port.get("name"):
                entry["name"] = port["name"]
            ports.append(entry)
    if not ports:
        # A Service needs a port; Argo's template Services always come from containers with one.
        ports = [{"protocol": "TCP", "port": 80, "targetPort": 80}]
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": name,
            "namespace": meta.get("namespace"),
            "annotations": {
                EXPERIMENT_NAME_ANNOTATION: str(meta.get("name")),
                EXPERIMENT_TEMPLATE_NAME_ANNOTATION: template.name,
            },
            "ownerReferences": [_owner(obj)],
        },
        "spec": {"selector": selector, "ports": ports},
    }


def _worse(order: list[str], current: str, new: str) -> bool:
    def rank(phase: str) -> int:
        return order.index(phase) if phase in order else -1

    return rank(new) > rank(current)


def plan_experiment(
    obj: Mapping[str, Any],
    experiment: Experiment,
    *,
    replica_sets: Sequence[Mapping[str, Any]],
    services: Sequence[Mapping[str, Any]],
    analysis_runs: Sequence[Mapping[str, Any]],
    analysis_templates: Mapping[tuple[bool, str], Mapping[str, Any]],
    now: dt.datetime,
) -> ExperimentPlan:
    """The actions and the status for one Experiment; see the module docstring."""
    plan = ExperimentPlan()
    name = str((obj.get("metadata") or {}).get("name"))
    spec = experiment.spec
    old = experiment.status
    prev_phase = old.phase or ""
    completed = prev_phase in COMPLETED_PHASES
    rs_by_name = {str((r.get("metadata") or {}).get("name")): r for r in replica_sets}
    svc_by_name = {str((s.get("metadata") or {}).get("name")): s for s in services}
    run_by_name = {str((r.get("metadata") or {}).get("name")): r for r in analysis_runs}
    old_templates = {t.name: t for t in old.template_statuses or []}
    available_at = _parse_ts(old.available_at)
    deadline = spec.progress_deadline_seconds
    if deadline is None:
        deadline = DEFAULT_EXPERIMENT_PROGRESS_DEADLINE_SECONDS
    delay = spec.scale_down_delay_seconds
    if delay is None:
        delay = DEFAULT_EXPERIMENT_SCALE_DOWN_DELAY_SECONDS
    duration = parse_duration(spec.duration) if spec.duration is not None else None
    waits: list[float] = []

    passed = False
    if duration is not None and duration >= 0 and available_at is not None:
        remaining = (available_at + dt.timedelta(seconds=duration) - now).total_seconds()
        passed = remaining <= 0
        if not passed:
            waits.append(remaining)
    terminating = bool(spec.terminate) or passed or completed
    completed_at = _completed_at(old.conditions)
    scale_down = False
    if completed and completed_at is not None:
        left = (completed_at + dt.timedelta(seconds=delay) - now).total_seconds()
        scale_down = left <= 0
        if not scale_down:
            waits.append(left)

    template_statuses: list[JsonDict] = []
    for template in spec.templates:
        rs_name = replica_set_name(name, template.name)
        desired = template.replicas if template.replicas is not None else DEFAULT_TEMPLATE_REPLICAS
        if scale_down:
            desired = 0
        previous = old_templates.get(template.name)
        ts: JsonDict = {"name": template.name}
        if previous and previous.collision_count is not None:
            ts["collisionCount"] = previous.collision_count
        rs = rs_by_name.get(rs_name)
        if rs is None and not completed:
            try:
                rs = new_replica_set(obj, template, desired)
            except TemplateEncodingError as err:
                plan.status = _invalid(
                    old.to_json(), f"spec.templates[{template.name}].template: {err}"
                )
                return plan
            plan.actions.append(CreateReplicaSet(rs))
        counts = (rs or {}).get("status") or {}
        spec_replicas = int(((rs or {}).get("spec") or {}).get("replicas", 0))
        if rs is not None and rs_name in rs_by_name and spec_replicas != desired:
            plan.actions.append(ScaleReplicaSet(rs_name, desired))
        ts["replicas"] = int(counts.get("replicas") or 0)
        ts["updatedReplicas"] = int(counts.get("replicas") or 0)
        ts["readyReplicas"] = int(counts.get("readyReplicas") or 0)
        ts["availableReplicas"] = int(counts.get("availableReplicas") or 0)
        if rs is not None:
            labels = (rs.get("metadata") or {}).get("labels") or {}
            if labels.get(POD_HASH_LABEL):
                ts["podTemplateHash"] = labels[POD_HASH_LABEL]
        previous_status = previous.status if previous else None
        if completed or (terminating and previous_status == TEMPLATE_RUNNING):
            code = previous_status if previous_status == TEMPLATE_FAILED else TEMPLATE_SUCCESSFUL
            message = previous.message if previous and code == TEMPLATE_FAILED else None
        elif previous_status in (TEMPLATE_FAILED, "Error"):
            code, message = previous_status, previous.message if previous else None
        elif (
            rs_name in rs_by_name
            and spec_replicas == desired
            and ts["availableReplicas"] >= desired
        ):
            code, message = TEMPLATE_RUNNING, None
        else:
            code, message = TEMPLATE_PROGRESSING, None
            since = _parse_ts(previous.last_transition_time if previous else None) or now
            left = (since + dt.timedelta(seconds=deadline) - now).total_seconds()
            if previous_status == TEMPLATE_PROGRESSING and left <= 0:
                code = TEMPLATE_FAILED
                message = f'ReplicaSet "{rs_name}" has timed out progressing.'
            elif left > 0:
                waits.append(left)
        ts["status"] = code
        if message:
            ts["message"] = message
        if previous and previous.status == code and previous.last_transition_time:
            ts["lastTransitionTime"] = previous.last_transition_time
        else:
            ts["lastTransitionTime"] = _ts(now)
        # Services: one per template that asks for it, while the experiment runs.
        if template.service is not None and rs is not None:
            svc = new_service(obj, template, rs)
            svc_name = str(svc["metadata"]["name"])
            if completed:
                if svc_name in svc_by_name:
                    plan.actions.append(DeleteService(svc_name))
            else:
                ts["serviceName"] = svc_name
                if svc_name not in svc_by_name:
                    plan.actions.append(CreateService(svc))
        template_statuses.append(ts)

    # Template assessment (assessTemplates).
    worst_t, t_message = TEMPLATE_SUCCESSFUL, ""
    for ts in template_statuses:
        if _worse(_TEMPLATE_ORDER, worst_t, ts["status"]):
            worst_t, t_message = ts["status"], ts.get("message", "")
    template_phase = {
        TEMPLATE_PROGRESSING: PENDING,
        TEMPLATE_FAILED: FAILED,
        "Error": "Error",
        TEMPLATE_SUCCESSFUL: SUCCESSFUL,
    }.get(worst_t, RUNNING)
    new_available_at = old.available_at
    if template_phase == RUNNING and new_available_at is None:
        new_available_at = _ts(now)
        if duration is not None and duration >= 0:
            waits.append(float(duration))

    # AnalysisRuns: created once all templates are available, terminated when the experiment ends.
    run_statuses: list[JsonDict] = []
    old_runs = {r.name: r for r in old.analysis_runs or []}
    for analysis in spec.analyses or []:
        run_name = analysis_run_name(name, analysis.name)
        run = run_by_name.get(run_name)
        entry: JsonDict = {"name": analysis.name, "analysisRun": run_name, "phase": PENDING}
        if run is None:
            recorded = old_runs.get(analysis.name)
            if recorded is not None and recorded.phase in COMPLETED_PHASES:
                run_statuses.append(recorded.to_json())
                continue
            if new_available_at is None or terminating:
                continue
            try:
                built = _new_run(obj, experiment, analysis.name, analysis_templates)
            except AnalysisSpecError as err:
                entry.update(phase="Error", message=str(err))
                run_statuses.append(entry)
                continue
            plan.actions.append(CreateAnalysisRun(built))
        else:
            entry["phase"] = run_phase_outcome(run)
            message = (run.get("status") or {}).get("message")
            if message:
                entry["message"] = message
            if (
                terminating
                and entry["phase"] not in COMPLETED_PHASES
                and not (run.get("spec") or {}).get("terminate")
            ):
                plan.actions.append(TerminateAnalysisRun(run_name))
        run_statuses.append(entry)

    analysis_phase, a_message = _assess_runs(experiment, run_statuses)
    phase, msg = prev_phase, old.message
    if prev_phase == "":
        phase = PENDING
    elif prev_phase in (PENDING, RUNNING):
        required = [a.name for a in spec.analyses or [] if a.required_for_completion]
        required_ok = (
            bool(required)
            and all(r["phase"] == SUCCESSFUL for r in run_statuses if r["name"] in required)
            and len([r for r in run_statuses if r["name"] in required]) == len(required)
        )
        if template_phase in COMPLETED_PHASES:
            if template_phase == SUCCESSFUL and (
                analysis_phase in COMPLETED_PHASES or bool(required)
            ):
                phase, msg = analysis_phase, a_message
            else:
                phase, msg = template_phase, t_message
        elif (analysis_phase in COMPLETED_PHASES and analysis_phase != SUCCESSFUL) or required_ok:
            phase, msg = analysis_phase, a_message
        else:
            phase, msg = template_phase, t_message
        if spec.terminate and phase not in COMPLETED_PHASES:
            phase, msg = SUCCESSFUL, TERMINATED_MESSAGE
    if phase != prev_phase:
        warn = phase in (FAILED, "Error", "Inconclusive")
        plan.events.append(
            Event(
                "Warning" if warn else "Normal",
                f"Experiment{phase}",
                f"Experiment transitioned from {prev_phase} -> {phase}",
            )
        )

    status: JsonDict = {"phase": phase}
    if msg:
        status["message"] = msg
    status["templateStatuses"] = template_statuses
    if run_statuses:
        status["analysisRuns"] = run_statuses
    if new_available_at:
        status["availableAt"] = new_available_at
    conditions = [c.to_json() for c in old.conditions or []]
    if phase in COMPLETED_PHASES and completed_at is None:
        conditions = [c for c in conditions if c.get("type") != "Progressing"]
        conditions.append(
            {
                "type": "Progressing",
                "status": "False",
                "reason": COMPLETED_REASON,
                "message": f'Experiment "{name}" has completed.',
                "lastUpdateTime": _ts(now),
                "lastTransitionTime": _ts(now),
            }
        )
        waits.append(float(delay))
    if conditions:
        status["conditions"] = conditions
    plan.status = status
    if phase != prev_phase and phase not in COMPLETED_PHASES:
        waits.append(0.0)
    positive = [w for w in waits if w >= 0]
    plan.requeue_after = min(positive) if positive else None
    return plan


def _completed_at(conditions: Sequence[Any] | None) -> dt.datetime | None:
    for condition in conditions or []:
        if condition.type == "Progressing" and condition.reason == COMPLETED_REASON:
            return _parse_ts(condition.last_transition_time)
    return None


def _assess_runs(experiment: Experiment, runs: Sequence[JsonDict]) -> tuple[str, str]:
    """Argo's `assessAnalysisRuns`: the worst run phase (Successful when there are none)."""
    worst, message = SUCCESSFUL, ""
    by_name = {r["name"]: r for r in runs}
    for analysis in experiment.spec.analyses or []:
        entry = by_name.get(analysis.name, {"phase": PENDING})
        if _worse(_ANALYSIS_ORDER, worst, entry["phase"]):
            worst, message = entry["phase"], entry.get("message", "")
    required = [a.name for a in experiment.spec.analyses or [] if a.required_for_completion]
    if (
        required
        and all(by_name.get(n, {}).get("phase") == SUCCESSFUL for n in required)
        and _worse(_ANALYSIS_ORDER, worst, RUNNING)
    ):
        return SUCCESSFUL, REQUIRED_ANALYSIS_COMPLETED_MESSAGE
    if worst == PENDING:
        worst = RUNNING
    return worst, message


def _new_run(
    obj: Mapping[str, Any],
    experiment: Experiment,
    analysis_name: str,
    templates: Mapping[tuple[bool, str], Mapping[str, Any]],
) -> JsonDict:
    """The AnalysisRun of one analysis, built by the shared builder, then named and owned as
    Argo's `newAnalysisRun` does for an Experiment."""
    spec = experiment.spec
    [analysis] = [a for a in spec.analyses or [] if a.name == analysis_name]
    key = (bool(analysis.cluster_scope), analysis.template_name)
    kind = "ClusterAnalysisTemplate" if key[0] else "AnalysisTemplate"
    template = templates.get(key)
    if template is None:
        raise AnalysisSpecError("", f"{kind} '{analysis.template_name}' not found")
    block: JsonDict = {
        "templates": [{"templateName": analysis.template_name, "clusterScope": key[0]}],
        "args": [a.to_json() for a in analysis.args or []],
    }
    if spec.dry_run:
        block["dryRun"] = [d.to_json() for d in spec.dry_run]
    if spec.measurement_retention:
        block["measurementRetention"] = [m.to_json() for m in spec.measurement_retention]
    run = build_analysis_run(
        rollout=obj,
        templates=[template],
        rollout_analysis=block,
        kind="Background",
        step_index=None,
        pod_hash="",
        revision=0,
        stable_hash=None,
    )
    meta = obj.get("metadata") or {}
    labels: dict[str, str] = {}
    instance = (meta.get("labels") or {}).get(INSTANCE_ID_LABEL)
    if instance:
        labels[INSTANCE_ID_LABEL] = str(instance)
    run_meta = spec.analysis_run_metadata
    if run_meta:
        labels.update(run_meta.labels or {})
    run["metadata"] = {
        "name": analysis_run_name(str(meta.get("name")), analysis.name),
        "namespace": meta.get("namespace"),
        "labels": labels,
        "annotations": dict(run_meta.annotations or {}) if run_meta else {},
        "ownerReferences": [_owner(obj)],
    }
    return run


def _invalid(status: JsonDict, message: str) -> JsonDict:
    return {**status, "phase": "Error", "message": message}
