"""Random SIGKILLs of the daemon over blue-green rollouts (>= 12 in the CI subset).

Each revision is previewed, paused for a person (`autoPromotionEnabled: false`), promoted and
its predecessor scaled down after a 2 s delay, with the daemon SIGKILLed and restarted at random
instants throughout, including around the promotion (where the switch happens). At the end:
every revision became stable and active in order (none skipped, none reversed); before each
promote the rollout had stopped at `BlueGreenPause` with active still on the old version (the
pause was not skipped); and the `SwitchMonitor` saw no switch to a ReplicaSet with pods missing
and no moment where the ReplicaSet active selected was below full size or had unavailable pods.
"""

from __future__ import annotations

import asyncio
import random
from pathlib import Path
from typing import Any

import pytest

from rolloutd.kube.client import KubeClient
from rolloutd.kube.resources import ROLLOUTS
from rolloutd.model import rollout as rollout_model
from rolloutd_dev.sandbox.cluster import Status
from tests.chaos.conftest import FULL
from tests.e2e.bluegreen_kit import SwitchMonitor, apply, revisions, selectors, update_image
from tests.e2e.harness import eventually, promote
from tests.integration.test_metrics_daemon import Rolloutd

# Until the blue-green planner is merged, rolloutd holds every blue-green Rollout (InvalidSpec);
# these scenarios then have nothing to run against. The hold's message constant goes with it.
HELD = hasattr(rollout_model, "BLUE_GREEN_UNSUPPORTED")

pytestmark = [
    pytest.mark.sandbox,
    pytest.mark.chaos,
    pytest.mark.skipif(HELD, reason="rolloutd still holds blue-green Rollouts"),
]

KILLS = 40 if FULL else 12
REVISIONS = 4 if FULL else 3  # within the Rollout's revisionHistoryLimit (5)
REPLICAS = 3
SEED = 13  # the kill times are random but the same on every run, so a failure reproduces
NAME = "bg-chaos"


async def test_random_sigkills_over_blue_green_rollouts(
    chaos_sandbox: Status, chaos_kube: KubeClient, chaos_namespace: str, tmp_path: Path
) -> None:
    kube, ns, rng = chaos_kube, chaos_namespace, random.Random(SEED)
    daemon = Rolloutd(chaos_sandbox, ns, tmp_path, "--log-level", "debug").start()
    kills = 0
    per_revision = -(-KILLS // REVISIONS)

    async def kill_at_random(times: int) -> None:
        nonlocal kills
        for _ in range(times):
            # From just after start (mid-initialisation) to well into reconciling.
            await asyncio.sleep(rng.uniform(0.2, 2.5))
            daemon.kill()
            kills += 1
            await asyncio.sleep(rng.uniform(0.0, 0.5))
            daemon.start()

    async def status() -> dict[str, Any]:
        ro = await kube.get(ROLLOUTS, NAME, namespace=ns)
        st: dict[str, Any] = ro.get("status") or {}
        st["_observed"] = str(st.get("observedGeneration")) == str(ro["metadata"]["generation"])
        return st

    try:
        async with SwitchMonitor(kube, ns, NAME, REPLICAS) as monitor:
            await apply(
                kube, ns, NAME, replicas=REPLICAS, autoPromotionEnabled=False,
                scaleDownDelaySeconds=2,
            )  # fmt: skip

            async def first() -> bool:
                st = await status()
                return bool(st["_observed"]) and st.get("phase") == "Healthy"

            await eventually(first, "the first revision to be Healthy", timeout=120)
            for revision in range(2, REVISIONS + 2):
                await update_image(kube, ns, NAME, f"argoproj/rollouts-demo:blue-{revision}")
                await kill_at_random(per_revision // 2)

                async def paused() -> bool:
                    st = await status()
                    reasons = [c.get("reason") for c in st.get("pauseConditions") or []]
                    return bool(st["_observed"]) and reasons == ["BlueGreenPause"]

                await eventually(paused, f"revision {revision} to pause", timeout=120)
                sets = await revisions(kube, ns, NAME)
                old, new = sets[revision - 1]["hash"], sets[revision]["hash"]
                # The pause was not skipped: active is still on the previous revision.
                assert await selectors(kube, ns, NAME) == (old, new), daemon.log_tail()
                await promote(kube, ns, NAME)
                await kill_at_random(per_revision - per_revision // 2)

                async def done(new: str = new, revision: int = revision) -> bool:
                    st = await status()
                    sets = await revisions(kube, ns, NAME)
                    return (
                        bool(st["_observed"])
                        and st.get("phase") == "Healthy"
                        and st.get("stableRS") == new
                        and all(s["spec"] == 0 for r, s in sets.items() if r != revision)
                    )

                await eventually(done, f"revision {revision} Healthy, the rest scaled down", 120)
                assert await selectors(kube, ns, NAME) == (new, new)
            hashes = {r: s["hash"] for r, s in (await revisions(kube, ns, NAME)).items()}
        assert monitor.violations == [], daemon.log_tail()
        # Each revision became active once, in order: nothing skipped, nothing reversed.
        assert monitor.active == [hashes[r] for r in range(1, REVISIONS + 2)]
        assert daemon.alive(), daemon.log_tail()
    finally:
        print(f"blue-green sigkill: {kills} kills over {REVISIONS} revisions")
        code = await daemon.stop()
    assert code == 0, daemon.log_tail()
    assert kills >= KILLS
