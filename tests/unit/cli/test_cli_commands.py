"""Each command end to end against an in-memory API: arguments, requests, output, exit codes."""

from __future__ import annotations

import copy
import io
import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import pytest
import yaml
from fake_kube import FakeKube, not_found

from rolloutd.cli import app, commands
from rolloutd.cli.render import CLEAR_SCREEN
from rolloutd.cli.session import Session, kubeconfig_path, label_selector
from rolloutd.cli.timefmt import parse_time
from rolloutd.kube.client import ApiError, ClusterUnreachable, KubeClient
from rolloutd.kube.resources import ROLLOUTS

GOLDEN = Path(__file__).resolve().parents[2] / "golden"
NS = "argo-rollouts"


class TriggerIO(io.StringIO):
    """A stdout that runs a callback once the output first contains a given text."""

    def __init__(self) -> None:
        super().__init__()
        self.triggers: list[tuple[str, Callable[[], None]]] = []

    def on(self, text: str, callback: Callable[[], None]) -> None:
        self.triggers.append((text, callback))

    def write(self, s: str) -> int:
        written = super().write(s)
        for trigger in list(self.triggers):
            if trigger[0] in self.getvalue():
                self.triggers.remove(trigger)
                trigger[1]()
        return written


@pytest.fixture
def kube(monkeypatch: pytest.MonkeyPatch) -> FakeKube:
    fake = FakeKube(namespace=NS)
    connected: dict[str, Any] = {}

    async def fake_connect(
        *, kubeconfig: str | None, context: str | None, namespace: str | None
    ) -> Session:
        connected.update(kubeconfig=kubeconfig, context=context, namespace=namespace)
        return Session(kube=cast(KubeClient, fake), namespace=namespace or NS)

    monkeypatch.setattr(commands, "connect", fake_connect)
    fake.connected = connected  # type: ignore[attr-defined]
    return fake


def load_fixture(kube: FakeKube, name: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((GOLDEN / f"{name}.yaml").read_text())
    plural = {"Rollout": "rollouts", "ReplicaSet": "replicasets", "Pod": "pods"}
    for obj in data["objects"]:
        kube.add(plural[obj["kind"]], obj)
    return data


def run(*argv: str, out: io.StringIO | None = None) -> tuple[int, str, str]:
    stdout = out if out is not None else io.StringIO()
    stderr = io.StringIO()
    code = app.run(list(argv), out=stdout, err=stderr)
    return code, stdout.getvalue(), stderr.getvalue()


def rollout_obj(kube: FakeKube) -> dict[str, Any]:
    return kube.objects[("rollouts", NS, "rollouts-demo")]


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
            (["status", "x", "--timeout", "5x"], 'invalid duration "5x"'),
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


# -- writes -------------------------------------------------------------------------------------


class TestWrites:
    def test_promote_at_a_pause_clears_pause_conditions_on_the_status_subresource(
        self, kube: FakeKube
    ) -> None:
        load_fixture(kube, "seed-paused-step1")
        code, out, err = run("promote", "rollouts-demo", "-n", NS)
        assert (code, out, err) == (0, "rollout 'rollouts-demo' promoted\n", "")
        [write] = kube.writes()
        assert (write.verb, write.subresource, write.patch_type) == ("patch", "status", "merge")
        assert write.body == {"status": {"pauseConditions": None}}
        assert "pauseConditions" not in rollout_obj(kube)["status"]

    def test_promote_full_of_a_manually_paused_rollout(self, kube: FakeKube) -> None:
        data = load_fixture(kube, "seed-paused-step1")
        rollout_obj(kube)["spec"]["paused"] = True
        assert data
        code, out, _ = run("promote", "rollouts-demo", "--full")
        assert (code, out) == (0, "rollout 'rollouts-demo' fully promoted\n")
        assert [(w.subresource, w.body) for w in kube.writes()] == [
            ("status", {"status": {"promoteFull": True}}),
            ("", {"spec": {"paused": False}}),
        ]

    def test_abort_retry_pause_resume(self, kube: FakeKube) -> None:
        load_fixture(kube, "seed-paused-step1")
        for argv, message, sub, body in [
            (["abort", "rollouts-demo"], "aborted", "status", {"status": {"abort": True}}),
            (
                ["retry", "rollout", "rollouts-demo"],
                "retried",
                "status",
                {"status": {"abort": False}},
            ),
            (["pause", "rollouts-demo"], "paused", "", {"spec": {"paused": True}}),
            (["resume", "rollouts-demo"], "resumed", "", {"spec": {"paused": False}}),
        ]:
            kube.calls.clear()
            code, out, err = run(*argv)
            assert (code, out, err) == (0, f"rollout 'rollouts-demo' {message}\n", "")
            assert [(w.verb, w.subresource, w.patch_type, w.body) for w in kube.writes()] == [
                ("patch", sub, "merge", body)
            ]

    def test_abort_several_stops_at_the_first_missing(self, kube: FakeKube) -> None:
        load_fixture(kube, "seed-healthy")
        code, out, err = run("abort", "rollouts-demo", "ghost", "rollouts-demo")
        assert code == 1
        assert out == "rollout 'rollouts-demo' aborted\n"
        assert err == 'Error: rollouts.argoproj.io "ghost" not found\n'

    def test_set_image_updates_the_object(self, kube: FakeKube) -> None:
        load_fixture(kube, "seed-healthy")
        code, out, _ = run(
            "set", "image", "rollouts-demo", "rollouts-demo=argoproj/rollouts-demo:yellow"
        )
        assert (code, out) == (0, 'rollout "rollouts-demo" image updated\n')
        [write] = kube.writes()
        assert write.verb == "update"
        containers = write.body["spec"]["template"]["spec"]["containers"]
        assert containers[0]["image"] == "argoproj/rollouts-demo:yellow"

    def test_set_image_retries_on_conflict(self, kube: FakeKube) -> None:
        load_fixture(kube, "seed-healthy")
        kube.fail(
            "update", "rollouts", ApiError(409, "Conflict", "the object has been modified"), times=2
        )
        code, _, _ = run("set", "image", "rollouts-demo", "*=img:2")
        assert code == 0
        assert [c.verb for c in kube.calls] == ["get", "update"] * 3

    def test_set_image_errors(self, kube: FakeKube) -> None:
        load_fixture(kube, "seed-healthy")
        code, _, err = run("set", "image", "rollouts-demo", "img:2")
        assert code == 1
        assert err == (
            'Error: invalid image spec "img:2": expected CONTAINER=IMAGE (or *=IMAGE '
            "for all containers)\n"
        )
        assert kube.calls == []
        code, _, err = run("set", "image", "rollouts-demo", "nope=img:2")
        assert (code, err) == (1, 'Error: unable to find container named "nope"\n')

    def test_undo(self, kube: FakeKube) -> None:
        load_fixture(kube, "seed-paused-step1")
        code, out, _ = run("undo", "rollouts-demo")
        assert (code, out) == (0, "rollout 'rollouts-demo' undo\n")
        [write] = kube.writes()
        assert write.patch_type == "json"
        [op] = write.body
        assert (op["op"], op["path"]) == ("replace", "/spec/template")
        assert op["value"]["spec"]["containers"][0]["image"] == "argoproj/rollouts-demo:blue"
        assert "rollouts-pod-template-hash" not in op["value"]["metadata"]["labels"]

    def test_undo_to_the_current_revision_is_skipped(self, kube: FakeKube) -> None:
        load_fixture(kube, "seed-paused-step1")
        code, out, _ = run("undo", "rollouts-demo", "--to-revision", "2")
        assert (code, out) == (
            0,
            "skipped rollback (current template already matches revision 2)\n",
        )
        assert kube.writes() == []

    def test_restart(self, kube: FakeKube, monkeypatch: pytest.MonkeyPatch) -> None:
        from datetime import UTC, datetime

        load_fixture(kube, "seed-healthy")
        monkeypatch.setattr(commands, "_utcnow", lambda: datetime(2025, 6, 1, 12, tzinfo=UTC))
        code, out, _ = run("restart", "rollouts-demo", "--in", "30s")
        assert (code, out) == (0, "rollout 'rollouts-demo' restarts in 30s\n")
        [write] = kube.writes()
        assert write.body == {"spec": {"restartAt": "2025-06-01T12:00:30Z"}}
        kube.calls.clear()
        code, out, _ = run("restart", "rollouts-demo")
        assert out == "rollout 'rollouts-demo' restarts in 0s\n"
        assert kube.writes()[0].body == {"spec": {"restartAt": "2025-06-01T12:00:00Z"}}


# -- errors -------------------------------------------------------------------------------------


class TestErrors:
    def test_not_found(self, kube: FakeKube) -> None:
        for argv in (
            ["get", "rollout", "x"],
            ["promote", "x"],
            ["status", "x"],
            ["undo", "x"],
            ["get", "rollout", "x", "-w"],
        ):
            code, out, err = run(*argv)
            assert (code, out, err) == (1, "", 'Error: rollouts.argoproj.io "x" not found\n')

    def test_forbidden_names_verb_and_resource(self, kube: FakeKube) -> None:
        load_fixture(kube, "seed-paused-step1")
        kube.fail(
            "patch",
            "rollouts/status",
            ApiError(
                403,
                "Forbidden",
                'rollouts.argoproj.io "rollouts-demo" is forbidden: User "bob" cannot patch '
                'resource "rollouts/status" in API group "argoproj.io" in the namespace '
                '"argo-rollouts"',
            ),
        )
        code, _, err = run("promote", "rollouts-demo")
        assert code == 1
        assert err.startswith('Error: rollouts.argoproj.io "rollouts-demo" is forbidden: User')
        assert 'cannot patch resource "rollouts/status"' in err
        kube.fail("get", "rollouts", ApiError(403, "Forbidden", "denied by policy"))
        code, _, err = run("get", "rollout", "rollouts-demo")
        assert err == (
            "Error: forbidden: cannot get rollouts.argoproj.io in namespace "
            '"argo-rollouts": denied by policy\n'
        )

    def test_missing_crd(self, kube: FakeKube) -> None:
        kube.fail(
            "get",
            "rollouts",
            ApiError(404, "NotFound", "the server could not find the requested resource"),
        )
        code, _, err = run("get", "rollout", "x")
        assert code == 1
        assert "the server does not serve rollouts.argoproj.io" in err
        assert "Rollout CRD installed" in err

    def test_unreachable_cluster_says_where_and_what_to_do(self, kube: FakeKube) -> None:
        error = ClusterUnreachable("cannot reach")
        error.__cause__ = ConnectionRefusedError(111, "Connection refused")
        kube.fail("get", "rollouts", cast(ApiError, error))
        code, _, err = run("get", "rollout", "x")
        assert code == 1
        assert err.count("\n") == 1
        assert err.startswith(
            "Error: cannot reach the Kubernetes API server at "
            "https://127.0.0.1:6443 (kubeconfig /tmp/kubeconfig)"
        )
        assert "rolloutd sandbox up" in err and "kubectl cluster-info" in err


# -- get, status, list ---------------------------------------------------------------------------


class TestViews:
    def test_get_rollout_prints_the_tree(
        self, kube: FakeKube, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        data = load_fixture(kube, "paused-step1-6pods")
        monkeypatch.setattr(commands, "_utcnow", lambda: parse_time(data["now"]))
        code, out, err = run("get", "rollout", "rollouts-demo", "-n", NS)
        assert (code, err) == (0, "")
        assert out == (GOLDEN / "paused-step1-6pods.txt").read_text()
        assert kube.connected == {"kubeconfig": None, "context": None, "namespace": NS}  # type: ignore[attr-defined]
        lists = {c.plural: c.body for c in kube.calls if c.verb == "list"}
        assert lists == {
            "replicasets": "app=rollouts-demo",
            "pods": "app=rollouts-demo",
            "analysisruns": None,
        }

    def test_get_rollout_watch_redraws_on_events_and_stops_on_ctrl_c(self, kube: FakeKube) -> None:
        load_fixture(kube, "seed-paused-step1")
        promoted = copy.deepcopy(rollout_obj(kube))
        promoted["status"].update(
            currentStepIndex=2,
            pauseConditions=None,
            phase="Progressing",
            message="more replicas need to be updated",
        )
        out = TriggerIO()
        out.on(
            "Step:          1/8",
            lambda: kube.queue("rollouts").put_nowait({"type": "MODIFIED", "object": promoted}),
        )
        out.on("Step:          2/8", lambda: os.kill(os.getpid(), signal.SIGINT))
        code, text, err = run("get", "rollout", "rollouts-demo", "--watch", out=out)
        assert (code, err) == (0, "")
        frames = text.split(CLEAR_SCREEN)[1:]
        assert len(frames) >= 2
        assert "॥ Paused" in frames[0] and "Step:          1/8" in frames[0]
        assert "◌ Progressing" in frames[-1] and "Step:          2/8" in frames[-1]
        assert [c.plural for c in kube.calls if c.verb == "watch"] == [
            "rollouts",
            "replicasets",
            "pods",
            "analysisruns",
        ]

    def test_get_rollout_watch_timeout_ends_cleanly(self, kube: FakeKube) -> None:
        load_fixture(kube, "seed-healthy")
        code, text, err = run("get", "rollout", "rollouts-demo", "-w", "--timeout-seconds", "1")
        assert (code, err) == (0, "")
        assert text.startswith(CLEAR_SCREEN + "Name:            rollouts-demo\n")

    def test_status_once(self, kube: FakeKube) -> None:
        load_fixture(kube, "seed-paused-step1")
        assert run("status", "rollouts-demo", "--watch=false") == (
            0,
            "Paused - CanaryPauseStep\n",
            "",
        )
        rollout_obj(kube)["status"].update(phase="Healthy", message="")
        assert run("status", "rollouts-demo", "--watch=false") == (0, "Healthy\n", "")

    def test_status_once_degraded_exits_1(self, kube: FakeKube) -> None:
        load_fixture(kube, "seed-paused-step1")
        rollout_obj(kube)["status"].update(
            phase="Degraded", message="RolloutAborted: Rollout aborted update to revision 2"
        )
        assert run("status", "rollouts-demo", "--watch=false") == (
            1,
            "Degraded\n",
            "Error: The rollout is in a degraded state with message: RolloutAborted: Rollout "
            "aborted update to revision 2\n",
        )

    def test_status_watch_prints_changes_until_healthy(self, kube: FakeKube) -> None:
        load_fixture(kube, "seed-paused-step1")
        steps = []
        for phase, message in [
            ("Paused", "CanaryPauseStep"),  # unchanged: not printed again
            ("Progressing", "more replicas need to be updated"),
            ("Healthy", ""),
        ]:
            obj = copy.deepcopy(rollout_obj(kube))
            obj["status"].update(phase=phase, message=message)
            steps.append({"type": "MODIFIED", "object": obj})
        out = TriggerIO()
        out.on(
            "Paused - CanaryPauseStep",
            lambda: [kube.queue("rollouts").put_nowait(e) for e in steps],
        )
        code, text, err = run("status", "rollouts-demo", out=out)
        assert (code, err) == (0, "")
        assert text.splitlines()[0] == "Paused - CanaryPauseStep"
        assert text.splitlines()[-1] == "Healthy"
        assert text.count("Paused - CanaryPauseStep") == 1

    def test_status_watch_degraded(self, kube: FakeKube) -> None:
        load_fixture(kube, "seed-paused-step1")
        obj = copy.deepcopy(rollout_obj(kube))
        obj["status"].update(phase="Degraded", message="RolloutAborted: x")
        out = TriggerIO()
        out.on(
            "Paused", lambda: kube.queue("rollouts").put_nowait({"type": "MODIFIED", "object": obj})
        )
        code, text, err = run("status", "rollouts-demo", out=out)
        assert code == 1
        assert text.splitlines()[-1] == "Degraded - RolloutAborted: x"
        assert err == "Error: The rollout is in a degraded state with message: RolloutAborted: x\n"

    def test_status_watch_timeout(self, kube: FakeKube) -> None:
        load_fixture(kube, "seed-paused-step1")
        code, text, err = run("status", "rollouts-demo", "--timeout", "100ms")
        assert (code, text) == (1, "Paused - CanaryPauseStep\n")
        assert err == "Error: Rollout status watch exceeded timeout\n"

    def test_list(self, kube: FakeKube) -> None:
        code, out, err = run("list", "rollouts")
        assert (code, out, err) == (0, "", "No resources found.\n")
        load_fixture(kube, "seed-paused-step3")
        code, out, _ = run("list", "rollouts")
        assert out.splitlines() == [
            "NAME           STRATEGY   STATUS        STEP  SET-WEIGHT  READY  DESIRED  UP-TO-DATE  "
            "AVAILABLE",
            "rollouts-demo  Canary     Paused        3/8   40          7/7    5        2           "
            "7",
        ]
        code, out, _ = run("list", "rollouts", "--name", "other")
        assert out == ""
        code, out, _ = run("list", "rollouts", "-A")
        assert out.splitlines()[1].startswith("argo-rollouts  rollouts-demo  Canary")
        assert [c.namespace for c in kube.calls if c.verb == "list"][-1] is None


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


def test_not_found_helper_matches_the_api_wording() -> None:
    assert str(not_found(ROLLOUTS, "x").message) == 'rollouts.argoproj.io "x" not found'


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
    assert err.count("\n") == 1 and "rolloutd sandbox up" in err
