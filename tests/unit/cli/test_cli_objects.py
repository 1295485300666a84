"""The pure parts of `create`, `terminate` and `list experiments`: which files are accepted,
what `create` prints, and Argo's experiment table."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from rolloutd.cli import app, objects_cmd
from rolloutd.cli.errors import CliError

NOW = datetime(2024, 1, 1, 12, 0, 0, tzinfo=UTC)


def _file(tmp_path: Path, body: object, name: str = "obj.yaml") -> str:
    path = tmp_path / name
    path.write_text(json.dumps(body))
    return str(path)


def test_manifest_kinds(tmp_path: Path) -> None:
    run = {"apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisRun", "metadata": {"name": "r"}}
    assert objects_cmd.read_manifest(_file(tmp_path, run))["kind"] == "AnalysisRun"
    stdin = io.StringIO(json.dumps(run))
    assert objects_cmd.read_manifest("-", stdin)["metadata"]["name"] == "r"
    with pytest.raises(CliError, match=r"creates of apps/Deployment unsupported"):
        objects_cmd.read_manifest(
            _file(tmp_path, {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {}})
        )
    with pytest.raises(CliError, match=r"has no metadata\.name"):
        objects_cmd.read_manifest(
            _file(tmp_path, {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout"})
        )
    with pytest.raises(CliError, match=r"open .*missing\.yaml"):
        objects_cmd.read_manifest(str(tmp_path / "missing.yaml"))


def test_created_line_uses_argos_singulars() -> None:
    obj = {"metadata": {"name": "x"}}
    assert objects_cmd.created_line("Experiment", obj) == "experiment.argoproj.io/x created"
    # Argo prints ClusterAnalysisTemplates as analysistemplate too.
    assert (
        objects_cmd.created_line("ClusterAnalysisTemplate", obj)
        == "analysistemplate.argoproj.io/x created"
    )


def test_experiment_table() -> None:
    running = {
        "metadata": {
            "name": "exp-a",
            "namespace": "ns",
            "creationTimestamp": "2024-01-01T11:55:00Z",
        },
        "spec": {"duration": "10m"},
        "status": {"phase": "Running", "availableAt": "2024-01-01T11:56:00Z"},
    }
    done = {
        "metadata": {
            "name": "exp-b",
            "namespace": "ns",
            "creationTimestamp": "2024-01-01T10:00:00Z",
        },
        "spec": {},
        "status": {"phase": "Successful"},
    }
    lines = objects_cmd.render_experiments([done, running], NOW, all_namespaces=False)
    assert lines[0].split() == ["NAME", "STATUS", "DURATION", "REMAINING", "AGE"]
    assert lines[1].split() == ["exp-a", "Running", "10m", "6m", "5m"]
    assert lines[2].split() == ["exp-b", "Successful", "-", "-", "120m"]
    wide = objects_cmd.render_experiments([running], NOW, all_namespaces=True)
    assert wide[0].split()[0] == "NAMESPACE" and wide[1].split()[0] == "ns"


def test_create_watch_of_several_files_is_refused(tmp_path: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    code = app.run(["create", "-f", "a.yaml", "-f", "b.yaml", "-w"], out=out, err=err)
    assert (code, out.getvalue(), err.getvalue()) == (
        1,
        "",
        "Error: Cannot watch multiple resources\n",
    )


def test_create_bad_file_fails_before_connecting(tmp_path: Path) -> None:
    bad = _file(tmp_path, {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}})
    out, err = io.StringIO(), io.StringIO()
    # No cluster is reachable here: the error must come from the file, not the connection.
    code = app.run(["create", "-f", bad, "--kubeconfig", "/nonexistent"], out=out, err=err)
    assert (code, err.getvalue()) == (1, "Error: creates of v1/Pod unsupported\n")


def test_experiment_tree() -> None:
    exp = {
        "metadata": {
            "name": "exp-a",
            "namespace": "ns",
            "uid": "u-exp",
            "creationTimestamp": "2024-01-01T11:58:00Z",
        },
        "status": {"phase": "Running"},
    }
    owner = [{"uid": "u-exp", "kind": "Experiment", "name": "exp-a", "controller": True}]
    rs = {
        "metadata": {
            "name": "exp-a-baseline-abc",
            "uid": "u-rs",
            "creationTimestamp": "2024-01-01T11:58:00Z",
            "ownerReferences": owner,
            "labels": {"rollouts-pod-template-hash": "abc"},
        },
        "spec": {
            "replicas": 1,
            "template": {"spec": {"containers": [{"name": "c", "image": "nginx:1"}]}},
        },
        "status": {"replicas": 1, "readyReplicas": 1, "availableReplicas": 1},
    }
    run = {
        "metadata": {
            "name": "exp-a-ok",
            "creationTimestamp": "2024-01-01T11:59:00Z",
            "ownerReferences": owner,
        },
        "status": {"phase": "Successful", "metricResults": [{"name": "m", "successful": 1}]},
    }
    stranger = {**rs, "metadata": {**rs["metadata"], "name": "other", "ownerReferences": []}}
    lines = objects_cmd.experiment_lines(exp, [rs, stranger], [], [run], NOW)
    assert lines[:4] == [
        "Name:            exp-a",
        "Namespace:       ns",
        "Status:          ◌ Running",
        "Images:          nginx:1",
    ]
    table = lines[5:]
    assert table[0].split() == ["NAME", "KIND", "STATUS", "AGE", "INFO"]
    assert table[1].split()[:4] == ["Σ", "exp-a", "Experiment", "◌"]
    assert table[2].startswith("├──⧉ exp-a-baseline-abc") and "ReplicaSet" in table[2]
    assert table[3].startswith("└──α exp-a-ok") and "✔ 1" in table[3]
    assert not any("other" in line for line in lines)


def test_rollout_tree_shows_its_experiments_under_the_revision() -> None:
    import yaml

    from rolloutd.cli import render

    golden = Path(__file__).resolve().parents[2] / "golden" / "paused-step1-6pods.yaml"
    objects = yaml.safe_load(golden.read_text())["objects"]
    rollout = next(o for o in objects if o["kind"] == "Rollout")
    replica_sets = [o for o in objects if o["kind"] == "ReplicaSet"]
    pods = [o for o in objects if o["kind"] == "Pod"]
    newest = max(
        int(rs["metadata"]["annotations"]["rollout.argoproj.io/revision"]) for rs in replica_sets
    )
    exp = {
        "metadata": {
            "name": "rollouts-demo-exp-1",
            "uid": "u-exp",
            "creationTimestamp": rollout["metadata"]["creationTimestamp"],
            "annotations": {"rollout.argoproj.io/revision": str(newest)},
            "ownerReferences": [{"uid": rollout["metadata"]["uid"], "kind": "Rollout"}],
        },
        "status": {"phase": "Running"},
    }
    foreign = {**exp, "metadata": {**exp["metadata"], "name": "not-ours", "ownerReferences": []}}
    now = datetime(2030, 1, 1, tzinfo=UTC)
    plain = render.render_rollout(rollout, replica_sets, pods, now=now)
    text = render.render_rollout(rollout, replica_sets, pods, now=now, experiments=[exp, foreign])
    lines = text.splitlines()
    sigma = [i for i, line in enumerate(lines) if "Σ rollouts-demo-exp-1" in line]
    assert len(sigma) == 1 and "Experiment" in lines[sigma[0]]
    revision = next(i for i, line in enumerate(lines) if f"# revision:{newest}" in line)
    later = [i for i, line in enumerate(lines) if "# revision:" in line and i > revision]
    assert revision < sigma[0] < (later[0] if later else len(lines))
    assert "not-ours" not in text
    # Without experiments, nothing else changed.
    assert [line for line in lines if "Σ" not in line and "│  " not in line] != []
    assert len(lines) == len(plain.splitlines()) + 1
