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
    # No domain range limits in the schema: a bad weight must reach the controller
    # (InvalidSpec), not be refused at the door with no condition to show; only the int32
    # bounds of Argo's types, so an int64 never gets in.
    assert steps["setWeight"] == {
        "format": "int32",
        "maximum": 2**31 - 1,
        "minimum": -(2**31),
        "type": "integer",
    }
    status = schema["properties"]["status"]["properties"]
    assert {"HPAReplicas", "stableRS", "currentStepIndex", "pauseConditions", "canary"} <= set(
        status
    )


def _integers(node: Any, path: str = "") -> list[tuple[str, dict[str, Any]]]:
    found = []
    if isinstance(node, dict):
        if node.get("type") == "integer":
            found.append((path, node))
        for key, value in node.items():
            found += _integers(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += _integers(value, f"{path}[{i}]")
    return found


def test_every_spec_integer_is_an_int32() -> None:
    crd = yaml.safe_load((CRD_DIR / "rollouts.argoproj.io.yaml").read_text())
    spec = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    integers = _integers(spec)
    assert len(integers) > 15
    for path, node in integers:
        assert node.get("format") == "int32", path
        assert node.get("maximum") == 2**31 - 1, path
    counts = {path.rsplit(".", 1)[-1]: node for path, node in integers}
    for name in ("replicas", "progressDeadlineSeconds", "scaleDownDelaySeconds"):
        assert counts[name]["minimum"] == 0, name
