"""The daemon watches its ConfigMap: a bad version is reported and ignored, the log level
changes live, and a router change is reported as needing a restart. The daemon keeps
reconciling with the last good configuration throughout."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from rolloutd.kube.client import ApiError, KubeClient
from rolloutd.kube.resources import CONFIG_MAPS, EVENTS
from rolloutd_dev.sandbox.cluster import Status
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

JsonDict = dict[str, Any]
GOOD = """\
logLevel: info
workers: 4
routers:
  istio: {enabled: true, apiVersion: v1alpha3}
"""
STEPS: list[JsonDict] = [{"setWeight": 20}, {"pause": {}}]


async def write_config(kube: KubeClient, namespace: str, text: str) -> None:
    body: JsonDict = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "rolloutd-config", "namespace": namespace},
        "data": {"config.yaml": text},
    }
    try:
        current = await kube.get(CONFIG_MAPS, "rolloutd-config", namespace=namespace)
    except ApiError as exc:
        if not exc.not_found:
            raise
        await kube.create(CONFIG_MAPS, body, namespace=namespace)
        return
    body["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
    await kube.replace(CONFIG_MAPS, "rolloutd-config", body, namespace=namespace)


async def config_events(kube: KubeClient, namespace: str) -> list[JsonDict]:
    found = await kube.list(
        EVENTS, namespace=namespace, field_selector="involvedObject.name=rolloutd-config"
    )
    items: list[JsonDict] = found["items"]
    return items


def logged(daemon: Rolloutd, event: str) -> list[JsonDict]:
    return [line for line in daemon.log() if line.get("event") == event]


async def until_metric(daemon: Rolloutd, name: str, want: float) -> None:
    async def check() -> bool:
        return await daemon.sample(name) == want

    await eventually(check, f"{name} == {want}", timeout=30)


async def test_a_bad_config_is_reported_and_the_last_good_one_stays(
    sandbox: Status, kube: KubeClient, namespace: str, tmp_path: Path
) -> None:
    ns, iid = namespace, new_instance_id()
    await write_config(kube, ns, GOOD)
    daemon = Rolloutd(sandbox, ns, tmp_path, instance_id=iid).start()
    try:
        await daemon.wait_ready()
        assert await daemon.sample("rolloutd_config_valid") == 1
        await apply_seed(kube, ns, instance_id=iid, steps=STEPS)
        await wait_phase(kube, ns, "Healthy")

        # A bad value (and a log level that would be valid on its own): all of it is refused.
        await write_config(kube, ns, GOOD.replace("workers: 4", "workers: 0").replace(
            "logLevel: info", "logLevel: debug"))  # fmt: skip
        await until_metric(daemon, "rolloutd_config_valid", 0)

        status, ready = await daemon.probe("/readyz")
        assert status == 200, ready  # still ready: it runs on with the last good config
        assert ready["config"]["valid"] is False
        assert any("data.config.yaml.workers" in e for e in ready["config"]["errors"]), ready

        async def warned() -> bool:
            return any(e["reason"] == "InvalidConfig" for e in await config_events(kube, ns))

        await eventually(warned, "a Warning event on the ConfigMap", timeout=30)
        [event] = [e for e in await config_events(kube, ns) if e["reason"] == "InvalidConfig"]
        assert event["type"] == "Warning"
        assert event["involvedObject"]["kind"] == "ConfigMap"
        assert "data.config.yaml.workers" in event["message"]
        [line] = logged(daemon, "bad configuration ignored; the last good one stays in force")
        assert line["level"] == "error"
        assert any("workers" in e for e in line["errors"])
        assert logged(daemon, "log level changed") == []  # nothing of it was applied

        # Nothing else changed: the daemon still runs the canary with what it had.
        await set_image(kube, ns, "argoproj/rollouts-demo:yellow")
        await wait_phase(kube, ns, "Paused", step=1)
        vs = await kube.get(VIRTUAL_SERVICES, "rollouts-demo-vsvc", namespace=ns)
        assert canary_weight(vs) == 20
        assert daemon.alive()

        # Fixed, with a new log level: valid again, and the level applies without a restart.
        await write_config(kube, ns, GOOD.replace("logLevel: info", "logLevel: debug"))
        await until_metric(daemon, "rolloutd_config_valid", 1)
        assert logged(daemon, "configuration is valid again")
        [change] = logged(daemon, "log level changed")
        assert (change["old"], change["new"]) == ("info", "debug")
        assert (await daemon.probe("/readyz"))[1]["config"]["errors"] == []

        # A router setting needs a restart: reported, not applied.
        await write_config(kube, ns, GOOD.replace("v1alpha3", "v1beta1"))
        await until_metric(daemon, "rolloutd_config_restart_pending", 1)
        assert (await daemon.probe("/readyz"))[1]["config"]["restartPending"] == ["routers"]
        [note] = logged(
            daemon, "configuration changed; restart rolloutd to apply it (needs restart)"
        )
        assert note["fields"] == ["routers"]
        assert await daemon.sample("rolloutd_config_valid") == 1
    finally:
        code = await daemon.stop()
    assert code == 0, daemon.log_tail()


async def test_a_bad_config_at_start_means_defaults_and_is_reported(
    sandbox: Status, kube: KubeClient, namespace: str, tmp_path: Path
) -> None:
    await write_config(kube, namespace, "logLevel: [unclosed")
    daemon = Rolloutd(sandbox, namespace, tmp_path, instance_id=new_instance_id()).start()
    try:
        detail = await daemon.wait_ready()
        assert detail["config"]["valid"] is False
        [error] = detail["config"]["errors"]
        assert error.startswith("data.config.yaml: not valid YAML"), error
        assert await daemon.sample("rolloutd_config_valid") == 0

        async def warned() -> bool:
            return any(e["reason"] == "InvalidConfig" for e in await config_events(kube, namespace))

        await eventually(warned, "a Warning event on the ConfigMap", timeout=30)
        # Reported once, even though the watch delivered the same object again at start.
        [event] = await config_events(kube, namespace)
        assert event.get("count", 1) == 1
    finally:
        assert await daemon.stop() == 0, daemon.log_tail()
