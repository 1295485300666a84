"""Argo CD (and so OpenShift GitOps) judges and drives rolloutd's Rollouts as it does Argo's.

Argo CD's own Lua scripts (tests/argocd_lua.py) read every version of the Rollout that the real
daemon writes on the sandbox: each verdict must be one a user can trust (Healthy only when the
new pods are all there and promoted, Suspended only when something pauses it, Degraded only
on an abort or a bad spec). The UI actions are applied as Argo CD applies them (the returned
object as a merge patch, status through the status subresource) and must do what they do
under Argo Rollouts.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest_asyncio

from rolloutd.kube.client import KubeClient
from rolloutd.kube.informer import Informer
from rolloutd.kube.resources import ANALYSIS_RUNS, ANALYSIS_TEMPLATES, PODS, ROLLOUTS
from rolloutd.plan.status import parse_time
from rolloutd_dev.sandbox.cluster import Status
from tests import argocd_lua
from tests.e2e.harness import (
    VIRTUAL_SERVICES,
    Daemon,
    apply_seed,
    eventually,
    get_rollout,
    route_weights,
    sample,
    set_image,
    wait_phase,
)
from tests.integration.analysis.conftest import App, allow_loopback, app

__all__ = ["app"]  # a fixture used below

STABLE, CANARY = "rollouts-demo-stable", "rollouts-demo-canary"
JsonDict = dict[str, Any]
PAUSES: list[JsonDict] = [
    step for weight in (20, 40, 60, 80) for step in ({"setWeight": weight}, {"pause": {}})
]
"""setWeight 20, pause, 40, pause, 60, pause, 80, pause: every pause waits for the user."""


@contextlib.asynccontextmanager
async def recording(kube: KubeClient, ns: str, into: list[JsonDict]) -> AsyncIterator[None]:
    """Keep a copy of every version of every Rollout in `ns` that the watch delivers."""
    informer = Informer(kube, ROLLOUTS, namespace=ns)

    def keep(kind: str, obj: JsonDict, old: JsonDict | None) -> None:
        if kind != "DELETED":
            into.append(copy.deepcopy(obj))

    informer.add_handler(keep)
    task = asyncio.create_task(informer.run())
    await informer.synced.wait()
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


OURS: set[str] = set()
"""resourceVersions of the Rollout versions the test itself wrote (an action's patch, say):
until the daemon reconciles them they carry the old phase, under Argo Rollouts as well."""


async def apply_action(kube: KubeClient, ns: str, action: str, name: str = "rollouts-demo") -> None:
    """Run an Argo CD action on the live Rollout and write its result back as Argo CD does."""
    live = await kube.get(ROLLOUTS, name, namespace=ns)
    new = argocd_lua.action_result("Rollout", action, copy.deepcopy(live))
    patch = argocd_lua.merge_patch(live, new)
    rest, status = argocd_lua.split_status(patch)
    if status is not None:
        # Argo CD sends the whole patch to the status subresource, then the rest on its own.
        done = await kube.patch(ROLLOUTS, name, patch, namespace=ns, subresource="status")
        OURS.add(done["metadata"]["resourceVersion"])
    if rest is not None:
        done = await kube.patch(ROLLOUTS, name, rest, namespace=ns)
        OURS.add(done["metadata"]["resourceVersion"])


async def pod_times(kube: KubeClient, ns: str) -> dict[str, dt.datetime]:
    """Creation time of each pod of the Rollout that is not on its way out."""
    pods = await kube.list(PODS, namespace=ns, label_selector="app=rollouts-demo")
    times = {}
    for pod in pods["items"]:
        created = parse_time(pod["metadata"]["creationTimestamp"])
        if created is not None and not pod["metadata"].get("deletionTimestamp"):
            times[pod["metadata"]["name"]] = created
    return times


def health(ro: JsonDict) -> tuple[str, str]:
    return argocd_lua.health("Rollout", ro)


def misjudged(ro: JsonDict) -> str | None:
    """Why Argo CD's verdict on this version of the Rollout is wrong, or None."""
    verdict, message = health(ro)
    spec, status = ro["spec"], ro.get("status") or {}
    replicas = int(spec.get("replicas", 1))
    conds = {c["type"]: c for c in status.get("conditions") or []}
    observed = str(status.get("observedGeneration")) == str(ro["metadata"]["generation"])
    if verdict == "Healthy":
        done = (
            observed
            and status.get("stableRS") == status.get("currentPodHash")
            and int(status.get("updatedReplicas") or 0) >= replicas
            and int(status.get("availableReplicas") or 0) >= replicas
            and not status.get("pauseConditions")
            and not status.get("abort")
        )
        return None if done else "Healthy before the update is done"
    if verdict == "Suspended":
        return (
            None if status.get("pauseConditions") or spec.get("paused") else "Suspended, not paused"
        )
    if verdict == "Degraded":
        invalid = conds.get("InvalidSpec", {}).get("status") == "True"
        return None if status.get("abort") or invalid else f"Degraded ({message}) with no cause"
    if verdict == "Progressing":
        return None
    return f"unexpected verdict {verdict!r} ({message})"


async def test_argocd_health_and_actions_through_a_canary(
    kube: KubeClient, namespace: str, daemon: Daemon
) -> None:
    ns = namespace
    seen: list[JsonDict] = []
    async with recording(kube, ns, seen):
        await run_canary_with_actions(kube, ns)
    wrong = [
        f"gen {ro['metadata']['generation']} rv {ro['metadata']['resourceVersion']}: {why}"
        for ro in seen
        if ro["metadata"]["name"] == "rollouts-demo"
        and ro["metadata"]["resourceVersion"] not in OURS
        and (why := misjudged(ro)) is not None
    ]
    assert wrong == []
    verdicts = [health(ro) for ro in seen if ro["metadata"]["name"] == "rollouts-demo"]
    # Mid-step (new pods coming up, weight not moved yet) Argo CD shows the rollout progressing.
    assert any(v == "Progressing" and m for v, m in verdicts), verdicts
    # While pods are being replaced for `restart`, Argo CD says so.
    assert ("Progressing", "rollout is restarting") in verdicts


async def run_canary_with_actions(kube: KubeClient, ns: str) -> None:
    async def weights() -> dict[str, int]:
        return route_weights(await kube.get(VIRTUAL_SERVICES, "rollouts-demo-vsvc", namespace=ns))

    def edit(rollout: JsonDict) -> None:
        rollout["spec"]["strategy"]["canary"]["steps"] = PAUSES

    # A bad spec next to it: Degraded with the InvalidSpec message, nothing touched.
    broken = copy.deepcopy(sample("rollout")[0])
    broken["metadata"]["name"] = "broken"
    broken["spec"]["strategy"]["canary"]["steps"] = [{"setWeight": 120}]
    await kube.create(ROLLOUTS, broken, namespace=ns)

    await apply_seed(kube, ns, rollout_edit=edit)
    ro = await wait_phase(kube, ns, "Healthy", step=8)
    assert health(ro) == ("Healthy", "")
    menu = argocd_lua.available_actions("Rollout", ro)
    assert not menu["abort"] and not menu["promote-full"] and not menu["resume"]

    ro = await wait_phase(kube, ns, "Degraded", name="broken")
    verdict, message = health(ro)
    assert verdict == "Degraded"
    assert message.startswith("InvalidSpec: ") and "setWeight: must be between 0 and 100" in message

    await set_image(kube, ns, "argoproj/rollouts-demo:yellow")
    ro = await get_rollout(kube, ns)
    if str(ro["status"].get("observedGeneration")) != str(ro["metadata"]["generation"]):
        assert health(ro) == ("Progressing", "Waiting for rollout spec update to be observed")
    ro = await wait_phase(kube, ns, "Paused", step=1)
    assert health(ro) == ("Suspended", "CanaryPauseStep")
    menu = argocd_lua.available_actions("Rollout", ro)
    assert menu["resume"] and menu["abort"] and menu["promote-full"] and not menu["retry"]

    # resume: the pause step ends, the rollout goes on to 40% and the next pause.
    await apply_action(kube, ns, "resume")
    ro = await wait_phase(kube, ns, "Paused", step=3)
    assert await weights() == {STABLE: 60, CANARY: 40}

    # pause (spec.paused) holds the rollout even once the pause step is promoted.
    await apply_action(kube, ns, "pause")
    # What `kubectl argo rollouts promote` writes at a pause step.
    done = await kube.patch(
        ROLLOUTS,
        "rollouts-demo",
        {"status": {"pauseConditions": None}},
        namespace=ns,
        subresource="status",
    )
    OURS.add(done["metadata"]["resourceVersion"])

    async def manually_paused() -> bool:
        ro = await get_rollout(kube, ns)
        status = ro["status"]
        return (
            str(status.get("observedGeneration")) == str(ro["metadata"]["generation"])
            and not status.get("pauseConditions")
            and status.get("phase") == "Paused"
        )

    await eventually(manually_paused, "the rollout paused by spec.paused alone")
    ro = await get_rollout(kube, ns)
    assert ro["status"]["currentStepIndex"] == 3
    assert health(ro) == ("Suspended", "manually paused")
    assert argocd_lua.available_actions("Rollout", ro)["resume"]
    assert await weights() == {STABLE: 60, CANARY: 40}

    # resume clears spec.paused: on to 60% and its pause.
    await apply_action(kube, ns, "resume")
    ro = await wait_phase(kube, ns, "Paused", step=5)
    assert ro["spec"].get("paused") is False
    assert await weights() == {STABLE: 40, CANARY: 60}

    # skip-current-step: past the pause, straight to 80% and the last pause.
    await apply_action(kube, ns, "skip-current-step")
    ro = await wait_phase(kube, ns, "Paused", step=7)
    assert await weights() == {STABLE: 20, CANARY: 80}

    # abort: all traffic back on stable, Degraded with Argo's message.
    await apply_action(kube, ns, "abort")
    ro = await wait_phase(kube, ns, "Degraded")
    assert health(ro) == ("Degraded", "RolloutAborted: Rollout aborted update to revision 2")
    assert await weights() == {STABLE: 100, CANARY: 0}
    menu = argocd_lua.available_actions("Rollout", ro)
    assert menu["retry"] and not menu["abort"]

    # retry (status.abort removed, not set to false): the canary starts again from step 0.
    await apply_action(kube, ns, "retry")
    ro = await wait_phase(kube, ns, "Paused", step=1)
    assert "abort" not in ro["status"]
    assert await weights() == {STABLE: 80, CANARY: 20}

    # promote-full: every remaining step skipped, the new version is stable and Healthy.
    await apply_action(kube, ns, "promote-full")
    ro = await wait_phase(kube, ns, "Healthy", step=8, timeout=120)
    assert health(ro) == ("Healthy", "")
    assert ro["status"]["stableRS"] == ro["status"]["currentPodHash"]

    async def weights_reset() -> bool:
        # Both Services select the promoted pods by now; the split is put back after.
        return await weights() == {STABLE: 100, CANARY: 0}

    await eventually(weights_reset, "the VirtualService back at 100/0")

    # restart: every pod created before restartAt is evicted, a few at a time, then the
    # controller records restartedAt and the rollout is Healthy again.
    before = await pod_times(kube, ns)
    await apply_action(kube, ns, "restart")
    ro = await get_rollout(kube, ns)
    restart_at = parse_time(ro["spec"]["restartAt"])
    assert restart_at is not None

    async def restarted() -> bool:
        ro = await get_rollout(kube, ns)
        status = ro.get("status") or {}
        return status.get("restartedAt") == ro["spec"]["restartAt"] and health(ro) == (
            "Healthy",
            "",
        )

    await eventually(restarted, "the restart to finish, Healthy", timeout=120)
    after = await pod_times(kube, ns)
    assert all(created >= restart_at for created in after.values()), after
    assert set(before) - set(after), "no pod was replaced"


def web_template(url: str) -> JsonDict:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "AnalysisTemplate",
        "metadata": {"name": "health-check"},
        "spec": {
            "metrics": [
                {
                    "name": "ok",
                    "count": 1,
                    "successCondition": "result == true",
                    "failureLimit": 0,
                    "provider": {"web": {"url": url, "jsonPath": "{$.data.ok}"}},
                }
            ]
        },
    }


@pytest_asyncio.fixture
async def web_daemon(
    sandbox: Status, kube: KubeClient, namespace: str, tmp_path: Path
) -> AsyncIterator[Daemon]:
    """The namespace's daemon, its ConfigMap allowing the loopback test app (the web provider's
    egress policy denies loopback by default)."""
    await allow_loopback(kube, namespace)
    proc = Daemon(str(sandbox.kubeconfig), namespace, tmp_path, "--config-namespace", namespace)
    proc.start()
    yield proc
    code = proc.stop()
    assert code in (0, -15, -9, None), f"daemon exited with {code}:\n{proc.logs()}"


async def test_argocd_health_of_analysis_runs(
    kube: KubeClient, namespace: str, web_daemon: Daemon, app: App
) -> None:
    ns = namespace
    await kube.create(ANALYSIS_TEMPLATES, web_template(f"{app.url}/health"), namespace=ns)

    def edit(rollout: JsonDict) -> None:
        rollout["spec"]["strategy"]["canary"]["steps"] = [
            {"setWeight": 20},
            {"analysis": {"templates": [{"templateName": "health-check"}]}},
            {"pause": {}},
        ]

    await apply_seed(kube, ns, rollout_edit=edit)
    await wait_phase(kube, ns, "Healthy", step=3)

    async def runs() -> list[JsonDict]:
        return list((await kube.list(ANALYSIS_RUNS, namespace=ns))["items"])

    async def finished(count: int) -> bool:
        items = await runs()
        return len(items) == count and all(
            (r.get("status") or {}).get("phase") in ("Successful", "Failed") for r in items
        )

    await set_image(kube, ns, "argoproj/rollouts-demo:yellow")
    await eventually(lambda: finished(1), "the first AnalysisRun to finish")
    (run,) = await runs()
    assert run["status"]["phase"] == "Successful"
    assert argocd_lua.health("AnalysisRun", run)[0] == "Healthy"
    await wait_phase(kube, ns, "Paused", step=2)

    app.error_ratio = 0.5  # /health now answers ok: false
    await set_image(kube, ns, "argoproj/rollouts-demo:green")
    await eventually(lambda: finished(2), "the second AnalysisRun to finish")
    failed = [r for r in await runs() if r["status"]["phase"] == "Failed"]
    assert len(failed) == 1
    verdict, message = argocd_lua.health("AnalysisRun", failed[0])
    assert verdict == "Degraded"
    assert message == (failed[0]["status"].get("message") or "Analysis run failed")
    ro = await wait_phase(kube, ns, "Degraded")
    assert health(ro)[0] == "Degraded"
