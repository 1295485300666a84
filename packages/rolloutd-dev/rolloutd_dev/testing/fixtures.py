"""pytest fixtures that put a test on the real local cluster.

`sandbox` brings `rolloutd sandbox` up once per test session (or reuses one that is already
up, and then leaves it running); `kube` is an API client for it; `namespace` is a fresh
namespace per test, deleted afterwards. A project gets them by opting in to the plugin in its
top-level conftest.py, `pytest_plugins = ["rolloutd_dev.testing.plugin"]`; installing
rolloutd-dev alone adds nothing to anyone's test session.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio

from rolloutd.kube.client import ApiError, KubeClient
from rolloutd.kube.resources import NAMESPACES
from rolloutd_dev.sandbox.cluster import Sandbox, Status


@pytest.fixture(scope="session")
def sandbox() -> Iterator[Status]:
    """The running sandbox; started for this session unless one was already up."""
    if os.environ.get("ROLLOUTD_SKIP_SANDBOX"):
        pytest.skip("ROLLOUTD_SKIP_SANDBOX is set: tests on the real cluster are skipped")
    cluster = Sandbox()
    was_up = cluster.status().up

    def progress(message: str) -> None:
        print(f"sandbox: {message}", file=sys.stderr, flush=True)

    status = cluster.up(progress)
    os.environ["KUBECONFIG"] = str(status.kubeconfig)
    yield status
    if not was_up and not os.environ.get("ROLLOUTD_KEEP_SANDBOX"):
        cluster.down(progress)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def kube(sandbox: Status) -> AsyncIterator[KubeClient]:
    client = await KubeClient.connect(kubeconfig=str(sandbox.kubeconfig))
    try:
        yield client
    finally:
        await client.close()


@pytest_asyncio.fixture(loop_scope="session")
async def namespace(kube: KubeClient, request: pytest.FixtureRequest) -> AsyncIterator[str]:
    """A namespace of the test's own, deleted (with everything in it) after the test."""
    base = request.node.name.lower().replace("_", "-")
    base = "".join(ch for ch in base if ch.isalnum() or ch == "-")[:40].strip("-")
    name = f"{base}-{uuid.uuid4().hex[:6]}"
    await kube.create(
        NAMESPACES,
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": name, "labels": {"rolloutd.test": "true"}},
        },
    )
    try:
        yield name
    finally:
        try:
            await kube.delete(NAMESPACES, name)
        except ApiError as exc:
            if not exc.not_found:
                raise
