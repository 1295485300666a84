"""Job metrics on the sandbox: real batch/v1 Jobs run by the real Job controller.

kwok plays the kubelet with its default stages: a pod owned by a Job goes Running, then
Succeeded, so the Job turns Complete. To make a Job fail, its pod asks for a node that does not
exist (it stays Pending) and the Job has ``activeDeadlineSeconds: 1``: the Job controller marks
it Failed (DeadlineExceeded). The same unschedulable pod without a deadline gives a Job that
runs until it is terminated. No kwok configuration is needed for any of this.
"""

from __future__ import annotations

from typing import Any

import pytest

from rolloutd.kube.client import ApiError
from rolloutd.kube.resources import ANALYSIS_RUNS, JOBS
from tests.integration.analysis.conftest import Harness, eventually

pytestmark = [pytest.mark.sandbox, pytest.mark.asyncio(loop_scope="session")]
JsonDict = dict[str, Any]


def job_metric(*, succeed: bool = True, deadline: int | None = None) -> JsonDict:
    pod: JsonDict = {
        "restartPolicy": "Never",
        "containers": [{"name": "check", "image": "busybox", "command": ["true"]}],
    }
    if not succeed:
        pod["nodeSelector"] = {"rolloutd.test/no-such-node": "true"}
    spec: JsonDict = {"backoffLimit": 0, "template": {"spec": pod}}
    if deadline is not None:
        spec["activeDeadlineSeconds"] = deadline
    return {
        "name": "smoke",
        "provider": {"job": {"metadata": {"labels": {"purpose": "smoke-test"}}, "spec": spec}},
    }


async def job_gone(harness: Harness, name: str) -> bool:
    try:
        await harness.kube.get(JOBS, name, namespace=harness.namespace)
    except ApiError as exc:
        return exc.not_found
    return False


async def test_completed_job_is_successful_and_cleaned_up(harness: Harness) -> None:
    run_obj = await harness.create_run("job-ok", {"metrics": [job_metric()]})
    running = await harness.wait_for(
        "job-ok",
        lambda r: bool((r.get("status") or {}).get("metricResults")),
    )
    measurement = running["status"]["metricResults"][0]["measurements"][0]
    job_name = measurement["metadata"]["job-name"]
    assert job_name == f"{run_obj['metadata']['uid']}.smoke.1"
    assert measurement["metadata"]["job-namespace"] == harness.namespace
    run = await harness.wait_phase("job-ok", "Successful", "Failed", "Error", "Inconclusive")
    assert run["status"]["phase"] == "Successful"
    [result] = run["status"]["metricResults"]
    assert result["measurements"][0]["phase"] == "Successful"
    assert "value" not in result["measurements"][0]  # Jobs have no value, as in Argo
    await eventually(lambda: job_gone(harness, job_name), "the finished Job to be deleted")


async def test_job_labels_and_owner(harness: Harness) -> None:
    run_obj = await harness.create_run("job-owned", {"metrics": [job_metric(succeed=False)]})
    uid = run_obj["metadata"]["uid"]
    name = f"{uid}.smoke.1"

    async def created() -> bool:
        return not await job_gone(harness, name)

    await eventually(created, "the measurement Job")
    job = await harness.kube.get(JOBS, name, namespace=harness.namespace)
    meta = job["metadata"]
    assert meta["labels"]["analysisrun.argoproj.io/uid"] == uid
    assert meta["labels"]["purpose"] == "smoke-test"
    assert meta["annotations"]["analysisrun.argoproj.io/metric-name"] == "smoke"
    assert meta["annotations"]["analysisrun.argoproj.io/name"] == "job-owned"
    [owner] = meta["ownerReferences"]
    assert (owner["kind"], owner["uid"], owner["controller"]) == ("AnalysisRun", uid, True)
    pod_labels = job["spec"]["template"]["metadata"]["labels"]
    assert pod_labels["analysisrun.argoproj.io/uid"] == uid


async def test_failed_job_fails_the_run(harness: Harness) -> None:
    await harness.create_run("job-fail", {"metrics": [job_metric(succeed=False, deadline=1)]})
    run = await harness.wait_phase("job-fail", "Successful", "Failed", "Error", "Inconclusive")
    assert run["status"]["phase"] == "Failed"
    measurement = run["status"]["metricResults"][0]["measurements"][0]
    assert measurement["message"] == "Job was active longer than specified deadline"
    assert run["status"]["message"] == (
        'Metric "smoke" assessed Failed due to failed (1) > failureLimit (0): '
        '"Error Message: Job was active longer than specified deadline"'
    )


async def test_terminating_a_running_job_is_inconclusive(harness: Harness) -> None:
    run_obj = await harness.create_run("job-stop", {"metrics": [job_metric(succeed=False)]})
    name = f"{run_obj['metadata']['uid']}.smoke.1"
    await harness.wait_for(
        "job-stop",
        lambda r: bool((r.get("status") or {}).get("metricResults")),
    )
    await harness.kube.patch(
        ANALYSIS_RUNS, "job-stop", {"spec": {"terminate": True}}, namespace=harness.namespace
    )
    run = await harness.wait_phase("job-stop", "Successful", "Failed", "Error", "Inconclusive")
    assert run["status"]["phase"] == "Inconclusive"
    assert run["status"]["message"] == (
        'Metric "smoke" assessed Inconclusive due to inconclusive (1) > inconclusiveLimit (0): '
        '"Error Message: Metric Terminated"'
    )
    await eventually(lambda: job_gone(harness, name), "the terminated Job to be deleted")
