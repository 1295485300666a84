"""AnalysisRuns measured by the controller on the real sandbox, against a real local service.

The runs are created through the API server and read back from it, so what is asserted is what
`kubectl get analysisrun -o yaml` shows: phases, messages, counters, events, the printer column.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import pytest

from rolloutd.controller.analysis import AnalysisMetrics
from rolloutd.kube.client import ApiError, KubeClient
from rolloutd.kube.resources import ANALYSIS_RUNS, ANALYSIS_TEMPLATES, SECRETS
from tests.integration.analysis.conftest import App, Harness, eventually

pytestmark = [pytest.mark.sandbox, pytest.mark.asyncio(loop_scope="session")]
JsonDict = dict[str, Any]


def web_metric(app: App, **fields: Any) -> JsonDict:
    """Argo's documented web metric, pointed at the test service."""
    return {
        "name": "webmetric",
        "successCondition": "result.ok && result.errorRate < 0.05",
        "provider": {"web": {"url": f"{app.url}/health", "jsonPath": "{$.data}"}},
        **fields,
    }


async def test_low_error_rate_is_successful(harness: Harness, app: App) -> None:
    app.error_ratio = 0.01
    await harness.create_run("healthy", {"metrics": [web_metric(app, count=2, interval="1s")]})
    run = await harness.wait_phase("healthy", "Successful", "Failed", "Error")
    status = run["status"]
    assert status["phase"] == "Successful"
    [result] = status["metricResults"]
    assert (result["count"], result["successful"]) == (2, 2)
    assert result["measurements"][0]["value"] == '{"errorRate":0.01,"ok":true}'
    assert status["runSummary"] == {"count": 1, "successful": 1}
    assert status["startedAt"] <= status["completedAt"]
    reasons = await harness.wait_event("healthy", "AnalysisRunSuccessful")
    assert "AnalysisRunRunning" in reasons
    assert "MetricSuccessful" in reasons


async def test_high_error_rate_fails_with_argos_message(harness: Harness, app: App) -> None:
    app.error_ratio = 0.5
    await harness.create_run("broken", {"metrics": [web_metric(app)]})
    run = await harness.wait_phase("broken", "Successful", "Failed", "Error")
    assert run["status"]["phase"] == "Failed"
    assert run["status"]["message"] == (
        'Metric "webmetric" assessed Failed due to failed (1) > failureLimit (0)'
    )
    await harness.wait_event("broken", "AnalysisRunFailed")


async def test_bad_expression_marks_the_run_error(harness: Harness, app: App) -> None:
    await harness.create_run(
        "bad-expr", {"metrics": [web_metric(app, successCondition="result.ok &&& true")]}
    )
    run = await harness.wait_phase("bad-expr", "Successful", "Failed", "Error")
    assert run["status"]["phase"] == "Error"
    message = run["status"]["message"]
    assert message.startswith(
        'Analysis spec invalid: metrics[0]: invalid successCondition "result.ok &&& true": '
    )
    assert "column" in message  # the evaluator's own message, with the position
    await harness.wait_event("bad-expr", "AnalysisRunError")


async def test_condition_error_at_runtime_retries_then_errors(harness: Harness, app: App) -> None:
    """`result[0]` on an object is an evaluation error: the measurement is Error and retried;
    with consecutiveErrorLimit 0 the first one ends the run."""
    await harness.create_run(
        "eval-error",
        {"metrics": [web_metric(app, successCondition="result[0] > 1", consecutiveErrorLimit=0)]},
    )
    run = await harness.wait_phase("eval-error", "Successful", "Failed", "Error")
    assert run["status"]["phase"] == "Error"
    [result] = run["status"]["metricResults"]
    assert result["measurements"][0]["message"].startswith(
        'could not evaluate successCondition "result[0] > 1": '
    )
    assert run["status"]["message"].startswith(
        'Metric "webmetric" assessed Error due to consecutiveErrors (1) > consecutiveErrorLimit (0)'
    )


async def test_terminate_stops_an_indefinite_run(harness: Harness, app: App) -> None:
    app.error_ratio = 0.0
    await harness.create_run("forever", {"metrics": [web_metric(app, interval="1s")]})
    await harness.wait_for(
        "forever",
        lambda r: any(
            (m.get("count") or 0) >= 2 for m in (r.get("status") or {}).get("metricResults") or []
        ),
    )
    await harness.kube.patch(
        ANALYSIS_RUNS, "forever", {"spec": {"terminate": True}}, namespace=harness.namespace
    )
    run = await harness.wait_phase("forever", "Successful", "Failed", "Error", "Inconclusive")
    assert run["status"]["phase"] == "Successful"
    assert run["status"]["message"] == "Run Terminated"
    count = run["status"]["metricResults"][0]["count"]
    await asyncio.sleep(2.5)  # no measurement is taken after the run completed
    again = await harness.get_run("forever")
    assert again["status"]["metricResults"][0]["count"] == count


async def test_dry_run_metric_failure_does_not_fail_the_run(harness: Harness, app: App) -> None:
    app.error_ratio = 0.5
    spec = {
        "metrics": [
            web_metric(app, name="strict"),
            {
                "name": "always",
                "provider": {"web": {"url": f"{app.url}/health", "jsonPath": "{$.data.ok}"}},
            },
        ],
        "dryRun": [{"metricName": "strict"}],
    }
    await harness.create_run("dry", spec)
    run = await harness.wait_phase("dry", "Successful", "Failed", "Error")
    status = run["status"]
    assert status["phase"] == "Successful"
    assert status["dryRunSummary"] == {"count": 1, "failed": 1}
    strict = next(r for r in status["metricResults"] if r["name"] == "strict")
    assert strict["dryRun"] is True
    assert strict["message"] == "Metric assessed Failed due to failed (1) > failureLimit (0)"


async def test_secret_argument_is_read_and_masked(harness: Harness, app: App) -> None:
    await harness.kube.create(
        SECRETS,
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "web-token"},
            "stringData": {"path": "health"},
        },
        namespace=harness.namespace,
    )
    spec = {
        "args": [
            {"name": "path", "valueFrom": {"secretKeyRef": {"name": "web-token", "key": "path"}}}
        ],
        "metrics": [
            {
                "name": "secret-url",
                "provider": {
                    "web": {"url": f"{app.url}/{{{{args.path}}}}", "jsonPath": "{$.data.ok}"}
                },
            },
            {
                "name": "closed-port",
                "consecutiveErrorLimit": 0,
                "provider": {"web": {"url": "http://127.0.0.1:9/{{args.path}}"}},
            },
        ],
    }
    await harness.create_run("secret", spec)
    run = await harness.wait_phase("secret", "Successful", "Failed", "Error")
    results = {r["name"]: r for r in run["status"]["metricResults"]}
    assert results["secret-url"]["phase"] == "Successful"
    message = results["closed-port"]["measurements"][0]["message"]
    assert 'GET "http://127.0.0.1:9/*****"' in message
    assert "health" not in str(run["status"])  # the Secret's value never shows up in status


async def test_missing_secret_ends_the_run_in_error(harness: Harness, app: App) -> None:
    spec = {
        "args": [{"name": "t", "valueFrom": {"secretKeyRef": {"name": "absent", "key": "k"}}}],
        "metrics": [web_metric(app)],
    }
    await harness.create_run("no-secret", spec)
    run = await harness.wait_phase("no-secret", "Successful", "Failed", "Error")
    assert run["status"]["phase"] == "Error"
    assert run["status"]["message"] == (
        'Unable to resolve metric arguments: secret "absent" not found'
    )


async def test_argo_web_template_parses_and_kubectl_shows_the_status(
    harness: Harness, app: App, kube: KubeClient
) -> None:
    """An AnalysisTemplate as Argo's docs write it is accepted by the CRD, and a run copied
    from it (as the Rollout side will) is measured; `kubectl get ar` prints the Status column."""
    template = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "AnalysisTemplate",
        "metadata": {"name": "web-health"},
        "spec": {
            "args": [{"name": "url"}],
            "metrics": [
                {
                    "name": "webmetric",
                    "successCondition": "result.ok && result.errorRate < 0.05",
                    "provider": {
                        "web": {
                            "url": "{{args.url}}",
                            "timeoutSeconds": 20,
                            "headers": [{"key": "Authorization", "value": "Bearer abc"}],
                            "jsonPath": "{$.data}",
                        }
                    },
                }
            ],
        },
    }
    created = await kube.create(ANALYSIS_TEMPLATES, template, namespace=harness.namespace)
    app.error_ratio = 0.0
    spec = {
        "metrics": created["spec"]["metrics"],
        "args": [{"name": "url", "value": f"{app.url}/health"}],
    }
    await harness.create_run("from-template", spec)
    await harness.wait_phase("from-template", "Successful")
    proc = await asyncio.create_subprocess_exec(
        "kubectl",
        "get",
        "analysisrun",
        "from-template",
        "-n",
        harness.namespace,
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ},
    )
    out, _ = await proc.communicate()
    assert proc.returncode == 0
    header, row = out.decode().strip().splitlines()
    assert header.split() == ["NAME", "STATUS", "AGE"]
    assert row.split()[:2] == ["from-template", "Successful"]


async def test_metrics_describe_runs_and_measurements(harness: Harness, app: App) -> None:
    app.error_ratio = 0.0
    await harness.create_run("observed", {"metrics": [web_metric(app)]})
    await harness.wait_phase("observed", "Successful")
    await asyncio.sleep(0.5)  # let the informer see the final status
    series = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for m in AnalysisMetrics(harness.controller).collect()
        for s in m.samples
    }
    ns = harness.namespace
    info = ("analysis_run_info", (("name", "observed"), ("namespace", ns), ("phase", "Successful")))
    assert series[info] == 1
    phase_key = (
        "analysis_run_metric_phase",
        (
            ("dry_run", "false"),
            ("metric", "webmetric"),
            ("name", "observed"),
            ("namespace", ns),
            ("phase", "Successful"),
            ("type", "Web"),
        ),
    )
    assert series[phase_key] == 1
    counts = [
        v
        for (name, labels), v in series.items()
        if name == "analysis_run_measurement_duration_seconds_count" and ("type", "Web") in labels
    ]
    assert counts and counts[0] >= 1


async def test_ttl_strategy_deletes_a_completed_run(harness: Harness, app: App) -> None:
    app.error_ratio = 0.0
    spec = {"metrics": [web_metric(app)], "ttlStrategy": {"secondsAfterCompletion": 1}}
    await harness.create_run("short-lived", spec)

    async def gone() -> bool:
        try:
            await harness.get_run("short-lived")
        except ApiError as exc:
            return exc.not_found
        return False

    await eventually(gone, "the run to be deleted after its TTL", timeout=30)
