"""The AnalysisRun state machine: phases, limits, precedence, retention, scheduling.

Every test drives the pure functions the way the controller does (prepare -> due_tasks ->
provider -> record) with a scripted provider and an explicit clock, so the outcomes are the
ones Argo Rollouts documents in analysis/analysis.go and its tests.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from rolloutd.analysis.runs import (
    Measured,
    Step,
    Task,
    assess_metric,
    due_tasks,
    error_status,
    record,
)
from rolloutd.analysis.spec import prepare_run

JsonDict = dict[str, Any]
T0 = dt.datetime(2026, 1, 1, 12, 0, 0, tzinfo=dt.UTC)


def metric(name: str = "m", **fields: Any) -> JsonDict:
    return {"name": name, "provider": {"web": {"url": "http://x"}}, **fields}


def outcomes(*phases: str) -> Callable[[Task], JsonDict]:
    """A provider that answers with the given phases in turn, per metric."""
    queues: dict[str, Iterator[str]] = {}

    def provider(task: Task) -> JsonDict:
        it = queues.setdefault(task.metric.name, iter(phases))
        phase = next(it)
        return {"phase": phase, "value": "1", "message": f"{phase.lower()} measurement"}

    return provider


class Run:
    """An AnalysisRun in memory, reconciled like the controller does, at chosen times."""

    def __init__(self, *metrics: JsonDict, **spec: Any) -> None:
        self.spec: JsonDict = {"metrics": list(metrics), **spec}
        self.status: JsonDict = {}
        self.steps: list[Step] = []

    def reconcile(self, provider: Callable[[Task], JsonDict], at: dt.datetime) -> Step:
        prepared = prepare_run(self.spec)
        tasks = due_tasks(prepared, self.spec, self.status, at)
        measured = [
            Measured(t, {"startedAt": at.strftime("%Y-%m-%dT%H:%M:%SZ"), **provider(t)})
            for t in tasks
        ]
        step = record(prepared, self.spec, self.status, measured, at)
        self.status = step.status
        self.steps.append(step)
        return step

    def run_until_done(
        self, provider: Callable[[Task], JsonDict], start: dt.datetime = T0, limit: int = 100
    ) -> dt.datetime:
        """Reconcile at each requested wake-up until the run completes; returns the end time."""
        now = start
        for _ in range(limit):
            step = self.reconcile(provider, now)
            if step.requeue_after is None:
                return now
            now = now + step.requeue_after
        raise AssertionError("the run did not finish")

    @property
    def phase(self) -> str | None:
        return self.status.get("phase")

    def result(self, name: str = "m") -> JsonDict:
        return next(r for r in self.status["metricResults"] if r["name"] == name)

    def reasons(self) -> list[str]:
        return [e.reason for s in self.steps for e in s.events]


# -- one measurement --------------------------------------------------------------------------


def test_one_successful_measurement_completes_the_run() -> None:
    run = Run(metric())
    step = run.reconcile(outcomes("Successful"), T0)
    assert run.phase == "Successful"
    assert step.requeue_after is None
    result = run.result()
    assert result["phase"] == "Successful"
    assert (result["count"], result["successful"]) == (1, 1)
    assert result["measurements"][0]["finishedAt"] == "2026-01-01T12:00:00Z"
    assert run.status["runSummary"] == {"count": 1, "successful": 1}
    assert run.status["startedAt"] == run.status["completedAt"] == "2026-01-01T12:00:00Z"
    assert "message" not in run.status
    assert run.reasons() == ["MetricSuccessful", "AnalysisRunSuccessful"]


def test_one_failed_measurement_fails_with_argos_message() -> None:
    run = Run(metric("success-rate"))
    run.reconcile(outcomes("Failed"), T0)
    assert run.phase == "Failed"
    assert run.status["message"] == (
        'Metric "success-rate" assessed Failed due to failed (1) > failureLimit (0): '
        '"Error Message: failed measurement"'
    )
    assert run.result("success-rate")["message"] == "failed measurement"
    events = [(e.type, e.reason, e.message) for e in run.steps[0].events]
    assert ("Warning", "AnalysisRunFailed", "Analysis Completed. Result: Failed") in events
    assert ("Warning", "MetricFailed", "Metric 'success-rate' Completed. Result: Failed") in events


def test_inconclusive_measurement_makes_the_run_inconclusive() -> None:
    run = Run(metric())
    run.reconcile(outcomes("Inconclusive"), T0)
    assert run.phase == "Inconclusive"
    assert run.status["message"].startswith(
        'Metric "m" assessed Inconclusive due to inconclusive (1) > inconclusiveLimit (0)'
    )


# -- limits over time -------------------------------------------------------------------------


def test_failure_limit_allows_that_many_failures() -> None:
    run = Run(metric(count=4, interval="10s", failureLimit=1))
    run.reconcile(outcomes("Failed", "Successful", "Failed", "Successful"), T0)
    assert run.phase == "Running"
    assert run.steps[-1].requeue_after == dt.timedelta(seconds=10)
    # Nothing is due before the interval has passed.
    early = run.reconcile(outcomes(), T0 + dt.timedelta(seconds=5))
    assert run.result()["count"] == 1
    assert early.requeue_after == dt.timedelta(seconds=5)
    run2 = Run(metric(count=4, interval="10s", failureLimit=1))
    run2.run_until_done(outcomes("Failed", "Successful", "Failed", "Successful"))
    assert run2.phase == "Failed"
    assert run2.result()["count"] == 3
    assert run2.status["message"].startswith(
        'Metric "m" assessed Failed due to failed (2) > failureLimit (1)'
    )


def test_count_reached_within_the_limit_is_successful() -> None:
    run = Run(metric(count=3, interval="1m", failureLimit=1))
    end = run.run_until_done(outcomes("Successful", "Failed", "Successful"))
    assert run.phase == "Successful"
    assert end == T0 + dt.timedelta(minutes=2)
    assert run.result()["failed"] == 1


def test_failure_limit_minus_one_never_fails_on_failures() -> None:
    run = Run(metric(count=3, interval="1s", failureLimit=-1, consecutiveSuccessLimit=2))
    run.run_until_done(outcomes("Failed", "Failed", "Failed"))
    # Only consecutiveSuccessLimit applies and it was not met when the count ran out: Failed.
    assert run.phase == "Failed"
    assert "message" not in run.status  # no limit tripped: Argo leaves the message empty


def test_consecutive_success_limit_ends_early() -> None:
    run = Run(metric(count=5, interval="1s", consecutiveSuccessLimit=2, failureLimit=3))
    run.run_until_done(outcomes("Failed", "Successful", "Successful", "Failed", "Failed"))
    assert run.phase == "Successful"
    assert run.result()["count"] == 3


def test_count_reached_without_consecutive_successes_is_inconclusive() -> None:
    run = Run(metric(count=3, interval="1s", consecutiveSuccessLimit=2, failureLimit=1))
    run.run_until_done(outcomes("Successful", "Failed", "Successful"))
    assert run.phase == "Inconclusive"


def test_errors_retry_every_ten_seconds_and_fail_on_the_fifth() -> None:
    run = Run(metric())
    end = run.run_until_done(outcomes(*["Error"] * 5))
    assert run.phase == "Error"
    assert end == T0 + dt.timedelta(seconds=40)
    result = run.result()
    assert (result["error"], result["consecutiveError"], result.get("count", 0)) == (5, 5, 0)
    assert run.status["message"] == (
        'Metric "m" assessed Error due to consecutiveErrors (5) > consecutiveErrorLimit (4): '
        '"Error Message: error measurement"'
    )


def test_an_error_does_not_count_and_a_success_resets_the_streak() -> None:
    run = Run(metric(consecutiveErrorLimit=1))
    run.run_until_done(outcomes("Error", "Successful"))
    assert run.phase == "Successful"
    result = run.result()
    assert (result["count"], result["error"], result["consecutiveError"]) == (1, 1, 0)


def test_consecutive_error_limit_zero_fails_on_the_first_error() -> None:
    run = Run(metric(consecutiveErrorLimit=0))
    run.reconcile(outcomes("Error"), T0)
    assert run.phase == "Error"


# -- precedence -------------------------------------------------------------------------------


def test_metric_level_error_overrides_inconclusive_overrides_failed() -> None:
    prepared = prepare_run({"metrics": [metric()]})
    spec = prepared.metrics[0]
    base = {"name": "m", "phase": "Running", "measurements": [{"phase": "Error"}]}
    both = {**base, "failed": 1, "inconclusive": 1}
    assert assess_metric(spec, both, False) == "Inconclusive"
    assert assess_metric(spec, {**both, "consecutiveError": 5}, False) == "Error"
    assert assess_metric(spec, {**base, "failed": 1}, False) == "Failed"


def test_run_level_failed_beats_error() -> None:
    run = Run(metric("a", consecutiveErrorLimit=0), metric("b"))

    def provider(task: Task) -> JsonDict:
        return {"phase": "Error" if task.metric.name == "a" else "Failed", "message": "x"}

    run.reconcile(provider, T0)
    assert run.phase == "Failed"
    assert run.status["message"].startswith('Metric "b" assessed Failed')
    assert run.status["runSummary"] == {"count": 2, "failed": 1, "error": 1}


def test_a_failed_metric_terminates_a_running_sibling() -> None:
    run = Run(metric("a"), metric("b", interval="30s"))

    def provider(task: Task) -> JsonDict:
        return {"phase": "Failed" if task.metric.name == "a" else "Successful"}

    first = run.reconcile(provider, T0)
    # The sibling still runs in this reconcile; the controller is asked to come back at once.
    assert run.phase == "Running"
    assert first.requeue_after == dt.timedelta(0)
    second = run.reconcile(outcomes(), T0 + dt.timedelta(seconds=1))
    assert run.phase == "Failed"
    assert run.result("b")["phase"] == "Successful"  # stopped early: a success, as in Argo
    assert run.result("b")["count"] == 1  # no new measurement was taken
    assert second.requeue_after is None


# -- terminate --------------------------------------------------------------------------------


def test_terminate_ends_an_indefinite_metric_successfully() -> None:
    run = Run(metric(interval="1m"))
    run.reconcile(outcomes("Successful"), T0)
    assert run.phase == "Running"
    run.spec["terminate"] = True
    run.reconcile(outcomes(), T0 + dt.timedelta(minutes=5))
    assert run.phase == "Successful"
    assert run.status["message"] == "Run Terminated"
    assert run.result()["count"] == 1


def test_terminate_does_not_change_a_completed_run() -> None:
    run = Run(metric())
    run.reconcile(outcomes("Failed"), T0)
    before = dict(run.status)
    run.spec["terminate"] = True
    step = run.reconcile(outcomes(), T0 + dt.timedelta(minutes=1))
    assert run.status == before
    assert step.events == []


def test_terminate_before_any_measurement() -> None:
    run = Run(metric(initialDelay="5m"), terminate=True)
    run.reconcile(outcomes(), T0)
    assert run.phase == "Successful"
    assert run.status["message"] == "Run Terminated"


# -- in-flight measurements (Job-like providers) -------------------------------------------------


def test_in_flight_measurement_is_resumed_when_due_and_terminated_on_terminate() -> None:
    prepared = prepare_run({"metrics": [metric()]})
    later = (T0 + dt.timedelta(seconds=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    status = {
        "phase": "Running",
        "startedAt": "2026-01-01T12:00:00Z",
        "metricResults": [
            {
                "name": "m",
                "phase": "Running",
                "measurements": [
                    {"phase": "Running", "startedAt": "2026-01-01T12:00:00Z", "resumeAt": later}
                ],
            }
        ],
    }
    spec: JsonDict = {"metrics": [metric()]}
    assert due_tasks(prepared, spec, status, T0) == []
    [task] = due_tasks(prepared, spec, status, T0 + dt.timedelta(seconds=30))
    assert task.action == "resume"
    [task] = due_tasks(prepared, {**spec, "terminate": True}, status, T0)
    assert task.action == "terminate"
    step = record(
        prepared,
        {**spec, "terminate": True},
        status,
        [Measured(task, {"phase": "Inconclusive", "message": "Metric Terminated"})],
        T0,
    )
    result = step.status["metricResults"][0]
    assert len(result["measurements"]) == 1  # replaced, not appended
    assert result["measurements"][0]["finishedAt"] == "2026-01-01T12:00:00Z"
    assert step.status["phase"] == "Inconclusive"
    assert step.status["message"] == (
        'Metric "m" assessed Inconclusive due to inconclusive (1) > inconclusiveLimit (0): '
        '"Error Message: Metric Terminated"'
    )


def test_running_measurement_wakes_up_at_resume_at() -> None:
    run = Run(metric())
    resume = (T0 + dt.timedelta(seconds=7)).strftime("%Y-%m-%dT%H:%M:%SZ")
    step = run.reconcile(lambda task: {"phase": "Running", "resumeAt": resume}, T0)
    assert run.phase == "Running"
    assert run.result()["phase"] == "Running"
    assert step.requeue_after == dt.timedelta(seconds=7)


# -- dry run ----------------------------------------------------------------------------------


def test_dry_run_metric_does_not_decide_the_run() -> None:
    run = Run(metric("real"), metric("trial"), dryRun=[{"metricName": "tri"}])

    def provider(task: Task) -> JsonDict:
        return {"phase": "Failed" if task.metric.name == "trial" else "Successful"}

    run.reconcile(provider, T0)
    assert run.phase == "Successful"
    trial = run.result("trial")
    assert trial["dryRun"] is True
    assert trial["phase"] == "Failed"
    assert trial["message"] == "Metric assessed Failed due to failed (1) > failureLimit (0)"
    assert run.status["dryRunSummary"] == {"count": 1, "failed": 1}
    assert run.status["runSummary"] == {"count": 1, "successful": 1}
    assert "dryRun" not in run.result("real")


def test_all_dry_run_metrics_end_successful() -> None:
    run = Run(metric("a"), metric("b"), dryRun=[{"metricName": ".*"}])
    run.reconcile(outcomes("Failed"), T0)
    assert run.phase == "Successful"


def test_failed_dry_run_metric_does_not_terminate_siblings() -> None:
    run = Run(
        metric("trial"), metric("real", count=2, interval="10s"), dryRun=[{"metricName": "trial"}]
    )

    def provider(task: Task) -> JsonDict:
        return {"phase": "Failed" if task.metric.name == "trial" else "Successful"}

    end = run.run_until_done(provider)
    assert run.phase == "Successful"
    assert run.result("real")["count"] == 2
    assert end == T0 + dt.timedelta(seconds=10)


# -- retention --------------------------------------------------------------------------------


def test_only_the_last_ten_measurements_are_kept_by_default() -> None:
    run = Run(metric(count=15, interval="1s"))
    run.run_until_done(outcomes(*["Successful"] * 15))
    result = run.result()
    assert len(result["measurements"]) == 10
    assert result["count"] == result["successful"] == 15
    assert result["measurements"][-1]["startedAt"] == "2026-01-01T12:00:14Z"


def test_measurement_retention_rule_sets_the_limit() -> None:
    run = Run(
        metric(count=6, interval="1s"),
        measurementRetention=[{"metricName": "m", "limit": 3}],
    )
    run.run_until_done(outcomes(*["Successful"] * 6))
    assert len(run.result()["measurements"]) == 3


# -- initial delay ----------------------------------------------------------------------------


def test_initial_delay_counts_from_the_first_reconcile() -> None:
    run = Run(metric(initialDelay="1m"))
    first = run.reconcile(outcomes("Successful"), T0)
    assert run.phase == "Running"
    assert "metricResults" not in run.status or run.status["metricResults"] == []
    assert first.requeue_after == dt.timedelta(minutes=1)
    run.reconcile(outcomes("Successful"), T0 + dt.timedelta(seconds=30))
    assert run.phase == "Running"
    run.reconcile(outcomes("Successful"), T0 + dt.timedelta(minutes=1))
    assert run.phase == "Successful"


# -- events and the first phase ---------------------------------------------------------------


def test_running_phase_is_announced_once() -> None:
    run = Run(metric(count=3, interval="10s"))
    run.run_until_done(outcomes(*["Successful"] * 3))
    assert run.reasons() == ["AnalysisRunRunning", "MetricSuccessful", "AnalysisRunSuccessful"]


def test_error_status_ends_the_run_with_the_message() -> None:
    step = error_status({}, "Analysis spec invalid: no metrics specified", T0)
    assert step.status["phase"] == "Error"
    assert step.status["message"] == "Analysis spec invalid: no metrics specified"
    assert [e.reason for e in step.events] == ["AnalysisRunError"]
    again = error_status(step.status, "other", T0)
    assert again.status == step.status  # completed runs never change


def test_secret_values_are_masked_in_messages() -> None:
    spec = {
        "args": [{"name": "token", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}],
        "metrics": [metric(provider={"web": {"url": "http://x/{{args.token}}"}})],
    }
    prepared = prepare_run(spec, secrets=lambda name, key: "hunter2")
    assert prepared.metrics[0].raw["provider"]["web"]["url"] == "http://x/hunter2"
    [task] = due_tasks(prepared, spec, {}, T0)
    step = record(
        prepared, spec, {}, [Measured(task, {"phase": "Error", "message": "GET x/hunter2"})], T0
    )
    assert step.status["metricResults"][0]["measurements"][0]["message"] == "GET x/*****"


@pytest.mark.parametrize("phase", ["Successful", "Failed", "Error", "Inconclusive"])
def test_completed_run_gets_no_tasks(phase: str) -> None:
    prepared = prepare_run({"metrics": [metric()]})
    assert due_tasks(prepared, {"metrics": [metric()]}, {"phase": phase}, T0) == []
