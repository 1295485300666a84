"""Each folder knows its room: the import rules of design.md, checked on the source."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# package -> rolloutd packages it must never import (directly, at any depth in the file)
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "rolloutd.model": (
        "rolloutd.plan",
        "rolloutd.kube",
        "rolloutd.controller",
        "rolloutd.traffic",
        "rolloutd.cli",
        "rolloutd_dev.sandbox",
    ),
    "rolloutd.plan": (
        "rolloutd.kube",
        "rolloutd.controller",
        "rolloutd.traffic",
        "rolloutd.cli",
        "rolloutd_dev.sandbox",
        "rolloutd.runtime",
    ),
    "rolloutd.analysis": ("rolloutd.kube", "rolloutd.controller", "rolloutd.cli"),
    "rolloutd.traffic": ("rolloutd.plan", "rolloutd.controller", "rolloutd.cli"),
    "rolloutd.cli": ("rolloutd.controller", "rolloutd.plan", "rolloutd.runtime", "rolloutd.daemon"),
    "rolloutd.kube": ("rolloutd.plan", "rolloutd.controller", "rolloutd.cli", "rolloutd.model"),
}
# Routers may use only the contract, the API kit, and themselves.
ROUTER_ALLOWED = ("rolloutd.traffic", "rolloutd.kube")
# The planner is pure: no I/O or clock modules at all.
PLAN_FORBIDDEN_STDLIB = (
    "asyncio",
    "socket",
    "subprocess",
    "time",
    "os",
    "aiohttp",
    "kubernetes_asyncio",
    "urllib",
    "http",
)


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def module_files(package: str) -> list[Path]:
    folder = ROOT.joinpath(*package.split("."))
    return sorted(folder.rglob("*.py")) if folder.is_dir() else []


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_does_not_import_higher_layers(package: str) -> None:
    files = module_files(package)
    assert files, f"{package} has no modules"
    offences = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in files
        for name in imports_of(path)
        if any(name == bad or name.startswith(bad + ".") for bad in FORBIDDEN[package])
    ]
    assert offences == []


def test_planner_does_no_io() -> None:
    offences = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in module_files("rolloutd.plan")
        for name in imports_of(path)
        if name.split(".")[0] in PLAN_FORBIDDEN_STDLIB
    ]
    assert offences == []


@pytest.mark.parametrize(
    "plugin",
    [
        "istio",
        "openshift",
        "smi",
        "gatewayapi",
        "apisix",
        "ambassador",
        "appmesh",
        "nginx",
        "alb",
        "traefik",
    ],
)
def test_routers_see_only_the_contract(plugin: str) -> None:
    folder = ROOT / "plugins" / plugin / f"rolloutd_{plugin}"
    files = sorted(folder.rglob("*.py"))
    assert files
    offences = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in files
        for name in imports_of(path)
        if name.startswith("rolloutd.")
        and not any(name == ok or name.startswith(ok + ".") for ok in ROUTER_ALLOWED)
    ]
    assert offences == []
