"""The controller under test (`rolloutd run`, or a peer) as a child process, seen from outside.

What it costs is read from the kernel (/proc/<pid>/status for VmRSS and VmHWM, /proc/<pid>/stat
for utime+stime), never from the process itself, so the figures include everything Python,
aiohttp and kubernetes-asyncio do. What it does is read from its own /metrics: every API
request it made (`rolloutd_kube_requests_total{verb,resource,code}`), its reconciles and its
work-queue depth. A scrape costs the daemon CPU (the collector walks every cached Rollout), so
the workloads scrape only at the edges of a measured window, never inside one, except where
they say so.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
READ_VERBS = frozenset({"get", "list", "watch"})


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """utime + stime of the process, in seconds (fields 14 and 15 of /proc/<pid>/stat)."""
    raw = Path(f"/proc/{pid}/stat").read_text()
    # The command name is in parentheses and may hold spaces: split after the last ')'.
    fields = raw[raw.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak RSS) in KiB."""
    out: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0])
    return out


@dataclass(frozen=True)
class Scrape:
    """The counters of one /metrics scrape that the workloads difference."""

    at: float
    requests: Counter[tuple[str, str, str]]
    reconciles: float
    reconcile_seconds: float
    queue_depth: float

    def writes_since(self, before: Scrape) -> Counter[tuple[str, str]]:
        """Requests that change something (not get/list/watch), by (verb, resource)."""
        out: Counter[tuple[str, str]] = Counter()
        for (verb, resource, _code), count in (self.requests - before.requests).items():
            if verb not in READ_VERBS:
                out[(verb, resource)] += count
        return out

    def reads_since(self, before: Scrape) -> Counter[tuple[str, str]]:
        out: Counter[tuple[str, str]] = Counter()
        for (verb, resource, _code), count in (self.requests - before.requests).items():
            if verb in READ_VERBS:
                out[(verb, resource)] += count
        return out


def parse_metrics(text: str, at: float) -> Scrape:
    requests: Counter[tuple[str, str, str]] = Counter()
    reconciles = reconcile_seconds = depth = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "rolloutd_kube_requests_total":
                labels = sample.labels
                key = (labels["verb"], labels["resource"], labels["code"])
                requests[key] = int(sample.value)
            elif sample.name == "rolloutd_reconcile_duration_seconds_count":
                reconciles = sample.value
            elif sample.name == "rolloutd_reconcile_duration_seconds_sum":
                reconcile_seconds = sample.value
            elif sample.name == "workqueue_depth":
                depth = sample.value
    return Scrape(at, requests, reconciles, reconcile_seconds, depth)


@dataclass
class MemorySampler:
    """RSS every `interval` seconds while running: the series behind the RSS plot."""

    pid: int
    interval: float = 0.5
    series: list[tuple[float, int]] = field(default_factory=list)
    peak_kib: int = 0

    async def run(self) -> None:
        started = time.monotonic()
        while True:
            try:
                rss = memory_kib(self.pid).get("VmRSS", 0)
            except (FileNotFoundError, ProcessLookupError):
                return
            self.peak_kib = max(self.peak_kib, rss)
            self.series.append((round(time.monotonic() - started, 2), rss))
            await asyncio.sleep(self.interval)


class ControllerProcess:
    """A controller under test as a child process: its cost from /proc, its work from /metrics.

    Subclasses say how to start it (`command`), where it says it is ready (`ready_path` on
    `health_port`) and how to read its metrics (`parse`); everything else (the RSS sampler,
    CPU, stop) is shared, so rolloutd and its peers are measured the same way.
    """

    name = "controller"
    ready_path = "/readyz"

    def __init__(
        self, *, kubeconfig: str, namespace: str, instance_id: str, log_path: Path
    ) -> None:
        self.kubeconfig = kubeconfig
        self.namespace = namespace
        self.instance_id = instance_id
        self.log_path = log_path
        self.metrics_port = free_port()
        self.health_port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0
        self.sampler: MemorySampler | None = None
        self._sampler_task: asyncio.Task[None] | None = None
        self._http: aiohttp.ClientSession | None = None

    # -- what a subclass says ------------------------------------------------------------------

    def command(self) -> list[str]:
        raise NotImplementedError

    def environment(self) -> dict[str, str]:
        return {**os.environ, "KUBECONFIG": self.kubeconfig}

    def parse(self, text: str, at: float) -> Scrape:
        raise NotImplementedError

    # -- shared --------------------------------------------------------------------------------

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> None:
        args = self.command()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as out:
            self.started_at = time.monotonic()
            self.proc = subprocess.Popen(
                args, stdout=out, stderr=subprocess.STDOUT, env=self.environment()
            )
        self.sampler = MemorySampler(self.proc.pid)
        self._sampler_task = asyncio.create_task(self.sampler.run())

    async def stop(self) -> dict[str, int]:
        """SIGTERM, wait, and return the last memory figures (VmHWM is the lifetime peak)."""
        figures: dict[str, int] = {}
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(FileNotFoundError, ProcessLookupError):
                figures = memory_kib(self.proc.pid)
            self.proc.terminate()
            try:
                await asyncio.to_thread(self.proc.wait, 20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                await asyncio.to_thread(self.proc.wait, 5)
        if self._sampler_task is not None:
            self._sampler_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sampler_task
        if self._http is not None:
            await self._http.close()
            self._http = None
        return figures

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def cpu(self) -> float:
        return cpu_seconds(self.pid)

    def memory(self) -> dict[str, int]:
        return memory_kib(self.pid)

    async def _get(self, port: int, path: str) -> tuple[int, str]:
        if self._http is None:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        async with self._http.get(f"http://127.0.0.1:{port}{path}") as response:
            return response.status, await response.text()

    async def scrape(self) -> Scrape:
        status, text = await self._get(self.metrics_port, "/metrics")
        if status != 200:
            raise RuntimeError(f"/metrics of {self.name} answered {status}")
        return self.parse(text, time.monotonic())

    async def wait_ready(self, timeout: float) -> float:
        """Seconds from start until the health endpoint says the caches are synced."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"{self.name} exited; see {self.log_path}")
            with contextlib.suppress(aiohttp.ClientError, OSError):
                status, _ = await self._get(self.health_port, self.ready_path)
                if status == 200:
                    return time.monotonic() - self.started_at
            await asyncio.sleep(0.05)
        raise TimeoutError(f"{self.name} not ready after {timeout:.0f}s; see {self.log_path}")


class Daemon(ControllerProcess):
    """`rolloutd run --namespace NS --instance-id ID` as a child process."""

    name = "rolloutd"

    def __init__(
        self,
        *,
        kubeconfig: str,
        namespace: str,
        instance_id: str,
        log_path: Path,
        workers: int | None = None,
        log_level: str = "info",
    ) -> None:
        super().__init__(
            kubeconfig=kubeconfig, namespace=namespace, instance_id=instance_id, log_path=log_path
        )
        self.workers = workers
        self.log_level = log_level

    def command(self) -> list[str]:
        args = [
            sys.executable,
            "-m",
            "rolloutd.main",
            "run",
            "--namespace",
            self.namespace,
            "--instance-id",
            self.instance_id,
            # The configuration is looked up in our own namespace, where there is none:
            # someone else's rolloutd-config in `default` must not change what we measure.
            "--config-namespace",
            self.namespace,
            "--metrics-port",
            str(self.metrics_port),
            "--health-port",
            str(self.health_port),
            "--bind-address",
            "127.0.0.1",
            "--log-format",
            "json",
            "--log-level",
            self.log_level,
        ]
        if self.workers:
            args += ["--workers", str(self.workers)]
        return args

    def parse(self, text: str, at: float) -> Scrape:
        return parse_metrics(text, at)
