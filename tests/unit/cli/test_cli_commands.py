"""The command line without a cluster: parsing, usage errors, offline commands, helpers.

Commands that talk to the API server are tested against the real sandbox, in
tests/integration/test_cli_on_cluster.py.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from rolloutd.cli import app, commands
from rolloutd.cli.session import kubeconfig_path, label_selector

GOLDEN = Path(__file__).resolve().parents[2] / "golden"


def run(*argv: str, out: io.StringIO | None = None) -> tuple[int, str, str]:
    stdout = out if out is not None else io.StringIO()
    stderr = io.StringIO()
    code = app.run(list(argv), out=stdout, err=stderr)
    return code, stdout.getvalue(), stderr.getvalue()


# -- parsing ------------------------------------------------------------------------------------


class TestParsing:
    def parse(self, *argv: str) -> Any:
        return app.build_parser().parse_args(app.normalise_argv(list(argv)))

    def test_get_rollout_aliases_and_flags(self) -> None:
        for alias in ("rollout", "ro", "rollouts"):
            args = self.parse("get", alias, "demo", "-w", "--no-color", "--timeout-seconds", "5")
            assert (args.handler, args.name, args.watch, args.no_color, args.timeout_seconds) == (
                commands.get_rollout,
                "demo",
                True,
                True,
                5,
            )

    def test_connection_flags_before_or_after_the_command(self) -> None:
        before = self.parse("-n", "ns1", "--context", "c1", "--kubeconfig", "/k", "promote", "x")
        after = self.parse("promote", "x", "-n", "ns1", "--context", "c1", "--kubeconfig", "/k")
        nested = self.parse("get", "rollout", "x", "--namespace", "ns1")
        for args in (before, after):
            assert (args.namespace, args.context, args.kubeconfig) == ("ns1", "c1", "/k")
        assert nested.namespace == "ns1"
        assert self.parse("promote", "x").namespace is None

    def test_write_commands(self) -> None:
        assert self.parse("promote", "x", "--full").full is True
        assert self.parse("abort", "a", "b").names == ["a", "b"]
        assert self.parse("retry", "rollout", "a").handler is commands.retry_rollout
        assert self.parse("retry", "ro", "a").names == ["a"]
        assert self.parse("pause", "a").handler is commands.pause
        assert self.parse("resume", "a").handler is commands.resume
        assert self.parse("undo", "a", "--to-revision", "3").to_revision == 3
        assert self.parse("undo", "a", "--to-revision=3").to_revision == 3
        assert self.parse("restart", "a", "--in", "30s").restart_in == "30s"
        args = self.parse("set", "image", "a", "app=img:2")
        assert (args.handler, args.name, args.image) == (commands.set_image, "a", "app=img:2")

    def test_status_watch_flag_takes_go_booleans(self) -> None:
        assert self.parse("status", "a").watch is True
        assert self.parse("status", "a", "--watch=false").watch is False
        assert self.parse("status", "a", "-w=false").watch is False
        assert self.parse("status", "a", "--watch=true").watch is True
        assert self.parse("status", "a", "--watch").watch is True
        assert self.parse("status", "a", "--timeout", "5m").timeout == 300
        assert self.parse("status", "a", "-t", "90s").timeout == 90

    def test_list_and_offline_commands(self) -> None:
        args = self.parse("list", "rollouts", "-A", "--name", "x")
        assert (args.all_namespaces, args.name) == (True, "x")
        assert self.parse("list", "ro").handler is commands.list_rollouts
        assert self.parse("lint", "-f", "r.yaml").filename == "r.yaml"
        assert self.parse("version", "--short").short is True
        assert self.parse("get", "ro", "x", "--no-color=true").no_color is True
        assert self.parse("get", "ro", "x", "--no-color=false").no_color is False

    @pytest.mark.parametrize(
        ("argv", "message"),
        [
            (["get"], "the following arguments are required: KIND"),
            (["promote"], "the following arguments are required: ROLLOUT_NAME"),
            (["status", "x", "--timeout", "5x"], 'time: unknown unit "x" in duration "5x"'),
            (["frobnicate"], "invalid choice: 'frobnicate'"),
            (["undo", "x", "--to-revision", "-1"], "must not be negative"),
        ],
    )
    def test_usage_errors(self, argv: list[str], message: str) -> None:
        code, out, err = run(*argv)
        assert code == 1 and out == ""
        assert err.startswith("Error: ") and message in err
        assert "--help' for usage." in err

    def test_no_command_prints_help(self) -> None:
        code, out, _ = run()
        assert code == 0 and "promote" in out and "kubectl argo rollouts" in out

    def test_prog_name_follows_how_it_was_invoked(self) -> None:
        assert app._prog_name("/venv/bin/kubectl-argo-rollouts") == "kubectl argo rollouts"
        assert app._prog_name("/venv/bin/rollouts") == "rollouts"


# -- offline commands -----------------------------------------------------------------------------


SEED_ROLLOUT = Path(__file__).resolve().parents[3].parent / "shared/seeds/manifests/rollout.yaml"


def test_lint_accepts_the_seed_rollout(tmp_path: Path) -> None:
    manifest = tmp_path / "rollout.yaml"
    manifest.write_text((GOLDEN / "seed-healthy.yaml").read_text())
    rollout = yaml.safe_load(manifest.read_text())["objects"][0]
    del rollout["status"]
    manifest.write_text(
        "---\n"
        + yaml.safe_dump({"kind": "Service", "apiVersion": "v1", "metadata": {"name": "s"}})
        + "---\n"
        + yaml.safe_dump(rollout)
    )
    assert run("lint", "-f", str(manifest)) == (0, "", "")


def test_lint_reports_every_error_and_exits_1(tmp_path: Path) -> None:
    rollout = yaml.safe_load((GOLDEN / "seed-healthy.yaml").read_text())["objects"][0]
    rollout["spec"]["strategy"]["canary"]["steps"][0]["setWeight"] = 200
    rollout["spec"]["selector"]["matchLabels"]["app"] = "other"
    manifest = tmp_path / "bad.yaml"
    manifest.write_text(yaml.safe_dump(rollout))
    code, out, err = run("lint", "-f", str(manifest))
    assert code == 1
    lines = out.splitlines()
    assert len(lines) == 2
    assert any("steps[0].setWeight" in line for line in lines)
    assert err == f"Error: {lines[0]}\n"


def test_lint_file_errors(tmp_path: Path) -> None:
    code, _, err = run("lint", "-f", str(tmp_path / "missing.yaml"))
    assert code == 1 and err.startswith("Error: cannot read ") and "No such file" in err
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [b\n")
    code, _, err = run("lint", "-f", str(bad))
    assert code == 1 and "is not valid YAML" in err and err.count("\n") == 1


def test_version() -> None:
    code, out, _ = run("version")
    lines = out.splitlines()
    assert code == 0 and lines[0].startswith("kubectl-argo-rollouts: v")
    assert [line.split(":")[0].strip() for line in lines[1:]] == [
        "BuildDate",
        "GitCommit",
        "GitTreeState",
        "PythonVersion",
        "Compiler",
        "Platform",
    ]
    assert run("version", "--short")[1] == lines[0] + "\n"


# -- helpers ----------------------------------------------------------------------------------


def test_kubeconfig_path(tmp_path: Path) -> None:
    real = tmp_path / "config"
    real.write_text("")
    missing = str(tmp_path / "missing")
    assert kubeconfig_path("/explicit", {"KUBECONFIG": str(real)}) == "/explicit"
    assert kubeconfig_path(None, {"KUBECONFIG": os.pathsep.join([missing, str(real)])}) == str(real)
    assert kubeconfig_path(None, {"KUBECONFIG": missing}) == missing
    assert kubeconfig_path(None, {}) is None


def test_label_selector() -> None:
    assert label_selector({"matchLabels": {"b": "2", "a": "1"}}) == "a=1,b=2"
    assert (
        label_selector(
            {
                "matchExpressions": [
                    {"key": "t", "operator": "In", "values": ["x", "y"]},
                    {"key": "u", "operator": "NotIn", "values": ["z"]},
                    {"key": "v", "operator": "Exists"},
                    {"key": "w", "operator": "DoesNotExist"},
                ]
            }
        )
        == "t in (x,y),u notin (z),v,!w"
    )
    assert label_selector(None) == ""


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("tty", "environ", "no_color", "expected"),
    [
        (True, {}, False, True),
        (False, {}, False, False),
        (True, {"TERM": "dumb"}, False, False),
        (True, {"NO_COLOR": "1"}, False, False),
        (True, {}, True, False),
    ],
)
def test_colour_only_on_a_terminal(
    tty: bool, environ: dict[str, str], no_color: bool, expected: bool
) -> None:
    import argparse

    ctx = commands.Context(
        args=argparse.Namespace(no_color=no_color),
        out=_Tty() if tty else io.StringIO(),
        environ=environ,
    )
    assert ctx.color() is expected


def test_unreachable_cluster_with_a_real_client(tmp_path: Path) -> None:
    """Nothing listens on port 1: the real client's failure becomes one clear line."""
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1"}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "x",
            }
        )
    )
    code, out, err = run("get", "rollout", "demo", "--kubeconfig", str(kubeconfig))
    assert (code, out) == (1, "")
    assert err.startswith(
        f"Error: cannot reach the Kubernetes API server at https://127.0.0.1:1 "
        f"(kubeconfig {kubeconfig}): "
    )
    assert err.count("\n") == 1
    assert "--context" in err and "--server" in err and "kubectl cluster-info" in err
    # The sandbox is offered only as a try-out, never as the fix for a production cluster.
    assert "for a local try-out, `rolloutd sandbox up`" in err
