"""Standalone Experiments on the real sandbox, reconciled by `rolloutd run` as a process.

Two templates (pods on kwok become Ready) and a web analysis against a loopback HTTP server the
test runs: the Experiment reaches Successful when the analysis passes and Failed when it fails
(Argo's `test/e2e/experiment_test.go` scenarios that need no real containers: a successful
experiment with a required analysis, a failing analysis). Its ReplicaSets and template Service
are created while it runs, then scaled to 0 and deleted once it ends.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest_asyncio

from rolloutd.controller.experiments import EXPERIMENTS
from rolloutd.kube.client import KubeClient
from rolloutd.kube.resources import ANALYSIS_RUNS, ANALYSIS_TEMPLATES, REPLICA_SETS, SERVICES
from rolloutd.model.crd import all_crds
from rolloutd_dev.sandbox.cluster import Status, apply_crd
from tests.e2e.harness import Daemon, eventually
from tests.integration.analysis.conftest import App, allow_loopback, app

__all__ = ["app"]

JsonDict = dict[str, Any]


def web_template(url: str) -> JsonDict:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "AnalysisTemplate",
        "metadata": {"name": "health"},
        "spec": {
            "metrics": [
                {
                    "name": "ok",
                    "count": 2,
                    "interval": "1s",
                    "successCondition": "result == true",
                    "failureLimit": 0,
                    "provider": {"web": {"url": url, "jsonPath": "{$.data.ok}"}},
                }
            ]
        },
    }


def experiment(name: str) -> JsonDict:
    def template(tname: str) -> JsonDict:
        return {
            "name": tname,
            "replicas": 1,
            "selector": {"matchLabels": {"app": f"{name}-{tname}"}},
            "template": {
                "metadata": {"labels": {"app": f"{name}-{tname}"}},
                "spec": {
                    "containers": [
                        {
                            "name": "app",
                            "image": "argoproj/rollouts-demo:blue",
                            "ports": [{"containerPort": 8080}],
                        }
                    ]
                },
            },
        }

    canary = template("canary")
    canary["service"] = {}
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Experiment",
        "metadata": {"name": name},
        "spec": {
            "scaleDownDelaySeconds": 0,
            "templates": [template("baseline"), canary],
            "analyses": [
                {"name": "health", "templateName": "health", "requiredForCompletion": True}
            ],
        },
    }


@pytest_asyncio.fixture(loop_scope="session")
async def exp_daemon(
    sandbox: Status, kube: KubeClient, namespace: str, tmp_path: Path
) -> AsyncIterator[Daemon]:
    # Additive: a sandbox started before Experiments existed lacks their CRD.
    await apply_crd(kube, all_crds()["experiments.argoproj.io.yaml"])
    await allow_loopback(kube, namespace)
    proc = Daemon(str(sandbox.kubeconfig), namespace, tmp_path, "--config-namespace", namespace)
    proc.start()
    yield proc
    code = proc.stop()
    assert code in (0, -15, -9, None), f"daemon exited with {code}:\n{proc.logs()}"


async def _phase(kube: KubeClient, ns: str, name: str) -> str | None:
    obj = await kube.get(EXPERIMENTS, name, namespace=ns)
    return (obj.get("status") or {}).get("phase")


async def _wait_phase(kube: KubeClient, ns: str, name: str, want: str, daemon: Daemon) -> JsonDict:
    async def reached() -> bool:
        return await _phase(kube, ns, name) == want

    try:
        await eventually(reached, f"Experiment {name} to be {want}", timeout=50)
    except AssertionError:
        print(daemon.logs())
        raise
    return await kube.get(EXPERIMENTS, name, namespace=ns)


async def test_experiment_with_passing_analysis_succeeds_and_cleans_up(
    kube: KubeClient, namespace: str, exp_daemon: Daemon, app: App
) -> None:
    ns = namespace
    await kube.create(ANALYSIS_TEMPLATES, web_template(f"{app.url}/health"), namespace=ns)
    await kube.create(EXPERIMENTS, experiment("exp"), namespace=ns)
    running = await _wait_phase(kube, ns, "exp", "Running", exp_daemon)
    assert running["status"]["availableAt"]
    statuses = {t["name"]: t for t in running["status"]["templateStatuses"]}
    assert statuses["canary"]["serviceName"] == "exp-canary"
    assert (await kube.get(SERVICES, "exp-canary", namespace=ns))["spec"]["selector"][
        "rollouts-pod-template-hash"
    ] == statuses["canary"]["podTemplateHash"]
    done = await _wait_phase(kube, ns, "exp", "Successful", exp_daemon)
    assert [r["phase"] for r in done["status"]["analysisRuns"]] == ["Successful"]
    run = await kube.get(ANALYSIS_RUNS, "exp-health", namespace=ns)
    assert run["metadata"]["ownerReferences"][0]["kind"] == "Experiment"

    async def cleaned() -> bool:
        rss = (await kube.list(REPLICA_SETS, namespace=ns))["items"]
        svcs = [s["metadata"]["name"] for s in (await kube.list(SERVICES, namespace=ns))["items"]]
        names = sorted(r["metadata"]["name"] for r in rss)
        return (
            names == ["exp-baseline", "exp-canary"]
            and all(r["spec"]["replicas"] == 0 for r in rss)
            and "exp-canary" not in svcs
        )

    await eventually(cleaned, "templates scaled to 0 and the Service deleted", timeout=30)


async def test_experiment_with_failing_analysis_fails(
    kube: KubeClient, namespace: str, exp_daemon: Daemon, app: App
) -> None:
    ns = namespace
    app.error_ratio = 1.0
    await kube.create(ANALYSIS_TEMPLATES, web_template(f"{app.url}/health"), namespace=ns)
    await kube.create(EXPERIMENTS, experiment("bad"), namespace=ns)
    failed = await _wait_phase(kube, ns, "bad", "Failed", exp_daemon)
    assert [r["phase"] for r in failed["status"]["analysisRuns"]] == ["Failed"]
