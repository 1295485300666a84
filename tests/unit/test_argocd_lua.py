"""The Lua runner of tests/argocd_lua.py reproduces Argo CD's own expectations for its scripts.

Argo CD ships `health_test.yaml` and `actions/action_test.yaml` beside each script: inputs and
the verdicts or objects it expects. If the runner gets those right, its verdicts on the objects
rolloutd writes (tests/e2e/test_argocd.py) are the verdicts Argo CD would give.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests import argocd_lua
from tests.argocd_lua import CUSTOMIZATIONS


def _cases(kind: str, file: str, key: str) -> list[Any]:
    path = CUSTOMIZATIONS / kind / file
    if not path.is_file():
        return [pytest.param(None, id=f"{kind}-missing")]
    tests = yaml.safe_load(path.read_text())[key]
    return [
        pytest.param(t, id=f"{kind}-{t.get('action', '')}-{Path(t['inputPath']).stem}")
        for t in tests
    ]


def _load(path: Path) -> dict[str, Any]:
    return dict(yaml.safe_load(path.read_text()))


@pytest.mark.parametrize(
    "case",
    _cases("Rollout", "health_test.yaml", "tests")
    + _cases("AnalysisRun", "health_test.yaml", "tests")
    + _cases("Experiment", "health_test.yaml", "tests"),
)
def test_health_matches_argocd_expectations(case: Any, request: pytest.FixtureRequest) -> None:
    root = argocd_lua.customizations()
    kind = request.node.callspec.id.split("-")[0]
    obj = _load(root / kind / case["inputPath"])
    status, message = argocd_lua.health(kind, obj)
    assert status == case["healthStatus"]["status"]
    assert message == (case["healthStatus"].get("message") or "")


@pytest.mark.parametrize("case", _cases("Rollout", "actions/action_test.yaml", "actionTests"))
def test_actions_match_argocd_expectations(case: Any) -> None:
    root = argocd_lua.customizations() / "Rollout" / "actions"
    live = _load(root / case["inputPath"])
    want = _load(root / case["expectedOutputPath"])
    got = argocd_lua.action_result("Rollout", case["action"], live)
    if case["action"] == "restart":
        # The script stamps the current time; Argo CD's test data holds one fixed instant.
        assert got["spec"].pop("restartAt").endswith("Z")
        want["spec"].pop("restartAt")
    assert got == _without_nulls(want)


def _without_nulls(value: Any) -> Any:
    """Argo CD's expected objects write a removed field as `null`; Lua's nil is an absent key."""
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


@pytest.mark.parametrize("case", _cases("Rollout", "actions/action_test.yaml", "discoveryTests"))
def test_discovery_matches_argocd_expectations(case: Any) -> None:
    root = argocd_lua.customizations() / "Rollout" / "actions"
    obj = _load(root / case["inputPath"])
    got = argocd_lua.available_actions("Rollout", obj)
    assert got == {r["name"]: not r["disabled"] for r in case["result"]}


def test_merge_patch_splits_status_from_spec() -> None:
    live = {"spec": {"paused": True, "replicas": 5}, "status": {"abort": True, "phase": "Paused"}}
    new = {"spec": {"paused": False, "replicas": 5}, "status": {"phase": "Paused"}}
    patch = argocd_lua.merge_patch(live, new)
    assert patch == {"spec": {"paused": False}, "status": {"abort": None}}
    assert argocd_lua.split_status(patch) == (
        {"spec": {"paused": False}},
        {"status": {"abort": None}},
    )
