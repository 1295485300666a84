"""`rolloutd run` as a process serves /metrics, /healthz and /readyz, and stops cleanly.

This module also holds the kit the other daemon-level tests share (test_metrics_prometheus,
test_leader_election, test_config_reload): a daemon process with its ports and its JSON log,
the seed's manifests, and small polling helpers. The Rollouts these tests create carry a
controller instance id and the daemons are started with it, so another rolloutd running on the
shared sandbox leaves them alone.
"""

from __future__ import annotations

import asyncio
import copy
import json
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from rolloutd.kube.client import KubeClient
from rolloutd.kube.resources import ROLLOUTS, SERVICES, Resource
from rolloutd_dev.sandbox.cluster import Status
from tests.e2e.harness import eventually, free_port

pytestmark = pytest.mark.sandbox

JsonDict = dict[str, Any]
REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "config" / "samples"
VIRTUAL_SERVICES = Resource("networking.istio.io", "v1alpha3", "virtualservices", "VirtualService")
GATEWAYS = Resource("networking.istio.io", "v1alpha3", "gateways", "Gateway")
INSTANCE_LABEL = "argo-rollouts.argoproj.io/controller-instance-id"
WRITE_VERBS = ("create", "update", "patch", "delete")


class Rolloutd:
    """One `rolloutd run` process for one namespace, its ports, and what it says."""

    def __init__(
        self,
        sandbox: Status,
        namespace: str,
        log_dir: Path,
        *extra: str,
        name: str = "rolloutd",
        instance_id: str | None = None,
    ) -> None:
        self.kubeconfig = str(sandbox.kubeconfig)
        self.namespace = namespace
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self.extra = extra
        self.instance_id = instance_id
        self.metrics_port = free_port()
        self.health_port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Rolloutd:
        args = [
            sys.executable, "-m", "rolloutd.main", "run",
            "--namespace", self.namespace,
            "--config-namespace", self.namespace,
            "--metrics-port", str(self.metrics_port),
            "--health-port", str(self.health_port),
            "--bind-address", "127.0.0.1",
            "--log-format", "json",
        ]  # fmt: skip
        if self.instance_id:
            args += ["--instance-id", self.instance_id]
        with self.log_path.open("ab") as out:
            self.proc = subprocess.Popen(
                [*args, *self.extra],
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, "KUBECONFIG": self.kubeconfig},
            )
        return self

    # -- lifetime -----------------------------------------------------------------------------

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: no clean-up at all, like a node that vanished."""
        if self.alive():
            assert self.proc is not None
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    async def stop(self, timeout: float = 20) -> int | None:
        """SIGTERM and wait; returns the exit code (None if it never ran)."""
        if self.proc is None:
            return None
        if self.alive():
            self.proc.terminate()
        return await self.wait_exit(timeout)

    async def wait_exit(self, timeout: float = 20) -> int:
        assert self.proc is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.proc.poll() is None:
            if loop.time() > deadline:
                self.proc.kill()
                self.proc.wait(5)
                raise AssertionError(f"{self.name} did not exit within {timeout:.0f}s")
            await asyncio.sleep(0.1)
        return self.proc.returncode

    # -- what it says -------------------------------------------------------------------------

    async def _get(self, port: int, path: str) -> tuple[int, str]:
        timeout = aiohttp.ClientTimeout(total=5)
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.get(f"http://127.0.0.1:{port}{path}") as response,
        ):
            return response.status, await response.text()

    async def probe(self, path: str) -> tuple[int, JsonDict]:
        """/healthz or /readyz: (status, JSON detail); (0, {}) while nothing listens."""
        try:
            status, text = await self._get(self.health_port, path)
        except (aiohttp.ClientError, TimeoutError):
            return 0, {}
        return status, json.loads(text)

    async def samples(self) -> list[tuple[str, dict[str, str], float]]:
        status, text = await self._get(self.metrics_port, "/metrics")
        assert status == 200, text
        return [
            (s.name, dict(s.labels), float(s.value))
            for family in text_string_to_metric_families(text)
            for s in family.samples
        ]

    async def sample(self, metric: str, /, **labels: str) -> float | None:
        for sample_name, sample_labels, value in await self.samples():
            if sample_name == metric and labels.items() <= sample_labels.items():
                return value
        return None

    async def writes(self) -> float:
        """Write requests this process sent to the API server (any resource)."""
        return sum(
            value
            for name, labels, value in await self.samples()
            if name == "rolloutd_kube_requests_total" and labels["verb"] in WRITE_VERBS
        )

    async def wait_ready(self, timeout: float = 60) -> JsonDict:
        detail: JsonDict = {}

        async def ready() -> bool:
            if not self.alive():
                raise AssertionError(f"{self.name} exited:\n{self.log_tail()}")
            status, body = await self.probe("/readyz")
            detail.update(body)
            return status == 200

        await eventually(ready, f"{self.name} to be ready", timeout=timeout)
        return detail

    def log(self) -> list[JsonDict]:
        lines = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            try:
                lines.append(json.loads(line))
            except ValueError:
                lines.append({"event": line})
        return lines

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


# -- the seed's objects ------------------------------------------------------------------------


def sample(name: str) -> list[JsonDict]:
    return [d for d in yaml.safe_load_all((SAMPLES / f"{name}.yaml").read_text()) if d]


STEPS = [
    {"setWeight": 20}, {"pause": {}},
    {"setWeight": 40}, {"pause": {}},
    {"setWeight": 60}, {"pause": {}},
    {"setWeight": 80}, {"pause": {}},
    {"setWeight": 100}, {"pause": {}},
]  # fmt: skip
"""The seed's steps with every pause indefinite, so a test promotes when it has seen a step,
and an explicit 100 so that weight is held long enough to be observed too."""


async def apply_seed(
    kube: KubeClient, namespace: str, *, instance_id: str, steps: list[JsonDict] | None = None
) -> JsonDict:
    """The seed's Gateway, Services, VirtualService and Rollout, labelled for `instance_id`."""
    for doc in sample("gateway"):
        await kube.create(GATEWAYS, doc, namespace=namespace)
    for doc in sample("services"):
        await kube.create(SERVICES, doc, namespace=namespace)
    for doc in sample("virtual-service"):
        await kube.create(VIRTUAL_SERVICES, doc, namespace=namespace)
    rollout = copy.deepcopy(sample("rollout")[0])
    rollout["metadata"].setdefault("labels", {})[INSTANCE_LABEL] = instance_id
    rollout["spec"]["strategy"]["canary"]["steps"] = steps or STEPS
    return await kube.create(ROLLOUTS, rollout, namespace=namespace)


async def set_image(kube: KubeClient, namespace: str, image: str) -> None:
    ro = await kube.get(ROLLOUTS, "rollouts-demo", namespace=namespace)
    containers = ro["spec"]["template"]["spec"]["containers"]
    containers[0]["image"] = image
    body = {"spec": {"template": {"spec": {"containers": containers}}}}
    await kube.patch(ROLLOUTS, "rollouts-demo", body, namespace=namespace)


async def promote(kube: KubeClient, namespace: str) -> None:
    """What `kubectl argo rollouts promote` does at an indefinite pause."""
    await kube.patch(
        ROLLOUTS,
        "rollouts-demo",
        {"status": {"pauseConditions": None}},
        namespace=namespace,
        patch_type="merge",
        subresource="status",
    )


async def wait_phase(
    kube: KubeClient, namespace: str, phase: str, *, step: int | None = None, timeout: float = 90
) -> JsonDict:
    found: JsonDict = {}

    async def check() -> bool:
        ro = await kube.get(ROLLOUTS, "rollouts-demo", namespace=namespace)
        status = ro.get("status") or {}
        ok = (
            status.get("phase") == phase
            and str(status.get("observedGeneration")) == str(ro["metadata"]["generation"])
            and (step is None or status.get("currentStepIndex") == step)
        )
        if ok:
            found.update(ro)
        return ok

    where = f" at step {step}" if step is not None else ""
    await eventually(check, f"phase {phase}{where}", timeout=timeout)
    return found


def canary_weight(vs: JsonDict) -> int:
    [route] = [r for r in vs["spec"]["http"] if r.get("name") == "primary"]
    return next(
        int(d.get("weight") or 0)
        for d in route["route"]
        if d["destination"]["host"] == "rollouts-demo-canary"
    )


def new_instance_id() -> str:
    return f"test-{uuid.uuid4().hex[:8]}"


# -- the daemon's own endpoints ------------------------------------------------------------------


async def test_daemon_serves_metrics_health_and_readiness(
    sandbox: Status, namespace: str, tmp_path: Path
) -> None:
    daemon = Rolloutd(sandbox, namespace, tmp_path, instance_id=new_instance_id()).start()
    try:
        detail = await daemon.wait_ready()
        assert detail["cachesSynced"] is True
        assert detail["leaderElection"]["state"] == "disabled"
        assert detail["config"]["valid"] is True

        status, live = await daemon.probe("/healthz")
        assert status == 200 and live["status"] == "ok"

        assert await daemon.sample("rolloutd_leader") == 1
        assert await daemon.sample("rolloutd_config_valid") == 1
        assert await daemon.sample("rolloutd_build_info") == 1
        # The caches were filled by list + watch requests, which the client counted.
        assert (
            await daemon.sample("rolloutd_kube_requests_total", verb="list", resource="rollouts")
        ) == 1
        assert await daemon.sample("workqueue_depth", name="rollouts") == 0
    finally:
        code = await daemon.stop()
    assert code == 0, daemon.log_tail()
    assert any(line.get("event") == "stopping" for line in daemon.log())
