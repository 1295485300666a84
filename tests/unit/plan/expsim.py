"""A fake cluster for the pure Experiment planner: plain dicts, a fake clock, the controller loop.

`ExpCluster` holds one Experiment, its ReplicaSets, Services and AnalysisRuns, and applies an
`ExperimentPlan` as the controller does: the actions in order, then the status; or, with
`reconcile(crash_after=n)`, only the first n actions and no status. `kubelet()` makes every
ReplicaSet's pods exist and become available; `finish_run()` is the analysis controller
concluding a run. Every ReplicaSet ever created and every scale are recorded for the checks.
"""

from __future__ import annotations

import copy
import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from rolloutd.model.experiment import parse_experiment
from rolloutd.plan.experiment import (
    CreateAnalysisRun,
    CreateReplicaSet,
    CreateService,
    DeleteService,
    ExperimentPlan,
    ScaleReplicaSet,
    TerminateAnalysisRun,
    plan_experiment,
)

START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
TEMPLATE: dict[str, Any] = {
    "apiVersion": "argoproj.io/v1alpha1",
    "kind": "AnalysisTemplate",
    "metadata": {"name": "pass", "namespace": "ns"},
    "spec": {"metrics": [{"name": "m", "provider": {"web": {"url": "http://x"}}}]},
}


def experiment(**spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "templates": [
            {
                "name": name,
                "replicas": 1,
                "selector": {"matchLabels": {"app": name}},
                "template": {
                    "metadata": {"labels": {"app": name}},
                    "spec": {"containers": [{"name": "c", "image": "nginx"}]},
                },
            }
            for name in ("baseline", "canary")
        ]
    }
    base.update(spec)
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Experiment",
        "metadata": {"name": "exp", "namespace": "ns", "uid": "u-1"},
        "spec": base,
    }


@dataclass
class ExpCluster:
    obj: dict[str, Any]
    now: dt.datetime = START
    replica_sets: dict[str, dict[str, Any]] = field(default_factory=dict)
    services: dict[str, dict[str, Any]] = field(default_factory=dict)
    runs: dict[str, dict[str, Any]] = field(default_factory=dict)
    created: list[str] = field(default_factory=list)
    scaled_up_before_needed: list[str] = field(default_factory=list)

    def plan(self) -> ExperimentPlan:
        return plan_experiment(
            self.obj,
            parse_experiment(self.obj),
            replica_sets=list(self.replica_sets.values()),
            services=list(self.services.values()),
            analysis_runs=list(self.runs.values()),
            analysis_templates={(False, "pass"): TEMPLATE},
            now=self.now,
        )

    def reconcile(self, crash_after: int | None = None) -> ExperimentPlan:
        plan = self.plan()
        actions = plan.actions if crash_after is None else plan.actions[:crash_after]
        for action in actions:
            self.apply(action)
        if crash_after is None:
            self.obj = {**self.obj, "status": copy.deepcopy(plan.status)}
        return plan

    def apply(self, action: object) -> None:
        match action:
            case CreateReplicaSet(obj=rs):
                name = rs["metadata"]["name"]
                if name not in self.replica_sets:  # create-or-get
                    self.replica_sets[name] = copy.deepcopy(rs)
                    self.created.append(name)
            case ScaleReplicaSet(name=name, replicas=n):
                self.replica_sets[name]["spec"]["replicas"] = n
            case CreateService(obj=svc):
                self.services.setdefault(svc["metadata"]["name"], copy.deepcopy(svc))
            case DeleteService(name=name):
                self.services.pop(name, None)
            case CreateAnalysisRun(obj=run):
                self.runs.setdefault(run["metadata"]["name"], copy.deepcopy(run))
            case TerminateAnalysisRun(name=name):
                self.runs[name]["spec"]["terminate"] = True
                self.runs[name]["status"] = {"phase": "Successful", "message": "terminated"}
            case _:
                raise AssertionError(f"unknown action {action!r}")

    def kubelet(self) -> None:
        for rs in self.replica_sets.values():
            n = int(rs["spec"]["replicas"])
            rs["status"] = {"replicas": n, "readyReplicas": n, "availableReplicas": n}

    def finish_run(self, phase: str, message: str = "") -> None:
        for run in self.runs.values():
            run["status"] = {"phase": phase, "message": message}

    def tick(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)

    @property
    def phase(self) -> str | None:
        return (self.obj.get("status") or {}).get("phase")

    def run_until_stable(self, steps: int = 40, step_seconds: float = 5) -> None:
        for _ in range(steps):
            self.reconcile()
            self.kubelet()
            self.tick(step_seconds)
