"""Hostile ConfigMaps cannot kill the daemon (issue 11, points 4 and 7): a 5,000-level nested
document at start and live, lax types, unknown router names. The daemon stays up, says what is
wrong, and keeps reconciling with the configuration it had."""

from __future__ import annotations

from pathlib import Path

import pytest

from rolloutd.kube.client import KubeClient
from rolloutd_dev.sandbox.cluster import Status
from tests.integration.test_config_reload import (
    GOOD,
    STEPS,
    config_events,
    logged,
    until_metric,
    write_config,
)
from tests.integration.test_metrics_daemon import (
    VIRTUAL_SERVICES,
    Rolloutd,
    apply_seed,
    canary_weight,
    eventually,
    new_instance_id,
    set_image,
    wait_phase,
)

pytestmark = pytest.mark.sandbox

DEEP = "logLevel: " + "[" * 5000 + "]" * 5000  # about 10 KB; RecursionError in PyYAML


async def test_a_deeply_nested_config_at_start_and_live_does_not_kill_the_daemon(
    sandbox: Status, kube: KubeClient, namespace: str, tmp_path: Path
) -> None:
    ns, iid = namespace, new_instance_id()
    await write_config(kube, ns, DEEP)
    daemon = Rolloutd(sandbox, ns, tmp_path, instance_id=iid).start()
    try:
        # At start: defaults, said so, and no crash loop.
        detail = await daemon.wait_ready()
        [error] = detail["config"]["errors"]
        assert "nested more than 32 levels deep" in error, error
        assert await daemon.sample("rolloutd_config_valid") == 0
        [line] = logged(daemon, "bad configuration; using defaults")
        assert line["level"] == "error"

        # Fixed, then broken again while running: the last good config stays in force.
        await write_config(kube, ns, GOOD)
        await until_metric(daemon, "rolloutd_config_valid", 1)
        await write_config(kube, ns, DEEP.replace("logLevel", "workers"))
        await until_metric(daemon, "rolloutd_config_valid", 0)

        async def warned() -> bool:
            return any(
                e["reason"] == "InvalidConfig" and "levels deep" in e["message"]
                for e in await config_events(kube, ns)
            )

        await eventually(warned, "a Warning event naming the depth", timeout=30)
        assert logged(daemon, "bad configuration ignored; the last good one stays in force")

        # And it still reconciles.
        await apply_seed(kube, ns, instance_id=iid, steps=STEPS)
        await wait_phase(kube, ns, "Healthy")
        await set_image(kube, ns, "argoproj/rollouts-demo:yellow")
        await wait_phase(kube, ns, "Paused", step=1)
        vs = await kube.get(VIRTUAL_SERVICES, "rollouts-demo-vsvc", namespace=ns)
        assert canary_weight(vs) == 20
        assert daemon.alive()
        assert (await daemon.probe("/healthz"))[0] == 200
    finally:
        code = await daemon.stop()
    assert code == 0, daemon.log_tail()


async def test_lax_types_are_refused_and_unknown_routers_reported(
    sandbox: Status, kube: KubeClient, namespace: str, tmp_path: Path
) -> None:
    ns = namespace
    await write_config(kube, ns, GOOD.replace("workers: 4", "workers: true"))
    daemon = Rolloutd(sandbox, ns, tmp_path, instance_id=new_instance_id()).start()
    try:
        detail = await daemon.wait_ready()
        assert detail["config"]["valid"] is False
        [error] = detail["config"]["errors"]
        assert error.startswith("data.config.yaml.workers: "), error

        typo = GOOD + "  istoi: {enabled: true}\n"
        await write_config(kube, ns, typo)
        await until_metric(daemon, "rolloutd_config_valid", 1)
        ready = (await daemon.probe("/readyz"))[1]
        [warning] = ready["config"]["warnings"]
        assert "unknown router(s) istoi" in warning, warning
        [line] = logged(
            daemon,
            "configuration names routers that are not installed; their settings are unused",
        )
        assert line["unknown"] == ["istoi"] and "istio" in line["installed"]
    finally:
        code = await daemon.stop()
    assert code == 0, daemon.log_tail()
