"""Fixtures for the Argo parity suite: one namespace and one daemon for the whole package.

Each scenario uses Rollouts and Services of its own names in that namespace, so the scenarios
share the daemon's start-up and the namespace's creation (the suite runs in CI, and starting a
daemon per scenario, 10 to 20 seconds on a loaded 2-core machine, would be most of its time).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio

from rolloutd.kube.client import ApiError, KubeClient
from rolloutd.kube.resources import NAMESPACES
from rolloutd_dev.sandbox.cluster import Status
from tests.e2e.harness import Daemon


@pytest_asyncio.fixture(scope="package", loop_scope="session")
async def shared_namespace(kube: KubeClient) -> AsyncIterator[str]:
    """A namespace for the whole package, deleted (with everything in it) afterwards."""
    name = f"argo-parity-{uuid.uuid4().hex[:6]}"
    body = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": {"rolloutd.test": "true"}},
    }
    await kube.create(NAMESPACES, body)
    try:
        yield name
    finally:
        try:
            await kube.delete(NAMESPACES, name)
        except ApiError as exc:
            if not exc.not_found:
                raise


@pytest.fixture(scope="package")
def shared_daemon(
    sandbox: Status, shared_namespace: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Daemon]:
    """One `rolloutd run --namespace <that namespace>` for all the scenarios."""
    proc = Daemon(str(sandbox.kubeconfig), shared_namespace, tmp_path_factory.mktemp("daemon"))
    proc.start()
    yield proc
    code = proc.stop()
    assert code in (0, -15, -9, None), f"daemon exited with {code}:\n{proc.logs()}"


@pytest.fixture
def ns(
    shared_namespace: str, shared_daemon: Daemon, request: pytest.FixtureRequest
) -> Iterator[str]:
    """The shared namespace, with its daemon running; the daemon's log is shown on failure."""
    assert shared_daemon.alive(), shared_daemon.logs()
    yield shared_namespace
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        print(shared_daemon.logs(200))
