"""The AnalysisRun state machine, as pure functions (no I/O, `now` is always an argument).

One reconcile of a run is three steps, and the controller does only the I/O between them::

    prepared = prepare_run(spec)                      # rolloutd.analysis.spec
    tasks = due_tasks(prepared, spec, status, now)    # what to measure now
    ... the controller calls the providers for those tasks ...
    step = record(prepared, spec, status, done, now)  # new status, events, next wake-up

`record` folds the finished `Measured` results into a copy of the status and then decides,
with Argo's rules (`analysis/analysis.go`):

* measurement counters: Successful / Failed / Inconclusive add to `count`; Error does not, and
  only Error grows `consecutiveError` (any other outcome resets it);
* a metric's phase (`assess_metric`): limits first (Failed when failed > failureLimit, then
  Inconclusive when inconclusive > inconclusiveLimit, then Error when consecutiveError >
  consecutiveErrorLimit, each later match overriding the earlier), then
  consecutiveSuccessLimit, then the effective count, else Running (Successful when
  terminating);
* the run's phase (`assess_run`): the worst phase of the completed non-dry-run metrics, where
  at run level Failed is worse than Error (Successful < Running < Pending < Inconclusive <
  Error < Failed); Running until every metric completed, unless the run is terminating;
  dry-run metrics never decide the phase;
* the messages, so that `kubectl get analysisrun -o yaml` reads like Argo's:
  ``Metric "<m>" assessed Failed due to failed (1) > failureLimit (0): "Error Message: ..."``,
  built from the last measurement's message only (never nesting older messages, Argo #2258);
* retention: the newest N measurements per metric stay in status (10 unless a
  measurementRetention rule says otherwise); the totals are never trimmed;
* when to come back: the earliest of each metric's next interval (10 s after an Error),
  in-flight measurements' `resumeAt`, and the end of `initialDelay`.

Deliberate difference: `runSummary` classifies each completed metric by its phase; Argo tallies
a metric that ended Failed through consecutiveSuccessLimit as successful.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from rolloutd.analysis.spec import MetricSpec, PreparedRun
from rolloutd.gotime import parse_time as parse_time
from rolloutd.gotime import timestamp
from rolloutd.model.analysis import (
    DEFAULT_ERROR_RETRY_SECONDS,
    ERROR,
    FAILED,
    INCONCLUSIVE,
    PENDING,
    RUNNING,
    SUCCESSFUL,
    is_completed,
)

JsonDict = dict[str, Any]
ERROR_RETRY = dt.timedelta(seconds=DEFAULT_ERROR_RETRY_SECONDS)

# Best to worst, at run level (Argo's analysisStatusOrder).
format_time = timestamp
"""Kubernetes' metav1.Time: RFC 3339 in UTC, to the second."""

_RUN_ORDER = {SUCCESSFUL: 0, RUNNING: 1, PENDING: 2, INCONCLUSIVE: 3, ERROR: 4, FAILED: 5}


# -- small accessors ----------------------------------------------------------------------------


def metric_results(status: Mapping[str, Any]) -> dict[str, JsonDict]:
    return {str(r.get("name")): r for r in status.get("metricResults") or []}


def last_measurement(result: Mapping[str, Any] | None) -> JsonDict | None:
    measurements = (result or {}).get("measurements") or []
    return measurements[-1] if measurements else None


def _n(result: Mapping[str, Any], key: str) -> int:
    return int(result.get(key) or 0)


def is_terminating(
    spec: Mapping[str, Any], status: Mapping[str, Any], prepared: PreparedRun
) -> bool:
    """`spec.terminate`, or a non-dry-run metric already Failed, Error or Inconclusive."""
    if spec.get("terminate"):
        return True
    dry = {m.name for m in prepared.metrics if m.dry_run}
    return any(
        r.get("phase") in (FAILED, ERROR, INCONCLUSIVE) and r.get("name") not in dry
        for r in status.get("metricResults") or []
    )


# -- step 1: what to measure ---------------------------------------------------------------------


@dataclass(frozen=True)
class Task:
    """One provider call: take a new measurement, or resume / terminate an in-flight one."""

    metric: MetricSpec
    action: Literal["run", "resume", "terminate"]
    measurement: JsonDict | None = None
    """The in-flight measurement, for resume and terminate."""


def due_tasks(
    prepared: PreparedRun, spec: Mapping[str, Any], status: Mapping[str, Any], now: dt.datetime
) -> list[Task]:
    """What to measure in this reconcile (Argo's `generateMetricTasks`)."""
    if is_completed(status.get("phase")):
        return []
    terminating = is_terminating(spec, status, prepared)
    results = metric_results(status)
    started = parse_time(status.get("startedAt"))
    tasks: list[Task] = []
    for metric in prepared.metrics:
        result = results.get(metric.name)
        if result is not None and is_completed(result.get("phase")):
            continue
        last = last_measurement(result)
        if last is not None and not last.get("finishedAt"):
            if terminating:
                tasks.append(Task(metric, "terminate", last))
                continue
            resume_at = parse_time(last.get("resumeAt"))
            if resume_at is None or resume_at <= now:
                tasks.append(Task(metric, "resume", last))
            continue
        if terminating:
            continue
        if last is None:
            if metric.initial_delay is not None and (
                started is None or now < started + metric.initial_delay
            ):
                continue
            tasks.append(Task(metric, "run"))
            continue
        assert result is not None
        if metric.count is not None and _n(result, "count") >= metric.count:
            continue
        wait = ERROR_RETRY if last.get("phase") == ERROR else metric.interval
        finished = parse_time(last.get("finishedAt"))
        if wait is not None and finished is not None and now >= finished + wait:
            tasks.append(Task(metric, "run"))
    return tasks


# -- step 2: what a provider call produced -------------------------------------------------------


@dataclass(frozen=True)
class Measured:
    """The outcome of one task: the measurement to store (phase, value, message, times...) and
    the metric-level metadata the provider reports (e.g. the resolved Prometheus query)."""

    task: Task
    measurement: JsonDict
    metric_metadata: Mapping[str, str] | None = None


@dataclass(frozen=True)
class Event:
    type: str
    reason: str
    message: str


@dataclass
class Step:
    """What `record` decided: the new status, events to record, and when to come back."""

    status: JsonDict
    events: list[Event] = field(default_factory=list)
    requeue_after: dt.timedelta | None = None
    completed_measurements: list[tuple[str, JsonDict]] = field(default_factory=list)
    """(metric, measurement) of the measurements that finished in this step."""


def record(
    prepared: PreparedRun,
    spec: Mapping[str, Any],
    status: Mapping[str, Any],
    measured: Sequence[Measured],
    now: dt.datetime,
) -> Step:
    """Fold finished provider calls into the status and assess metrics and the run."""
    new: JsonDict = copy.deepcopy(dict(status))
    if is_completed(new.get("phase")):
        return Step(new)
    terminating = is_terminating(spec, status, prepared)
    results = new.setdefault("metricResults", [])
    by_name = {r.get("name"): r for r in results}
    step = Step(new)
    for item in measured:
        metric = item.task.metric
        measurement = dict(item.measurement)
        if measurement.get("message"):
            measurement["message"] = prepared.redact(str(measurement["message"]))
        if is_completed(measurement.get("phase")) and not measurement.get("finishedAt"):
            measurement["finishedAt"] = format_time(now)
        measurement.setdefault("startedAt", format_time(now))
        result = by_name.get(metric.name)
        if result is None:
            result = {"name": metric.name, "phase": RUNNING}
            if metric.dry_run:
                result["dryRun"] = True
            if item.metric_metadata:
                result["metadata"] = dict(item.metric_metadata)
            results.append(result)
            by_name[metric.name] = result
        measurements = result.setdefault("measurements", [])
        if item.task.action in ("resume", "terminate") and measurements:
            measurements[-1] = measurement
        else:
            measurements.append(measurement)
        phase = measurement.get("phase")
        if is_completed(phase):
            _count(result, str(phase))
            step.completed_measurements.append((metric.name, measurement))
    # Keep results in spec order, whatever order they were created in.
    order = {m.name: i for i, m in enumerate(prepared.metrics)}
    results.sort(key=lambda r: order.get(str(r.get("name")), len(order)))

    if not new.get("startedAt"):
        new["startedAt"] = format_time(now)
    phase, message = _assess(prepared, spec, new, terminating, step)
    if phase != new.get("phase"):
        new["phase"] = phase
        if message:
            new["message"] = message
        else:
            new.pop("message", None)
        step.events.append(_run_event(phase))
        if is_completed(phase):
            new["completedAt"] = format_time(now)
    _trim(prepared, new)
    if not is_completed(new.get("phase")):
        step.requeue_after = next_reconcile(prepared, spec, new, now)
    return step


def _count(result: JsonDict, phase: str) -> None:
    key = {SUCCESSFUL: "successful", FAILED: "failed", INCONCLUSIVE: "inconclusive"}.get(phase)
    if key is not None:
        result[key] = _n(result, key) + 1
        result["count"] = _n(result, "count") + 1
        result["consecutiveError"] = 0
        result["consecutiveSuccess"] = (
            _n(result, "consecutiveSuccess") + 1 if phase == SUCCESSFUL else 0
        )
    else:  # Error
        result["error"] = _n(result, "error") + 1
        result["consecutiveError"] = _n(result, "consecutiveError") + 1
        result["consecutiveSuccess"] = 0


# -- assessment ------------------------------------------------------------------------------------


def limit_check(metric: MetricSpec, result: Mapping[str, Any]) -> tuple[str | None, str]:
    """Argo's `assessMetricFailureInconclusiveOrError`: (phase, reason), later checks override."""
    phase: str | None = None
    reason = ""
    failed = _n(result, "failed")
    if metric.failure_limit >= 0 and failed > metric.failure_limit:
        phase, reason = FAILED, f"failed ({failed}) > failureLimit ({metric.failure_limit})"
    inconclusive = _n(result, "inconclusive")
    if inconclusive > metric.inconclusive_limit:
        phase = INCONCLUSIVE
        reason = f"inconclusive ({inconclusive}) > inconclusiveLimit ({metric.inconclusive_limit})"
    errors = _n(result, "consecutiveError")
    if errors > metric.consecutive_error_limit:
        phase = ERROR
        reason = (
            f"consecutiveErrors ({errors}) > consecutiveErrorLimit "
            f"({metric.consecutive_error_limit})"
        )
    return phase, reason


def assess_metric(metric: MetricSpec, result: Mapping[str, Any], terminating: bool) -> str:
    """The metric's phase from its counters (Argo's `assessMetricStatus`)."""
    current = result.get("phase")
    if is_completed(current):
        return str(current)
    last = last_measurement(result)
    if last is None:
        return SUCCESSFUL if terminating else PENDING
    if not is_completed(last.get("phase")):
        return RUNNING
    limited, _ = limit_check(metric, result)
    if limited is not None:
        return limited
    successes = metric.consecutive_success_limit
    if successes > 0 and _n(result, "consecutiveSuccess") >= successes:
        return SUCCESSFUL
    if metric.count is not None and _n(result, "count") >= metric.count:
        failure_applies = metric.failure_limit >= 0
        if failure_applies and successes > 0:
            return INCONCLUSIVE
        if successes > 0:
            return FAILED
        return SUCCESSFUL
    return SUCCESSFUL if terminating else RUNNING


def _assess(
    prepared: PreparedRun,
    spec: Mapping[str, Any],
    status: JsonDict,
    terminating: bool,
    step: Step,
) -> tuple[str, str]:
    results = metric_results(status)
    worst: str | None = None
    message = "Run Terminated" if spec.get("terminate") else ""
    everything_completed = True
    summary = _summary()
    dry_summary = _summary()
    for metric in prepared.metrics:
        (dry_summary if metric.dry_run else summary)["count"] += 1
        result = results.get(metric.name)
        if result is None:
            everything_completed = False
            continue
        phase = assess_metric(metric, result, terminating)
        if phase != result.get("phase"):
            last = last_measurement(result)
            last_message = (last or {}).get("message")
            if last_message:
                result["message"] = last_message
            else:
                result.pop("message", None)
            _, reason = limit_check(metric, result)
            if metric.dry_run and reason and is_completed(phase):
                text = f"Metric assessed {phase} due to {reason}"
                result["message"] = text + (
                    f': "Error Message: {last_message}"' if last_message else ""
                )
            result["phase"] = phase
            if is_completed(phase):
                step.events.append(
                    Event(
                        "Warning" if phase in (FAILED, ERROR) else "Normal",
                        f"Metric{phase}",
                        f"Metric '{metric.name}' Completed. Result: {phase}",
                    )
                )
        if not is_completed(phase):
            everything_completed = False
            continue
        tally = dry_summary if metric.dry_run else summary
        tally[_SUMMARY_KEYS[phase]] += 1
        if metric.dry_run:
            worst = worst or SUCCESSFUL
            continue
        if worst is None or _RUN_ORDER[phase] > _RUN_ORDER[worst]:
            worst = phase
            _, reason = limit_check(metric, result)
            if reason:
                message = f'Metric "{metric.name}" assessed {phase} due to {reason}'
                last = last_measurement(result)
                detail = (last or {}).get("message")
                if detail:
                    message += f': "Error Message: {detail}"'
    status["runSummary"] = _compact(summary)
    status["dryRunSummary"] = _compact(dry_summary)
    if terminating:
        return worst or SUCCESSFUL, message
    if not everything_completed:
        return RUNNING, ""
    return worst or SUCCESSFUL, message


_SUMMARY_KEYS = {
    SUCCESSFUL: "successful",
    FAILED: "failed",
    INCONCLUSIVE: "inconclusive",
    ERROR: "error",
}


def _summary() -> dict[str, int]:
    return {"count": 0, "successful": 0, "failed": 0, "inconclusive": 0, "error": 0}


def _compact(summary: Mapping[str, int]) -> JsonDict:
    # Zeros are left out, as Go's omitempty does.
    return {k: v for k, v in summary.items() if v}


def _run_event(phase: str) -> Event:
    kind = "Warning" if phase in (FAILED, ERROR) else "Normal"
    if is_completed(phase):
        return Event(kind, f"AnalysisRun{phase}", f"Analysis Completed. Result: {phase}")
    return Event(kind, f"AnalysisRun{phase}", f"AnalysisRun is {phase}")


def _trim(prepared: PreparedRun, status: JsonDict) -> None:
    limits = {m.name: m.retention for m in prepared.metrics}
    for result in status.get("metricResults") or []:
        limit = limits.get(str(result.get("name")))
        measurements = result.get("measurements") or []
        if limit is not None and len(measurements) > limit:
            result["measurements"] = measurements[-limit:]


# -- step 3: when to come back ---------------------------------------------------------------------


def next_reconcile(
    prepared: PreparedRun, spec: Mapping[str, Any], status: Mapping[str, Any], now: dt.datetime
) -> dt.timedelta | None:
    """How long until something is due (Argo's `calculateNextReconcileTime`); None = nothing."""
    if is_completed(status.get("phase")):
        return None
    if is_terminating(spec, status, prepared):
        # A metric just failed while a sibling still runs: terminate the sibling right away.
        return dt.timedelta(0)
    results = metric_results(status)
    started = parse_time(status.get("startedAt")) or now
    candidates: list[dt.datetime] = []
    for metric in prepared.metrics:
        result = results.get(metric.name)
        if result is not None and is_completed(result.get("phase")):
            continue
        last = last_measurement(result)
        if last is None:
            candidates.append(started + metric.initial_delay if metric.initial_delay else now)
            continue
        if not last.get("finishedAt"):
            candidates.append(parse_time(last.get("resumeAt")) or now)
            continue
        if metric.count is not None and result is not None and _n(result, "count") >= metric.count:
            continue
        wait = ERROR_RETRY if last.get("phase") == ERROR else metric.interval
        finished = parse_time(last.get("finishedAt"))
        if wait is not None and finished is not None:
            candidates.append(finished + wait)
    if not candidates:
        return None
    return max(min(candidates) - now, dt.timedelta(0))


def error_status(status: Mapping[str, Any], message: str, now: dt.datetime) -> Step:
    """The run ends in Error at once (a spec or argument problem), with `message`."""
    new: JsonDict = copy.deepcopy(dict(status))
    if is_completed(new.get("phase")):
        return Step(new)
    changed = new.get("phase") != ERROR
    new["phase"] = ERROR
    new["message"] = message
    new.setdefault("startedAt", format_time(now))
    new["completedAt"] = format_time(now)
    step = Step(new)
    if changed:
        step.events.append(_run_event(ERROR))
    return step
