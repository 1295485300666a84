"""The Helm chart's RBAC is enough, and no more: a daemon holding only the chart's
ServiceAccount token completes the seed's canary, and is refused Secrets; and the namespaced
install (clusterInstall=false) does the same with a Role and RoleBinding only, creating no
ClusterRole at all.

The shared sandbox already has the project's CRDs (installed at bootstrap, not owned by any
release), so these releases set installCRDs=false; tests/e2e/test_chart_crds.py installs and
upgrades the CRDs with the chart on a sandbox of its own."""

from __future__ import annotations

import asyncio
import base64
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import yaml

from rolloutd.kube.client import ApiError, KubeClient
from rolloutd.kube.resources import (
    CLUSTER_ANALYSIS_TEMPLATES,
    NAMESPACES,
    ROLLOUTS,
    SECRETS,
    Resource,
)
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


CLUSTER_ROLES = Resource("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", False)
CLUSTER_ROLE_BINDINGS = Resource(
    "rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", False
)


@asynccontextmanager
async def installed(
    sandbox: Status, kube: KubeClient, tools: Tools, *values: str, prefix: str = "rolloutd"
) -> AsyncIterator[tuple[str, str]]:
    """`helm install` of the chart (Istio router on, the sandbox's CRDs left alone) in a
    namespace of its own; uninstalled and the namespace deleted afterwards."""
    suffix = uuid.uuid4().hex[:6]
    name, ns = f"{prefix}-{suffix}", f"{prefix}-system-{suffix}"
    kubeconfig = str(sandbox.kubeconfig)
    flags = ["routers.istio.enabled=true", "installCRDs=false", f"fullnameOverride={name}"]
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
        *(arg for value in (*flags, *values) for arg in ("--set", value)),
    )
    try:
        yield name, ns
    finally:
        await run(str(tools.helm), "uninstall", name, "--namespace", ns, "--kubeconfig", kubeconfig)
        await kube.delete(NAMESPACES, ns)


@pytest_asyncio.fixture(loop_scope="session")
async def release(
    sandbox: Status, kube: KubeClient, tools: Tools
) -> AsyncIterator[tuple[str, str]]:
    """The chart, cluster-wide (the default)."""
    async with installed(sandbox, kube, tools) as release:
        yield release


def fast(rollout: dict[str, Any]) -> None:
    rollout["spec"]["strategy"]["canary"]["steps"] = FAST_STEPS


async def seed_canary(kube: KubeClient, namespace: str, edit: Callable[[Any], None]) -> None:
    """The seed's canary to Healthy, then a new image through the pause to Healthy again."""
    await apply_seed(kube, namespace, rollout_edit=edit)
    await wait_phase(kube, namespace, "Healthy", step=len(FAST_STEPS), timeout=90)
    await set_image(kube, namespace, "argoproj/rollouts-demo:yellow")
    await wait_phase(kube, namespace, "Paused", step=1)
    await promote(kube, namespace)
    ro = await wait_phase(kube, namespace, "Healthy", step=len(FAST_STEPS), timeout=90)
    assert ro["status"]["stableRS"] == ro["status"]["currentPodHash"]


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
        await seed_canary(kube, namespace, fast)
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


async def test_namespaced_install_runs_the_canary_with_a_role_only(
    sandbox: Status, kube: KubeClient, tools: Tools, tmp_path: Path
) -> None:
    async with installed(sandbox, kube, tools, "clusterInstall=false", prefix="rolloutd-ns") as (
        name,
        ns,
    ):
        # Nothing cluster-wide came with the release: not in its manifest, not on the server.
        manifest = await run(
            str(tools.helm),
            "get",
            "manifest",
            name,
            "--namespace",
            ns,
            "--kubeconfig",
            str(sandbox.kubeconfig),
        )
        release_kinds = {doc["kind"] for doc in yaml.safe_load_all(manifest) if doc}
        assert {"Role", "RoleBinding", "Deployment"} <= release_kinds
        assert not {"ClusterRole", "ClusterRoleBinding"} & release_kinds
        for resource in (CLUSTER_ROLES, CLUSTER_ROLE_BINDINGS):
            found = await kube.list(resource, label_selector=f"app.kubernetes.io/instance={name}")
            assert found["items"] == [], f"{resource.plural} of the release exist"

        # The chart's Deployment runs `rolloutd run --namespace <release namespace>`; so does
        # this daemon, with the ServiceAccount's token: the Rollout lives in that namespace.
        kubeconfig = await token_kubeconfig(sandbox, name, ns, tmp_path / "sa.kubeconfig")
        daemon = Daemon(
            str(kubeconfig),
            ns,
            tmp_path,
            "--leader-elect",
            "--config-namespace",
            ns,
            "--config-map",
            "rolloutd-config",
            "--identity",
            "test-replica",
        )
        daemon.start()
        try:
            await seed_canary(kube, ns, fast)
            assert daemon.alive()
            assert "forbidden" not in daemon.logs(400).lower(), daemon.logs(100)
        finally:
            daemon.stop()

        # The Role reaches no further than its namespace, and no cluster-scoped kind.
        async with await KubeClient.connect(kubeconfig=str(kubeconfig)) as as_controller:
            assert (await as_controller.list(ROLLOUTS, namespace=ns))["items"]
            for resource, where in (
                (ROLLOUTS, "default"),
                (ROLLOUTS, None),
                (CLUSTER_ANALYSIS_TEMPLATES, None),
            ):
                with pytest.raises(ApiError) as caught:
                    await as_controller.list(resource, namespace=where)
                assert caught.value.status == 403, (resource.plural, where)
