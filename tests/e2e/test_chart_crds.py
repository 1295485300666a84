"""`helm upgrade` of the chart changes a CRD on the API server (the CRDs are templates, not
Helm's never-upgraded crds/ folder); keepCRDs leaves them on uninstall, keepCRDs=false does not.

CRDs are cluster-wide, and this test changes and deletes them: it runs on a sandbox instance of
its own (a temporary folder and free ports), never on the shared one, and stops it afterwards.
That instance installs the project's CRDs at bootstrap, as a cluster upgraded from chart 0.1
has them (owned by no release), so the test first lets the release adopt them the way the chart
README tells users to.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
import yaml

from rolloutd.kube.client import ApiError, KubeClient
from rolloutd.kube.resources import CRDS
from rolloutd_dev.sandbox.cluster import Sandbox, Status
from tests.conftest import REPO, Tools

KUBECTL = str(Path(sys.executable).parent / "kubectl")
CHART = REPO / "charts" / "rolloutd"
# Every CRD the chart renders (one file each, named after the CRD).
CRD_NAMES = sorted(path.stem for path in (CHART / "files" / "crds").glob("*.argoproj.io.yaml"))
RELEASE, NAMESPACE = "rolloutd", "rolloutd-system"


def _free_ports() -> int:
    """A port whose next two are free as well (the API server's, etcd's client and peer)."""
    for _ in range(50):
        port = random.randrange(20000, 30000)
        try:
            for candidate in (port, port + 1, port + 2):
                with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                    sock.bind(("127.0.0.1", candidate))
        except OSError:
            continue
        return port
    raise RuntimeError("no three consecutive free ports found")


@pytest.fixture(scope="module")
def own_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Status]:
    if os.environ.get("ROLLOUTD_SKIP_SANDBOX"):
        pytest.skip("ROLLOUTD_SKIP_SANDBOX is set: tests on a real cluster are skipped")
    cluster = Sandbox(home=tmp_path_factory.mktemp("chart-crd-sandbox"), port=_free_ports())

    def progress(message: str) -> None:
        print(f"chart sandbox: {message}", file=sys.stderr, flush=True)

    status = cluster.up(progress)
    try:
        yield status
    finally:
        cluster.down(progress)


@pytest_asyncio.fixture(loop_scope="session")
async def own_kube(own_sandbox: Status) -> AsyncIterator[KubeClient]:
    client = await KubeClient.connect(kubeconfig=str(own_sandbox.kubeconfig))
    try:
        yield client
    finally:
        await client.close()


async def run(*cmd: str) -> str:
    proc = await asyncio.create_subprocess_exec(
        *cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    out, _ = await proc.communicate()
    assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{out.decode()}"
    return out.decode()


async def crd_names(kube: KubeClient) -> set[str]:
    return {
        crd["metadata"]["name"]
        for crd in (await kube.list(CRDS))["items"]
        if crd["metadata"]["name"].endswith(".argoproj.io")
    }


async def test_helm_upgrade_changes_a_crd_and_keep_crds_keeps_them(
    own_sandbox: Status, own_kube: KubeClient, tools: Tools, tmp_path: Path
) -> None:
    kubeconfig = str(own_sandbox.kubeconfig)

    async def helm(*args: str) -> str:
        return await run(
            str(tools.helm), *args, "--namespace", NAMESPACE, "--kubeconfig", kubeconfig
        )

    # The README's adoption step for CRDs that no release owns yet.
    for name in CRD_NAMES:
        await run(
            KUBECTL, "--kubeconfig", kubeconfig, "label", "crd", name,
            "app.kubernetes.io/managed-by=Helm", "--overwrite",
        )  # fmt: skip
        await run(
            KUBECTL, "--kubeconfig", kubeconfig, "annotate", "crd", name,
            f"meta.helm.sh/release-name={RELEASE}",
            f"meta.helm.sh/release-namespace={NAMESPACE}", "--overwrite",
        )  # fmt: skip
    await helm(
        "install", RELEASE, str(CHART), "--create-namespace", "--set", "controller.replicas=1"
    )
    rollouts = await own_kube.get(CRDS, "rollouts.argoproj.io")
    assert rollouts["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert rollouts["metadata"]["labels"]["helm.sh/chart"].startswith("rolloutd-")
    assert "rox" not in rollouts["spec"]["names"]["shortNames"]

    # A copy of the chart whose Rollout CRD gained a short name and a printer column, as a
    # schema change in a new chart version would.
    chart = tmp_path / "rolloutd"
    shutil.copytree(CHART, chart)
    path = chart / "files" / "crds" / "rollouts.argoproj.io.yaml"
    crd = yaml.safe_load(path.read_text())
    crd["spec"]["names"]["shortNames"].append("rox")
    version = crd["spec"]["versions"][0]
    column = {"name": "Upgraded", "type": "string", "jsonPath": ".status.phase"}
    version.setdefault("additionalPrinterColumns", []).append(column)
    path.write_text(yaml.safe_dump(crd, sort_keys=False))
    await helm("upgrade", RELEASE, str(chart), "--set", "controller.replicas=1")

    upgraded = await own_kube.get(CRDS, "rollouts.argoproj.io")
    assert "rox" in upgraded["spec"]["names"]["shortNames"]
    assert column in upgraded["spec"]["versions"][0]["additionalPrinterColumns"]

    # keepCRDs (the default): uninstall leaves every CRD, with the upgraded schema.
    await helm("uninstall", RELEASE, "--wait")
    assert await crd_names(own_kube) >= set(CRD_NAMES)
    kept = await own_kube.get(CRDS, "rollouts.argoproj.io")
    assert "rox" in kept["spec"]["names"]["shortNames"]

    # The same release name adopts the kept CRDs again, and the chart's own schema is back.
    await helm("install", RELEASE, str(CHART), "--set", "controller.replicas=1")
    reinstalled = await own_kube.get(CRDS, "rollouts.argoproj.io")
    assert "rox" not in reinstalled["spec"]["names"]["shortNames"]

    # keepCRDs=false, set by an upgrade (Helm's three-way merge removes the annotation the
    # previous release rendered; a fresh install that adopts kept CRDs would not), and the
    # uninstall deletes them (the API server finishes a CRD's deletion asynchronously).
    await helm(
        "upgrade", RELEASE, str(CHART), "--set", "keepCRDs=false", "--set", "controller.replicas=1"
    )
    unkept = await own_kube.get(CRDS, "rollouts.argoproj.io")
    assert "helm.sh/resource-policy" not in unkept["metadata"].get("annotations", {})
    await helm("uninstall", RELEASE, "--wait")
    for _ in range(120):
        if not await crd_names(own_kube) & set(CRD_NAMES):
            break
        await asyncio.sleep(0.5)
    assert not await crd_names(own_kube) & set(CRD_NAMES)
    with pytest.raises(ApiError) as caught:
        await own_kube.get(CRDS, "rollouts.argoproj.io")
    assert caught.value.not_found
