"""Shared test configuration: where the upstream third-party CRDs are, when they are here."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
UPSTREAM_CRDS = REPO.parent / "shared" / "crds" / "third-party"


@pytest.fixture(scope="session")
def upstream_crds() -> Path:
    """The folder of upstream CRDs (Istio, SMI, OpenShift, Gateway API), or skip."""
    if not UPSTREAM_CRDS.is_dir():
        pytest.skip(
            f"upstream CRDs not found at {UPSTREAM_CRDS} (they sit next to the repository "
            "in CI, as ../shared/crds/third-party); tests against real schemas are skipped"
        )
    return UPSTREAM_CRDS
