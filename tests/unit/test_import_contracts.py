"""The layer rules are import-linter contracts (pyproject.toml); here they are shown to bite.

Each case copies the package to a temporary folder, adds one import a contract forbids, and
runs `lint-imports` on the copy (the copy comes first on PYTHONPATH, so it shadows the
installed tree): the run must fail and name the contract. One more run on the real tree must
pass, so `pytest tests/unit` alone catches a broken layer as scripts/test does.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(cwd)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo", *args, str(cwd / "pyproject.toml")],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_tree_keeps_every_contract() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


# (package copied, file added inside it, its source, contract id, contract name in the output)
VIOLATIONS = [
    (
        "rolloutd",
        "plan/_violation.py",
        "import rolloutd.controller\n",
        "plan-is-pure",
        "plan imports no API kit, controller, router, CLI or runtime",
    ),
    (
        "rolloutd",
        "plan/_violation.py",
        "import time\n",
        "plan-no-io",
        "plan does no I/O and reads no clock",
    ),
    (
        "rolloutd",
        "cli/_violation.py",
        "import rolloutd_dev.sandbox.cluster\n",
        "runtime-no-dev",
        "the runtime wheel and the routers never import the development distribution",
    ),
    (
        "rolloutd",
        "kube/_violation.py",
        "from rolloutd.model import rollout\n",
        "kube-knows-no-rollout",
        "kube (the API kit) imports no planner, controller, CLI or model",
    ),
    (
        "rolloutd_gatewayapi",
        "_violation.py",
        "from rolloutd.controller import rollouts\n",
        "routers-see-only-the-contract",
        "routers import only rolloutd.traffic, rolloutd.kube and themselves",
    ),
]


@pytest.mark.parametrize(
    ("package", "added", "source", "contract", "name"),
    VIOLATIONS,
    ids=[case[3] for case in VIOLATIONS],
)
def test_a_forbidden_import_breaks_its_contract(
    tmp_path: Path, package: str, added: str, source: str, contract: str, name: str
) -> None:
    origin = ROOT / package
    if not origin.is_dir():
        origin = ROOT / "plugins" / package.removeprefix("rolloutd_") / package
    shutil.copytree(origin, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / package / added).write_text(source)
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")

    result = lint_imports(tmp_path, "--contract", contract)

    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert f"{name} BROKEN" in output
    assert "_violation" in output
