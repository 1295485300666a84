"""`create -f`, `terminate`, `list experiments` and `plan` as processes against the sandbox's
API server (no controller): each reads back what landed, or that nothing did."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from rolloutd.kube.client import ApiError, KubeClient
from rolloutd.kube.resources import ANALYSIS_RUNS, CRDS, ROLLOUTS, SERVICES
from tests.integration.test_cli_on_cluster import (
    CLI,
    INSTANCE_LABEL,
    cli,
    create_replica_sets,
    create_rollout,
    rollouts_crd,
)

pytestmark = pytest.mark.sandbox
__all__ = ["rollouts_crd"]  # the fixture, used by name

ANALYSIS_RUN: dict[str, Any] = {
    "apiVersion": "argoproj.io/v1alpha1",
    "kind": "AnalysisRun",
    "metadata": {"name": "demo-run", "labels": {INSTANCE_LABEL: "rolloutd-cli-tests"}},
    "spec": {"metrics": [{"name": "m", "provider": {"job": {"spec": {"template": {}}}}}]},
}


async def cli_stdin(text: str, *args: str) -> tuple[int, str, str]:
    assert CLI is not None
    process = await asyncio.create_subprocess_exec(
        CLI,
        *args,
        env=dict(os.environ),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(text.encode()), timeout=60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def _rollout_manifest(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": name, "labels": {INSTANCE_LABEL: "rolloutd-cli-tests"}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": "nginx:1"}]},
            },
            "strategy": {"canary": {"steps": [{"setWeight": 50}, {"pause": {}}]}},
        },
    }


async def test_create_from_file_and_stdin(
    kube: KubeClient, namespace: str, rollouts_crd: None, tmp_path: Path
) -> None:
    path = tmp_path / "rollout.yaml"
    path.write_text(yaml.safe_dump(_rollout_manifest("made-by-create")))
    code, out, err = await cli("create", "-f", str(path), "-n", namespace)
    assert (code, out, err) == (0, "rollout.argoproj.io/made-by-create created\n", "")
    made = await kube.get(ROLLOUTS, "made-by-create", namespace=namespace)
    assert made["spec"]["strategy"]["canary"]["steps"][0] == {"setWeight": 50}

    code, out, err = await cli_stdin(json.dumps(ANALYSIS_RUN), "create", "-f", "-", "-n", namespace)
    assert (code, out, err) == (0, "analysisrun.argoproj.io/demo-run created\n", "")
    await kube.get(ANALYSIS_RUNS, "demo-run", namespace=namespace)

    # Again: the API server's AlreadyExists, reported as one Error line.
    code, out, err = await cli("create", "-f", str(path), "-n", namespace)
    assert code == 1 and out == ""
    assert err.startswith("Error: ") and "already exists" in err


async def test_create_refuses_other_kinds_and_changes_nothing(
    kube: KubeClient, namespace: str, rollouts_crd: None, tmp_path: Path
) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump(_rollout_manifest("never-made")))
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        yaml.safe_dump({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}})
    )
    code, out, err = await cli("create", "-f", str(good), "-f", str(bad), "-n", namespace)
    assert (code, out, err) == (1, "", "Error: creates of v1/ConfigMap unsupported\n")
    with pytest.raises(ApiError) as caught:
        await kube.get(ROLLOUTS, "never-made", namespace=namespace)
    assert caught.value.not_found


async def test_terminate_analysisrun_sets_spec_terminate(
    kube: KubeClient, namespace: str, rollouts_crd: None
) -> None:
    await kube.create(ANALYSIS_RUNS, ANALYSIS_RUN, namespace=namespace)
    code, out, err = await cli("terminate", "analysisrun", "demo-run", "-n", namespace)
    assert (code, out, err) == (0, "analysisRun 'demo-run' terminated\n", "")
    run = await kube.get(ANALYSIS_RUNS, "demo-run", namespace=namespace)
    assert run["spec"]["terminate"] is True
    code, out, err = await cli("terminate", "ar", "nope", "-n", namespace)
    assert (code, out) == (1, "")
    assert err == 'Error: analysisruns.argoproj.io "nope" not found\n'


async def test_list_and_terminate_experiments(
    kube: KubeClient, namespace: str, rollouts_crd: None
) -> None:
    try:
        await kube.get(CRDS, "experiments.argoproj.io")
    except ApiError as exc:
        if exc.not_found:
            pytest.skip("the experiments.argoproj.io CRD is not installed in the sandbox")
        raise
    code, out, err = await cli("list", "experiments", "-n", namespace)
    assert (code, out, err) == (0, "", "No resources found.\n")


async def _seed_services(kube: KubeClient, namespace: str, pod_hash: str) -> None:
    for name in ("rollouts-demo-stable", "rollouts-demo-canary"):
        await kube.create(
            SERVICES,
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": name},
                "spec": {
                    "selector": {"app": "rollouts-demo", "rollouts-pod-template-hash": pod_hash},
                    "ports": [{"port": 80, "targetPort": 8080}],
                },
            },
            namespace=namespace,
        )


async def test_plan_prints_the_steps_and_writes_nothing(
    kube: KubeClient, namespace: str, rollouts_crd: None
) -> None:
    rollout = await create_rollout(kube, namespace, "seed-healthy")
    await create_replica_sets(kube, namespace, rollout, "seed-healthy", scaled=False)
    await _seed_services(kube, namespace, rollout["status"]["stableRS"])
    before = await kube.get(ROLLOUTS, "rollouts-demo", namespace=namespace)
    code, out, err = await cli(
        "plan",
        "rollouts-demo",
        "--image",
        "rollouts-demo=argoproj/rollouts-demo:yellow",
        "-o",
        "json",
        "-n",
        namespace,
    )
    assert (code, err) == (0, ""), err
    data = json.loads(out)
    assert [s["weights"]["canary"] for s in data["steps"]] == [20, 20, 40, 40, 60, 60, 80, 80, 0]
    assert [s["index"] for s in data["steps"] if s["waitsForPerson"]] == [1, 3]
    assert data["finalPhase"] == "Healthy"
    after = await kube.get(ROLLOUTS, "rollouts-demo", namespace=namespace)
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]

    code, out, err = await cli("plan", "rollouts-demo", "--image", "nope=x:1", "-n", namespace)
    assert (code, out) == (1, "")
    assert "nope" in err
