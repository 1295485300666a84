"""The prometheus provider against a real Prometheus scraping a real test service.

Prometheus is Debian's package (scripts/install-prometheus.sh installs it when missing), run on
a free loopback port with a 1 s scrape interval. The service exposes Istio-style request
counters whose error share the test sets, and a latency gauge. The provider is exercised
directly (vector, scalar, matrix from a range query, empty results, errors) and through the
controller: Argo's documented success-rate template, applied as written (only the address
points here) and turned into a run by `build_analysis_run`, and an error-rate template with
the ``len(result) == 0 ||`` guard, Successful at a low error rate and Failed at a high one.
"""

from __future__ import annotations

import datetime as dt
import socket
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import yaml

from rolloutd.analysis.build import build_analysis_run
from rolloutd.analysis.conditions import judge
from rolloutd.analysis.providers import MeasureContext, ProviderError, Reading
from rolloutd.analysis.providers.prometheus import PrometheusProvider
from rolloutd.controller.analysis import INSTANCE_ID_LABEL
from rolloutd.kube.resources import ANALYSIS_RUNS, ANALYSIS_TEMPLATES, ROLLOUTS
from tests.integration.analysis.conftest import App, Harness, eventually

pytestmark = [pytest.mark.sandbox, pytest.mark.asyncio(loop_scope="session")]
JsonDict = dict[str, Any]
REPO = Path(__file__).resolve().parents[3]
PROMETHEUS = Path("/usr/bin/prometheus")

# docs/features/analysis.md, "Background Analysis": only the address's host differs.
SUCCESS_RATE_TEMPLATE = """
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata:
  name: success-rate
spec:
  args:
  - name: service-name
  - name: prometheus-port
    value: "9090"
  metrics:
  - name: success-rate
    interval: 5m
    # NOTE: prometheus queries return results in the form of a vector.
    # So it is common to access the index 0 of the returned array to obtain the value
    successCondition: result[0] >= 0.95
    failureLimit: 3
    provider:
      prometheus:
        address: http://127.0.0.1:{{args.prometheus-port}}
        query: |
          sum(irate(
            istio_requests_total{reporter="source",destination_service=~"{{args.service-name}}",response_code!~"5.*"}[5m]
          )) /
          sum(irate(
            istio_requests_total{reporter="source",destination_service=~"{{args.service-name}}"}[5m]
          ))
"""

ERROR_RATE_TEMPLATE = """
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata:
  name: error-rate
spec:
  args:
  - name: service-name
  - name: address
  metrics:
  - name: error-rate
    # An empty result (no traffic yet) counts as a pass.
    successCondition: len(result) == 0 || result[0] < 0.05
    provider:
      prometheus:
        address: "{{args.address}}"
        query: |
          sum(irate(istio_requests_total{destination_service=~"{{args.service-name}}",response_code=~"5.*"}[1m]))
          /
          sum(irate(istio_requests_total{destination_service=~"{{args.service-name}}"}[1m]))
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def prometheus_binary() -> Path:
    if not PROMETHEUS.exists():
        done = subprocess.run(
            ["bash", str(REPO / "scripts" / "install-prometheus.sh")],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if done.returncode != 0 or not PROMETHEUS.exists():
            pytest.skip(f"Prometheus could not be installed: {done.stderr.strip()[-500:]}")
    return PROMETHEUS


@pytest.fixture
def prometheus_server(prometheus_binary: Path, tmp_path: Path, app: App) -> Iterator[str]:
    port = free_port()
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [
            {
                "job_name": "app",
                "scrape_interval": "1s",
                "scrape_timeout": "1s",
                "static_configs": [{"targets": [f"127.0.0.1:{app.port}"]}],
            }
        ],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    with (tmp_path / "prometheus.log").open("wb") as log:
        proc = subprocess.Popen(
            [
                str(prometheus_binary),
                f"--config.file={tmp_path / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp_path / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--log.level=warn",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


class NoCluster:
    async def create(self, *a: Any, **k: Any) -> JsonDict:
        raise AssertionError("unexpected")

    async def get(self, *a: Any, **k: Any) -> JsonDict | None:
        raise AssertionError("unexpected")

    async def list(self, *a: Any, **k: Any) -> list[JsonDict]:
        raise AssertionError("unexpected")

    async def delete(self, *a: Any, **k: Any) -> None:
        raise AssertionError("unexpected")


async def query(address: str, text: str, **extra: Any) -> Reading:
    config = {"address": address, "query": text, **extra}
    ctx = MeasureContext(
        namespace="ns",
        run_name="run",
        run_uid="uid",
        metric_name="m",
        metric={"name": "m", "provider": {"prometheus": config}},
        config=config,
        now=dt.datetime.now(dt.UTC),
        measurement_number=1,
        cluster=NoCluster(),
    )
    return await PrometheusProvider().run(ctx)


@pytest_asyncio.fixture(loop_scope="session")
async def prometheus(prometheus_server: str) -> AsyncIterator[str]:
    """Prometheus, once it has a few samples of the service's counters."""

    async def has_samples() -> bool:
        try:
            reading = await query(prometheus_server, "count_over_time(app_latency_seconds[1m])")
        except ProviderError:
            return False
        return bool(reading.result) and reading.result[0] >= 3

    await eventually(has_samples, "Prometheus to scrape the test service", timeout=90)
    yield prometheus_server


# -- the provider on its own ---------------------------------------------------------------------


async def test_vector_scalar_and_matrix_results(prometheus: str, app: App) -> None:
    vector = await query(prometheus, "app_latency_seconds")
    assert (vector.result, vector.value) == ([0.05], "[0.05]")
    scalar = await query(prometheus, "scalar(app_latency_seconds)")
    assert (scalar.result, scalar.value) == (0.05, "0.05")
    matrix = await query(
        prometheus,
        "app_latency_seconds",
        rangeQuery={"start": 'now() - duration("20s")', "end": "now()", "step": "2s"},
    )
    assert isinstance(matrix.result, list) and len(matrix.result) >= 2
    assert set(matrix.result) == {0.05}
    assert (
        judge(
            matrix.result,
            success_condition="all(result, # < 1000)",
            failure_condition=None,
            now=dt.datetime.now(dt.UTC),
        )
        == "Successful"
    )
    two = await query(prometheus, 'istio_requests_total{destination_service="checkout"}')
    assert len(two.result) == 2


async def test_empty_result_and_query_errors(prometheus: str) -> None:
    empty = await query(prometheus, "no_such_metric_anywhere")
    assert (empty.result, empty.value) == ([], "[]")
    assert (
        judge(
            [],
            success_condition="len(result) == 0 || result[0] < 0.05",
            failure_condition=None,
            now=dt.datetime.now(dt.UTC),
        )
        == "Successful"
    )
    with pytest.raises(ProviderError, match="bad_data"):
        await query(prometheus, "sum(")
    with pytest.raises(ProviderError, match="prometheus address is not is url format"):
        await query("localhost", "up")
    with pytest.raises(ProviderError, match="missing mandatory parameter in metric for basic auth"):
        await query(prometheus, "up", authentication={"basicAuth": {"username": "u"}})


# -- through the controller ------------------------------------------------------------------------


async def create_template(harness: Harness, text: str) -> JsonDict:
    body = yaml.safe_load(text)
    created: JsonDict = await harness.kube.create(
        ANALYSIS_TEMPLATES, body, namespace=harness.namespace
    )
    return created


async def create_rollout(harness: Harness) -> JsonDict:
    """A Rollout the runs can belong to; its instance-id label keeps every Rollout controller
    on the shared sandbox away from it, and the builder copies the label onto the runs."""
    body = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": "checkout", "labels": {INSTANCE_ID_LABEL: harness.instance_id}},
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": {"app": "checkout"}},
            "template": {
                "metadata": {"labels": {"app": "checkout"}},
                "spec": {"containers": [{"name": "app", "image": "checkout:2"}]},
            },
            "strategy": {"canary": {"steps": [{"setWeight": 50}]}},
        },
    }
    created: JsonDict = await harness.kube.create(ROLLOUTS, body, namespace=harness.namespace)
    return created


async def test_argo_success_rate_template_as_background_analysis(
    harness: Harness, prometheus: str, app: App
) -> None:
    app.error_ratio = 0.01
    template = await create_template(harness, SUCCESS_RATE_TEMPLATE)
    rollout = await create_rollout(harness)
    port = prometheus.rsplit(":", 1)[1]
    body = build_analysis_run(
        rollout=rollout,
        templates=[template],
        rollout_analysis={
            "templates": [{"templateName": "success-rate"}],
            "args": [
                {"name": "service-name", "value": "checkout"},
                {"name": "prometheus-port", "value": port},
            ],
        },
        kind="Background",
        step_index=None,
        pod_hash="6f646bf7b7",
        revision=2,
        stable_hash="5d4c7b8f9",
    )
    assert body["metadata"]["labels"][INSTANCE_ID_LABEL] == harness.instance_id
    await harness.kube.create(ANALYSIS_RUNS, body, namespace=harness.namespace)
    name = body["metadata"]["name"]
    assert name == "checkout-6f646bf7b7-2"
    run = await harness.wait_for(
        name,
        lambda r: any(
            (m.get("count") or 0) >= 1 for m in (r.get("status") or {}).get("metricResults") or []
        ),
    )
    [result] = run["status"]["metricResults"]
    assert run["status"]["phase"] == "Running"  # interval 5m: background analysis goes on
    assert result["measurements"][0]["phase"] == "Successful"
    assert float(result["measurements"][0]["value"].strip("[]")) >= 0.95
    assert 'destination_service=~"checkout"' in result["metadata"]["ResolvedPrometheusQuery"]
    # The Rollout side cancels background analysis by setting terminate.
    await harness.kube.patch(
        ANALYSIS_RUNS, name, {"spec": {"terminate": True}}, namespace=harness.namespace
    )
    done = await harness.wait_phase(name, "Successful", "Failed", "Error", "Inconclusive")
    assert done["status"]["phase"] == "Successful"
    assert done["status"]["message"] == "Run Terminated"


async def error_rate_run(harness: Harness, prometheus: str, name: str) -> JsonDict:
    template = await create_template(harness, ERROR_RATE_TEMPLATE)
    spec = {
        "metrics": template["spec"]["metrics"],
        "args": [
            {"name": "service-name", "value": "checkout"},
            {"name": "address", "value": prometheus},
        ],
    }
    await harness.create_run(name, spec)
    return await harness.wait_phase(name, "Successful", "Failed", "Error", "Inconclusive")


async def wait_for_rate(prometheus: str, below: bool, threshold: float = 0.05) -> None:
    """Let irate catch up with the error share the service now reports."""
    text = (
        'sum(irate(istio_requests_total{response_code=~"5.*"}[1m])) / '
        "sum(irate(istio_requests_total[1m]))"
    )

    async def settled() -> bool:
        reading = await query(prometheus, text)
        return bool(reading.result) and (reading.result[0] < threshold) == below

    await eventually(settled, "the error rate to settle", timeout=60)


async def test_error_rate_low_is_successful(harness: Harness, prometheus: str, app: App) -> None:
    app.error_ratio = 0.01
    await wait_for_rate(prometheus, below=True)
    run = await error_rate_run(harness, prometheus, "error-rate-low")
    assert run["status"]["phase"] == "Successful"


async def test_error_rate_high_fails(harness: Harness, prometheus: str, app: App) -> None:
    app.error_ratio = 0.5
    await wait_for_rate(prometheus, below=False)
    run = await error_rate_run(harness, prometheus, "error-rate-high")
    assert run["status"]["phase"] == "Failed"
    measurement = run["status"]["metricResults"][0]["measurements"][0]
    assert float(measurement["value"].strip("[]")) >= 0.05
    assert run["status"]["message"].startswith(
        'Metric "error-rate" assessed Failed due to failed (1) > failureLimit (0)'
    )


async def test_unreachable_prometheus_is_retried_then_error(harness: Harness) -> None:
    """Errors retry (10 s apart, as in Argo); consecutiveErrorLimit 1 keeps the test short."""
    spec = {
        "metrics": [
            {
                "name": "down",
                "consecutiveErrorLimit": 1,
                "successCondition": "result[0] > 0",
                "provider": {"prometheus": {"address": "http://127.0.0.1:9", "query": "up"}},
            }
        ]
    }
    await harness.create_run("prom-down", spec)
    run = await harness.wait_phase("prom-down", "Successful", "Failed", "Error", timeout=60)
    assert run["status"]["phase"] == "Error"
    [result] = run["status"]["metricResults"]
    assert result["error"] == 2
    assert result["measurements"][0]["message"].startswith('Post "http://127.0.0.1:9/api/v1/query"')
