"""The chaos suite's own cluster: a second sandbox instance (its own folder and ports, the
shared binaries), so killing its etcd or freezing its API server disturbs no other test.

`ROLLOUTD_CHAOS_HOME` / `ROLLOUTD_CHAOS_PORT` choose it (default: a folder under the state dir
and port 17443, with 17444-17445 for etcd). It is started for the session and stopped at the
end, unless it was already up (then it is left running, as the shared sandbox is).
`ROLLOUTD_CHAOS_FULL=1` (or `python -m tests.chaos`) runs the long version: more kills.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio

from rolloutd.kube.client import ApiError, KubeClient
from rolloutd.kube.resources import NAMESPACES
from rolloutd_dev.sandbox.cluster import Sandbox, Status

FULL = bool(os.environ.get("ROLLOUTD_CHAOS_FULL"))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "chaos: disruptive tests on the chaos suite's own sandbox")


def chaos_home() -> Path:
    root = os.environ.get("ROLLOUTD_CHAOS_HOME")
    if root:
        return Path(root)
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "rolloutd" / "chaos-sandbox"


@pytest.fixture(scope="session")
def chaos_cluster() -> Iterator[Sandbox]:
    """The chaos suite's sandbox instance, up."""
    if os.environ.get("ROLLOUTD_SKIP_SANDBOX"):
        pytest.skip("ROLLOUTD_SKIP_SANDBOX is set: tests on a real cluster are skipped")
    cluster = Sandbox(home=chaos_home(), port=int(os.environ.get("ROLLOUTD_CHAOS_PORT", "17443")))

    def progress(message: str) -> None:
        print(f"chaos sandbox: {message}", file=sys.stderr, flush=True)

    was_up = cluster.status().up
    cluster.up(progress)
    yield cluster
    if not was_up:
        cluster.down(progress)
        # `down` finds every process of the sandbox, including those the suite restarted.
        assert not any(cluster.running().values()), cluster.running()


@pytest.fixture
def chaos_sandbox(chaos_cluster: Sandbox) -> Status:
    """The chaos sandbox's status; brought back up if a test left a component down."""
    status = chaos_cluster.status()
    if not status.up:
        status = chaos_cluster.up(lambda m: print(f"chaos sandbox: {m}", file=sys.stderr))
    return status


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def chaos_kube(chaos_cluster: Sandbox) -> AsyncIterator[KubeClient]:
    client = await KubeClient.connect(kubeconfig=str(chaos_cluster.kubeconfig))
    try:
        yield client
    finally:
        await client.close()


@pytest_asyncio.fixture(loop_scope="session")
async def chaos_namespace(
    chaos_sandbox: Status, chaos_kube: KubeClient, request: pytest.FixtureRequest
) -> AsyncIterator[str]:
    base = "".join(
        ch for ch in request.node.name.lower().replace("_", "-") if ch.isalnum() or ch == "-"
    )
    name = f"{base[:40].strip('-')}-{uuid.uuid4().hex[:6]}"
    body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
    await chaos_kube.create(NAMESPACES, body)
    try:
        yield name
    finally:
        try:
            await chaos_kube.delete(NAMESPACES, name)
        except ApiError as exc:
            if not exc.not_found:
                raise
