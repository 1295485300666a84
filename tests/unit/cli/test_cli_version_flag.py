"""`--version` on the kubectl plugin: Argo's `version --short` line, exit code 0."""

from __future__ import annotations

from importlib import metadata

import pytest

from rolloutd.cli import app


def test_plugin_version_flag_prints_the_package_version(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        app.build_parser().parse_args(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out == f"kubectl-argo-rollouts: v{metadata.version('rolloutd')}\n"
