"""The pure Experiment planner against a fake cluster (`expsim.py`): Argo's phases and messages,
ReplicaSets, Services and AnalysisRuns, scale-down after the delay, nothing written at rest, and
convergence after a crash part-way through a plan."""

from __future__ import annotations

from typing import Any

import pytest
from expsim import ExpCluster, experiment
from hypothesis import given, settings
from hypothesis import strategies as st

from rolloutd.model.constants import POD_HASH_LABEL
from rolloutd.model.experiment import InvalidExperiment, parse_experiment
from rolloutd.plan.experiment import CreateReplicaSet, ScaleReplicaSet


def drive(cluster: ExpCluster, *, until: str | None = None, steps: int = 60) -> None:
    for _ in range(steps):
        cluster.reconcile()
        cluster.kubelet()
        if until and cluster.phase == until:
            return
        cluster.tick(5)


def test_replica_sets_are_named_labelled_and_owned_as_argos() -> None:
    cluster = ExpCluster(experiment(duration="30s"))
    plan = cluster.reconcile()
    creates = [a for a in plan.actions if isinstance(a, CreateReplicaSet)]
    assert [a.obj["metadata"]["name"] for a in creates] == ["exp-baseline", "exp-canary"]
    rs = creates[0].obj
    pod_hash = rs["metadata"]["labels"][POD_HASH_LABEL]
    assert rs["spec"]["selector"]["matchLabels"] == {"app": "baseline", POD_HASH_LABEL: pod_hash}
    assert rs["spec"]["template"]["metadata"]["labels"][POD_HASH_LABEL] == pod_hash
    assert rs["metadata"]["ownerReferences"][0]["kind"] == "Experiment"
    assert rs["metadata"]["annotations"]["experiment.argoproj.io/template-name"] == "baseline"
    assert plan.status["phase"] == "Pending"


def test_pending_until_available_then_running_then_successful_after_duration() -> None:
    cluster = ExpCluster(experiment(duration="30s"))
    cluster.reconcile()
    cluster.reconcile()
    assert cluster.phase == "Pending"
    cluster.kubelet()
    cluster.reconcile()
    assert cluster.phase == "Running"
    assert cluster.obj["status"]["availableAt"]
    cluster.tick(10)
    cluster.reconcile()
    assert cluster.phase == "Running"
    cluster.tick(25)
    cluster.reconcile()
    assert cluster.phase == "Successful"
    statuses = cluster.obj["status"]["templateStatuses"]
    assert {t["status"] for t in statuses} == {"Successful"}


def test_templates_scaled_to_zero_only_after_scale_down_delay() -> None:
    cluster = ExpCluster(experiment(duration="10s", scaleDownDelaySeconds=20))
    drive(cluster, until="Successful")
    cluster.reconcile()
    assert all(rs["spec"]["replicas"] == 1 for rs in cluster.replica_sets.values())
    cluster.tick(21)
    plan = cluster.reconcile()
    assert {(a.name, a.replicas) for a in plan.actions if isinstance(a, ScaleReplicaSet)} == {
        ("exp-baseline", 0),
        ("exp-canary", 0),
    }


def test_analysis_created_when_available_and_failure_fails_the_experiment() -> None:
    cluster = ExpCluster(
        experiment(
            analyses=[{"name": "check", "templateName": "pass"}], dryRun=[{"metricName": "m"}]
        )
    )
    drive(cluster, until="Running")
    cluster.reconcile()
    run = cluster.runs["exp-check"]
    assert run["metadata"]["ownerReferences"][0]["name"] == "exp"
    assert run["spec"]["dryRun"] == [{"metricName": "m"}]
    cluster.finish_run("Failed", "metric m failed")
    plan = cluster.reconcile()
    assert cluster.phase == "Failed"
    assert cluster.obj["status"]["message"] == "metric m failed"
    assert [e.reason for e in plan.events] == ["ExperimentFailed"]


def test_required_analysis_successful_concludes_without_duration() -> None:
    cluster = ExpCluster(
        experiment(
            analyses=[{"name": "check", "templateName": "pass", "requiredForCompletion": True}]
        )
    )
    drive(cluster, until="Running")
    cluster.reconcile()
    cluster.finish_run("Successful")
    cluster.reconcile()
    assert cluster.phase == "Successful"


def test_terminate_concludes_successful_and_terminates_runs() -> None:
    cluster = ExpCluster(experiment(analyses=[{"name": "check", "templateName": "pass"}]))
    drive(cluster, until="Running")
    cluster.reconcile()
    cluster.obj["spec"]["terminate"] = True
    cluster.reconcile()
    assert cluster.phase == "Successful"
    assert cluster.runs["exp-check"]["spec"]["terminate"] is True


def test_progress_deadline_fails_with_argos_message() -> None:
    cluster = ExpCluster(experiment(progressDeadlineSeconds=30))
    for _ in range(10):  # pods never become available
        cluster.reconcile()
        cluster.tick(5)
    assert cluster.phase == "Failed"
    assert cluster.obj["status"]["message"] == (
        'ReplicaSet "exp-baseline" has timed out progressing.'
    )


def test_service_created_while_running_and_deleted_when_done() -> None:
    obj = experiment(duration="10s", scaleDownDelaySeconds=0)
    obj["spec"]["templates"][1]["service"] = {}
    cluster = ExpCluster(obj)
    drive(cluster, until="Running")
    assert set(cluster.services) == {"exp-canary"}
    drive(cluster, until="Successful")
    cluster.reconcile()
    assert cluster.services == {}


def test_missing_template_is_an_error_naming_it() -> None:
    cluster = ExpCluster(experiment(analyses=[{"name": "a", "templateName": "nope"}]))
    drive(cluster, until="Error")
    assert cluster.phase == "Error"
    assert "AnalysisTemplate 'nope' not found" in cluster.obj["status"]["message"]


def test_bad_spec_names_the_field() -> None:
    with pytest.raises(InvalidExperiment, match=r"spec\.templates\.0\.replicas|templates\[0\]"):
        parse_experiment(experiment(templates=[{"name": "a", "replicas": -1}]))


# -- properties ----------------------------------------------------------------------------

scenarios = st.fixed_dictionaries(
    {
        "duration": st.sampled_from([None, "10s", "40s"]),
        "delay": st.sampled_from([0, 10, 30]),
        "analysis": st.sampled_from([None, "Successful", "Failed", "Inconclusive"]),
        "required": st.booleans(),
        "service": st.booleans(),
        "terminate_at": st.sampled_from([None, 3, 8]),
        "crash": st.lists(st.integers(0, 4), min_size=0, max_size=30),
    }
)


def _build(s: dict[str, Any]) -> ExpCluster:
    spec: dict[str, Any] = {"scaleDownDelaySeconds": s["delay"]}
    if s["duration"]:
        spec["duration"] = s["duration"]
    if s["analysis"]:
        spec["analyses"] = [
            {"name": "a", "templateName": "pass", "requiredForCompletion": s["required"]}
        ]
    obj = experiment(**spec)
    if s["service"]:
        obj["spec"]["templates"][0]["service"] = {"name": "svc"}
    return ExpCluster(obj)


def _run(s: dict[str, Any], crashes: bool) -> ExpCluster:
    cluster = _build(s)
    crash = list(s["crash"]) if crashes else []
    for step in range(40):
        # An Experiment with no duration runs until terminated (or an analysis concludes it).
        if step == s["terminate_at"] or (s["duration"] is None and step == 12):
            cluster.obj["spec"]["terminate"] = True
        if crash:
            cluster.reconcile(crash_after=crash.pop())
        cluster.reconcile()
        # No template scaled before its experiment needs it: only ever 1 (running) or 0 (done).
        for rs in cluster.replica_sets.values():
            assert rs["spec"]["replicas"] in (0, 1)
            if rs["spec"]["replicas"] == 0:
                assert cluster.phase in ("Successful", "Failed", "Error", "Inconclusive")
        cluster.kubelet()
        if step == 6 and s["analysis"] and cluster.runs:
            cluster.finish_run(s["analysis"])
        cluster.tick(5)
    return cluster


@settings(max_examples=60, deadline=None)
@given(scenarios)
def test_properties_converge_scale_down_and_rest(s: dict[str, Any]) -> None:
    cluster = _run(s, crashes=False)
    assert cluster.phase in ("Successful", "Failed", "Error", "Inconclusive")
    # Every ReplicaSet it created is scaled to 0 after scaleDownDelaySeconds.
    assert cluster.created
    assert all(rs["spec"]["replicas"] == 0 for rs in cluster.replica_sets.values())
    assert cluster.services == {}
    # Nothing written at rest: a second plan on the resulting state changes nothing.
    again = cluster.plan()
    assert again.actions == []
    assert again.status == cluster.obj["status"]
    # A crash after any prefix of any plan converges to the same end state.
    crashed = _run(s, crashes=True)
    assert crashed.phase == cluster.phase
    assert crashed.replica_sets.keys() == cluster.replica_sets.keys()
    assert [rs["spec"]["replicas"] for rs in crashed.replica_sets.values()] == [
        rs["spec"]["replicas"] for rs in cluster.replica_sets.values()
    ]
    assert crashed.runs.keys() == cluster.runs.keys()
