"""The chart's web dashboard (values.ui): off by default; when on, lint-clean, schema-valid,
in token mode, read-only plus reviews, and invisible to the controller's selector and PDB."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.chart.test_chart import (
    CHART,
    kinds,
    kubeconform,
    render,
    rule_triples,
    template,
    triples,
)
from tests.conftest import Tools

pytestmark = pytest.mark.timeout(1800)
ON = ("ui.enabled=true",)


def _dashboard(manifests: list[dict[str, object]], kind: str) -> dict[str, object]:
    found = [
        m
        for m in manifests
        if m["kind"] == kind and str(m["metadata"]["name"]).endswith("-dashboard")
    ]  # type: ignore[index]
    assert len(found) == 1, f"expected one dashboard {kind}"
    return found[0]


def test_off_by_default(tools: Tools) -> None:
    names = [str(m["metadata"]["name"]) for m in render(tools)]
    assert not [n for n in names if n.endswith("-dashboard")]


def test_lint_and_kubeconform_strict_with_the_dashboard(tools: Tools) -> None:
    done = subprocess.run(
        [str(tools.helm), "lint", "--strict", str(CHART), "--set", ON[0]],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    report = kubeconform(tools, template(tools, *ON))
    assert report["returncode"] == 0, json.dumps(report["resources"], indent=2)
    assert report["summary"]["invalid"] == report["summary"]["errors"] == 0


def test_dashboard_reads_and_reviews_only(tools: Tools) -> None:
    manifests = render(tools, *ON)
    # The controller's and the dashboard's, besides the three aggregate roles.
    assert kinds(manifests).count("ClusterRole") == 5
    rules = _dashboard(manifests, "ClusterRole")["rules"]
    assert rule_triples(rules) == (  # type: ignore[arg-type]
        triples("argoproj.io", "rollouts analysisruns", "get list watch")
        | triples("apps", "replicasets", "get list watch")
        | triples("", "pods", "get list watch")
        | triples("authentication.k8s.io", "tokenreviews", "create")
        | triples("authorization.k8s.io", "subjectaccessreviews", "create")
    )


def test_dashboard_runs_in_token_mode_with_its_own_labels(tools: Tools) -> None:
    manifests = render(tools, *ON)
    deployment = _dashboard(manifests, "Deployment")
    pod = deployment["spec"]["template"]  # type: ignore[index]
    args = pod["spec"]["containers"][0]["args"]
    assert args[:3] == ["dashboard", "--auth-mode", "token"]
    controller = next(m for m in manifests if m["kind"] == "Deployment" and m is not deployment)
    selector = controller["spec"]["selector"]["matchLabels"]  # type: ignore[index]
    labels = pod["metadata"]["labels"]
    # The controller's Deployment (and PDB) must not count the dashboard's pods.
    assert not all(labels.get(k) == v for k, v in selector.items())
    service = _dashboard(manifests, "Service")
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]  # type: ignore[index]
