"""Taking over Rollouts that Argo Rollouts left behind: no ReplicaSet created, no pod replaced.

The objects are built the way Argo leaves them (its ReplicaSets `<rollout>-<hash>` with the
`rollouts-pod-template-hash` label, the revision annotation and a controller owner reference
to the Rollout; Services pinned to the hashes; VirtualService weights; the status Argo writes,
through the status subresource), then one rolloutd daemon takes the namespace over:

- `healthy`: Healthy on one ReplicaSet, VirtualService 100/0;
- `paused`: paused at 40% mid-canary (two ReplicaSets, VirtualService 60/40, a pause
  condition); a promote then goes on to the next step, as Argo would;
- `older`: Healthy on a ReplicaSet named with the hash an older Argo computed (k8s.io/api
  before 0.34 wrote `"creationTimestamp":null`): only the template lookup finds it.
"""

from __future__ import annotations

import asyncio
import copy
import re
import urllib.request
from typing import Any

from rolloutd.kube.client import KubeClient
from rolloutd.kube.resources import PODS, REPLICA_SETS, ROLLOUTS, SERVICES
from rolloutd.plan.hashing import fnv1a32, go_json, pod_template_hash, safe_encode, steps_hash
from tests.e2e.harness import (
    POD_HASH,
    VIRTUAL_SERVICES,
    Daemon,
    eventually,
    get_rollout,
    promote,
    route_weights,
    sample,
    wait_phase,
)

JsonDict = dict[str, Any]
REPLICAS = 5
STEPS: list[JsonDict] = [
    {"setWeight": 20},
    {"pause": {}},
    {"setWeight": 40},
    {"pause": {}},
    {"setWeight": 60},
    {"pause": {}},
    {"setWeight": 80},
    {"pause": {"duration": 1}},
]
T0 = "2026-01-01T00:00:00Z"


def template(name: str, image: str) -> JsonDict:
    tpl: JsonDict = copy.deepcopy(sample("rollout")[0]["spec"]["template"])
    tpl["metadata"]["labels"]["app"] = name
    tpl["spec"]["containers"][0]["image"] = image
    return tpl


def older_hash(tpl: JsonDict) -> str:
    """The hash Argo gave this template when built with k8s.io/api before 0.34."""
    data = go_json(tpl).replace(b'"metadata":{', b'"metadata":{"creationTimestamp":null,', 1)
    return safe_encode(str(fnv1a32(data)))


def rollout(name: str, tpl: JsonDict, routed: bool, revision: str) -> JsonDict:
    canary: JsonDict = {"steps": STEPS}
    if routed:
        canary.update(
            canaryService=f"{name}-canary",
            stableService=f"{name}-stable",
            trafficRouting={
                "istio": {"virtualServices": [{"name": f"{name}-vsvc", "routes": ["primary"]}]}
            },
        )
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": name, "annotations": {"rollout.argoproj.io/revision": revision}},
        "spec": {
            "replicas": REPLICAS,
            "strategy": {"canary": canary},
            "revisionHistoryLimit": 2,
            "selector": {"matchLabels": {"app": name}},
            "template": tpl,
        },
    }


def replica_set(ro: JsonDict, tpl: JsonDict, pod_hash: str, revision: int, n: int) -> JsonDict:
    name = ro["metadata"]["name"]
    body = copy.deepcopy(tpl)
    body["metadata"]["labels"][POD_HASH] = pod_hash
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": f"{name}-{pod_hash}",
            "labels": dict(body["metadata"]["labels"]),
            "annotations": {"rollout.argoproj.io/revision": str(revision)},
            "ownerReferences": [
                {
                    "apiVersion": "argoproj.io/v1alpha1",
                    "kind": "Rollout",
                    "name": name,
                    "uid": ro["metadata"]["uid"],
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {
            "replicas": n,
            "selector": {"matchLabels": {"app": name, POD_HASH: pod_hash}},
            "template": body,
        },
    }


def service(rollout_name: str, role: str, pod_hash: str) -> JsonDict:
    svc: JsonDict = copy.deepcopy(sample("services")[0])
    svc["metadata"] = {
        "name": f"{rollout_name}-{role}",
        "annotations": {"argo-rollouts.argoproj.io/managed-by-rollouts": rollout_name},
    }
    svc["spec"]["selector"] = {"app": rollout_name, POD_HASH: pod_hash}
    return svc


def virtual_service(name: str, canary_weight: int) -> JsonDict:
    vs: JsonDict = copy.deepcopy(sample("virtual-service")[0])
    vs["metadata"] = {"name": f"{name}-vsvc"}
    vs["spec"].pop("tls", None)
    vs["spec"]["http"][0]["route"] = [
        {"destination": {"host": f"{name}-stable"}, "weight": 100 - canary_weight},
        {"destination": {"host": f"{name}-canary"}, "weight": canary_weight},
    ]
    return vs


def condition(kind: str, status: str, reason: str, message: str) -> JsonDict:
    return {
        "type": kind,
        "status": status,
        "reason": reason,
        "message": message,
        "lastUpdateTime": T0,
        "lastTransitionTime": T0,
    }


def argo_status(
    ro: JsonDict, stable: str, current: str, index: int, weight: int | None, *, paused: bool
) -> JsonDict:
    """What Argo Rollouts v1.10 writes for a canary Rollout (utils/conditions, rollout/sync.go)."""
    name = ro["metadata"]["name"]
    canary_n = 0 if stable == current else -(-REPLICAS * (weight or 0) // 100)
    total = REPLICAS + canary_n
    updated = REPLICAS if stable == current else canary_n
    rs_name = f"{name}-{current}"
    status: JsonDict = {
        "observedGeneration": str(ro["metadata"]["generation"]),
        "currentPodHash": current,
        "currentStepHash": steps_hash(STEPS),
        "currentStepIndex": index,
        "stableRS": stable,
        "replicas": total,
        "updatedReplicas": updated,
        "readyReplicas": total,
        "availableReplicas": total,
        "HPAReplicas": total,
        "selector": f"app={name}",
        "blueGreen": {},
        "canary": {},
        "conditions": [
            condition("Available", "True", "AvailableReason", "Rollout has minimum availability"),
        ],
    }
    if weight is not None:
        status["canary"]["weights"] = {
            "canary": {
                "podTemplateHash": current,
                "serviceName": f"{name}-canary",
                "weight": weight,
            },
            "stable": {
                "podTemplateHash": stable,
                "serviceName": f"{name}-stable",
                "weight": 100 - weight,
            },
        }
    if paused:
        status.update(
            phase="Paused",
            message="CanaryPauseStep",
            controllerPause=True,
            pauseConditions=[{"reason": "CanaryPauseStep", "startTime": T0}],
        )
        status["conditions"] += [
            condition("Paused", "True", "RolloutPaused", "Rollout is paused"),
            condition("Progressing", "Unknown", "RolloutPaused", "Rollout is paused"),
        ]
    else:
        status.update(phase="Healthy")
        status["conditions"] += [
            condition(
                "Completed",
                "True",
                "RolloutCompleted",
                f"Rollout completed update to revision 1 ({current}): Initial deploy",
            ),
            condition(
                "Progressing",
                "True",
                "NewReplicaSetAvailable",
                f'ReplicaSet "{rs_name}" has successfully progressed.',
            ),
        ]
    return status


async def leave_as_argo(kube: KubeClient, ns: str) -> dict[str, JsonDict]:
    """Create the three Rollouts, their ReplicaSets (with ready pods), Services and
    VirtualServices, and write Argo's status through the status subresource."""
    blue, yellow = "argoproj/rollouts-demo:blue", "argoproj/rollouts-demo:yellow"
    plans: dict[str, tuple[JsonDict, JsonDict | None, str, str, int, int | None, bool]] = {}
    t = template("healthy", blue)
    h = pod_template_hash(t)
    plans["healthy"] = (t, None, h, h, len(STEPS), 0, False)
    t_stable, t_canary = template("paused", blue), template("paused", yellow)
    plans["paused"] = (
        t_stable,
        t_canary,
        pod_template_hash(t_stable),
        pod_template_hash(t_canary),
        3,
        40,
        True,
    )
    t = template("older", blue)
    old = older_hash(t)
    assert old != pod_template_hash(t)
    plans["older"] = (t, None, old, old, len(STEPS), None, False)

    statuses: dict[str, JsonDict] = {}
    for name, (stable_tpl, canary_tpl, stable, current, index, weight, paused) in plans.items():
        routed = weight is not None
        ro = await kube.create(
            ROLLOUTS,
            rollout(name, canary_tpl or stable_tpl, routed, "2" if canary_tpl else "1"),
            namespace=ns,
        )
        await kube.create(
            REPLICA_SETS, replica_set(ro, stable_tpl, stable, 1, REPLICAS), namespace=ns
        )
        if canary_tpl is not None:
            n = -(-REPLICAS * (weight or 0) // 100)
            await kube.create(
                REPLICA_SETS, replica_set(ro, canary_tpl, current, 2, n), namespace=ns
            )
        if routed:
            await kube.create(SERVICES, service(name, "stable", stable), namespace=ns)
            await kube.create(SERVICES, service(name, "canary", current), namespace=ns)
            await kube.create(VIRTUAL_SERVICES, virtual_service(name, weight or 0), namespace=ns)
        statuses[name] = argo_status(ro, stable, current, index, weight, paused=paused)

    async def pods_ready() -> bool:
        sets = (await kube.list(REPLICA_SETS, namespace=ns))["items"]
        return len(sets) == 4 and all(
            (rs.get("status") or {}).get("readyReplicas") == rs["spec"]["replicas"] for rs in sets
        )

    await eventually(pods_ready, "the ReplicaSets' pods to be ready", timeout=90)
    for name, status in statuses.items():
        await kube.patch(ROLLOUTS, name, {"status": status}, namespace=ns, subresource="status")
    return statuses


async def reconcile_count(daemon: Daemon) -> int:
    urls = re.findall(r'"metrics": "([^"]+)"', daemon.log_path.read_text(errors="replace"))
    if not urls:
        return 0

    def scrape() -> str:
        with urllib.request.urlopen(urls[0], timeout=5) as response:
            return str(response.read().decode())

    text = await asyncio.to_thread(scrape)
    found = re.search(r"^rolloutd_reconcile_duration_seconds_count (\S+)$", text, re.M)
    return int(float(found.group(1))) if found else 0


async def world(kube: KubeClient, ns: str) -> tuple[set[str], set[str], dict[str, JsonDict]]:
    sets = {rs["metadata"]["name"] for rs in (await kube.list(REPLICA_SETS, namespace=ns))["items"]}
    pods = {p["metadata"]["uid"] for p in (await kube.list(PODS, namespace=ns))["items"]}
    weights = {
        vs["metadata"]["name"]: route_weights(vs)
        for vs in (await kube.list(VIRTUAL_SERVICES, namespace=ns))["items"]
    }
    return sets, pods, weights


async def test_rolloutd_takes_over_argos_rollouts(
    kube: KubeClient, namespace: str, sandbox: Any, tmp_path: Any
) -> None:
    ns = namespace
    argo = await leave_as_argo(kube, ns)
    sets_before, pods_before, weights_before = await world(kube, ns)
    versions = {
        name: (await get_rollout(kube, ns, name))["metadata"]["resourceVersion"]
        for name in ("healthy", "paused", "older")
    }
    # Every write to the Rollouts from here on, seen by a watch.
    writes: dict[str, list[JsonDict]] = {name: [] for name in versions}
    since = max(int(v) for v in versions.values())

    async def watch() -> None:
        async for event in kube.watch(ROLLOUTS, namespace=ns, resource_version=str(since)):
            obj = event["object"]
            name = obj["metadata"]["name"]
            if name in writes and event["type"] == "MODIFIED":
                writes[name].append(obj)

    watcher = asyncio.create_task(watch())
    daemon = Daemon(str(sandbox.kubeconfig), ns, tmp_path)
    daemon.start()
    try:
        for name in ("healthy", "older"):
            ro = await wait_phase(kube, ns, "Healthy", step=len(STEPS), name=name, timeout=60)
        paused = await wait_phase(kube, ns, "Paused", step=3, name="paused", timeout=60)

        async def reconciled() -> bool:
            # A Rollout that needs nothing logs nothing: count reconciles on /metrics (the
            # first list queues each Rollout once).
            return await reconcile_count(daemon) >= len(versions)

        await eventually(reconciled, "the daemon to reconcile the three Rollouts", timeout=30)
        # Let a few more reconciles pass (resyncs, informer events) before judging.
        await asyncio.sleep(3)
        sets_after, pods_after, weights_after = await world(kube, ns)
        print(
            f"\ntakeover: pods replaced: {len(pods_before - pods_after)}, ReplicaSets created: "
            f"{len(sets_after - sets_before)}, weights before {weights_before} after "
            f"{weights_after}, status writes { ({n: len(w) for n, w in writes.items()}) }"
        )
        for name, seen in writes.items():
            for w in seen:
                changed = sorted(
                    k
                    for k in {*argo[name], *w["status"]}
                    if argo[name].get(k) != w["status"].get(k)
                )
                print(f"  {name}: the takeover's status write changed {changed}")
        assert sets_after == sets_before
        assert pods_after == pods_before
        assert weights_after == weights_before
        for name, seen in writes.items():
            assert len(seen) <= 1, (name, [(w["metadata"], w["status"]) for w in seen])
        assert paused["status"]["pauseConditions"][0]["reason"] == "CanaryPauseStep"
        assert paused["status"]["stableRS"] != paused["status"]["currentPodHash"]
        ro = await get_rollout(kube, ns, "older")
        assert ro["status"]["stableRS"] == ro["status"]["currentPodHash"]

        # A promote goes on as Argo would: setWeight 60, then the pause after it.
        await promote(kube, ns, "paused")
        await wait_phase(kube, ns, "Paused", step=5, name="paused", timeout=60)

        async def at_60() -> bool:
            vs = await kube.get(VIRTUAL_SERVICES, "paused-vsvc", namespace=ns)
            return route_weights(vs) == {"paused-stable": 40, "paused-canary": 60}

        await eventually(at_60, "the VirtualService at 40/60", timeout=30)
        sets_promoted, pods_promoted, _ = await world(kube, ns)
        assert sets_promoted == sets_before
        assert pods_before <= pods_promoted  # only new canary pods, none replaced
        print(f"after promote: {len(pods_promoted - pods_before)} canary pods added")
    finally:
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
        code = daemon.stop()
        print(daemon.logs(20) if code not in (0, -15, None) else "")
