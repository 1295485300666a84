"""The analysis controller's pure helpers: measurement building, TTL, and metric series."""

from __future__ import annotations

import datetime as dt
from typing import Any

from rolloutd.analysis.providers import Reading
from rolloutd.analysis.providers.registry import ProviderRegistry
from rolloutd.controller.analysis import (
    _measurement,
    run_metrics,
    template_metrics,
    ttl_remaining,
)

NOW = dt.datetime(2026, 1, 1, 12, 0, 10, tzinfo=dt.UTC)


def test_measurement_from_a_reading_runs_the_conditions() -> None:
    ok = _measurement(Reading(result=[0.99], value="[0.99]"), "result[0] >= 0.95", None, NOW)
    assert ok == {"phase": "Successful", "value": "[0.99]"}
    bad = _measurement(Reading(result=[], value="[]"), "result[0] >= 0.95", None, NOW)
    assert bad["phase"] == "Error"
    assert bad["message"].startswith('could not evaluate successCondition "result[0] >= 0.95"')
    running = _measurement(
        Reading(phase="Running", metadata={"job-name": "j"}, resume_at=NOW), None, None, NOW
    )
    assert running == {
        "phase": "Running",
        "metadata": {"job-name": "j"},
        "resumeAt": "2026-01-01T12:00:10Z",
    }


def run(phase: str, ttl: dict[str, int], completed: str = "2026-01-01T12:00:00Z") -> Any:
    return {"spec": {"ttlStrategy": ttl}, "status": {"phase": phase, "completedAt": completed}}


def test_ttl_uses_the_field_for_the_phase() -> None:
    ttl = {"secondsAfterCompletion": 100, "secondsAfterSuccess": 5, "secondsAfterFailure": 30}
    assert ttl_remaining(run("Successful", ttl), NOW) == 0  # 10 s elapsed > 5
    assert ttl_remaining(run("Failed", ttl), NOW) == 21
    assert ttl_remaining(run("Error", ttl), NOW) == 91
    assert ttl_remaining(run("Inconclusive", {"secondsAfterSuccess": 5}), NOW) is None
    assert ttl_remaining({"status": {"phase": "Successful"}}, NOW) is None


def test_metric_phase_series_one_per_phase() -> None:
    runs = [
        {
            "metadata": {"namespace": "ns", "name": "r"},
            "spec": {
                "metrics": [
                    {"name": "a", "provider": {"prometheus": {}}},
                    {"name": "b", "provider": {"job": {"spec": {}}}},
                ],
                "dryRun": [{"metricName": "b"}],
            },
            "status": {"phase": "Running", "metricResults": [{"name": "a", "phase": "Failed"}]},
        }
    ]
    families = {f.name: f for f in run_metrics(runs, ProviderRegistry())}
    phases = {
        (s.labels["metric"], s.labels["phase"], s.labels["dry_run"], s.labels["type"]): s.value
        for s in families["analysis_run_metric_phase"].samples
    }
    assert len(phases) == 12
    assert phases[("a", "Failed", "false", "Prometheus")] == 1
    assert phases[("a", "Running", "false", "Prometheus")] == 0
    assert phases[("b", "Pending", "true", "Job")] == 1  # no result yet: Pending
    [info] = families["analysis_run_info"].samples
    assert info.labels == {"namespace": "ns", "name": "r", "phase": "Running"}
    deprecated = {s.labels["phase"]: s.value for s in families["analysis_run_phase"].samples}
    assert deprecated == {
        "Pending": 0,
        "Error": 0,
        "Failed": 0,
        "Successful": 0,
        "Running": 1,
        "Inconclusive": 0,
    }


def test_a_run_with_no_phase_yet_is_pending_in_the_deprecated_series() -> None:
    runs = [{"metadata": {"namespace": "ns", "name": "r"}, "spec": {"metrics": []}}]
    families = {f.name: f for f in run_metrics(runs, ProviderRegistry())}
    assert {s.labels["phase"] for s in families["analysis_run_phase"].samples if s.value} == {
        "Pending"
    }


def test_template_series_name_each_template_and_its_metrics() -> None:
    templates = [
        {
            "metadata": {"namespace": "ns", "name": "success-rate"},
            "spec": {"metrics": [{"name": "rate", "provider": {"prometheus": {}}}]},
        },
        {
            "metadata": {"name": "cluster-wide"},
            "spec": {"metrics": [{"name": "w", "provider": {"web": {}}}]},
        },
    ]
    families = {f.name: f for f in template_metrics(templates, ProviderRegistry())}
    assert [s.labels for s in families["analysis_template_info"].samples] == [
        {"namespace": "ns", "name": "success-rate"},
        {"namespace": "", "name": "cluster-wide"},
    ]
    assert [s.labels for s in families["analysis_template_metric_info"].samples] == [
        {"namespace": "ns", "name": "success-rate", "type": "Prometheus", "metric": "rate"},
        {"namespace": "", "name": "cluster-wide", "type": "Web", "metric": "w"},
    ]
