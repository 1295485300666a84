"""Issue 11, points 1 and 2, on the sandbox with the daemon as its own process.

- A catastrophic-backtracking ``matches`` (``^(a+)+$`` on 29 `a`s and a `b`) used to block the
  event loop ~35 s: liveness probes timed out and the stall detector saw nothing. Now the
  measurement is a plain Failed, /healthz answers throughout, and the detector counts no stall.
- A 300 MB web response used to drive the daemon to 2.8 GB and the status patch to 413. Now the
  body is abandoned at the cap (an Error measurement that counts toward
  consecutiveErrorLimit), the daemon's RSS stays bounded (read from /proc: a memory bound, not
  a timing), and the run finishes. Loopback, metadata addresses and redirects to them are
  refused by the default egress policy with a message that says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web

from rolloutd.kube.client import KubeClient
from rolloutd.kube.resources import ANALYSIS_RUNS, CONFIG_MAPS
from rolloutd_dev.sandbox.cluster import Status
from tests.e2e.harness import Daemon, eventually, free_port

JsonDict = dict[str, Any]
HOSTILE_TEXT = "a" * 29 + "b"
RSS_LIMIT_MIB = 300


@dataclass
class Hostile:
    """A loopback server with the answers a careless or hostile metric gets."""

    url: str = ""
    port: int = 0
    paths: list[str] = field(default_factory=list)
    sent: int = 0

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.paths.append(request.path)
        if request.path == "/text":
            return web.Response(text=HOSTILE_TEXT)
        if request.path == "/ok":
            return web.json_response({"ok": True})
        if request.path == "/redirect-to-metadata":
            raise web.HTTPFound("http://169.254.169.254/latest/meta-data/iam/")
        if request.path == "/huge":
            # 300 MB, streamed without a length; the reader is expected to hang up early.
            response = web.StreamResponse(headers={"Content-Type": "text/plain"})
            response.enable_chunked_encoding()
            await response.prepare(request)
            chunk = b"a" * (1 << 20)
            with contextlib.suppress(ConnectionError, RuntimeError):
                for _ in range(300):
                    await response.write(chunk)
                    self.sent += len(chunk)
            return response
        return web.Response(status=404)


@pytest_asyncio.fixture
async def hostile() -> AsyncIterator[Hostile]:
    server = Hostile()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", server.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server.port = runner.addresses[0][1]
    server.url = f"http://127.0.0.1:{server.port}"
    try:
        yield server
    finally:
        await runner.cleanup()


@dataclass
class Running:
    daemon: Daemon
    health_url: str
    config_map: JsonDict


@pytest.fixture
def running(sandbox: Status, kube: KubeClient, namespace: str, tmp_path: Path) -> Iterator[Running]:
    """The daemon for the test namespace, its ConfigMap allowing only 127.0.0.1 (the test's
    server), so 127.0.0.2 and everything else the defaults deny stay denied."""
    health_port = free_port()
    body = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "rolloutd-config", "namespace": namespace},
        "data": {"config.yaml": "analysis:\n  web:\n    allow: [127.0.0.1/32]\n"},
    }
    daemon = Daemon(
        str(sandbox.kubeconfig),
        namespace,
        tmp_path,
        "--config-namespace",
        namespace,
        "--health-port",
        str(health_port),
    )
    yield Running(daemon, f"http://127.0.0.1:{health_port}/healthz", body)
    code = daemon.stop()
    assert code in (0, -15, None), f"daemon exited with {code}:\n{daemon.logs()}"


async def start(kube: KubeClient, namespace: str, running: Running) -> None:
    await kube.create(CONFIG_MAPS, running.config_map, namespace=namespace)
    running.daemon.start()

    async def healthy() -> bool:
        assert running.daemon.alive(), running.daemon.logs()
        try:
            return (await probe(running.health_url))[0] == 200
        except (aiohttp.ClientError, TimeoutError):
            return False

    await eventually(healthy, "the daemon's /healthz", timeout=60)


async def probe(url: str) -> tuple[int, JsonDict]:
    # A liveness probe's view: an answer within a few seconds, or a failure.
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session,
        session.get(url) as response,
    ):
        return response.status, json.loads(await response.text())


def run_body(name: str, metrics: list[JsonDict]) -> JsonDict:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "AnalysisRun",
        "metadata": {"name": name},
        "spec": {"metrics": metrics},
    }


async def finished(kube: KubeClient, namespace: str, name: str, daemon: Daemon) -> JsonDict:
    result: JsonDict = {}

    async def done() -> bool:
        assert daemon.alive(), daemon.logs()
        result.update(await kube.get(ANALYSIS_RUNS, name, namespace=namespace))
        return (result.get("status") or {}).get("phase") in ("Successful", "Failed", "Error")

    await eventually(done, f"AnalysisRun {name} to finish", timeout=90)
    return result


def measurements(run: JsonDict) -> dict[str, list[JsonDict]]:
    return {
        r["name"]: r.get("measurements") or [] for r in run["status"].get("metricResults") or []
    }


async def test_a_backtracking_regex_neither_stalls_the_loop_nor_hides(
    kube: KubeClient, namespace: str, running: Running, hostile: Hostile
) -> None:
    await start(kube, namespace, running)
    _, before = await probe(running.health_url)
    answers: list[tuple[int, JsonDict]] = []
    stop = asyncio.Event()

    async def keep_probing() -> None:
        while not stop.is_set():
            try:
                answers.append(await probe(running.health_url))
            except (aiohttp.ClientError, TimeoutError) as exc:
                answers.append((0, {"error": repr(exc)}))
            await asyncio.sleep(0.2)

    prober = asyncio.create_task(keep_probing())
    web_text = {"web": {"url": f"{hostile.url}/text"}}
    await kube.create(
        ANALYSIS_RUNS,
        run_body(
            "regex",
            [
                {
                    "name": "backtracking",
                    "count": 3,
                    "interval": "1s",
                    "failureLimit": 3,
                    "successCondition": 'result matches "^(a+)+$"',
                    "provider": web_text,
                },
                {
                    "name": "linear",
                    "count": 3,
                    "interval": "1s",
                    "successCondition": 'result matches "^a+b$"',
                    "provider": web_text,
                },
            ],
        ),
        namespace=namespace,
    )
    run = await finished(kube, namespace, "regex", running.daemon)
    stop.set()
    await prober
    taken = measurements(run)
    assert set(taken) == {"backtracking", "linear"}, run["status"]
    assert [m["phase"] for m in taken["backtracking"]] == ["Failed"] * 3
    assert [m["phase"] for m in taken["linear"]] == ["Successful"] * 3
    assert taken["linear"][0]["value"] == HOSTILE_TEXT
    assert answers, "no health probe was made"
    assert all(code == 200 and detail["status"] == "ok" for code, detail in answers), answers
    _, after = await probe(running.health_url)
    assert after["loopStalls"] == before["loopStalls"], after


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for {pid}")


async def test_a_huge_or_forbidden_web_metric_is_an_error_and_memory_stays_bounded(
    kube: KubeClient,
    namespace: str,
    running: Running,
    hostile: Hostile,
    capsys: pytest.CaptureFixture[str],
) -> None:
    await start(kube, namespace, running)
    proc = running.daemon.proc
    assert proc is not None
    peak = rss_mib(proc.pid)
    stop = asyncio.Event()

    async def watch_rss() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, rss_mib(proc.pid))
            await asyncio.sleep(0.05)

    watcher = asyncio.create_task(watch_rss())

    def metric(name: str, url: str, **extra: Any) -> JsonDict:
        return {
            "name": name,
            "successCondition": "true",
            "provider": {"web": {"url": url}},
            **extra,
        }

    # Three errors in a row pass consecutiveErrorLimit 2: the metric, and the run, are Error.
    huge = metric("huge", f"{hostile.url}/huge", count=5, interval="1s", consecutiveErrorLimit=2)
    await kube.create(ANALYSIS_RUNS, run_body("huge", [huge]), namespace=namespace)
    egress = [
        metric("loopback", f"http://127.0.0.2:{hostile.port}/ok", consecutiveErrorLimit=0),
        metric("metadata", "http://169.254.169.254/latest/meta-data/", consecutiveErrorLimit=0),
        metric("redirect", f"{hostile.url}/redirect-to-metadata", consecutiveErrorLimit=0),
        metric("allowed", f"{hostile.url}/ok"),
    ]
    await kube.create(ANALYSIS_RUNS, run_body("egress", egress), namespace=namespace)
    run = await finished(kube, namespace, "huge", running.daemon)
    denied = await finished(kube, namespace, "egress", running.daemon)
    stop.set()
    await watcher
    with capsys.disabled():
        print(f"\n[hostile-provider] daemon RSS peak {peak:.1f} MiB; server sent {hostile.sent} B")
    assert run["status"]["phase"] == "Error"
    errors = measurements(run)["huge"]
    assert [m["phase"] for m in errors] == ["Error"] * 3
    assert all("analysis.web.maxResponseBytes" in m["message"] for m in errors), errors
    assert all("value" not in m for m in errors)
    assert hostile.sent < 300 << 20  # the daemon hung up long before the end
    assert len(json.dumps(run["status"])) < 64 << 10
    assert denied["status"]["phase"] == "Error"
    taken = measurements(denied)
    assert "denied by default: 127.0.0.0/8" in taken["loopback"][0]["message"]
    assert "169.254.169.254 is denied" in taken["metadata"][0]["message"]
    assert "meta-data/iam/" in taken["redirect"][0]["message"]
    assert "denied" in taken["redirect"][0]["message"]
    assert [m["phase"] for m in taken["allowed"]] == ["Successful"]
    # Nothing but the allowed server was ever reached: not 127.0.0.2, not the metadata address.
    assert set(hostile.paths) == {"/huge", "/redirect-to-metadata", "/ok"}
    assert peak < RSS_LIMIT_MIB, f"daemon RSS peaked at {peak:.0f} MiB"
