"""`lint -f` refuses what the controller refuses, with the controller's messages (it used to
pass `maxSurge: "abc"` and a 400-digit pause duration silently)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import yaml

from rolloutd.cli import app
from rolloutd.model.rollout import validate_rollout

GOLDEN = Path(__file__).resolve().parents[2] / "golden"


def _seed() -> dict[str, object]:
    rollout = yaml.safe_load((GOLDEN / "seed-healthy.yaml").read_text())["objects"][0]
    del rollout["status"]
    return rollout


@pytest.mark.parametrize(
    ("field", "value", "path"),
    [
        ("maxSurge", "abc", "spec.strategy.canary.maxSurge: "),
        ("maxUnavailable", "abc", "spec.strategy.canary.maxUnavailable: "),
        ("maxSurge", -3, "spec.strategy.canary.maxSurge: "),
        ("scaleDownDelaySeconds", 2**63 - 1, "spec.strategy.canary.scaleDownDelaySeconds: "),
    ],
)
def test_lint_refuses_with_the_controllers_message(
    tmp_path: Path, field: str, value: object, path: str
) -> None:
    rollout = _seed()
    rollout["spec"]["strategy"]["canary"][field] = value  # type: ignore[index]
    manifest = tmp_path / "bad.yaml"
    manifest.write_text(yaml.safe_dump(rollout))
    out, err = io.StringIO(), io.StringIO()
    code = app.run(["lint", "-f", str(manifest)], out=out, err=err)
    assert code == 1
    lines = out.getvalue().splitlines()
    assert lines == validate_rollout(rollout)
    assert any(line.startswith(path) for line in lines), lines
