"""End-to-end test kit: the daemon as a separate process, the seed's manifests, a monitor.

The monitor watches the test namespace's VirtualServices, ReplicaSets and Services with the
same informers the controller uses, and checks rolloutd's traffic invariant on every change
of a weight: the canary Service never carries more weight than the available pods of the
ReplicaSet it selects can take.
"""

from __future__ import annotations

import asyncio
import copy
import math
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from rolloutd.kube.client import ApiError, KubeClient
from rolloutd.kube.informer import Informer
from rolloutd.kube.resources import REPLICA_SETS, ROLLOUTS, SERVICES, Resource

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "config" / "samples"
VIRTUAL_SERVICES = Resource("networking.istio.io", "v1alpha3", "virtualservices", "VirtualService")
GATEWAYS = Resource("networking.istio.io", "v1alpha3", "gateways", "Gateway")
POD_HASH = "rollouts-pod-template-hash"
JsonDict = dict[str, Any]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def sample(name: str) -> list[JsonDict]:
    return [d for d in yaml.safe_load_all((SAMPLES / f"{name}.yaml").read_text()) if d]


async def eventually(
    check: Callable[[], Awaitable[bool]], what: str, timeout: float = 60, interval: float = 0.2
) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await check():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        await asyncio.sleep(interval)


class Daemon:
    """`rolloutd run` for one namespace, as its own process (so it can be SIGKILLed)."""

    def __init__(
        self,
        kubeconfig: str,
        namespace: str,
        log_dir: Path,
        *extra: str,
        python: str = sys.executable,
    ) -> None:
        self.python = python
        self.kubeconfig = kubeconfig
        self.namespace = namespace
        self.log_dir = log_dir
        self.extra = extra
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def log_path(self) -> Path:
        return self.log_dir / f"rolloutd-{self.namespace}-{self.starts}.log"

    def start(self) -> None:
        self.starts += 1
        env = {**os.environ, "KUBECONFIG": self.kubeconfig}
        with self.log_path.open("wb") as out:
            self.proc = subprocess.Popen(
                [
                    self.python,
                    "-m",
                    "rolloutd.main",
                    "run",
                    "--namespace",
                    self.namespace,
                    "--metrics-port",
                    str(free_port()),
                    "--health-port",
                    str(free_port()),
                    "--bind-address",
                    "127.0.0.1",
                    "--log-format",
                    "json",
                    "--log-level",
                    "debug",
                    *self.extra,
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
            )

    def kill(self) -> None:
        """SIGKILL: no chance to clean up, like a node dying."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode

    def logs(self, lines: int = 60) -> str:
        out = []
        for i in range(1, self.starts + 1):
            path = self.log_dir / f"rolloutd-{self.namespace}-{i}.log"
            if path.exists():
                text = path.read_text(errors="replace").splitlines()
                out.append(f"--- {path.name} (last {lines} lines)")
                out += text[-lines:]
        return "\n".join(out)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


async def apply_seed(
    kube: KubeClient, namespace: str, *, rollout_edit: Callable[[JsonDict], None] | None = None
) -> JsonDict:
    """Create the seed's Gateway, Services and VirtualService, then its Rollout."""
    for doc in sample("gateway"):
        await kube.create(GATEWAYS, doc, namespace=namespace)
    for doc in sample("services"):
        await kube.create(SERVICES, doc, namespace=namespace)
    for doc in sample("virtual-service"):
        await kube.create(VIRTUAL_SERVICES, doc, namespace=namespace)
    rollout = copy.deepcopy(sample("rollout")[0])
    if rollout_edit:
        rollout_edit(rollout)
    return await kube.create(ROLLOUTS, rollout, namespace=namespace)


async def get_rollout(kube: KubeClient, namespace: str, name: str = "rollouts-demo") -> JsonDict:
    return await kube.get(ROLLOUTS, name, namespace=namespace)


async def set_image(
    kube: KubeClient, namespace: str, image: str, name: str = "rollouts-demo"
) -> None:
    ro = await get_rollout(kube, namespace, name)
    containers = ro["spec"]["template"]["spec"]["containers"]
    containers[0]["image"] = image
    await kube.patch(
        ROLLOUTS,
        name,
        {"spec": {"template": {"spec": {"containers": containers}}}},
        namespace=namespace,
    )


async def promote(kube: KubeClient, namespace: str, name: str = "rollouts-demo") -> None:
    """What `kubectl argo rollouts promote` does at a pause step."""
    await kube.patch(
        ROLLOUTS,
        name,
        {"status": {"pauseConditions": None}},
        namespace=namespace,
        subresource="status",
    )


async def patch_status(
    kube: KubeClient, namespace: str, body: JsonDict, name: str = "rollouts-demo"
) -> None:
    await kube.patch(ROLLOUTS, name, {"status": body}, namespace=namespace, subresource="status")


def phase(ro: JsonDict) -> tuple[str, str]:
    status = ro.get("status") or {}
    return status.get("phase", ""), status.get("message", "")


async def wait_phase(
    kube: KubeClient,
    namespace: str,
    want: str,
    *,
    step: int | None = None,
    timeout: float = 90,
    name: str = "rollouts-demo",
) -> JsonDict:
    result: JsonDict = {}

    async def check() -> bool:
        ro = await get_rollout(kube, namespace, name)
        status = ro.get("status") or {}
        ok = (
            status.get("phase") == want
            and str(status.get("observedGeneration")) == str(ro["metadata"]["generation"])
            and (step is None or status.get("currentStepIndex") == step)
        )
        if ok:
            result.update(ro)
        return ok

    await eventually(
        check, f"phase {want}" + (f" at step {step}" if step is not None else ""), timeout
    )
    return result


def route_weights(vs: JsonDict, kind: str = "http", index: int = 0) -> dict[str, int]:
    route = (vs.get("spec") or {}).get(kind, [])[index]
    return {d["destination"]["host"]: int(d.get("weight") or 0) for d in route.get("route", [])}


@dataclass
class Monitor:
    """Watches a namespace and checks the traffic invariant on every weight change."""

    kube: KubeClient
    namespace: str
    replicas: int = 5
    canary_service: str = "rollouts-demo-canary"
    vs_name: str = "rollouts-demo-vsvc"
    weights: list[int] = field(default_factory=list)
    """Canary weights of the `primary` route, in the order they were seen (deduplicated)."""
    weight_times: list[tuple[float, int]] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    tls_changes: int = 0

    def __post_init__(self) -> None:
        self.vs = Informer(self.kube, VIRTUAL_SERVICES, namespace=self.namespace)
        self.rs = Informer(self.kube, REPLICA_SETS, namespace=self.namespace)
        self.svc = Informer(self.kube, SERVICES, namespace=self.namespace)
        self._tasks: list[asyncio.Task[None]] = []
        self._last_tls: Any = None
        self.vs.add_handler(self._on_vs)

    async def __aenter__(self) -> Monitor:
        for inf in (self.vs, self.rs, self.svc):
            self._tasks.append(asyncio.create_task(inf.run()))
        await asyncio.gather(self.vs.synced.wait(), self.rs.synced.wait(), self.svc.synced.wait())
        return self

    async def __aexit__(self, *exc: object) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _on_vs(self, kind: str, obj: JsonDict, old: JsonDict | None) -> None:
        if obj["metadata"]["name"] != self.vs_name or kind == "DELETED":
            return
        tls = obj["spec"].get("tls")
        if self._last_tls is not None and tls != self._last_tls:
            self.tls_changes += 1
        self._last_tls = tls
        weight = route_weights(obj).get(self.canary_service, 0)
        if not self.weights or self.weights[-1] != weight:
            self.weights.append(weight)
            self.weight_times.append((time.monotonic(), weight))
        if weight > 0:
            self._check(weight)

    def _check(self, weight: int) -> None:
        svc = self.svc.get(self.namespace, self.canary_service)
        pod_hash = ((svc or {}).get("spec") or {}).get("selector", {}).get(POD_HASH)
        target = next(
            (
                rs
                for rs in self.rs.items()
                if (rs["metadata"].get("labels") or {}).get(POD_HASH) == pod_hash
            ),
            None,
        )
        available = int(((target or {}).get("status") or {}).get("availableReplicas") or 0)
        needed = math.ceil(self.replicas * weight / 100)
        if pod_hash is None or available < needed:
            self.violations.append(
                f"canary weight {weight} while the canary Service selects hash {pod_hash} "
                f"with {available} available pods (needs {needed})"
            )


async def exists(kube: KubeClient, res: Resource, name: str, namespace: str) -> bool:
    try:
        await kube.get(res, name, namespace=namespace)
    except ApiError as exc:
        if exc.not_found:
            return False
        raise
    return True


def is_subsequence(small: list[int], big: list[int]) -> bool:
    it = iter(big)
    return all(any(x == y for y in it) for x in small)
