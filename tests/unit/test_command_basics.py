"""Command basics: `--version`; a kubeconfig that cannot be used is one line naming the file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from rolloutd.kube.client import ClusterUnreachable, KubeClient

BROKEN = {
    "yaml": "apiVersion: v1\nclusters: [\n  - {name: x\n",
    "list": "- 1\n- 2\n",
    "no-context": "apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n",
}


@pytest.mark.parametrize("kind", sorted(BROKEN))
async def test_connect_names_the_file(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "config"
    path.write_text(BROKEN[kind])
    with pytest.raises(ClusterUnreachable) as err:
        await KubeClient.connect(kubeconfig=str(path))
    message = str(err.value)
    assert f"kubeconfig {path} cannot be used" in message
    assert "\n" not in message


@pytest.mark.parametrize(
    "command", [["rolloutd.cli.app", "list", "rollouts"], ["rolloutd.main", "run"]]
)
def test_commands_print_one_line_and_fail(tmp_path: Path, command: list[str]) -> None:
    path = tmp_path / "config"
    path.write_text(BROKEN["yaml"])
    done = subprocess.run(
        [sys.executable, "-m", *command, "--kubeconfig", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert "cannot be used" in lines[0] and "Traceback" not in lines[0]


def test_rolloutd_version() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "rolloutd.main", "--version"], capture_output=True, text=True
    )
    assert done.returncode == 0
    assert done.stdout.startswith("rolloutd ") and done.stdout.split()[1][0].isdigit()
