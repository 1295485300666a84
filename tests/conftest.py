"""Shared test configuration: the upstream third-party CRDs (when present), helm and kubeconform."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import settings

# The sandbox fixtures (`sandbox`, `kube`, `namespace`): opted in here, not by installing.
pytest_plugins = ["rolloutd_dev.testing.plugin"]

# The property tests draw the same examples on every run unless asked to explore, so a
# result (in CI above all) can be reproduced; `HYPOTHESIS_PROFILE=explore` draws new ones.
settings.register_profile("repeatable", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))

REPO = Path(__file__).resolve().parents[1]
# `ROLLOUTD_SHARED` points elsewhere when the checkout does not sit next to `shared` (a worktree).
UPSTREAM_CRDS = (
    Path(os.environ.get("ROLLOUTD_SHARED", str(REPO.parent / "shared"))) / "crds" / "third-party"
)
INSTALL_TOOLS = REPO / "scripts" / "install-tools.sh"


@pytest.fixture(scope="session")
def upstream_crds() -> Path:
    """The folder of upstream CRDs (Istio, SMI, OpenShift, Gateway API), or skip."""
    if not UPSTREAM_CRDS.is_dir():
        pytest.skip(
            f"upstream CRDs not found at {UPSTREAM_CRDS} (they sit next to the repository "
            "in CI, as ../shared/crds/third-party); tests against real schemas are skipped"
        )
    return UPSTREAM_CRDS


@dataclass(frozen=True)
class Tools:
    helm: Path
    kubeconform: Path
    schema_location: str


@pytest.fixture(scope="session")
def tools() -> Tools:
    """helm, kubeconform and the offline schemas, installed by scripts/install-tools.sh."""
    if shutil.which("go") is None:
        pytest.skip(
            "`go` is not on PATH: scripts/install-tools.sh builds helm and kubeconform with "
            "`go install`, so the chart cannot be rendered or validated here"
        )
    root = Path(
        os.environ.get("ROLLOUTD_TOOLS", str(Path.home() / ".cache" / "rolloutd" / "tools"))
    )
    done = subprocess.run(["bash", str(INSTALL_TOOLS)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.fail(f"scripts/install-tools.sh failed:\n{done.stderr}")
    return Tools(
        helm=root / "bin" / "helm",
        kubeconform=root / "bin" / "kubeconform",
        schema_location=str(
            root
            / "kubernetes-json-schema"
            / "{{ .NormalizedKubernetesVersion }}-local{{ .StrictSuffix }}"
            / "{{ .ResourceKind }}{{ .KindSuffix }}.json"
        ),
    )
