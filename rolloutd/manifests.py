"""Finds the YAML the project ships: its CRDs and the minimal CRDs of the traffic resources.

In a source checkout they are under `config/`; in an installed wheel they are packaged as
`rolloutd/_data/`. Both layouts hold the same files.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def config_dir(name: str) -> Path:
    """`crd`, `traffic-crds` or `samples`, wherever this copy of rolloutd keeps it."""
    for candidate in (_PACKAGE / "_data" / name, _PACKAGE.parent / "config" / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"rolloutd's {name} manifests are missing from {_PACKAGE}")


def crd_files() -> list[Path]:
    """Every CRD the sandbox installs: rolloutd's own, then the traffic resources'."""
    return sorted(config_dir("crd").glob("*.yaml")) + sorted(
        config_dir("traffic-crds").glob("*.yaml")
    )
