"""`rolloutd run` as a process measures AnalysisRuns and exports their series on /metrics."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import aiohttp
import pytest

from rolloutd.controller.analysis import INSTANCE_ID_LABEL
from rolloutd.kube.client import KubeClient
from rolloutd.kube.resources import ANALYSIS_RUNS
from rolloutd_dev.sandbox.cluster import Status
from tests.integration.analysis.conftest import App, allow_loopback

pytestmark = [pytest.mark.sandbox, pytest.mark.asyncio(loop_scope="session")]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_daemon_runs_analysis(
    sandbox: Status, kube: KubeClient, namespace: str, analysis_crds: None, app: App, tmp_path: Path
) -> None:
    instance_id = f"analysis-daemon-{uuid.uuid4().hex[:8]}"
    metrics_port = free_port()
    args = [
        sys.executable, "-m", "rolloutd.main", "run",
        "--namespace", namespace,
        "--config-namespace", namespace,
        "--instance-id", instance_id,
        "--metrics-port", str(metrics_port),
        "--health-port", str(free_port()),
        "--bind-address", "127.0.0.1",
    ]  # fmt: skip
    await allow_loopback(kube, namespace)
    log_path = tmp_path / "rolloutd.log"
    with log_path.open("wb") as log:
        proc = await asyncio.create_subprocess_exec(
            *args,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "KUBECONFIG": str(sandbox.kubeconfig)},
        )
    try:
        app.error_ratio = 0.0
        run = {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "AnalysisRun",
            "metadata": {"name": "daemon-run", "labels": {INSTANCE_ID_LABEL: instance_id}},
            "spec": {
                "metrics": [
                    {
                        "name": "health",
                        "count": 2,
                        "interval": "1s",
                        "successCondition": "result == true",
                        "provider": {
                            "web": {"url": f"{app.url}/health", "jsonPath": "{$.data.ok}"}
                        },
                    }
                ]
            },
        }
        await kube.create(ANALYSIS_RUNS, run, namespace=namespace)
        deadline = time.monotonic() + 90
        phase = None
        while time.monotonic() < deadline and phase not in ("Successful", "Failed", "Error"):
            assert proc.returncode is None, log_path.read_text()[-3000:]
            obj = await kube.get(ANALYSIS_RUNS, "daemon-run", namespace=namespace)
            phase = (obj.get("status") or {}).get("phase")
            await asyncio.sleep(0.3)
        assert phase == "Successful", log_path.read_text()[-3000:]

        wanted = (
            f'analysis_run_info{{name="daemon-run",namespace="{namespace}",phase="Successful"}} 1.0'
        )
        text = ""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            async with (
                aiohttp.ClientSession() as session,
                session.get(f"http://127.0.0.1:{metrics_port}/metrics") as response,
            ):
                text = await response.text()
            if wanted in text:
                break
            await asyncio.sleep(0.5)
        assert wanted in text
        assert 'analysis_run_measurement_duration_seconds_count{type="Web"} 2.0' in text
    finally:
        proc.terminate()
        try:
            code = await asyncio.wait_for(proc.wait(), 30)
        except TimeoutError:
            proc.kill()
            code = await proc.wait()
    assert code == 0, log_path.read_text()[-3000:]
