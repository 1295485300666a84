"""Canaries judged by data: a real Prometheus scrapes a test app whose error rate the test
sets; AnalysisTemplates written the Argo way decide whether the rollout goes on or aborts."""

from __future__ import annotations

import time
from typing import Any

import aiohttp
import pytest

from rolloutd.kube.client import KubeClient
from rolloutd.kube.resources import ANALYSIS_RUNS, ANALYSIS_TEMPLATES
from tests.e2e.harness import (
    Daemon,
    Monitor,
    apply_seed,
    eventually,
    get_rollout,
    set_image,
    wait_phase,
)
from tests.integration.analysis.conftest import App, app
from tests.integration.analysis.test_prometheus_metrics import (
    prometheus_binary,
    prometheus_server,
)

__all__ = ["app", "prometheus_binary", "prometheus_server"]  # fixtures used below

ERROR_RATE = (
    'sum(rate(istio_requests_total{{destination_service="{{{{args.service-name}}}}",'
    'response_code=~"5.."}}[5s])) / '
    'sum(rate(istio_requests_total{{destination_service="{{{{args.service-name}}}}"}}[5s]))'
).format()


def template(address: str, *, count: int | None) -> dict[str, Any]:
    metric: dict[str, Any] = {
        "name": "error-rate",
        "interval": "2s",
        # Argo's documented form: no data yet counts as success.
        "successCondition": "len(result) == 0 || result[0] < 0.1",
        "failureLimit": 0,
        "provider": {"prometheus": {"address": address, "query": ERROR_RATE}},
    }
    if count is not None:
        metric["count"] = count
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "AnalysisTemplate",
        "metadata": {"name": f"error-rate-{'step' if count else 'background'}"},
        "spec": {"args": [{"name": "service-name"}], "metrics": [metric]},
    }


ARGS = [{"name": "service-name", "value": "checkout"}]


async def prometheus_sees_errors(address: str) -> None:
    """Wait until Prometheus itself reports the high error rate (its rate() needs a few
    scrapes), so a measurement cannot still read the quiet past."""
    query = ERROR_RATE.replace("{{args.service-name}}", "checkout")

    async def high() -> bool:
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"{address}/api/v1/query", params={"query": query}) as response,
        ):
            result = (await response.json())["data"]["result"]
        return bool(result) and float(result[0]["value"][1]) > 0.5

    await eventually(high, "Prometheus to report the error rate", timeout=30)


def with_analysis(rollout: dict[str, Any]) -> None:
    canary = rollout["spec"]["strategy"]["canary"]
    canary["steps"] = [
        {"setWeight": 20},
        {"analysis": {"templates": [{"templateName": "error-rate-step"}], "args": ARGS}},
        {"setWeight": 40},
        {"pause": {}},
    ]
    canary["analysis"] = {
        "templates": [{"templateName": "error-rate-background"}],
        "args": ARGS,
        "startingStep": 2,
    }


@pytest.fixture
def quiet_app(app: App) -> App:
    app.error_ratio = 0.0
    return app


async def test_analysis_passes_then_a_failure_aborts_to_stable(
    kube: KubeClient, namespace: str, daemon: Daemon, quiet_app: App, prometheus_server: str
) -> None:
    ns = namespace
    for body in (template(prometheus_server, count=3), template(prometheus_server, count=None)):
        await kube.create(ANALYSIS_TEMPLATES, body, namespace=ns)
    async with Monitor(kube, ns) as monitor:
        await apply_seed(kube, ns, rollout_edit=with_analysis)
        await wait_phase(kube, ns, "Healthy", step=4)
        runs = (await kube.list(ANALYSIS_RUNS, namespace=ns))["items"]
        assert runs == []  # the first deploy skips analysis, as in Argo

        # Low error rate: the step analysis succeeds, the rollout goes on to 40% and pauses.
        await set_image(kube, ns, "argoproj/rollouts-demo:yellow")
        ro = await wait_phase(kube, ns, "Paused", step=3, timeout=120)
        step_runs = (
            await kube.list(ANALYSIS_RUNS, namespace=ns, label_selector="rollout-type=Step")
        )["items"]
        assert [r["status"]["phase"] for r in step_runs] == ["Successful"]
        # Argo's name: <rollout>-<pod hash>-<revision>-<step index>
        pod_hash = ro["status"]["currentPodHash"]
        assert step_runs[0]["metadata"]["name"] == f"rollouts-demo-{pod_hash}-2-1"
        # Past the step, the Rollout no longer points at the step's run (as in Argo).
        assert "currentStepAnalysisRunStatus" not in ro["status"]["canary"]
        assert monitor.weights[-1] == 40
        background = ro["status"]["canary"]["currentBackgroundAnalysisRunStatus"]
        assert background["status"] in ("Pending", "Running")

        # The canary goes bad: background analysis fails and the rollout aborts at once.
        quiet_app.error_ratio = 0.5
        went_bad = time.monotonic()

        async def aborted() -> bool:
            current = await get_rollout(kube, ns)
            return bool((current.get("status") or {}).get("abort"))

        await eventually(aborted, "the rollout to abort on failed analysis", timeout=60)
        print(f"abort {time.monotonic() - went_bad:.1f}s after the error rate went up")
        ro = await wait_phase(kube, ns, "Degraded")
        assert ro["status"]["message"].startswith(
            "RolloutAborted: Rollout aborted update to revision 2: Background analysis phase failed"
        ), ro["status"]["message"]
        assert monitor.weights[-2:] == [40, 0]  # straight back to stable, nothing between
        assert monitor.violations == []
        run = await kube.get(ANALYSIS_RUNS, background["name"], namespace=ns)
        assert run["status"]["phase"] == "Failed"


async def test_failed_step_analysis_aborts(
    kube: KubeClient, namespace: str, daemon: Daemon, quiet_app: App, prometheus_server: str
) -> None:
    ns = namespace
    for body in (template(prometheus_server, count=3), template(prometheus_server, count=None)):
        await kube.create(ANALYSIS_TEMPLATES, body, namespace=ns)
    await apply_seed(kube, ns, rollout_edit=with_analysis)
    await wait_phase(kube, ns, "Healthy", step=4)
    quiet_app.error_ratio = 0.9
    await prometheus_sees_errors(prometheus_server)
    await set_image(kube, ns, "argoproj/rollouts-demo:yellow")
    ro = await wait_phase(kube, ns, "Degraded", timeout=90)
    assert "Step-based analysis phase failed" in ro["status"]["message"]
    assert ro["status"]["canary"]["weights"]["canary"]["weight"] == 0


def seed_steps_with_analysis(rollout: dict[str, Any]) -> None:
    """The seed's steps (pauses shortened) with an analysis step after the first weight."""
    canary = rollout["spec"]["strategy"]["canary"]
    canary["steps"] = [
        {"setWeight": 20},
        {"analysis": {"templates": [{"templateName": "error-rate-step"}], "args": ARGS}},
        {"setWeight": 40},
        {"pause": {"duration": 1}},
        {"setWeight": 60},
        {"pause": {"duration": 1}},
        {"setWeight": 80},
        {"pause": {"duration": 1}},
    ]


def seed_steps_with_background(rollout: dict[str, Any]) -> None:
    seed_steps_with_analysis(rollout)
    canary = rollout["spec"]["strategy"]["canary"]
    canary["steps"][1] = {"pause": {"duration": 2}}
    canary["analysis"] = {"templates": [{"templateName": "error-rate-background"}], "args": ARGS}


@pytest.mark.parametrize(
    "edit", [seed_steps_with_analysis, seed_steps_with_background], ids=["step", "background"]
)
async def test_low_error_rate_completes_the_rollout(
    kube: KubeClient,
    namespace: str,
    daemon: Daemon,
    quiet_app: App,
    prometheus_server: str,
    edit: Any,
) -> None:
    ns = namespace
    for body in (template(prometheus_server, count=3), template(prometheus_server, count=None)):
        await kube.create(ANALYSIS_TEMPLATES, body, namespace=ns)
    async with Monitor(kube, ns) as monitor:
        await apply_seed(kube, ns, rollout_edit=edit)
        await wait_phase(kube, ns, "Healthy", step=8)
        await set_image(kube, ns, "argoproj/rollouts-demo:yellow")
        ro = await wait_phase(kube, ns, "Healthy", step=8, timeout=150)
        assert ro["status"]["stableRS"] == ro["status"]["currentPodHash"]
        assert [w for w in monitor.weights if w != 0] == [20, 40, 60, 80, 100]
    runs = (await kube.list(ANALYSIS_RUNS, namespace=ns))["items"]
    assert runs, "an AnalysisRun was created"
    # A finished rollout leaves no run going: background runs are terminated (Successful).
    assert all(r["status"]["phase"] == "Successful" for r in runs), [
        (r["metadata"]["name"], r["status"].get("phase")) for r in runs
    ]
