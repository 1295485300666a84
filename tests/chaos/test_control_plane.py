"""The control plane misbehaves under a running canary: the API server frozen (SIGSTOP) and
restarted, etcd restarted, and watches expired (410 Gone) by an etcd compaction followed by an
API server restart. The daemon survives each, and the revision finishes with the invariants of
the e2e monitor held throughout."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import signal
from pathlib import Path

import aiohttp
import pytest

from rolloutd.kube.client import KubeClient
from rolloutd.kube.resources import CONFIG_MAPS
from rolloutd_dev.sandbox.cluster import Sandbox, Status
from tests.chaos.kit import Steps, Tally, apply_fast_seed, finish_revision, healthy, set_image
from tests.e2e.harness import Monitor, eventually
from tests.integration.test_metrics_daemon import Rolloutd

pytestmark = [pytest.mark.sandbox, pytest.mark.chaos]
FREEZE = 8.0  # seconds; shorter than the daemon's stall limit would be pointless


def quiet(message: str) -> None:
    print(f"chaos sandbox: {message}")


async def etcd(cluster: Sandbox, call: str, body: dict[str, object]) -> dict[str, object]:
    """etcd's v3 JSON gateway."""
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session,
        session.post(f"http://127.0.0.1:{cluster.etcd_port}/v3/{call}", json=body) as resp,
    ):
        resp.raise_for_status()
        result: dict[str, object] = await resp.json()
        return result


async def compact(cluster: Sandbox) -> int:
    """Compact etcd's history up to now; returns the revision."""
    found = await etcd(cluster, "kv/range", {"key": base64.b64encode(b"/").decode()})
    revision = int(found["header"]["revision"])  # type: ignore[index]
    await etcd(cluster, "kv/compaction", {"revision": revision, "physical": True})
    return revision


async def started(kube: KubeClient, ns: str, tmp_path: Path, sandbox: Status) -> Rolloutd:
    daemon = Rolloutd(sandbox, ns, tmp_path).start()
    await apply_fast_seed(kube, ns)

    async def first() -> bool:
        return await healthy(kube, ns)

    await eventually(first, "the first revision to be Healthy", timeout=120)
    return daemon


async def test_apiserver_frozen_then_restarted(
    chaos_cluster: Sandbox,
    chaos_sandbox: Status,
    chaos_kube: KubeClient,
    chaos_namespace: str,
    tmp_path: Path,
) -> None:
    kube, ns, tally = chaos_kube, chaos_namespace, Tally()
    async with Monitor(kube, ns) as monitor, Steps(kube, ns) as steps:
        daemon = await started(kube, ns, tmp_path, chaos_sandbox)
        try:
            since = len(monitor.weights)
            await set_image(kube, ns, "argoproj/rollouts-demo:yellow")
            await eventually(lambda: _moved(monitor, since), "the first canary weight", 60)
            [pid] = chaos_cluster.running()["kube-apiserver"]
            os.kill(pid, signal.SIGSTOP)
            try:
                await asyncio.sleep(FREEZE)
            finally:
                os.kill(pid, signal.SIGCONT)
            tally.notes.append(f"apiserver frozen {FREEZE:.0f}s")
            await asyncio.to_thread(chaos_cluster.restart, "kube-apiserver", quiet)
            tally.notes.append("apiserver restarted")
            await finish_revision(
                kube, ns, monitor, steps, tally, image="argoproj/rollouts-demo:yellow",
                since=since, logs=daemon.log_tail,
            )  # fmt: skip
            assert daemon.alive(), daemon.log_tail()
            assert (await daemon.probe("/healthz"))[0] == 200
        finally:
            print(tally.line("apiserver"))
            code = await daemon.stop()
    assert code == 0, daemon.log_tail()


async def test_etcd_restart_and_watch_expiry_by_compaction(
    chaos_cluster: Sandbox,
    chaos_sandbox: Status,
    chaos_kube: KubeClient,
    chaos_namespace: str,
    tmp_path: Path,
) -> None:
    kube, ns, tally = chaos_kube, chaos_namespace, Tally()
    async with Monitor(kube, ns) as monitor, Steps(kube, ns) as steps:
        daemon = await started(kube, ns, tmp_path, chaos_sandbox)
        try:
            # etcd restarted mid-rollout (the sandbox records its new pid, so `down` finds it).
            since = len(monitor.weights)
            await set_image(kube, ns, "argoproj/rollouts-demo:yellow")
            await eventually(lambda: _moved(monitor, since), "the first canary weight", 60)
            await asyncio.to_thread(chaos_cluster.restart, "etcd", quiet)
            tally.notes.append("etcd restarted")
            await finish_revision(
                kube, ns, monitor, steps, tally, image="argoproj/rollouts-demo:yellow",
                since=since, logs=daemon.log_tail,
            )  # fmt: skip

            # Watches expired: history compacted past every watcher's resourceVersion, then a
            # new API server (empty watch cache), so each resumed watch gets 410 Gone.
            since = len(monitor.weights)
            await set_image(kube, ns, "argoproj/rollouts-demo:green")
            await eventually(lambda: _moved(monitor, since), "the first canary weight", 60)
            informers = [monitor.vs, monitor.rs, monitor.svc, steps.informer]
            relists = sum(i.relists for i in informers)
            for i in range(5):
                body = {"metadata": {"name": f"churn-{i}"}, "data": {"x": str(i)}}
                await kube.create(CONFIG_MAPS, body, namespace=ns)
            await compact(chaos_cluster)
            await asyncio.to_thread(chaos_cluster.restart, "kube-apiserver", quiet)
            await finish_revision(
                kube, ns, monitor, steps, tally, image="argoproj/rollouts-demo:green",
                since=since, logs=daemon.log_tail,
            )  # fmt: skip
            expired = sum(i.relists for i in informers) - relists
            # The test's own informers run the daemon's code: they prove the 410s happened.
            assert expired >= 1, "no watch expired; the test did not test what it says"
            tally.notes.append(f"watches expired (410)={expired}")
            assert daemon.alive(), daemon.log_tail()
            assert (await daemon.probe("/healthz"))[0] == 200
        finally:
            print(tally.line("etcd"))
            with contextlib.suppress(AssertionError):
                await daemon.stop()
    assert daemon.proc is not None and daemon.proc.returncode == 0, daemon.log_tail()


async def _moved(monitor: Monitor, since: int) -> bool:
    return any(w > 0 for w in monitor.weights[since:])
