"""`spec.workloadRef`: a Rollout takes over a running Deployment, as in Argo's migration guide.

For each `scaleDown` mode, a Deployment runs its pods (kwok makes them Ready), then a Rollout
that references it (no template, no selector of its own) is created. A watch on the
namespace's ReplicaSets (the Deployment's and the Rollout's, delivered in the API server's
order) checks at every change that the pods available across both never drop below
`spec.replicas`. The Rollout becomes Healthy on the Deployment's template, with the
`rollout.argoproj.io/workload-generation` annotation and `status.workloadObservedGeneration`
set to the Deployment's generation; the Deployment is left at its size (`never`) or scaled to 0
(`onsuccess`, `progressively`). Then a new template on the Deployment starts a canary.
Bad references end in InvalidSpec naming the field, with nothing created, as in Argo's
`TestWorkloadRef`; the Deployment appearing later clears it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from rolloutd.kube.client import KubeClient
from rolloutd.kube.informer import Informer
from rolloutd.kube.resources import DEPLOYMENTS, REPLICA_SETS, ROLLOUTS
from tests.e2e.harness import POD_HASH, Daemon, eventually, get_rollout, promote, wait_phase

JsonDict = dict[str, Any]
REPLICAS = 3
GENERATION = "rollout.argoproj.io/workload-generation"

pytestmark = pytest.mark.sandbox


def deployment(name: str, image: str = "argoproj/rollouts-demo:blue") -> JsonDict:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": REPLICAS,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": image}]},
            },
        },
    }


def rollout(name: str, ref: JsonDict, **spec: Any) -> JsonDict:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": name},
        "spec": {
            "replicas": REPLICAS,
            "workloadRef": ref,
            "strategy": {"canary": {"steps": [{"setWeight": 50}, {"pause": {}}]}},
            **spec,
        },
    }


class Availability:
    """Every state of the namespace's ReplicaSets and Deployments the watches show: per app,
    the pods available across its Deployment's and its Rollout's ReplicaSets, from the moment
    the test arms it (once the Deployments' pods are all available in the watch's view)."""

    def __init__(self, kube: KubeClient, namespace: str) -> None:
        self.rs = Informer(kube, REPLICA_SETS, namespace=namespace)
        self.deployments = Informer(kube, DEPLOYMENTS, namespace=namespace)
        self.totals: dict[str, list[int]] = {}
        self.scales: dict[str, list[int]] = {}
        self.armed = False
        self.rs.add_handler(self._on_rs)
        self.deployments.add_handler(self._on_deployment)

    def total(self, app: str) -> int:
        return sum(
            int((rs.get("status") or {}).get("availableReplicas") or 0)
            for rs in self.rs.items()
            if (rs["metadata"].get("labels") or {}).get("app") == app
        )

    def _on_rs(self, kind: str, obj: JsonDict, old: JsonDict | None) -> None:
        app = (obj["metadata"].get("labels") or {}).get("app")
        if self.armed and app:
            self.totals.setdefault(app, []).append(self.total(app))

    def _on_deployment(self, kind: str, obj: JsonDict, old: JsonDict | None) -> None:
        seen = self.scales.setdefault(obj["metadata"]["name"], [])
        replicas = int((obj.get("spec") or {}).get("replicas", 1))
        if not seen or seen[-1] != replicas:
            seen.append(replicas)

    async def arm(self, apps: list[str]) -> None:
        async def full() -> bool:
            return all(self.total(app) >= REPLICAS for app in apps)

        await eventually(full, f"the watch to see {REPLICAS} available pods of each of {apps}")
        self.armed = True


@pytest_asyncio.fixture(loop_scope="session")
async def availability(kube: KubeClient, namespace: str) -> AsyncIterator[Availability]:
    watcher = Availability(kube, namespace)
    tasks = [asyncio.create_task(inf.run()) for inf in (watcher.rs, watcher.deployments)]
    await asyncio.gather(watcher.rs.synced.wait(), watcher.deployments.synced.wait())
    try:
        yield watcher
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def deployment_at(kube: KubeClient, namespace: str, name: str, replicas: int) -> JsonDict:
    """The Deployment once it wants `replicas` pods and has them all available."""
    found: JsonDict = {}

    async def check() -> bool:
        dep = await kube.get(DEPLOYMENTS, name, namespace=namespace)
        found.update(dep)
        status = dep.get("status") or {}
        return bool(
            dep["spec"]["replicas"] == replicas
            and status.get("availableReplicas", 0) == replicas
            and status.get("replicas", 0) == replicas
        )

    await eventually(check, f"Deployment {name} at {replicas} available pods")
    return found


async def rollout_replica_sets(kube: KubeClient, namespace: str, app: str) -> list[JsonDict]:
    items = (await kube.list(REPLICA_SETS, namespace=namespace))["items"]
    return [
        rs
        for rs in items
        if POD_HASH in (labels := rs["metadata"].get("labels") or {}) and labels["app"] == app
    ]


MODES = ["never", "onsuccess", "progressively"]


async def test_takes_over_running_deployments_in_each_scale_down_mode(
    kube: KubeClient, namespace: str, daemon: Daemon, availability: Availability
) -> None:
    apps = {mode: f"web-{mode}" for mode in MODES}
    for app in apps.values():
        await kube.create(DEPLOYMENTS, deployment(app), namespace=namespace)
    for app in apps.values():
        await deployment_at(kube, namespace, app, REPLICAS)
    await availability.arm(list(apps.values()))
    for mode, app in apps.items():
        ref = {"apiVersion": "apps/v1", "kind": "Deployment", "name": app, "scaleDown": mode}
        await kube.create(ROLLOUTS, rollout(app, ref), namespace=namespace)

    for mode, app in apps.items():
        ro = await wait_phase(kube, namespace, "Healthy", name=app)
        # Resolved in memory only, as in Argo: the Rollout's own spec still has no template.
        assert "template" not in ro["spec"] and "selector" not in ro["spec"]
        [rs] = await rollout_replica_sets(kube, namespace, app)
        containers = rs["spec"]["template"]["spec"]["containers"]
        assert [c["image"] for c in containers] == ["argoproj/rollouts-demo:blue"]
        assert rs["spec"]["selector"]["matchLabels"]["app"] == app
        dep = await deployment_at(kube, namespace, app, REPLICAS if mode == "never" else 0)
        # Scaling the Deployment bumps its generation too; the Rollout follows it, as in Argo.
        generation = str(dep["metadata"]["generation"])
        assert (generation == "1") == (mode == "never")

        async def generation_observed(app: str = app, generation: str = generation) -> bool:
            ro = await get_rollout(kube, namespace, app)
            return bool(
                ro["status"].get("workloadObservedGeneration") == generation
                and ro["metadata"]["annotations"].get(GENERATION) == generation
            )

        await eventually(generation_observed, f"{app}: workload generation {generation}")

    for mode, app in apps.items():
        totals = availability.totals.get(app, [])
        print(
            f"{mode}: Deployment spec.replicas seen {availability.scales[app]}; "
            f"available pods (Deployment + Rollout) at each change: {totals}"
        )
        assert totals, f"{mode}: the watch saw no ReplicaSet change"
        assert min(totals) >= REPLICAS, (
            f"{mode}: available pods across Deployment and Rollout dropped to {min(totals)} "
            f"(< {REPLICAS}); every total seen: {totals}"
        )
        scales = availability.scales[app]
        assert scales == sorted(scales, reverse=True), f"{mode}: scaled back up: {scales}"
    assert availability.scales[apps["never"]] == [REPLICAS]

    # A new template on the Deployment is an update of the Rollout: a canary at its first step.
    app = apps["onsuccess"]
    await kube.patch(
        DEPLOYMENTS,
        app,
        {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "green"}]}}}},
        namespace=namespace,
    )
    ro = await wait_phase(kube, namespace, "Paused", step=1, name=app)
    dep = await kube.get(DEPLOYMENTS, app, namespace=namespace)
    assert ro["status"]["workloadObservedGeneration"] == str(dep["metadata"]["generation"])
    assert ro["status"]["currentPodHash"] != ro["status"]["stableRS"]
    by_hash = {
        rs["metadata"]["labels"][POD_HASH]: rs
        for rs in await rollout_replica_sets(kube, namespace, app)
    }
    canary = by_hash[ro["status"]["currentPodHash"]]
    assert canary["spec"]["template"]["spec"]["containers"][0]["image"] == "green"
    assert canary["spec"]["replicas"] == 2  # 50% of 3, rounded up (basic canary)
    await promote(kube, namespace, app)
    await wait_phase(kube, namespace, "Healthy", name=app)
    dep = await kube.get(DEPLOYMENTS, app, namespace=namespace)
    assert dep["spec"]["replicas"] == 0  # a later revision never scales it back up


async def test_bad_references_are_invalid_and_change_nothing(
    kube: KubeClient, namespace: str, daemon: Daemon
) -> None:
    ref = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "later", "scaleDown": "never"}
    template = {"metadata": {"labels": {"app": "x"}}, "spec": {"containers": []}}
    cases = {
        "absent": (rollout("absent", ref), 'spec.workloadRef: deployments.apps "later" not found'),
        "both": (
            rollout("both", {**ref, "name": "web"}, template=template),
            "spec.template: template must be empty for workload reference rollout",
        ),
        "scale": (
            rollout("scale", {**ref, "name": "web", "scaleDown": "sometimes"}),
            "spec.workloadRef.scaleDown: must be one of never, onsuccess, progressively",
        ),
        "kind": (
            rollout("kind", {**ref, "kind": "StatefulSet"}),
            "spec.workloadRef.kind: must be one of Deployment, ReplicaSet, PodTemplate",
        ),
    }
    await kube.create(DEPLOYMENTS, deployment("web"), namespace=namespace)
    for obj, _ in cases.values():
        await kube.create(ROLLOUTS, obj, namespace=namespace)
    for name, (_, message) in cases.items():
        ro = await wait_phase(kube, namespace, "Degraded", name=name)
        assert message in ro["status"]["message"], ro["status"]["message"]
        assert "workloadObservedGeneration" not in ro["status"]
    assert await rollout_replica_sets(kube, namespace, "web") == []
    assert await rollout_replica_sets(kube, namespace, "later") == []
    dep = await kube.get(DEPLOYMENTS, "web", namespace=namespace)
    assert dep["spec"]["replicas"] == REPLICAS

    # Argo's behaviour for a Deployment that does not exist yet: invalid until it appears.
    await kube.create(DEPLOYMENTS, deployment("later"), namespace=namespace)
    ro = await wait_phase(kube, namespace, "Healthy", name="absent")
    assert ro["status"]["workloadObservedGeneration"] == "1"
    assert (await get_rollout(kube, namespace, "both"))["status"]["phase"] == "Degraded"
