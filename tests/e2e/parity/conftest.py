"""Fixtures for the Argo parity suite: one namespace and one daemon per module.

Each scenario uses Rollouts and Services of its own names in that namespace, so a module's
scenarios share the daemon's start-up and the namespace's creation (the suite runs in CI,
and starting a daemon per scenario would be most of its time).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio

from rolloutd.kube.client import ApiError, KubeClient
from rolloutd.kube.resources import NAMESPACES
from rolloutd.sandbox.cluster import Status
from tests.e2e.harness import Daemon


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def shared_namespace(kube: KubeClient, request: pytest.FixtureRequest) -> AsyncIterator[str]:
    """A namespace for the whole module, deleted (with everything in it) afterwards."""
    base = request.module.__name__.rsplit(".", 1)[-1].replace("_", "-")[:40].strip("-")
    name = f"{base}-{uuid.uuid4().hex[:6]}"
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


@pytest.fixture(scope="module")
def shared_daemon(
    sandbox: Status, shared_namespace: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Daemon]:
    """One `rolloutd run --namespace <module namespace>` for the module's scenarios."""
    proc = Daemon(str(sandbox.kubeconfig), shared_namespace, tmp_path_factory.mktemp("daemon"))
    proc.start()
    yield proc
    code = proc.stop()
    assert code in (0, -15, -9, None), f"daemon exited with {code}:\n{proc.logs()}"


@pytest.fixture
def ns(
    shared_namespace: str, shared_daemon: Daemon, request: pytest.FixtureRequest
) -> Iterator[str]:
    """The module's namespace, with its daemon running; the daemon's log is shown on failure."""
    assert shared_daemon.alive(), shared_daemon.logs()
    yield shared_namespace
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        print(shared_daemon.logs(200))
