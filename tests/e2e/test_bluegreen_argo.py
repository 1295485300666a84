"""Argo's blue-green end-to-end tests, replayed on the sandbox against the daemon (issue 13).

Each test names the test of argoproj/argo-rollouts `test/e2e/bluegreen_test.go` or
`functional_test.go` it follows, with its manifest shape (an active Service, a preview Service,
`spec.strategy.blueGreen`) and its assertions on pods per revision, replica counts, Service
selectors and phases. Promote, abort and retry go through the CLI as a process, the way a user
types them. Throughout, a `SwitchMonitor` checks that the active Service only ever switched to
a ReplicaSet whose pods were all available, and records the hashes it selected in order.

Delays are short (1-2 s) where the test waits them out, and long (30 s, a day) where the test
looks at the moment before they pass, so no assertion depends on how fast the machine is.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from rolloutd.kube.client import KubeClient
from rolloutd.kube.resources import EVENTS, ROLLOUTS
from rolloutd.model import rollout as rollout_model
from rolloutd_dev.sandbox.cluster import Status
from tests.e2e.bluegreen_kit import (
    GREEN,
    RED,
    YELLOW,
    JsonDict,
    SwitchMonitor,
    apply,
    patch_blue_green,
    replica_counts,
    revision_pods,
    revisions,
    selectors,
    update_image,
    wait_revision_pods,
    wait_status,
)
from tests.e2e.harness import Daemon, eventually, promote

BIN = Path(sys.executable).parent

# Until the blue-green planner is merged, rolloutd holds every blue-green Rollout (InvalidSpec);
# these scenarios then have nothing to run against. The hold's message constant goes with it.
HELD = hasattr(rollout_model, "BLUE_GREEN_UNSUPPORTED")
pytestmark = pytest.mark.skipif(HELD, reason="rolloutd still holds blue-green Rollouts")


async def cli(sandbox: Status, ns: str, *args: str) -> str:
    """`kubectl argo rollouts <args> -n <ns>`, as its own process; fails on a non-zero exit."""
    proc = await asyncio.create_subprocess_exec(
        str(BIN / "kubectl-argo-rollouts"),
        *args,
        "-n",
        ns,
        env={**os.environ, "KUBECONFIG": str(sandbox.kubeconfig), "NO_COLOR": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    out, _ = await proc.communicate()
    text = out.decode()
    assert proc.returncode == 0, f"kubectl argo rollouts {' '.join(args)} failed:\n{text}"
    return text


@asynccontextmanager
async def watched(
    kube: KubeClient, ns: str, name: str, replicas: int
) -> AsyncIterator[SwitchMonitor]:
    monitor = SwitchMonitor(kube, ns, name, replicas)
    async with monitor:
        yield monitor
    assert monitor.violations == []


async def hashes(kube: KubeClient, ns: str, name: str) -> dict[int, str]:
    return {rev: s["hash"] for rev, s in (await revisions(kube, ns, name)).items()}


async def events(kube: KubeClient, ns: str, name: str) -> list[JsonDict]:
    items = (await kube.list(EVENTS, namespace=ns)).get("items") or []
    mine = [e for e in items if (e.get("involvedObject") or {}).get("name") == name]
    # Event times are to the second; the store's revision orders them within one.
    return sorted(mine, key=lambda e: int(e["metadata"]["resourceVersion"]))


def when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def test_promote_switches_active_after_a_manual_pause(
    kube: KubeClient, sandbox: Status, namespace: str, daemon: Daemon
) -> None:
    """TestBlueGreenUpdate with a preview Service and `autoPromotionEnabled: false` (the
    TestGetBlueGreenRollout state on a live cluster): first deploy completes and switches both
    Services; an update is previewed beside the old version at full size and paused; `promote`
    switches active; the old ReplicaSet goes to 0 after its scale-down delay."""
    ns, name = namespace, "bg-promote"
    async with watched(kube, ns, name, 2) as monitor:
        await apply(kube, ns, name, replicas=2, autoPromotionEnabled=False, scaleDownDelaySeconds=2)
        ro = await wait_status(kube, ns, name, "Healthy")
        h = await hashes(kube, ns, name)
        assert await selectors(kube, ns, name) == (h[1], h[1])
        assert replica_counts(ro) == (2, 2, 2, 2, 2)
        assert ro["status"]["stableRS"] == h[1]
        # Argo's order (TestBlueGreenUpdate): completed ("Initial deploy"), then the active switch.
        seen = [
            e["reason"] if e["reason"] != "SwitchService" else e["message"].split("'")[1]
            for e in await events(kube, ns, name)
        ]
        assert seen.index("RolloutCompleted") < seen.index(f"{name}-active"), seen

        await update_image(kube, ns, name, GREEN)
        ro = await wait_status(kube, ns, name, "Paused", message="BlueGreenPause")
        h = await hashes(kube, ns, name)
        assert await selectors(kube, ns, name) == (h[1], h[2])
        assert ro["status"]["blueGreen"] == {"activeSelector": h[1], "previewSelector": h[2]}
        assert [c["reason"] for c in ro["status"]["pauseConditions"]] == ["BlueGreenPause"]
        assert ro["status"]["stableRS"] == h[1]
        await wait_revision_pods(kube, ns, name, {1: 2, 2: 2})
        assert replica_counts(await kube.get(ROLLOUTS, name, namespace=ns)) == (2, 4, 2, 2, 2)
        shown = await cli(sandbox, ns, "get", "rollout", name)
        assert "Strategy:        BlueGreen\n" in shown
        assert "Message:         BlueGreenPause\n" in shown
        assert f"{GREEN} (preview)" in shown
        rows = {
            next(tok for tok in line.split() if tok.startswith(f"{name}-")): line
            for line in shown.splitlines()
            if " ReplicaSet " in line
        }
        assert rows[f"{name}-{h[2]}"].endswith("preview")
        assert rows[f"{name}-{h[1]}"].endswith("stable,active")
        assert "Paused - BlueGreenPause" in await cli(sandbox, ns, "status", name, "--watch=false")

        assert "promoted" in await cli(sandbox, ns, "promote", name)
        ro = await wait_status(kube, ns, name, "Healthy")
        assert await selectors(kube, ns, name) == (h[2], h[2])
        assert ro["status"]["stableRS"] == h[2]
        assert not ro["status"].get("pauseConditions")
        await wait_revision_pods(kube, ns, name, {1: 0, 2: 2})
        assert (await cli(sandbox, ns, "status", name, "--watch=false")).strip() == "Healthy"
    assert monitor.active == [h[1], h[2]]
    assert monitor.preview == [h[1], h[2]]


async def test_preview_replica_count(kube: KubeClient, namespace: str, daemon: Daemon) -> None:
    """TestBlueGreenPreviewReplicaCount: while paused the preview has previewReplicaCount pods
    (counts 2/3/1/2/2); after promote it is scaled to full before the switch, and the old
    version stays up inside its delay (2/4/2/2/2)."""
    ns, name = namespace, "bg-preview-count"
    async with watched(kube, ns, name, 2) as monitor:
        await apply(
            kube,
            ns,
            name,
            replicas=2,
            previewReplicaCount=1,
            scaleDownDelaySeconds=30,
            autoPromotionEnabled=False,
        )
        await wait_status(kube, ns, name, "Healthy")
        await update_image(kube, ns, name, GREEN)
        await wait_status(kube, ns, name, "Paused")
        await wait_revision_pods(kube, ns, name, {2: 1, 1: 2})
        assert replica_counts(await kube.get(ROLLOUTS, name, namespace=ns)) == (2, 3, 1, 2, 2)
        await promote(kube, ns, name)
        ro = await wait_status(kube, ns, name, "Healthy")
        assert replica_counts(ro) == (2, 4, 2, 2, 2)
        assert (await revisions(kube, ns, name))[1]["deadline"]
    h = await hashes(kube, ns, name)
    assert monitor.active == [h[1], h[2]]


async def test_preview_replica_count_promote_full(
    kube: KubeClient, sandbox: Status, namespace: str, daemon: Daemon
) -> None:
    """TestBlueGreenPreviewReplicaCountPromoteFull: paused longer than progressDeadlineSeconds
    is not Degraded; `promote --full` skips the pause and reaches Healthy at 2/4/2/2/2."""
    ns, name = namespace, "bg-promote-full"
    async with watched(kube, ns, name, 2):
        await apply(
            kube,
            ns,
            name,
            replicas=2,
            previewReplicaCount=1,
            scaleDownDelaySeconds=30,
            autoPromotionEnabled=False,
        )
        await kube.patch(ROLLOUTS, name, {"spec": {"progressDeadlineSeconds": 1}}, namespace=ns)
        await wait_status(kube, ns, name, "Healthy")
        await update_image(kube, ns, name, GREEN)
        await wait_status(kube, ns, name, "Paused")
        # Past the 1 s deadline, and a reconcile or more later: still Paused, not Degraded.
        await asyncio.sleep(2)
        ro = await wait_status(kube, ns, name, "Paused")
        progressing = next(c for c in ro["status"]["conditions"] if c["type"] == "Progressing")
        assert progressing["reason"] != "ProgressDeadlineExceeded"
        assert "fully promoted" in await cli(sandbox, ns, "promote", name, "--full")
        ro = await wait_status(kube, ns, name, "Healthy")
        assert replica_counts(ro) == (2, 4, 2, 2, 2)
        assert not ro["status"].get("promoteFull")


async def test_abort_then_retry_then_update(
    kube: KubeClient, sandbox: Status, namespace: str, daemon: Daemon
) -> None:
    """TestBlueGreenScaleDownOnAbort, then a retry and TestBlueGreenAbortAndUpdate's update:
    `abort` puts active back on stable (preview stays on the aborted revision), the aborted
    ReplicaSet goes to 0 after abortScaleDownDelaySeconds; `retry` previews it again; a new
    template clears the abort and is promoted."""
    ns, name = namespace, "bg-abort"
    async with watched(kube, ns, name, 2) as monitor:
        await apply(
            kube,
            ns,
            name,
            replicas=2,
            abortScaleDownDelaySeconds=1,
            previewReplicaCount=1,
            scaleDownDelaySeconds=1,
            autoPromotionEnabled=False,
        )
        await wait_status(kube, ns, name, "Healthy")
        await update_image(kube, ns, name, GREEN)
        await wait_status(kube, ns, name, "Paused")
        await wait_revision_pods(kube, ns, name, {2: 1, 1: 2})
        h = await hashes(kube, ns, name)

        assert "aborted" in await cli(sandbox, ns, "abort", name)
        ro = await wait_status(kube, ns, name, "Degraded")
        assert ro["status"]["message"].startswith(
            "RolloutAborted: Rollout aborted update to revision 2"
        )
        assert await selectors(kube, ns, name) == (h[1], h[2])
        await wait_revision_pods(kube, ns, name, {2: 0, 1: 2})

        assert "retried" in await cli(sandbox, ns, "retry", "rollout", name)
        await wait_status(kube, ns, name, "Paused")
        await wait_revision_pods(kube, ns, name, {2: 1, 1: 2})
        assert await selectors(kube, ns, name) == (h[1], h[2])

        await cli(sandbox, ns, "abort", name)
        await wait_status(kube, ns, name, "Degraded")
        await update_image(kube, ns, name, YELLOW)
        ro = await wait_status(kube, ns, name, "Paused")
        assert not ro["status"].get("abort")
        h = await hashes(kube, ns, name)
        assert await selectors(kube, ns, name) == (h[1], h[3])
        await cli(sandbox, ns, "promote", name)
        ro = await wait_status(kube, ns, name, "Healthy")
        assert ro["status"]["stableRS"] == h[3]
        await wait_revision_pods(kube, ns, name, {3: 2, 2: 0, 1: 0})
    # Active went back to revision 1 twice without leaving it, and never served revision 2.
    assert monitor.active == [h[1], h[3]]


async def test_auto_promotion_seconds(kube: KubeClient, namespace: str, daemon: Daemon) -> None:
    """autoPromotionSeconds (TestBlueGreenHandlePause's AutoPromoteAfterDelayTimePasses, and
    TestBlueGreenKitchenSink's "no early promotion"): the rollout pauses with BlueGreenPause,
    then promotes itself once the seconds have passed since the pause began, with no promote."""
    ns, name = namespace, "bg-auto"
    async with watched(kube, ns, name, 1) as monitor:
        await apply(kube, ns, name, replicas=1, autoPromotionSeconds=2, scaleDownDelaySeconds=1)
        await wait_status(kube, ns, name, "Healthy")
        await update_image(kube, ns, name, GREEN)
        paused = await wait_status(kube, ns, name, "Paused", message="BlueGreenPause")
        started = when(paused["status"]["pauseConditions"][0]["startTime"])
        ro = await wait_status(kube, ns, name, "Healthy")
        h = await hashes(kube, ns, name)
        assert ro["status"]["stableRS"] == h[2]
        assert await selectors(kube, ns, name) == (h[2], h[2])
    switches = [
        e
        for e in await events(kube, ns, name)
        if e["reason"] == "SwitchService" and f"-active' from '{h[1]}'" in e["message"]
    ]
    assert len(switches) == 1
    switched = when(switches[0].get("firstTimestamp") or switches[0]["eventTime"])
    # Second-granular times, both floored: the switch cannot read earlier than start + 2 s.
    assert switched >= started + timedelta(seconds=2)
    assert monitor.active == [h[1], h[2]]


async def test_scale_down_delay_and_revision_limit(
    kube: KubeClient, namespace: str, daemon: Daemon
) -> None:
    """TestBlueGreenScaleDownDelay: with a one-day delay and scaleDownDelayRevisionLimit 2 the
    pods of revisions 4/3/2/1 are 1/1/1/0 (counts 1/3/1/1/1); lowering the limit to 1 scales
    revision 2 down at once (1/2/1/1/1)."""
    ns, name = namespace, "bg-delay"
    async with watched(kube, ns, name, 1):
        await apply(
            kube,
            ns,
            name,
            replicas=1,
            preview=False,
            scaleDownDelaySeconds=86400,
            scaleDownDelayRevisionLimit=2,
        )
        await wait_status(kube, ns, name, "Healthy")
        for rev, image in ((2, GREEN), (3, YELLOW), (4, RED)):
            await update_image(kube, ns, name, image)
            ro = await wait_status(kube, ns, name, "Healthy")
            assert ro["status"]["stableRS"] == (await hashes(kube, ns, name))[rev]
            if rev == 2:
                await wait_revision_pods(kube, ns, name, {2: 1, 1: 1})
                assert replica_counts(ro) == (1, 2, 1, 1, 1)
        await wait_revision_pods(kube, ns, name, {4: 1, 3: 1, 2: 1, 1: 0})
        assert replica_counts(await kube.get(ROLLOUTS, name, namespace=ns)) == (1, 3, 1, 1, 1)
        sets = await revisions(kube, ns, name)
        assert sets[3]["deadline"] and sets[2]["deadline"]

        await patch_blue_green(kube, ns, name, {"scaleDownDelayRevisionLimit": 1})
        await wait_revision_pods(kube, ns, name, {4: 1, 3: 1, 2: 0, 1: 0})

        async def counts_settled() -> bool:
            ro = await kube.get(ROLLOUTS, name, namespace=ns)
            return replica_counts(ro) == (1, 2, 1, 1, 1)

        await eventually(counts_settled, "replica counts 1/2/1/1/1")


async def test_new_template_mid_rollout(
    kube: KubeClient, sandbox: Status, namespace: str, daemon: Daemon
) -> None:
    """A new pod template while paused on a preview (Argo's resetRolloutStatus path): preview
    follows the newest ReplicaSet, active stays on stable, the superseded preview is scaled
    down after its delay and is never active; promote then switches to the newest."""
    ns, name = namespace, "bg-mid"
    async with watched(kube, ns, name, 2) as monitor:
        await apply(kube, ns, name, replicas=2, autoPromotionEnabled=False, scaleDownDelaySeconds=1)
        await wait_status(kube, ns, name, "Healthy")
        await update_image(kube, ns, name, GREEN)
        await wait_status(kube, ns, name, "Paused")
        await update_image(kube, ns, name, YELLOW)
        ro = await wait_status(kube, ns, name, "Paused")
        h = await hashes(kube, ns, name)
        assert ro["status"]["currentPodHash"] == h[3]
        assert ro["status"]["stableRS"] == h[1]
        assert await selectors(kube, ns, name) == (h[1], h[3])
        await wait_revision_pods(kube, ns, name, {1: 2, 2: 0, 3: 2})
        assert (await revision_pods(kube, ns, name))[1] == 2
        await cli(sandbox, ns, "promote", name)
        ro = await wait_status(kube, ns, name, "Healthy")
        assert ro["status"]["stableRS"] == h[3]
        assert await selectors(kube, ns, name) == (h[3], h[3])
    assert monitor.active == [h[1], h[3]]
    assert monitor.preview == [h[1], h[2], h[3]]
