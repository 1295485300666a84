"""Random SIGKILLs of the daemon over canary rollouts (>= 50 in the CI subset): every revision
finishes, every setWeight is seen in order, no weight above what the canary's available pods
carry, no step reversed. Blue-green is not implemented in rolloutd yet, so only canaries."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest

from rolloutd.kube.client import KubeClient
from rolloutd_dev.sandbox.cluster import Status
from tests.chaos.conftest import FULL
from tests.chaos.kit import (
    COLOURS,
    Steps,
    Tally,
    apply_fast_seed,
    finish_revision,
    healthy,
    set_image,
)
from tests.e2e.harness import Monitor, eventually
from tests.integration.test_metrics_daemon import Rolloutd

pytestmark = [pytest.mark.sandbox, pytest.mark.chaos]

KILLS = 200 if FULL else 50
REVISIONS = 10 if FULL else 4
SEED = 11  # the kill times are random but the same on every run, so a failure reproduces


async def test_random_sigkills_over_canary_rollouts(
    chaos_sandbox: Status, chaos_kube: KubeClient, chaos_namespace: str, tmp_path: Path
) -> None:
    kube, ns, rng, tally = chaos_kube, chaos_namespace, random.Random(SEED), Tally()
    daemon = Rolloutd(chaos_sandbox, ns, tmp_path, "--log-level", "debug").start()
    per_revision = -(-KILLS // REVISIONS)
    try:
        async with Monitor(kube, ns) as monitor, Steps(kube, ns) as steps:
            await apply_fast_seed(kube, ns)

            async def first() -> bool:
                return await healthy(kube, ns)

            await eventually(first, "the first revision to be Healthy", timeout=120)
            for revision in range(REVISIONS):
                image = f"argoproj/rollouts-demo:{COLOURS[revision % len(COLOURS)]}-{revision}"
                since = len(monitor.weights)
                await set_image(kube, ns, image)
                for _ in range(per_revision):
                    if tally.kills >= KILLS:
                        break
                    # From just after start (mid-initialisation) to well into reconciling.
                    await asyncio.sleep(rng.uniform(0.2, 3.0))
                    daemon.kill()
                    tally.kills += 1
                    await asyncio.sleep(rng.uniform(0.0, 0.5))
                    daemon.start()
                await finish_revision(
                    kube, ns, monitor, steps, tally, image=image, since=since,
                    logs=daemon.log_tail,
                )  # fmt: skip
        assert daemon.alive(), daemon.log_tail()
    finally:
        print(tally.line("sigkill"))
        code = await daemon.stop()
    assert code == 0, daemon.log_tail()
    assert tally.kills >= KILLS and tally.stalls == 0
