"""The Helm chart's RBAC is enough, and no more: a daemon holding only the chart's
ServiceAccount token completes the seed's canary, and is refused Secrets."""

from __future__ import annotations

import asyncio
import base64
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
import yaml

from rolloutd.kube.client import ApiError, KubeClient
from rolloutd.kube.resources import NAMESPACES, SECRETS
from rolloutd_dev.sandbox.cluster import Status
from tests.conftest import REPO, Tools
from tests.e2e.harness import Daemon, apply_seed, promote, set_image, wait_phase

KUBECTL = str(Path(sys.executable).parent / "kubectl")
FAST_STEPS = [{"setWeight": 20}, {"pause": {}}, {"setWeight": 60}, {"pause": {"duration": 1}}]


async def run(*cmd: str) -> str:
    proc = await asyncio.create_subprocess_exec(
        *cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    out, _ = await proc.communicate()
    assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{out.decode()}"
    return out.decode()


@pytest_asyncio.fixture(loop_scope="session")
async def release(
    sandbox: Status, kube: KubeClient, tools: Tools
) -> AsyncIterator[tuple[str, str]]:
    """`helm install` of the chart (Istio router on) in a namespace of its own."""
    suffix = uuid.uuid4().hex[:6]
    name, ns = f"rolloutd-{suffix}", f"rolloutd-system-{suffix}"
    kubeconfig = str(sandbox.kubeconfig)
    await run(
        str(tools.helm),
        "install",
        name,
        str(REPO / "charts" / "rolloutd"),
        "--namespace",
        ns,
        "--create-namespace",
        "--kubeconfig",
        kubeconfig,
        "--set",
        "routers.istio.enabled=true",
        "--set",
        f"fullnameOverride={name}",
    )
    try:
        yield name, ns
    finally:
        await run(str(tools.helm), "uninstall", name, "--namespace", ns, "--kubeconfig", kubeconfig)
        await kube.delete(NAMESPACES, ns)


async def token_kubeconfig(sandbox: Status, account: str, ns: str, path: Path) -> Path:
    """A kubeconfig that authenticates only as the ServiceAccount (a bound token)."""
    admin = yaml.safe_load(sandbox.kubeconfig.read_text())
    token = (
        await run(
            KUBECTL,
            "--kubeconfig",
            str(sandbox.kubeconfig),
            "create",
            "token",
            account,
            "-n",
            ns,
            "--duration",
            "1h",
        )
    ).strip()
    cluster = admin["clusters"][0]["cluster"]
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "sandbox", "cluster": cluster}],
        "users": [{"name": account, "user": {"token": token}}],
        "contexts": [
            {"name": "sa", "context": {"cluster": "sandbox", "user": account, "namespace": ns}}
        ],
        "current-context": "sa",
    }
    path.write_text(yaml.safe_dump(config))
    return path


async def test_chart_service_account_runs_the_canary_and_nothing_more(
    sandbox: Status, kube: KubeClient, namespace: str, release: tuple[str, str], tmp_path: Path
) -> None:
    name, release_ns = release
    kubeconfig = await token_kubeconfig(sandbox, name, release_ns, tmp_path / "sa.kubeconfig")
    assert base64.b64decode(
        yaml.safe_load(kubeconfig.read_text())["clusters"][0]["cluster"][
            "certificate-authority-data"
        ]
    )  # the CA travels, the admin cert does not
    assert "client-key-data" not in kubeconfig.read_text()

    # Run as the chart's Deployment does: leader election and the ConfigMap in its namespace.
    daemon = Daemon(
        str(kubeconfig),
        namespace,
        tmp_path,
        "--leader-elect",
        "--config-namespace",
        release_ns,
        "--config-map",
        "rolloutd-config",
        "--identity",
        "test-replica",
    )
    daemon.start()
    try:

        def fast(rollout: dict[str, object]) -> None:
            rollout["spec"]["strategy"]["canary"]["steps"] = FAST_STEPS  # type: ignore[index]

        await apply_seed(kube, namespace, rollout_edit=fast)
        await wait_phase(kube, namespace, "Healthy", step=len(FAST_STEPS), timeout=90)
        await set_image(kube, namespace, "argoproj/rollouts-demo:yellow")
        await wait_phase(kube, namespace, "Paused", step=1)
        await promote(kube, namespace)
        ro = await wait_phase(kube, namespace, "Healthy", step=len(FAST_STEPS), timeout=90)
        assert ro["status"]["stableRS"] == ro["status"]["currentPodHash"]
        assert daemon.alive()
        assert "forbidden" not in daemon.logs(400).lower(), daemon.logs(100)
    finally:
        daemon.stop()

    # The same credentials are refused anything outside the chart's rules.
    async with await KubeClient.connect(kubeconfig=str(kubeconfig)) as as_controller:
        with pytest.raises(ApiError) as caught:
            await as_controller.list(SECRETS, namespace=namespace)
        assert caught.value.status == 403
        with pytest.raises(ApiError) as caught:
            await as_controller.list(SECRETS)
        assert caught.value.status == 403
        with pytest.raises(ApiError) as caught:
            await as_controller.delete(NAMESPACES, namespace)
        assert caught.value.status == 403
