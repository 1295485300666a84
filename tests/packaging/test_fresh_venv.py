"""The controller's wheel, installed alone in a fresh virtualenv, is what issue 14 asks for.

`uv build` makes the `rolloutd` and `rolloutd-dev` wheels from this tree; `uv pip install`
puts the runtime wheel in an empty venv with its declared dependencies (from uv's cache when
it has them, else the package index). Then: no `cryptography`, no `pytest-asyncio`; every
`rolloutd` module imports (so nothing it imports is undeclared); `rolloutd sandbox` says what
to install; and an unrelated project's `pytest --fixtures` shows no rolloutd fixtures, even
after rolloutd-dev is installed too, until the project opts in.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.packaging

# Imports every module of the installed rolloutd and prints the count.
IMPORT_ALL = """
import importlib, pkgutil, rolloutd
names = [m.name for m in pkgutil.walk_packages(rolloutd.__path__, "rolloutd.")]
for name in names:
    importlib.import_module(name)
print(len(names))
"""
FIXTURE_LINE = re.compile(r"^(kube|namespace|sandbox)\b", re.MULTILINE)


def run(*args: str | Path, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    return subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def ok(*args: str | Path, cwd: Path = ROOT) -> str:
    result = run(*args, cwd=cwd)
    assert result.returncode == 0, f"{args}: {result.stdout}{result.stderr}"
    return result.stdout


def installed(python: Path) -> set[str]:
    listing = ok("uv", "pip", "list", "--python", python, "--format", "freeze")
    return {line.split("==")[0].lower() for line in listing.splitlines() if "==" in line}


def test_runtime_wheel_alone(tmp_path: Path) -> None:
    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("uv is not on PATH (scripts/test installs it)")
    dist = tmp_path / "dist"
    for package in ("rolloutd", "rolloutd-dev"):
        ok(uv, "build", "--package", package, "--wheel", "--out-dir", dist)
    runtime = next(dist.glob("rolloutd-*.whl"))
    dev = next(dist.glob("rolloutd_dev-*.whl"))

    venv = tmp_path / "venv"
    python = venv / "bin" / "python"
    ok(uv, "venv", "--quiet", "--python", "3.11", venv)
    ok(uv, "pip", "install", "--quiet", "--python", python, runtime)

    packages = installed(python)
    assert "rolloutd" in packages
    assert {"cryptography", "pytest-asyncio", "pytest", "rolloutd-dev"}.isdisjoint(packages)
    assert int(ok(python, "-c", IMPORT_ALL)) > 50

    sandbox = run(venv / "bin" / "rolloutd", "sandbox", "status")
    assert sandbox.returncode == 2
    assert sandbox.stdout == ""
    assert sandbox.stderr.strip().splitlines() == [
        "error: `rolloutd sandbox` is in the development distribution: pip install rolloutd-dev"
    ]

    # An unrelated project with pytest: no rolloutd plugin, no rolloutd fixtures.
    project = tmp_path / "project"
    project.mkdir()
    (project / "test_nothing.py").write_text("def test_nothing() -> None:\n    pass\n")
    ok(uv, "pip", "install", "--quiet", "--python", python, "pytest")
    fixtures = ok(python, "-m", "pytest", "--fixtures", cwd=project)
    assert FIXTURE_LINE.findall(fixtures) == []
    assert "rolloutd" not in fixtures

    # rolloutd-dev installed as well: still nothing until the project opts in.
    ok(uv, "pip", "install", "--quiet", "--python", python, dev)
    assert "sandbox" in ok(venv / "bin" / "rolloutd", "sandbox", "--help")
    fixtures = ok(python, "-m", "pytest", "--fixtures", cwd=project)
    assert FIXTURE_LINE.findall(fixtures) == []
    assert "rolloutd" not in fixtures

    (project / "conftest.py").write_text('pytest_plugins = ["rolloutd_dev.testing.plugin"]\n')
    fixtures = ok(python, "-m", "pytest", "--fixtures", cwd=project)
    assert sorted(set(FIXTURE_LINE.findall(fixtures))) == ["kube", "namespace", "sandbox"]
