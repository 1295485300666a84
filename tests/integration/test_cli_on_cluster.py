"""The CLI as a process against the real sandbox API server; no controller needed.

Each test creates the seed's Rollout directly in its own namespace, writes the status a
controller would have written (through the status subresource), runs `kubectl-argo-rollouts`
and reads the object back to see that exactly the expected patch landed. The Rollout carries a
controller instance id so that a rolloutd daemon running on the shared sandbox leaves it alone.
"""

from __future__ import annotations

import asyncio
import copy
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from rolloutd.kube.client import ApiError, KubeClient
from rolloutd.kube.resources import CRDS, REPLICA_SETS, ROLLOUTS

pytestmark = pytest.mark.sandbox

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
CLI = shutil.which("kubectl-argo-rollouts", path=str(Path(sys.executable).parent))
INSTANCE_LABEL = "argo-rollouts.argoproj.io/controller-instance-id"


@pytest.fixture
async def rollouts_crd(kube: KubeClient) -> None:
    try:
        await kube.get(CRDS, "rollouts.argoproj.io")
    except ApiError as exc:
        if exc.not_found:
            pytest.skip("the rollouts.argoproj.io CRD is not installed in the sandbox")
        raise
    if CLI is None:
        pytest.skip("the kubectl-argo-rollouts console script is not installed in this venv")


async def cli(*args: str, kubeconfig: str | None = None) -> tuple[int, str, str]:
    """Run kubectl-argo-rollouts; returns (exit status, stdout, stderr)."""
    assert CLI is not None
    env = dict(os.environ)
    if kubeconfig is not None:
        env["KUBECONFIG"] = kubeconfig
    env.pop("NO_COLOR", None)
    process = await asyncio.create_subprocess_exec(
        CLI,
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def seed_objects(name: str) -> list[dict[str, Any]]:
    data = yaml.safe_load((GOLDEN / f"{name}.yaml").read_text())
    objects: list[dict[str, Any]] = data["objects"]
    return objects


async def create_rollout(kube: KubeClient, namespace: str, fixture: str) -> dict[str, Any]:
    """The fixture's Rollout, created fresh, with the fixture's status written back."""
    recorded = next(o for o in seed_objects(fixture) if o["kind"] == "Rollout")
    body = copy.deepcopy(recorded)
    status = body.pop("status")
    body["metadata"] = {
        "name": recorded["metadata"]["name"],
        "labels": {INSTANCE_LABEL: "rolloutd-cli-tests"},
    }
    created = await kube.create(ROLLOUTS, body, namespace=namespace)
    status["observedGeneration"] = str(created["metadata"]["generation"])
    return await kube.patch(
        ROLLOUTS,
        body["metadata"]["name"],
        {"status": status},
        namespace=namespace,
        subresource="status",
    )


async def read(kube: KubeClient, namespace: str) -> dict[str, Any]:
    return await kube.get(ROLLOUTS, "rollouts-demo", namespace=namespace)


async def test_not_found(kube: KubeClient, namespace: str, rollouts_crd: None) -> None:
    for args in (
        ["get", "rollout", "nope"],
        ["promote", "nope"],
        ["abort", "nope"],
        ["status", "nope", "--watch=false"],
    ):
        code, out, err = await cli(*args, "-n", namespace)
        assert (code, out, err) == (1, "", 'Error: rollouts.argoproj.io "nope" not found\n')


async def test_promote_clears_the_pause_on_the_status_subresource(
    kube: KubeClient, namespace: str, rollouts_crd: None
) -> None:
    before = await create_rollout(kube, namespace, "seed-paused-step1")
    assert before["status"]["pauseConditions"]
    code, out, err = await cli("promote", "rollouts-demo", "-n", namespace)
    assert (code, out, err) == (0, "rollout 'rollouts-demo' promoted\n", "")
    after = await read(kube, namespace)
    assert "pauseConditions" not in after["status"]
    # Only the pause conditions changed: the step index is the controller's to move.
    assert after["status"]["currentStepIndex"] == 1
    assert after["status"]["controllerPause"] is True
    assert after["spec"] == before["spec"]


async def test_abort_retry_pause_resume_land(
    kube: KubeClient, namespace: str, rollouts_crd: None
) -> None:
    await create_rollout(kube, namespace, "seed-paused-step1")
    assert (await cli("abort", "rollouts-demo", "-n", namespace))[1] == (
        "rollout 'rollouts-demo' aborted\n"
    )
    assert (await read(kube, namespace))["status"]["abort"] is True
    assert (await cli("retry", "rollout", "rollouts-demo", "-n", namespace))[1] == (
        "rollout 'rollouts-demo' retried\n"
    )
    assert (await read(kube, namespace))["status"]["abort"] is False
    assert (await cli("pause", "rollouts-demo", "-n", namespace))[1] == (
        "rollout 'rollouts-demo' paused\n"
    )
    paused = await read(kube, namespace)
    assert paused["spec"]["paused"] is True
    # A spec patch bumps the generation; the status subresource keeps what it had.
    assert paused["status"]["pauseConditions"]
    assert (await cli("resume", "rollouts-demo", "-n", namespace))[1] == (
        "rollout 'rollouts-demo' resumed\n"
    )
    assert (await read(kube, namespace))["spec"]["paused"] is False


async def test_promote_full_set_image_and_restart(
    kube: KubeClient, namespace: str, rollouts_crd: None
) -> None:
    await create_rollout(kube, namespace, "seed-paused-step1")
    code, out, _ = await cli("promote", "rollouts-demo", "--full", "-n", namespace)
    assert (code, out) == (0, "rollout 'rollouts-demo' fully promoted\n")
    assert (await read(kube, namespace))["status"]["promoteFull"] is True

    code, out, _ = await cli(
        "set",
        "image",
        "rollouts-demo",
        "rollouts-demo=argoproj/rollouts-demo:green",
        "-n",
        namespace,
    )
    assert (code, out) == (0, 'rollout "rollouts-demo" image updated\n')
    template = (await read(kube, namespace))["spec"]["template"]
    assert template["spec"]["containers"][0]["image"] == "argoproj/rollouts-demo:green"

    code, out, _ = await cli("restart", "rollouts-demo", "--in", "1h", "-n", namespace)
    assert (code, out) == (0, "rollout 'rollouts-demo' restarts in 1h\n")
    assert (await read(kube, namespace))["spec"]["restartAt"].endswith("Z")


async def test_undo_restores_the_previous_template(
    kube: KubeClient, namespace: str, rollouts_crd: None
) -> None:
    rollout = await create_rollout(kube, namespace, "seed-paused-step1")
    for obj in seed_objects("seed-paused-step1"):
        if obj["kind"] != "ReplicaSet":
            continue
        rs = {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": obj["metadata"]["name"],
                "labels": obj["metadata"]["labels"],
                "annotations": obj["metadata"]["annotations"],
                "ownerReferences": [
                    {
                        "apiVersion": "argoproj.io/v1alpha1",
                        "kind": "Rollout",
                        "name": "rollouts-demo",
                        "uid": rollout["metadata"]["uid"],
                        "controller": True,
                    }
                ],
            },
            # No pods: the test is about the template, not about scheduling.
            "spec": {**obj["spec"], "replicas": 0},
        }
        await kube.create(REPLICA_SETS, rs, namespace=namespace)
    code, out, err = await cli("undo", "rollouts-demo", "-n", namespace)
    assert (code, out, err) == (0, "rollout 'rollouts-demo' undo\n", "")
    template = (await read(kube, namespace))["spec"]["template"]
    assert template["spec"]["containers"][0]["image"] == "argoproj/rollouts-demo:blue"
    assert "rollouts-pod-template-hash" not in template["metadata"]["labels"]


async def test_get_status_and_list_read_the_live_object(
    kube: KubeClient, namespace: str, rollouts_crd: None
) -> None:
    await create_rollout(kube, namespace, "seed-paused-step1")
    code, out, _ = await cli("get", "rollout", "rollouts-demo", "-n", namespace)
    assert code == 0
    lines = out.splitlines()
    assert lines[:5] == [
        "Name:            rollouts-demo",
        f"Namespace:       {namespace}",
        "Status:          ॥ Paused",
        "Message:         CanaryPauseStep",
        "Strategy:        Canary",
    ]
    assert "\x1b[" not in out  # not a terminal: no colour
    assert await cli("status", "rollouts-demo", "--watch=false", "-n", namespace) == (
        0,
        "Paused - CanaryPauseStep\n",
        "",
    )
    code, out, _ = await cli("list", "rollouts", "-n", namespace)
    assert out.splitlines()[1].split() == [
        "rollouts-demo",
        "Canary",
        "Paused",
        "1/8",
        "20",
        "6/6",
        "5",
        "1",
        "6",
    ]


async def test_context_namespace_is_the_default(
    kube: KubeClient, namespace: str, rollouts_crd: None, tmp_path: Path
) -> None:
    await create_rollout(kube, namespace, "seed-healthy")
    source = Path(kube.connection.source)
    config = yaml.safe_load(source.read_text())
    context = copy.deepcopy(config["contexts"][0])
    context["name"] = "cli-test"
    context["context"]["namespace"] = namespace
    config["contexts"].append(context)
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(config))
    kubeconfig.chmod(0o600)
    code, out, _ = await cli(
        "status",
        "rollouts-demo",
        "--watch=false",
        "--context",
        "cli-test",
        kubeconfig=str(kubeconfig),
    )
    assert (code, out) == (0, "Healthy\n")
    code, _, err = await cli(
        "status", "rollouts-demo", "--context", "nope", kubeconfig=str(kubeconfig)
    )
    assert code == 1
    assert err == f'Error: context "nope" does not exist in kubeconfig {kubeconfig}\n'
