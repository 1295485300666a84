"""Fixtures for end-to-end tests: a rolloutd daemon process per test namespace."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from rolloutd_dev.sandbox.cluster import Status
from tests.e2e.harness import Daemon


@pytest.fixture
def daemon(
    sandbox: Status, namespace: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Daemon]:
    """A started `rolloutd run --namespace <test namespace>`; its log is shown on failure."""
    proc = Daemon(str(sandbox.kubeconfig), namespace, tmp_path)
    proc.start()
    yield proc
    code = proc.stop()
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        print(proc.logs())
    assert code in (0, -15, -9, None), f"daemon exited with {code}:\n{proc.logs()}"


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> object:
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report
