"""Argo Rollouts' own Grafana dashboard works on rolloutd's metrics, unchanged.

Every query of Argo's `examples/dashboard.json` (and its variables' `label_values` queries)
runs against a real Prometheus scraping a real `rolloutd run`, under the job name the
dashboard filters on, and must return series. The dashboard counts Rollouts per phase, so the
namespace holds one Rollout in each of the phases it asks for: Completed, Progressing, Paused,
Timeout, Abort, Error (a ReplicaSet the API server refuses) and InvalidSpec.

The dashboard is read from Argo's Go module (the version the parity helpers build with),
downloaded through the Go module proxy into the module cache; it is never copied here. Without
Go the test is skipped, saying so.
"""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rolloutd.kube.client import KubeClient
from rolloutd.kube.resources import ROLLOUTS
from rolloutd_dev.sandbox.cluster import Status
from tests.e2e.harness import eventually
from tests.integration.test_metrics_daemon import INSTANCE_LABEL, Rolloutd, new_instance_id
from tests.integration.test_metrics_prometheus import Prometheus, prometheus_binary

pytestmark = pytest.mark.sandbox
__all__ = ["prometheus_binary"]  # the session fixture, shared with the other Prometheus test

JsonDict = dict[str, Any]
ARGO_MODULE = "github.com/argoproj/argo-rollouts@v1.10.1"
JOB = "argo-rollouts-metrics"
"""The job name Argo's dashboard filters every panel on (its install's metrics Service)."""


def argo_dashboard() -> JsonDict:
    go = shutil.which("go")
    if go is None:
        pytest.skip("`go` is not on PATH: Argo's dashboard is read from its Go module")
    done = subprocess.run(
        [go, "mod", "download", "-json", ARGO_MODULE],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"the Go module proxy did not give {ARGO_MODULE}: {done.stdout}{done.stderr}")
    module = Path(json.loads(done.stdout)["Dir"])
    loaded: JsonDict = json.loads((module / "examples" / "dashboard.json").read_text())
    return loaded


def queries(dashboard: JsonDict) -> list[str]:
    """Every panel target's expression and every variable's query, in the dashboard's order."""
    found: list[str] = []

    def walk(panels: list[JsonDict]) -> None:
        for panel in panels:
            found.extend(t["expr"] for t in panel.get("targets") or [] if t.get("expr"))
            walk(panel.get("panels") or [])

    walk(dashboard.get("panels") or [])
    for variable in (dashboard.get("templating") or {}).get("list") or []:
        query = variable.get("query")
        if isinstance(query, dict):
            query = query.get("query")
        if variable.get("type") == "query" and isinstance(query, str):
            found.append(query)
    return found


def to_promql(query: str, namespace: str, name: str) -> str:
    """Grafana's variables filled in; `label_values(m{...}, l)` asked as `count by (l) (m)`."""
    query = query.replace("$rollout_namespace", namespace).replace("$rollout_name", name)
    if query.startswith("label_values("):
        selector, label = query[len("label_values(") : -1].rsplit(",", 1)
        return f"count by ({label.strip()}) ({selector.strip()})"
    return query


def rollout(name: str, instance_id: str, **spec: Any) -> JsonDict:
    template: JsonDict = {
        "metadata": {"labels": {"app": name}},
        "spec": {"containers": [{"name": "app", "image": "argoproj/rollouts-demo:blue"}]},
    }
    body: JsonDict = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": name, "labels": {INSTANCE_LABEL: instance_id}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": template,
            "strategy": {"canary": {"steps": [{"setWeight": 50}, {"pause": {}}]}},
        },
    }
    for key, value in spec.items():
        if key == "pod_spec":
            template["spec"].update(value)
        else:
            body["spec"][key] = value
    return body


async def phase_of(kube: KubeClient, ns: str, name: str) -> str:
    status = (await kube.get(ROLLOUTS, name, namespace=ns)).get("status") or {}
    return str(status.get("phase") or "")


async def wait_for(kube: KubeClient, ns: str, name: str, phase: str) -> None:
    async def there() -> bool:
        return await phase_of(kube, ns, name) == phase

    await eventually(there, f"Rollout {name} to be {phase}", timeout=60)


async def start_canary(kube: KubeClient, ns: str, name: str) -> None:
    """A new image for a Healthy Rollout: it stops at its indefinite pause."""
    await wait_for(kube, ns, name, "Healthy")
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "x:green"}]}}}}
    await kube.patch(ROLLOUTS, name, patch, namespace=ns)
    await wait_for(kube, ns, name, "Paused")


@pytest.fixture
def stack(
    sandbox: Status, namespace: str, tmp_path: Path, prometheus_binary: Path
) -> Iterator[tuple[str, Prometheus]]:
    instance_id = new_instance_id()
    daemon = Rolloutd(sandbox, namespace, tmp_path, instance_id=instance_id).start()
    prometheus = Prometheus(
        prometheus_binary, tmp_path, f"127.0.0.1:{daemon.metrics_port}", job=JOB
    ).start()
    yield instance_id, prometheus
    prometheus.stop()
    daemon.kill()


async def test_every_query_of_argos_dashboard_returns_series(
    kube: KubeClient, namespace: str, stack: tuple[str, Prometheus]
) -> None:
    dashboard = argo_dashboard()
    instance_id, prometheus = stack
    ns = namespace
    unschedulable = {"nodeSelector": {"rolloutd.test/no-such-node": "true"}}
    refused = {
        "containers": [
            {
                "name": "app",
                "image": "argoproj/rollouts-demo:blue",
                "ports": [{"name": "http", "containerPort": 70000}],
            }
        ]
    }
    bodies = [
        rollout("completed", instance_id, strategy={"canary": {"steps": []}}),
        rollout("paused", instance_id),
        rollout("aborted", instance_id),
        rollout("progressing", instance_id, pod_spec=unschedulable),
        rollout("timeout", instance_id, pod_spec=unschedulable, progressDeadlineSeconds=2),
        rollout("error", instance_id, pod_spec=copy.deepcopy(refused)),
        rollout(
            "invalid",
            instance_id,
            strategy={"canary": {"canaryService": "same", "stableService": "same"}},
        ),
    ]
    for body in bodies:
        await kube.create(ROLLOUTS, body, namespace=ns)
    await start_canary(kube, ns, "paused")
    await start_canary(kube, ns, "aborted")
    await kube.patch(
        ROLLOUTS, "aborted", {"status": {"abort": True}}, namespace=ns, subresource="status"
    )
    await prometheus.wait_ready()

    # Argo's phase label for each, as its dashboard counts them.
    want = {
        "completed": "Completed",
        "paused": "Paused",
        "aborted": "Abort",
        "progressing": "Progressing",
        "timeout": "Timeout",
        "error": "Error",
        "invalid": "InvalidSpec",
    }
    for name, phase in want.items():
        await prometheus.until(
            f'rollout_info{{namespace="{ns}",name="{name}",phase="{phase}"}}',
            1,
            f"rollout_info of {name} to say phase {phase}",
        )

    results: dict[str, int] = {}
    for query in queries(dashboard):
        expr = to_promql(query, ns, "paused")
        seen: list[int] = []

        async def answers(expr: str = expr, seen: list[int] = seen) -> bool:
            seen.append(len(await prometheus.query(expr)))
            return seen[-1] > 0

        try:
            await eventually(answers, f"series for {expr}", timeout=45, interval=1)
        except AssertionError:
            raise AssertionError(f"Argo's dashboard query returned no series: {query}") from None
        results[query] = seen[-1]
    # The dashboard has 17 panel queries and 2 variable queries in v1.10.1; all were asked.
    assert len(results) >= 17, results
    print("\nArgo's dashboard queries, series returned:")
    for query, count in results.items():
        print(f"  {count:3d}  {query}")
