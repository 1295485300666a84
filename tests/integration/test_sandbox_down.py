"""`sandbox down` stops every process of its sandbox, not only those in its pid file: one
started again by hand (issue 11, point 7) is found by its command line naming the sandbox's
folder, or by its listening on the sandbox's ports. Processes of other sandboxes are left alone.
The components here are stand-ins (Python under the components' names), so no cluster is needed."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from rolloutd_dev.sandbox.cluster import Sandbox
from tests.e2e.harness import free_port

SLEEPER = "import sys, time; time.sleep(120)"
LISTENER = (
    "import socket, sys, time; s = socket.socket(); "
    "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); "
    "s.bind(('127.0.0.1', int(sys.argv[1]))); s.listen(); time.sleep(120)"
)


@pytest.fixture
def spawned() -> Iterator[list[subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait(5)


def fake(bin_dir: Path, name: str, *args: str, cwd: Path) -> subprocess.Popen[bytes]:
    """A process whose command line starts with a binary called `name`, as a hand-run would."""
    exe = bin_dir / name
    if not exe.exists():
        exe.symlink_to(sys.executable)
    return subprocess.Popen([str(exe), *args], cwd=cwd, stdin=subprocess.DEVNULL)


def until(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 10
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_down_stops_hand_restarted_components_and_nothing_else(
    tmp_path: Path, spawned: list[subprocess.Popen[bytes]]
) -> None:
    home, other, bins = tmp_path / "sbx", tmp_path / "other", tmp_path / "bin"
    for folder in (home, other, bins):
        folder.mkdir()
    sandbox = Sandbox(home=home, port=free_port())
    # In the pid file.
    recorded = fake(bins, "kube-scheduler", "-c", SLEEPER, f"--kubeconfig={home}/kubeconfig",
                    cwd=home)  # fmt: skip
    # Restarted by hand from elsewhere: only its flags name the sandbox's folder.
    by_hand = fake(bins, "etcd", "-c", SLEEPER, f"--data-dir={home}/etcd-data", cwd=tmp_path)
    # Restarted by hand with relative paths: only its port says it is ours.
    by_port = fake(bins, "kube-apiserver", "-c", LISTENER, str(sandbox.port), cwd=tmp_path)
    # Another sandbox's etcd, and our folder's name as a prefix of its folder: not ours.
    foreign = fake(bins, "etcd", "-c", SLEEPER, f"--data-dir={home}2/etcd-data", cwd=other)
    spawned += [recorded, by_hand, by_port, foreign]
    (home / "pids.json").write_text(json.dumps({"kube-scheduler": recorded.pid, "etcd": 999999}))

    def listening() -> bool:
        return sandbox.running()["kube-apiserver"] == [by_port.pid]

    until(listening, "the stand-in apiserver to listen")
    running = sandbox.running()
    assert running["etcd"] == [by_hand.pid]
    assert running["kube-scheduler"] == [recorded.pid]
    status = {c.name: c for c in sandbox.status().components}
    assert status["etcd"].running and status["etcd"].pid == by_hand.pid

    sandbox.down(lambda _: None, quiet=True)

    for proc in (recorded, by_hand, by_port):
        assert proc.wait(5) is not None
    assert foreign.poll() is None, "down stopped another sandbox's process"
    assert not any(sandbox.running().values())
    assert not (home / "pids.json").exists()
