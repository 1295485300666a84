"""Migration both ways with Argo Rollouts' real controller: Argo -> rolloutd -> Argo.

On a sandbox instance of its own (the CRDs are swapped, which the shared one must not see):
Argo's CRDs and Argo's controller (built from its Go module, `bench/peers/argo.py`) run 20
Rollouts into mixed states: Healthy (plain canary, and Istio-routed at 100/0), paused
mid-canary at 20% and at 40% with an Istio VirtualService, and paused at 20% as a canary with
Services only (replica-based). Argo is stopped, rolloutd's CRDs are applied over Argo's and
`rolloutd run` takes over: no pod replaced, no ReplicaSet created, each Rollout at the same
phase, step and weights. A promote under rolloutd then goes on as Argo went on. And back:
rolloutd is stopped, Argo's CRDs and controller return, and Argo takes over rolloutd's
Rollouts (one of them moved on by rolloutd) with no pod replaced and no ReplicaSet created.

`ROLLOUTD_ARGO_HOME` / `ROLLOUTD_ARGO_PORT` choose the instance (default
`~/.local/state/rolloutd/argo-sandbox`, port 17543, 17544-17545 for etcd). Skipped without Go.
"""

from __future__ import annotations

import asyncio
import copy
import os
import re
import shutil
import sys
import urllib.request
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from bench.peers.argo import ArgoController, ArgoUnavailable, crd_documents, ensure_controller
from bench.peers.argo_daemon import apply_crds, rolloutd_crds
from rolloutd.kube.client import ApiError, KubeClient
from rolloutd.kube.resources import NAMESPACES, PODS, REPLICA_SETS, ROLLOUTS, SERVICES
from rolloutd_dev.sandbox.cluster import Sandbox
from tests.e2e.harness import (
    VIRTUAL_SERVICES,
    Daemon,
    eventually,
    promote,
    route_weights,
    sample,
    set_image,
)

pytestmark = pytest.mark.skipif(
    shutil.which("go") is None,
    reason="`go` is not on PATH: Argo Rollouts' controller is built from its Go module",
)

JsonDict = dict[str, Any]
STEPS: list[JsonDict] = [
    {"setWeight": 20},
    {"pause": {}},
    {"setWeight": 40},
    {"pause": {}},
    {"setWeight": 60},
    {"pause": {}},
]
BLUE, YELLOW = "argoproj/rollouts-demo:blue", "argoproj/rollouts-demo:yellow"


@dataclass(frozen=True)
class Case:
    name: str
    replicas: int
    routed: bool  # Istio VirtualService
    services: bool  # canary and stable Services
    step: int  # where Argo leaves it: len(STEPS) is Healthy
    phase: str


CASES: list[Case] = (
    [Case(f"healthy-{i}", 2, False, False, len(STEPS), "Healthy") for i in range(6)]
    + [Case(f"healthy-vs-{i}", 3, True, True, len(STEPS), "Healthy") for i in range(2)]
    + [Case(f"vs20-{i}", 5, True, True, 1, "Paused") for i in range(4)]
    + [Case(f"vs40-{i}", 5, True, True, 3, "Paused") for i in range(4)]
    + [Case(f"svc20-{i}", 5, False, True, 1, "Paused") for i in range(4)]
)
MOVED = "vs20-0"
"""Promoted under rolloutd (20% -> 40%) before Argo takes it back."""
STARTED = "healthy-vs-1"
"""Given a new image under rolloutd: a ReplicaSet of rolloutd's making, paused at 20%."""


def argo_home() -> Path:
    root = os.environ.get("ROLLOUTD_ARGO_HOME")
    if root:
        return Path(root)
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "rolloutd" / "argo-sandbox"


def progress(message: str) -> None:
    print(f"argo migration: {message}", file=sys.stderr, flush=True)


@pytest.fixture(scope="module")
def argo_binary() -> Path:
    try:
        return ensure_controller(progress)
    except ArgoUnavailable as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def argo_cluster(argo_binary: Path) -> Iterator[Sandbox]:
    """The migration test's own sandbox instance; stopped at the end unless it was up."""
    if os.environ.get("ROLLOUTD_SKIP_SANDBOX"):
        pytest.skip("ROLLOUTD_SKIP_SANDBOX is set: tests on a real cluster are skipped")
    cluster = Sandbox(home=argo_home(), port=int(os.environ.get("ROLLOUTD_ARGO_PORT", "17543")))
    was_up = cluster.status().up
    cluster.up(progress)
    yield cluster
    if not was_up:
        cluster.down(progress)


@pytest_asyncio.fixture(loop_scope="session")
async def argo_kube(argo_cluster: Sandbox) -> AsyncIterator[tuple[KubeClient, str]]:
    """A client of the instance and a fresh namespace on it."""
    kube = await KubeClient.connect(kubeconfig=str(argo_cluster.kubeconfig))
    ns = f"argo-migration-{uuid.uuid4().hex[:6]}"
    await kube.create(
        NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}
    )
    try:
        yield kube, ns
    finally:
        try:
            await kube.delete(NAMESPACES, ns)
        except ApiError as exc:
            if not exc.not_found:
                raise
        await kube.close()


def rollout(case: Case) -> JsonDict:
    tpl: JsonDict = copy.deepcopy(sample("rollout")[0]["spec"]["template"])
    tpl["metadata"]["labels"]["app"] = case.name
    canary: JsonDict = {"steps": STEPS}
    if case.services:
        canary.update(canaryService=f"{case.name}-canary", stableService=f"{case.name}-stable")
    if case.routed:
        canary["trafficRouting"] = {
            "istio": {"virtualServices": [{"name": f"{case.name}-vsvc", "routes": ["primary"]}]}
        }
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": case.name},
        "spec": {
            "replicas": case.replicas,
            "strategy": {"canary": canary},
            "revisionHistoryLimit": 2,
            "selector": {"matchLabels": {"app": case.name}},
            "template": tpl,
        },
    }


async def create_objects(kube: KubeClient, ns: str) -> None:
    for case in CASES:
        if case.services:
            for role in ("stable", "canary"):
                svc: JsonDict = copy.deepcopy(sample("services")[0])
                svc["metadata"] = {"name": f"{case.name}-{role}"}
                svc["spec"]["selector"] = {"app": case.name}
                await kube.create(SERVICES, svc, namespace=ns)
        if case.routed:
            vs: JsonDict = copy.deepcopy(sample("virtual-service")[0])
            vs["metadata"] = {"name": f"{case.name}-vsvc"}
            vs["spec"].pop("tls", None)
            vs["spec"]["http"][0]["route"] = [
                {"destination": {"host": f"{case.name}-stable"}, "weight": 100},
                {"destination": {"host": f"{case.name}-canary"}, "weight": 0},
            ]
            await kube.create(VIRTUAL_SERVICES, vs, namespace=ns)
        await kube.create(ROLLOUTS, rollout(case), namespace=ns)


@dataclass
class World:
    sets: set[str]
    pods: set[str]
    weights: dict[str, dict[str, int]]
    rollouts: dict[str, JsonDict]

    def state(self, name: str) -> tuple[str, int | None, list[str]]:
        status = self.rollouts[name].get("status") or {}
        reasons = [c.get("reason", "") for c in status.get("pauseConditions") or []]
        return str(status.get("phase")), status.get("currentStepIndex"), reasons

    def weight(self, name: str) -> str:
        w = self.weights.get(f"{name}-vsvc")
        return f"{w.get(f'{name}-stable')}/{w.get(f'{name}-canary')}" if w else "-"


async def world(kube: KubeClient, ns: str) -> World:
    sets = {rs["metadata"]["name"] for rs in (await kube.list(REPLICA_SETS, namespace=ns))["items"]}
    pods = {p["metadata"]["uid"] for p in (await kube.list(PODS, namespace=ns))["items"]}
    weights = {
        vs["metadata"]["name"]: route_weights(vs)
        for vs in (await kube.list(VIRTUAL_SERVICES, namespace=ns))["items"]
    }
    rollouts = {
        r["metadata"]["name"]: r for r in (await kube.list(ROLLOUTS, namespace=ns))["items"]
    }
    return World(sets, pods, weights, rollouts)


async def settled(kube: KubeClient, ns: str, want: dict[str, tuple[str, int]]) -> bool:
    """Every Rollout at its (phase, step), observed, and every ReplicaSet's pods ready."""
    now = await world(kube, ns)
    for name, (phase, step) in want.items():
        ro = now.rollouts.get(name) or {}
        status = ro.get("status") or {}
        if (status.get("phase"), status.get("currentStepIndex")) != (phase, step):
            return False
        if str(status.get("observedGeneration")) != str(ro["metadata"]["generation"]):
            return False
    sets = (await kube.list(REPLICA_SETS, namespace=ns))["items"]
    return all(
        (rs.get("status") or {}).get("readyReplicas", 0) == rs["spec"]["replicas"] for rs in sets
    )


async def rolloutd_reconciles(daemon: Daemon) -> int:
    urls = re.findall(r'"metrics": "([^"]+)"', daemon.log_path.read_text(errors="replace"))
    if not urls:
        return 0

    def scrape() -> str:
        with urllib.request.urlopen(urls[0], timeout=5) as response:
            return str(response.read().decode())

    try:
        text = await asyncio.to_thread(scrape)
    except OSError:
        return 0
    found = re.search(r"^rolloutd_reconcile_duration_seconds_count (\S+)$", text, re.M)
    return int(float(found.group(1))) if found else 0


def table(*worlds: World) -> str:
    """One line per Rollout: phase@step and VirtualService weights (stable/canary) in each
    world: left by Argo, taken over by rolloutd, after rolloutd's moves, taken back by Argo."""
    heads = ("Argo", "rolloutd", "rolloutd moved", "Argo again")
    lines = [f"{'rollout':<13} " + " ".join(f"{h:<22}" for h in heads)]
    for case in CASES:
        cells = []
        for w in worlds:
            phase, step, _ = w.state(case.name)
            cells.append(f"{phase}@{step} {w.weight(case.name)}")
        lines.append(f"{case.name:<13} " + " ".join(f"{c:<22}" for c in cells))
    return "\n".join(lines)


async def test_migration_both_ways_with_argos_controller(
    argo_binary: Path,
    argo_cluster: Sandbox,
    argo_kube: tuple[KubeClient, str],
    tmp_path: Path,
) -> None:
    kube, ns = argo_kube
    kubeconfig = str(argo_cluster.kubeconfig)
    argo_crds = crd_documents()
    want = {c.name: ("Healthy", len(STEPS)) for c in CASES}

    # -- Argo runs the Rollouts into their states ---------------------------------------------
    await apply_crds(kube, argo_crds)
    await create_objects(kube, ns)
    argo = ArgoController(argo_binary, kubeconfig, tmp_path / "argo-1.log", namespace=ns)
    argo.start()
    try:
        await eventually(lambda: settled(kube, ns, want), "Argo: 20 Rollouts Healthy", 90, 0.5)
        for case in CASES:
            if case.phase == "Paused":
                await set_image(kube, ns, YELLOW, case.name)
                want[case.name] = ("Paused", 1)
        await eventually(lambda: settled(kube, ns, want), "Argo: paused at 20%", 90, 0.5)
        for case in CASES:
            if case.step == 3:
                await promote(kube, ns, case.name)
                want[case.name] = ("Paused", 3)
        await eventually(lambda: settled(kube, ns, want), "Argo: paused at 40%", 90, 0.5)
    finally:
        code = argo.stop()
    assert code in (0, -15), argo.logs()
    by_argo = await world(kube, ns)
    for case in CASES:
        assert by_argo.state(case.name)[:2] == (case.phase, case.step), case.name

    # -- rolloutd takes over ------------------------------------------------------------------
    await apply_crds(kube, rolloutd_crds())
    daemon = Daemon(kubeconfig, ns, tmp_path)
    daemon.start()
    try:

        async def all_reconciled() -> bool:
            assert daemon.alive(), daemon.logs()
            return await rolloutd_reconciles(daemon) >= len(CASES)

        await eventually(all_reconciled, "rolloutd to reconcile the 20 Rollouts", 60, 0.5)
        await eventually(lambda: settled(kube, ns, want), "rolloutd: same states", 30, 0.5)
        # A few more passes (resyncs, the events of its own status writes) before judging.
        await asyncio.sleep(3)
        by_rolloutd = await world(kube, ns)

        # A promote goes on as Argo went on from 20%: step 3 at 40%, no ReplicaSet created.
        await promote(kube, ns, MOVED)
        want[MOVED] = ("Paused", 3)
        # And a new revision, for Argo to take back a ReplicaSet rolloutd made.
        await set_image(kube, ns, YELLOW, STARTED)
        want[STARTED] = ("Paused", 1)
        await eventually(lambda: settled(kube, ns, want), "rolloutd: promoted, started", 60, 0.5)
        moved = await world(kube, ns)
    finally:
        code = daemon.stop()
    assert code in (0, -15), daemon.logs()

    # -- and back to Argo -----------------------------------------------------------------------
    await apply_crds(kube, argo_crds)
    argo = ArgoController(argo_binary, kubeconfig, tmp_path / "argo-2.log", namespace=ns)
    argo.start()
    try:

        async def argo_reconciled() -> bool:
            assert argo.alive(), argo.logs()
            done = argo.reconciles()
            return all(done.get((ns, c.name), 0) >= 1 for c in CASES)

        await eventually(argo_reconciled, "Argo to reconcile the 20 Rollouts again", 60, 0.5)
        await eventually(lambda: settled(kube, ns, want), "Argo again: same states", 30, 0.5)
        await asyncio.sleep(3)
        back = await world(kube, ns)
    finally:
        code = argo.stop()
    assert code in (0, -15), argo.logs()

    figures = (
        f"Argo -> rolloutd: pods replaced {len(by_argo.pods - by_rolloutd.pods)}, "
        f"ReplicaSets created {len(by_rolloutd.sets - by_argo.sets)}; "
        f"promote of {MOVED} and new image of {STARTED} under rolloutd: pods replaced "
        f"{len(by_rolloutd.pods - moved.pods)}, "
        f"pods added {len(moved.pods - by_rolloutd.pods)}, "
        f"ReplicaSets created {len(moved.sets - by_rolloutd.sets)} ({STARTED}'s new revision); "
        f"rolloutd -> Argo: pods replaced {len(moved.pods - back.pods)}, "
        f"ReplicaSets created {len(back.sets - moved.sets)}, "
        f"Rollout status patches {argo.status_patches()}"
    )
    print(f"\nmigration with Argo Rollouts {argo_binary.parent.name}: {figures}")
    print(table(by_argo, by_rolloutd, moved, back))

    # Argo -> rolloutd: nothing replaced or created, every state and weight kept.
    assert by_rolloutd.pods == by_argo.pods
    assert by_rolloutd.sets == by_argo.sets
    assert by_rolloutd.weights == by_argo.weights
    for case in CASES:
        assert by_rolloutd.state(case.name) == by_argo.state(case.name), case.name
    # rolloutd's promote: what Argo did for the vs40 ones; its new revision: what Argo did for
    # the vs20 ones, on one ReplicaSet named `<rollout>-<hash>` as Argo names them.
    assert by_rolloutd.pods <= moved.pods
    assert moved.weights[f"{MOVED}-vsvc"] == {f"{MOVED}-stable": 60, f"{MOVED}-canary": 40}
    assert moved.state(MOVED) == by_argo.state("vs40-0")
    assert moved.weights[f"{STARTED}-vsvc"] == {f"{STARTED}-stable": 80, f"{STARTED}-canary": 20}
    assert moved.state(STARTED) == by_argo.state("vs20-1")
    new_hash = moved.rollouts[STARTED]["status"]["currentPodHash"]
    assert moved.sets - by_rolloutd.sets == {f"{STARTED}-{new_hash}"}
    # 40% of 5 is 2 canary pods (1 was there); 20% of 3 is 1.
    assert len(moved.pods - by_rolloutd.pods) == 2
    # rolloutd -> Argo: nothing replaced or created, every state and weight kept.
    assert back.pods == moved.pods
    assert back.sets == moved.sets
    assert back.weights == moved.weights
    for case in CASES:
        assert back.state(case.name) == moved.state(case.name), case.name
