"""Argo Rollouts' Istio e2e scenarios (`test/e2e/istio_test.go`), replayed on the sandbox.

Each test names the Argo test it follows. The VirtualServices are host splits like Argo's
fixtures (`test/e2e/istio/`), one per Rollout, so the scenarios share one namespace and daemon.
"""

from __future__ import annotations

from typing import Any

import pytest

from rolloutd.kube.client import KubeClient
from rolloutd.kube.resources import ROLLOUTS, SERVICES, Resource
from tests.e2e.harness import (
    POD_HASH,
    VIRTUAL_SERVICES,
    eventually,
    get_rollout,
    patch_status,
    promote,
    route_weights,
)
from tests.e2e.parity.kit import (
    SCALE_DOWN_DEADLINE,
    canary_stable_pods,
    create_istio,
    expect_revision_pods,
    istio_routing,
    patch_spec,
    replica_sets,
    rollout,
    rs_by_revision,
    scale,
    selector_hash,
    service,
    update_template,
    wait_phase,
    wait_settled,
)

JsonDict = dict[str, Any]
STEPS = [{"setWeight": 10}, {"pause": {}}]


async def weights(kube: KubeClient, ns: str, name: str, kind: str) -> tuple[int, int]:
    vs = await kube.get(VIRTUAL_SERVICES, f"{name}-vsvc", namespace=ns)
    got = route_weights(vs, kind)
    return got.get(f"{name}-stable", 0), got.get(f"{name}-canary", 0)


async def host_split(kube: KubeClient, ns: str, name: str, *, http: bool, tls: bool) -> None:
    """TestIstioHostSplit's walk: 100/0, 90/10 at the pause, 100/0 after the promote, with the
    Services following; the old ReplicaSet keeps its pod for the scale-down delay."""
    kinds = (["http"] if http else []) + (["tls"] if tls else [])
    ro = rollout(name, steps=STEPS, canary=istio_routing(name, tls=tls))
    await create_istio(kube, ns, ro, tls=tls, http=http)
    ro = await wait_settled(kube, ns, name)
    assert ro["status"]["phase"] == "Healthy", ro["status"].get("message")
    rev1 = ro["status"]["stableRS"]
    for kind in kinds:
        assert await weights(kube, ns, name, kind) == (100, 0)
    assert await selector_hash(kube, ns, f"{name}-canary") == rev1
    assert await selector_hash(kube, ns, f"{name}-stable") == rev1

    await update_template(kube, ns, name, "two")
    ro = await wait_phase(kube, ns, "Paused", name=name)
    rev2 = ro["status"]["currentPodHash"]
    for kind in kinds:
        assert await weights(kube, ns, name, kind) == (90, 10)
    assert await selector_hash(kube, ns, f"{name}-canary") == rev2
    assert await selector_hash(kube, ns, f"{name}-stable") == rev1

    await promote(kube, ns, name)
    await wait_phase(kube, ns, "Healthy", name=name)

    async def back_to_stable() -> bool:
        return all([await weights(kube, ns, name, kind) == (100, 0) for kind in kinds])

    await eventually(back_to_stable, f"{name}: all weight back on the new stable", 15)
    assert await selector_hash(kube, ns, f"{name}-canary") == rev2
    assert await selector_hash(kube, ns, f"{name}-stable") == rev2
    await expect_revision_pods(kube, ns, name, 1, 1)  # within its scale-down delay


async def test_host_split(kube: KubeClient, ns: str) -> None:
    """Argo `TestIstioHostSplit`, with `istio-host-split.yaml` (an http route)."""
    await host_split(kube, ns, "istio-host-split", http=True, tls=False)


async def test_host_split_http_and_tls(kube: KubeClient, ns: str) -> None:
    """Argo `TestIstioHostSplit`, with `istio-host-http-tls-split.yaml` (http and TLS routes)."""
    await host_split(kube, ns, "istio-host-http-tls", http=True, tls=True)


async def test_host_split_only_tls(kube: KubeClient, ns: str) -> None:
    """Argo `TestIstioHostSplitOnlyTls` (`istio-host-only-tls-split.yaml`)."""
    await host_split(kube, ns, "istio-host-only-tls", http=False, tls=True)


async def test_abort_update(kube: KubeClient, ns: str) -> None:
    """Argo `TestIstioAbortUpdate`: an abort of a Healthy Rollout changes nothing, at first and
    after a promoted update (the promoted revision keeps its pod)."""
    name = "istio-abort-update"
    await create_istio(kube, ns, rollout(name, steps=STEPS, canary=istio_routing(name)))
    await wait_phase(kube, ns, "Healthy", name=name)
    await patch_status(kube, ns, {"abort": True}, name=name)
    await wait_phase(kube, ns, "Healthy", name=name)
    await expect_revision_pods(kube, ns, name, 1, 1)
    await update_template(kube, ns, name, "two")
    await wait_phase(kube, ns, "Paused", name=name)
    await promote(kube, ns, name)
    await wait_phase(kube, ns, "Healthy", name=name)
    await patch_status(kube, ns, {"abort": True}, name=name)
    await wait_phase(kube, ns, "Healthy", name=name)
    await expect_revision_pods(kube, ns, name, 2, 1)


async def test_update_in_the_middle_with_zero_canary_weight(kube: KubeClient, ns: str) -> None:
    """Argo `TestIstioUpdateInMiddleZeroCanaryReplicas`: paused at weight 0 with one canary pod
    from `setCanaryScale`, a further update moves that pod to the newest revision."""
    name = "istio-update-in-middle"
    steps = [{"setWeight": 0}, {"setCanaryScale": {"replicas": 1}}, {"pause": {}}]
    ro = rollout(name, replicas=2, steps=steps, canary=istio_routing(name))
    await create_istio(kube, ns, ro)
    await wait_phase(kube, ns, "Healthy", name=name)
    await update_template(kube, ns, name, "two")
    await wait_phase(kube, ns, "Paused", name=name)
    await expect_revision_pods(kube, ns, name, 2, 1)
    await update_template(kube, ns, name, "three")
    await expect_revision_pods(kube, ns, name, 3, 1)
    await wait_phase(kube, ns, "Paused", name=name)
    await expect_revision_pods(kube, ns, name, 3, 1)


async def test_abort_keeps_canary_pods_for_the_delay(kube: KubeClient, ns: str) -> None:
    """Argo `TestIstioAbortUpdateDeleteAllCanaryPods`: at an abort the canary keeps its pods
    (with a scale-down deadline) while all traffic and the stable's full size come back."""
    name = "istio-abort-canary-pods"
    steps = [
        {"setCanaryScale": {"replicas": 2}},
        {"setWeight": 20},
        {"pause": {}},
        {"setCanaryScale": {"replicas": 4}},
        {"setWeight": 40},
        {"pause": {}},
    ]
    ro = rollout(name, replicas=5, steps=steps, canary=istio_routing(name))
    await create_istio(kube, ns, ro)
    await wait_phase(kube, ns, "Healthy", name=name)
    await update_template(kube, ns, name, "two")
    await wait_phase(kube, ns, "Paused", step=2, name=name)
    await expect_revision_pods(kube, ns, name, 2, 2)
    await promote(kube, ns, name)
    await wait_phase(kube, ns, "Paused", step=5, name=name)
    await expect_revision_pods(kube, ns, name, 2, 4)
    await patch_status(kube, ns, {"abort": True}, name=name)
    await wait_phase(kube, ns, "Degraded", name=name)
    assert await weights(kube, ns, name, "http") == (100, 0)
    await expect_revision_pods(kube, ns, name, 1, 5)
    await expect_revision_pods(kube, ns, name, 2, 4)
    rs2 = await rs_by_revision(kube, ns, name, 2)
    assert SCALE_DOWN_DEADLINE in (rs2["metadata"].get("annotations") or {})
    assert await canary_stable_pods(kube, ns, name) == (4, 5)


DESTINATION_RULES = Resource(
    "networking.istio.io", "v1alpha3", "destinationrules", "DestinationRule"
)
MANAGED_BY = "argo-rollouts.argoproj.io/managed-by-rollouts"


async def create_subset_split(
    kube: KubeClient, ns: str, name: str, *, routes: bool, **rollout_args: Any
) -> None:
    """Argo's `istio-subset-split.yaml` (`routes: false`: `-single-route.yaml`, whose Rollout
    names no route of the VirtualService's only one): one Service, subsets by pod hash."""
    await kube.create(SERVICES, service(name, name), namespace=ns)

    def dest(subset: str, weight: int) -> JsonDict:
        return {"destination": {"host": name, "subset": subset}, "weight": weight}

    http: JsonDict = {"route": [dest("stable", 100), dest("canary", 0)]}
    if routes:
        http["name"] = "primary"
    vs = {
        "apiVersion": "networking.istio.io/v1alpha3",
        "kind": "VirtualService",
        "metadata": {"name": f"{name}-vsvc"},
        "spec": {"hosts": [name], "http": [http]},
    }
    await kube.create(VIRTUAL_SERVICES, vs, namespace=ns)
    subsets = [{"name": s, "labels": {"app": name}} for s in ("stable", "canary")]
    dr = {
        "apiVersion": "networking.istio.io/v1alpha3",
        "kind": "DestinationRule",
        "metadata": {"name": f"{name}-destrule"},
        "spec": {"host": name, "subsets": subsets},
    }
    await kube.create(DESTINATION_RULES, dr, namespace=ns)
    vs_ref: JsonDict = {"name": f"{name}-vsvc"}
    if routes:
        vs_ref["routes"] = ["primary"]
    routing = {
        "trafficRouting": {
            "istio": {
                "virtualService": vs_ref,
                "destinationRule": {
                    "name": f"{name}-destrule",
                    "canarySubsetName": "canary",
                    "stableSubsetName": "stable",
                },
            }
        }
    }
    args: dict[str, Any] = {"steps": STEPS, **rollout_args}
    args["canary"] = {**routing, **args.get("canary", {})}
    await kube.create(ROLLOUTS, rollout(name, **args), namespace=ns)


async def subset_hashes(kube: KubeClient, ns: str, name: str) -> tuple[str | None, str | None]:
    dr = await kube.get(DESTINATION_RULES, f"{name}-destrule", namespace=ns)
    subsets = {s["name"]: (s.get("labels") or {}).get(POD_HASH) for s in dr["spec"]["subsets"]}
    return subsets.get("stable"), subsets.get("canary")


async def subset_walk(kube: KubeClient, ns: str, name: str) -> None:
    """TestIstioSubsetSplit's walk: the subsets follow the stable and the canary hashes and the
    weight goes 100/0, 90/10, 100/0; the old ReplicaSet keeps its pod for its delay."""

    async def split() -> tuple[int, int]:
        vs = await kube.get(VIRTUAL_SERVICES, f"{name}-vsvc", namespace=ns)
        route = vs["spec"]["http"][0]["route"]
        by_subset = {d["destination"]["subset"]: int(d.get("weight") or 0) for d in route}
        return by_subset["stable"], by_subset["canary"]

    ro = await wait_settled(kube, ns, name)
    assert ro["status"]["phase"] == "Healthy", ro["status"].get("message")
    rev1 = ro["status"]["stableRS"]
    assert await split() == (100, 0)
    assert await subset_hashes(kube, ns, name) == (rev1, rev1)
    await update_template(kube, ns, name, "two")
    ro = await wait_phase(kube, ns, "Paused", name=name)
    rev2 = ro["status"]["currentPodHash"]
    assert await split() == (90, 10)
    assert await subset_hashes(kube, ns, name) == (rev1, rev2)
    await promote(kube, ns, name)
    await wait_phase(kube, ns, "Healthy", name=name)

    async def promoted() -> bool:
        return await split() == (100, 0) and await subset_hashes(kube, ns, name) == (rev2, rev2)

    await eventually(promoted, f"{name}: both subsets on the new stable, all weight on it", 15)
    await expect_revision_pods(kube, ns, name, 1, 1)


@pytest.mark.parametrize("routes", [True, False], ids=["named-route", "single-route"])
async def test_subset_split(kube: KubeClient, ns: str, routes: bool) -> None:
    """Argo `TestIstioSubsetSplit` (up to the promote) and `TestIstioSubsetSplitSingleRoute`."""
    name = "istio-subset-split" + ("" if routes else "-single")
    await create_subset_split(kube, ns, name, routes=routes)
    await subset_walk(kube, ns, name)


async def test_subset_split_detach(kube: KubeClient, ns: str) -> None:
    """Argo `TestIstioSubsetSplit`, its end: once the Rollout no longer names the
    DestinationRule (`trafficRouting: null`), the rule loses rolloutd's managed-by annotation
    and its subsets their pod-hash labels, and the older ReplicaSet goes to zero (a basic
    canary keeps no scale-down delay)."""
    name = "istio-subset-detach"
    await create_subset_split(kube, ns, name, routes=True)
    await subset_walk(kube, ns, name)
    await patch_spec(kube, ns, name, {"strategy": {"canary": {"trafficRouting": None}}})

    async def released() -> bool:
        dr = await kube.get(DESTINATION_RULES, f"{name}-destrule", namespace=ns)
        annotations = dr["metadata"].get("annotations") or {}
        return MANAGED_BY not in annotations and await subset_hashes(kube, ns, name) == (
            None,
            None,
        )

    try:
        await eventually(released, f"{name}: the DestinationRule released", 5)
    except AssertionError as exc:
        dr = await kube.get(DESTINATION_RULES, f"{name}-destrule", namespace=ns)
        kept = (dr["metadata"].get("annotations"), dr["spec"]["subsets"])
        raise AssertionError(f"{exc}; annotations and subsets now: {kept}") from None
    await wait_phase(kube, ns, "Healthy", name=name)
    await expect_revision_pods(kube, ns, name, 1, 0)


async def test_stable_downscale_after_abort(kube: KubeClient, ns: str) -> None:
    """Argo `TestIstioSubsetSplitInStableDownscaleAfterCanaryAbort`: scaling an aborted Rollout
    down to one pod keeps all weight on the stable subset. The manifest keeps Argo's
    `dynamicStableScale: true`, which rolloutd reports and does not act on yet (README); the
    check holds either way."""
    name = "istio-downscale-after-abort"
    steps = [
        {"setWeight": 10},
        {"pause": {}},
        {"setWeight": 20},
        {"pause": {}},
        {"setWeight": 50},
        {"pause": {}},
    ]
    canary = {
        "dynamicStableScale": True,
        "canaryMetadata": {"labels": {"role": "canary"}},
        "stableMetadata": {"labels": {"role": "stable"}},
        "maxSurge": "25%",
        "maxUnavailable": "20%",
    }
    await create_subset_split(kube, ns, name, routes=False, replicas=4, steps=steps, canary=canary)
    ro = await wait_settled(kube, ns, name)
    assert ro["status"]["phase"] == "Healthy", ro["status"].get("message")
    await patch_status(kube, ns, {"promoteFull": True}, name=name)  # Healthy: changes nothing

    async def promote_full_cleared() -> bool:
        ro = await get_rollout(kube, ns, name)
        return not (ro.get("status") or {}).get("promoteFull")

    # Cleared before the update, or the update itself would be promoted in full.
    await eventually(promote_full_cleared, f"{name}: promoteFull cleared on a Healthy Rollout", 15)
    await update_template(kube, ns, name, "two")
    await wait_phase(kube, ns, "Paused", step=1, name=name)
    await patch_status(kube, ns, {"abort": True}, name=name)
    await wait_phase(kube, ns, "Degraded", name=name)
    await scale(kube, ns, name, 1)

    # Argo waits for one replica in all; rolloutd keeps the aborted canary's pods for
    # abortScaleDownDelaySeconds (30 s) as Argo does without dynamicStableScale, so the check
    # is the stable's: scaled to one pod.
    stable = ro["status"]["stableRS"]

    async def one_stable_pod() -> bool:
        for rs in await replica_sets(kube, ns, name):
            if rs["metadata"]["labels"].get(POD_HASH) == stable:
                return int(rs["spec"].get("replicas") or 0) == 1
        return False

    await eventually(one_stable_pod, f"{name}: the stable scaled to one pod", 30)
    vs = await kube.get(VIRTUAL_SERVICES, f"{name}-vsvc", namespace=ns)
    route = vs["spec"]["http"][0]["route"]
    assert [int(d.get("weight") or 0) for d in route] == [100, 0]
