"""The CLI's room in the house: it talks to the API server, never to the controller's insides.

`rolloutd.cli` may import `rolloutd.kube` and `rolloutd.model`; importing `rolloutd.controller`
(or the planner) would tie the command line to the daemon's internals and its start-up cost.
"""

from __future__ import annotations

import ast
from pathlib import Path

import rolloutd.cli

FORBIDDEN = ("rolloutd.controller", "rolloutd.plan", "rolloutd.daemon")
# `plan` runs the pure dry run (no I/O, no clock) in the command, and only that.
ALLOWED = ("rolloutd.plan.dryrun",)


def _imports(path: Path) -> list[str]:
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def test_cli_never_imports_the_controller() -> None:
    package = Path(rolloutd.cli.__file__).parent
    offenders = {
        f"{path.name}: {name}"
        for path in package.rglob("*.py")
        for name in _imports(path)
        if name.startswith(FORBIDDEN) and name not in ALLOWED
    }
    assert offenders == set()


def test_offline_commands_do_not_load_the_kubernetes_client() -> None:
    """`version`, `lint` and `--help` stay fast: kubernetes-asyncio loads only to connect."""
    import subprocess
    import sys

    code = (
        "import sys, io; from rolloutd.cli import app; "
        "app.run(['version', '--short'], out=io.StringIO()); "
        "print(any(m.startswith('kubernetes_asyncio') for m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert result.stdout.strip() == "False"
