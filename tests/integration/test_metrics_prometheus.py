"""A real Prometheus scrapes a real rolloutd while a canary walks 20 -> 40 -> 60 -> 80 -> 100.

Prometheus is Debian's package (scripts/install-prometheus.sh installs it when it is missing),
started on a free loopback port with a 1 s scrape interval and pointed at the daemon. The test
reads everything back through PromQL, as a dashboard or an alert would: the desired and actual
weights at each step, agreement, rollout_info's phase, and then a hand edit of the
VirtualService, which the controller puts back and counts as a correction.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from rolloutd.kube.client import KubeClient
from rolloutd.kube.resources import LEASES
from rolloutd_dev.sandbox.cluster import Status
from tests.integration.test_metrics_daemon import (
    REPO,
    VIRTUAL_SERVICES,
    Rolloutd,
    apply_seed,
    canary_weight,
    eventually,
    free_port,
    new_instance_id,
    promote,
    set_image,
    wait_phase,
)

pytestmark = pytest.mark.sandbox

JsonDict = dict[str, Any]
PROMETHEUS = Path("/usr/bin/prometheus")


@pytest.fixture(scope="session")
def prometheus_binary() -> Path:
    """Debian's prometheus, installed for this session if it is not there yet."""
    if not PROMETHEUS.exists():
        script = REPO / "scripts" / "install-prometheus.sh"
        done = subprocess.run(
            ["bash", str(script)], capture_output=True, text=True, timeout=600, check=False
        )
        if done.returncode != 0 or not PROMETHEUS.exists():
            pytest.skip(
                "Prometheus could not be installed with scripts/install-prometheus.sh "
                f"(exit {done.returncode}): {done.stderr.strip()[-500:]}"
            )
    return PROMETHEUS


class Prometheus:
    """A throwaway Prometheus server scraping one target every second."""

    def __init__(self, binary: Path, workdir: Path, *targets: str, job: str = "rolloutd") -> None:
        self.binary = binary
        self.job = job
        self.workdir = workdir
        self.targets = list(targets)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Prometheus:
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "scrape_configs": [
                {
                    "job_name": self.job,
                    "scrape_interval": "1s",
                    "scrape_timeout": "1s",
                    "static_configs": [{"targets": self.targets}],
                }
            ],
        }
        config_file = self.workdir / "prometheus.yml"
        config_file.write_text(yaml.safe_dump(config))
        with (self.workdir / "prometheus.log").open("wb") as out:
            self.proc = subprocess.Popen(
                [
                    str(self.binary),
                    f"--config.file={config_file}",
                    f"--storage.tsdb.path={self.workdir / 'prometheus-data'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    "--storage.tsdb.retention.time=1h",
                    "--log.level=warn",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    async def _api(self, path: str, **params: str) -> Any:
        timeout = aiohttp.ClientTimeout(total=10)
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.get(f"{self.url}{path}", params=params) as response,
        ):
            body = await response.json()
        assert body["status"] == "success", body
        return body["data"]

    async def wait_ready(self) -> None:
        async def ready() -> bool:
            assert self.proc is not None and self.proc.poll() is None, self.log()
            try:
                async with (
                    aiohttp.ClientSession() as session,
                    session.get(f"{self.url}/-/ready") as response,
                ):
                    return response.status == 200
            except aiohttp.ClientError:
                return False

        await eventually(ready, "Prometheus to be ready", timeout=60)

    async def query(self, expr: str) -> list[tuple[dict[str, str], float]]:
        data = await self._api("/api/v1/query", query=expr)
        return [(r["metric"], float(r["value"][1])) for r in data["result"]]

    async def value(self, expr: str) -> float | None:
        """The single value of an expression that yields at most one series."""
        result = await self.query(expr)
        assert len(result) <= 1, result
        return result[0][1] if result else None

    async def series_values(self, expr: str, since: float) -> list[float]:
        """Values of a one-series expression, one per second since `since` (Unix time)."""
        data = await self._api(
            "/api/v1/query_range",
            query=expr,
            start=f"{since:.3f}",
            end=f"{time.time():.3f}",
            step="1",
        )
        assert len(data["result"]) <= 1, data["result"]
        return [float(v) for _, v in data["result"][0]["values"]] if data["result"] else []

    async def until(self, expr: str, want: float, what: str, timeout: float = 60) -> None:
        seen: list[float | None] = []

        async def check() -> bool:
            seen.append(await self.value(expr))
            return seen[-1] == want

        try:
            await eventually(check, what, timeout=timeout, interval=0.5)
        except AssertionError as exc:
            raise AssertionError(f"{exc}: {expr} was {seen[-5:]}, wanted {want}") from None

    def log(self) -> str:
        return (self.workdir / "prometheus.log").read_text(errors="replace")[-3000:]


def distinct(values: list[float]) -> list[int]:
    out: list[int] = []
    for v in values:
        if not out or out[-1] != int(v):
            out.append(int(v))
    return out


def is_subsequence(small: list[int], big: list[int]) -> bool:
    it = iter(big)
    return all(any(x == y for y in it) for x in small)


@pytest.fixture
def stack(
    sandbox: Status, namespace: str, tmp_path: Path, prometheus_binary: Path
) -> Iterator[tuple[Rolloutd, Prometheus]]:
    daemon = Rolloutd(sandbox, namespace, tmp_path, instance_id=new_instance_id()).start()
    prometheus = Prometheus(prometheus_binary, tmp_path, f"127.0.0.1:{daemon.metrics_port}")
    prometheus.start()
    yield daemon, prometheus
    prometheus.stop()
    daemon.kill()


async def test_prometheus_follows_a_canary_and_a_correction(
    kube: KubeClient, namespace: str, stack: tuple[Rolloutd, Prometheus]
) -> None:
    daemon, prom = stack
    ns = namespace
    sel = f'namespace="{ns}",rollout="rollouts-demo"'
    desired = f"rolloutd_traffic_weight_desired{{{sel}}}"
    await daemon.wait_ready()
    await prom.wait_ready()
    await prom.until('up{job="rolloutd"}', 1, "Prometheus to scrape rolloutd")

    assert daemon.instance_id is not None
    await apply_seed(kube, ns, instance_id=daemon.instance_id)
    await wait_phase(kube, ns, "Healthy")
    await prom.until(desired, 0, "the first deploy to show desired weight 0")
    started = time.time()

    await set_image(kube, ns, "argoproj/rollouts-demo:yellow")
    for index, weight in enumerate((20, 40, 60, 80, 100)):
        await wait_phase(kube, ns, "Paused", step=2 * index + 1)
        what = f"weight {weight} in Prometheus"
        await prom.until(desired, weight, what)
        await prom.until(f"min(rolloutd_traffic_weight_actual{{{sel}}})", weight, what)
        await prom.until(f"max(rolloutd_traffic_weight_actual{{{sel}}})", weight, what)
        await prom.until(f"rolloutd_traffic_weight_in_agreement{{{sel}}}", 1, what)
        await promote(kube, ns)

    await wait_phase(kube, ns, "Healthy", step=10)
    await prom.until(desired, 0, "desired weight 0 once the canary is the stable")
    await prom.until(f"rolloutd_traffic_weight_in_agreement{{{sel}}}", 1, "agreement at 0")
    replicas = f'rollout_info_replicas_available{{namespace="{ns}",name="rollouts-demo"}}'
    await prom.until(replicas, 5, "5 available pods")
    info = f'rollout_info{{namespace="{ns}",name="rollouts-demo",strategy="canary"'
    await prom.until(f'{info},traffic_router="Istio",phase="Completed"}}', 1, "phase Completed")

    # Every step was seen in turn, in what Prometheus stored, not only in what we polled.
    stored_desired = distinct(await prom.series_values(desired, started))
    stored_actual = distinct(
        await prom.series_values(f"max(rolloutd_traffic_weight_actual{{{sel}}})", started)
    )
    steps = [20, 40, 60, 80, 100, 0]
    assert is_subsequence(steps, stored_desired), stored_desired
    assert is_subsequence(steps, stored_actual), stored_actual

    # Someone edits the VirtualService by hand: the controller sees the drift and puts it back.
    corrections = f"sum(rolloutd_traffic_weight_corrections_total{{{sel}}}) or vector(0)"
    before = await prom.value(corrections) or 0
    edited_at = time.time()
    vs = await kube.get(VIRTUAL_SERVICES, "rollouts-demo-vsvc", namespace=ns)
    for destination in vs["spec"]["http"][0]["route"]:
        destination["weight"] = 50
    await kube.replace(VIRTUAL_SERVICES, "rollouts-demo-vsvc", vs, namespace=ns)

    await prom.until(f"({corrections}) > bool {before}", 1, "a correction to be counted")

    async def put_back() -> bool:
        vs = await kube.get(VIRTUAL_SERVICES, "rollouts-demo-vsvc", namespace=ns)
        return canary_weight(vs) == 0

    await eventually(put_back, "the VirtualService to be put back to 0")
    await prom.until(f"rolloutd_traffic_weight_in_agreement{{{sel}}}", 1, "agreement again")
    assert any(line.get("event") == "traffic weight drifted; put back" for line in daemon.log())

    # The drift itself lasts only as long as one reconcile, so a 1 s scrape may miss it; say
    # whether it was caught, without making the test depend on it.
    await asyncio.sleep(2)
    window = max(int(time.time() - edited_at) + 1, 2)
    caught = await prom.value(
        f"min_over_time(rolloutd_traffic_weight_in_agreement{{{sel}}}[{window}s])"
    )
    print(f"disagreement caught by a scrape: {caught == 0}")


async def test_a_hand_edit_shows_as_disagreement_then_as_a_correction(
    kube: KubeClient, sandbox: Status, namespace: str, tmp_path: Path, prometheus_binary: Path
) -> None:
    """With the writer frozen, a second replica (a standby, which only observes) reports the
    hand edit as a disagreement for as long as it lasts; once the writer runs again it puts the
    weight back and counts a correction."""
    ns = namespace
    instance = new_instance_id()
    # The standby waits for a Lease someone else holds for an hour: it will never write.
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    await kube.create(
        LEASES,
        {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": "observer-lock"},
            "spec": {
                "holderIdentity": "someone-else",
                "leaseDurationSeconds": 3600,
                "acquireTime": now,
                "renewTime": now,
            },
        },
        namespace=ns,
    )
    writer = Rolloutd(sandbox, ns, tmp_path, name="writer", instance_id=instance).start()
    observer = Rolloutd(
        sandbox,
        ns,
        tmp_path,
        "--leader-elect",
        "--lease-name",
        "observer-lock",
        "--identity",
        "observer",
        name="observer",
        instance_id=instance,
    ).start()
    prom = Prometheus(
        prometheus_binary,
        tmp_path,
        f"127.0.0.1:{writer.metrics_port}",
        f"127.0.0.1:{observer.metrics_port}",
    ).start()
    seen_by = f'instance="127.0.0.1:{observer.metrics_port}"'
    sel = f'namespace="{ns}",rollout="rollouts-demo",{seen_by}'
    try:
        await writer.wait_ready()
        await observer.wait_ready()
        await prom.wait_ready()
        await apply_seed(kube, ns, instance_id=instance)
        await wait_phase(kube, ns, "Healthy")
        await set_image(kube, ns, "argoproj/rollouts-demo:yellow")
        await wait_phase(kube, ns, "Paused", step=1)
        await prom.until(f"rolloutd_traffic_weight_desired{{{sel}}}", 20, "desired 20")
        await prom.until(f"rolloutd_traffic_weight_in_agreement{{{sel}}}", 1, "agreement at 20")

        assert writer.proc is not None
        writer.proc.send_signal(signal.SIGSTOP)  # frozen: no reconcile, no correction
        vs = await kube.get(VIRTUAL_SERVICES, "rollouts-demo-vsvc", namespace=ns)
        for destination in vs["spec"]["http"][0]["route"]:
            destination["weight"] = 50
        await kube.replace(VIRTUAL_SERVICES, "rollouts-demo-vsvc", vs, namespace=ns)
        await prom.until(
            f"rolloutd_traffic_weight_in_agreement{{{sel}}}", 0, "the disagreement in PromQL"
        )
        await prom.until(f"max(rolloutd_traffic_weight_actual{{{sel}}})", 50, "actual 50")
        await prom.until(f"rolloutd_traffic_weight_desired{{{sel}}}", 20, "desired still 20")

        writer.proc.send_signal(signal.SIGCONT)
        by_writer = (
            f'namespace="{ns}",rollout="rollouts-demo",instance="127.0.0.1:{writer.metrics_port}"'
        )
        await prom.until(
            f"sum(rolloutd_traffic_weight_corrections_total{{{by_writer}}})", 1, "a correction"
        )
        await prom.until(f"rolloutd_traffic_weight_in_agreement{{{sel}}}", 1, "agreement again")
        vs = await kube.get(VIRTUAL_SERVICES, "rollouts-demo-vsvc", namespace=ns)
        assert canary_weight(vs) == 20
    finally:
        if writer.proc is not None and writer.alive():
            writer.proc.send_signal(signal.SIGCONT)
        prom.stop()
        writer.kill()
        observer.kill()
