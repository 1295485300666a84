"""The JSON log lines: rolloutd's keys by default, Argo's (`msg`, `time`) on request."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from rolloutd import logs


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.reset_defaults()


def one_line(capsys: pytest.CaptureFixture[str], keys: str) -> dict[str, object]:
    logs.configure("info", "json", keys)
    with structlog.contextvars.bound_contextvars(namespace="ns", rollout="demo"):
        structlog.get_logger("rolloutd.test").info("reconciled", step=2)
    line: dict[str, object] = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    return line


def test_default_keys(capsys: pytest.CaptureFixture[str]) -> None:
    line = one_line(capsys, "rolloutd")
    assert line["event"] == "reconciled" and "timestamp" in line
    assert "msg" not in line and "time" not in line


def test_argo_keys(capsys: pytest.CaptureFixture[str]) -> None:
    line = one_line(capsys, "argo")
    assert line["msg"] == "reconciled" and str(line["time"]).endswith("Z")
    assert line["level"] == "info" and line["namespace"] == "ns" and line["rollout"] == "demo"
    assert "event" not in line and "timestamp" not in line


def test_unknown_keys_are_refused() -> None:
    with pytest.raises(ValueError, match="log keys 'logrus' is not one of rolloutd, argo"):
        logs.configure("info", "json", "logrus")
