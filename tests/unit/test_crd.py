"""The committed CRDs are exactly what the models generate, and they are structural."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from rolloutd.model.crd import all_crds, render

CRD_DIR = Path(__file__).resolve().parents[2] / "config" / "crd"


def test_committed_crds_match_the_models() -> None:
    for name, crd in all_crds().items():
        committed = (CRD_DIR / name).read_text()
        assert committed == render(crd), (
            f"config/crd/{name} is stale: run `uv run python -m rolloutd.model.crd` "
            "and scripts/sync-chart-crds.sh"
        )


def _walk(node: Any, path: str = "") -> list[str]:
    """Problems that make a schema non-structural (the API server would refuse it)."""
    problems = []
    if isinstance(node, dict):
        if "$ref" in node:
            problems.append(f"{path}: $ref")
        if node.get("type") == "null":
            problems.append(f"{path}: null type")
        for key, value in node.items():
            problems += _walk(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            problems += _walk(value, f"{path}[{i}]")
    return problems


def test_rollout_crd_shape() -> None:
    crd = yaml.safe_load((CRD_DIR / "rollouts.argoproj.io.yaml").read_text())
    version = crd["spec"]["versions"][0]
    assert crd["spec"]["names"]["shortNames"] == ["ro"]
    assert version["subresources"]["scale"] == {
        "specReplicasPath": ".spec.replicas",
        "statusReplicasPath": ".status.HPAReplicas",
        "labelSelectorPath": ".status.selector",
    }
    schema = version["schema"]["openAPIV3Schema"]
    assert _walk(schema) == []
    steps = schema["properties"]["spec"]["properties"]["strategy"]["properties"]["canary"][
        "properties"
    ]["steps"]["items"]["properties"]
    # Every documented step kind is accepted, including those rolloutd does not run yet.
    assert {
        "setWeight",
        "pause",
        "setCanaryScale",
        "analysis",
        "experiment",
        "setHeaderRoute",
        "setMirrorRoute",
        "plugin",
    } <= set(steps)
    assert steps["pause"]["properties"]["duration"] == {"x-kubernetes-int-or-string": True}
    # No range limits in the schema: a bad weight must reach the controller (InvalidSpec),
    # not be refused at the door with no condition to show.
    assert "maximum" not in steps["setWeight"]
    status = schema["properties"]["status"]["properties"]
    assert {"HPAReplicas", "stableRS", "currentStepIndex", "pauseConditions", "canary"} <= set(
        status
    )
