"""Argo parity for routes and steady state (issue 21, cases 3, 5, 6 and "steady means silent").

Each scenario follows one of Argo Rollouts' end-to-end tests, step for step, written in
rolloutd's own manifests: the daemon runs as a process on the sandbox, and at every pause (and
once Healthy) `Quiet.hold` fails on any write to the VirtualService, the DestinationRule or the
Services during its window.
"""

from __future__ import annotations

import copy
from typing import Any

from rolloutd.kube.client import KubeClient
from rolloutd.kube.resources import PODS, REPLICA_SETS, ROLLOUTS, SERVICES
from tests.e2e.harness import (
    POD_HASH,
    VIRTUAL_SERVICES,
    Daemon,
    eventually,
    get_rollout,
    patch_status,
    promote,
    route_weights,
    set_image,
    wait_phase,
)
from tests.e2e.silence import DESTINATION_RULES, Quiet

JsonDict = dict[str, Any]

NAME = "routes-demo"
STABLE, CANARY = "routes-demo-stable", "routes-demo-canary"
VS = "routes-demo-vs"
BLUE, YELLOW = "argoproj/rollouts-demo:blue", "argoproj/rollouts-demo:yellow"


def _service(name: str) -> JsonDict:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {
            "selector": {"app": NAME},
            "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
        },
    }


def _virtual_service() -> JsonDict:
    return {
        "apiVersion": "networking.istio.io/v1alpha3",
        "kind": "VirtualService",
        "metadata": {"name": VS},
        "spec": {
            "hosts": ["routes-demo.example"],
            "http": [
                {
                    "name": "primary",
                    "route": [
                        {"destination": {"host": STABLE}, "weight": 100},
                        {"destination": {"host": CANARY}, "weight": 0},
                    ],
                }
            ],
        },
    }


def _rollout(
    steps: list[JsonDict], managed: list[str], *, replicas: int = 5, **canary: Any
) -> JsonDict:
    strategy: JsonDict = {
        "canaryService": CANARY,
        "stableService": STABLE,
        "trafficRouting": {"istio": {"virtualService": {"name": VS, "routes": ["primary"]}}},
        "steps": copy.deepcopy(steps),
        **canary,
    }
    if managed:
        strategy["trafficRouting"]["managedRoutes"] = [{"name": n} for n in managed]
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": NAME},
        "spec": {
            "replicas": replicas,
            "revisionHistoryLimit": 2,
            "selector": {"matchLabels": {"app": NAME}},
            "strategy": {"canary": strategy},
            "template": {
                "metadata": {"labels": {"app": NAME}},
                "spec": {
                    "containers": [
                        {
                            "name": "app",
                            "image": BLUE,
                            "ports": [{"name": "http", "containerPort": 8080}],
                            "resources": {"requests": {"memory": "16Mi", "cpu": "5m"}},
                        }
                    ]
                },
            },
        },
    }


async def _apply(kube: KubeClient, ns: str, rollout: JsonDict) -> None:
    for name in (STABLE, CANARY):
        await kube.create(SERVICES, _service(name), namespace=ns)
    await kube.create(VIRTUAL_SERVICES, _virtual_service(), namespace=ns)
    await kube.create(ROLLOUTS, rollout, namespace=ns)


async def _http(kube: KubeClient, ns: str) -> list[JsonDict]:
    vs = await kube.get(VIRTUAL_SERVICES, VS, namespace=ns)
    routes: list[JsonDict] = vs["spec"]["http"]
    return routes


def _names(http: list[JsonDict]) -> list[str]:
    return [str(r.get("name")) for r in http]


def _split(route: JsonDict) -> dict[str, int]:
    return {d["destination"]["host"]: int(d.get("weight") or 0) for d in route.get("route", [])}


async def _wait_primary_only(kube: KubeClient, ns: str) -> None:
    """After a full promotion the pass that records Healthy may still leave the last step's
    weight for the next pass to clear (Argo's test sleeps a second here for the same reason)."""

    async def check() -> bool:
        http = await _http(kube, ns)
        return _names(http) == ["primary"] and _split(http[0]) == {STABLE: 100, CANARY: 0}

    await eventually(check, "only the primary route, at 100/0", 30)


async def _full_promote(kube: KubeClient, ns: str) -> None:
    await patch_status(kube, ns, {"promoteFull": True}, name=NAME)


# -- case 6: TestIstioHostHeaderRoute -------------------------------------------------------


HEADER_STEPS: list[JsonDict] = [
    {"setWeight": 20},
    {
        "setHeaderRoute": {
            "name": "by-agent",
            "match": [{"headerName": "agent", "headerValue": {"regex": "firefox(.*)"}}],
        }
    },
    {"pause": {}},
    {
        "setHeaderRoute": {
            "name": "by-agent",
            "match": [{"headerName": "agent", "headerValue": {"regex": "chrome(.*)"}}],
        }
    },
    {"pause": {}},
    {"setWeight": 40},
    {"setHeaderRoute": {"name": "by-agent"}},
    {"pause": {}},
]


async def test_header_route_added_changed_removed_and_silent_at_every_pause(
    kube: KubeClient, namespace: str, daemon: Daemon
) -> None:
    """Follows Argo's `TestIstioHostHeaderRoute` (header-routing/istio-hr-host.yaml); where
    Argo sleeps a second at each pause, this watches the VirtualService for a whole window and
    fails on any write (rolloutd removed and re-added the route every few seconds)."""
    ns = namespace
    async with Quiet(kube, ns) as quiet:
        await _apply(kube, ns, _rollout(HEADER_STEPS, ["by-agent"]))
        await wait_phase(kube, ns, "Healthy", name=NAME)
        assert _names(await _http(kube, ns)) == ["primary"]
        await quiet.hold("Healthy at revision 1")

        await set_image(kube, ns, YELLOW, name=NAME)
        await wait_phase(kube, ns, "Paused", step=2, name=NAME)
        http = await _http(kube, ns)
        assert _names(http) == ["by-agent", "primary"]
        assert http[0]["match"] == [{"headers": {"agent": {"regex": "firefox(.*)"}}}]
        assert _split(http[0]) == {CANARY: 100}
        assert _split(http[1]) == {STABLE: 80, CANARY: 20}
        await quiet.hold("paused at step 2 (header route on firefox)")

        await promote(kube, ns, name=NAME)
        await wait_phase(kube, ns, "Paused", step=4, name=NAME)
        http = await _http(kube, ns)
        assert _names(http) == ["by-agent", "primary"]
        assert http[0]["match"] == [{"headers": {"agent": {"regex": "chrome(.*)"}}}]
        await quiet.hold("paused at step 4 (header route on chrome)")

        await promote(kube, ns, name=NAME)
        await wait_phase(kube, ns, "Paused", step=7, name=NAME)
        http = await _http(kube, ns)
        assert _names(http) == ["primary"]
        assert _split(http[0]) == {STABLE: 60, CANARY: 40}
        await quiet.hold("paused at step 7 (header route removed)")
        assert _names(await _http(kube, ns)) == ["primary"]

        await _full_promote(kube, ns)
        await wait_phase(kube, ns, "Healthy", name=NAME)
        await _wait_primary_only(kube, ns)
        await quiet.hold("Healthy at revision 2")


# -- case 5: TestIstioHostMirrorRoute -------------------------------------------------------


MIRROR_STEPS: list[JsonDict] = [
    {"setWeight": 20},
    {
        "setMirrorRoute": {
            "name": "mirror-all",
            "percentage": 100,
            "match": [{"path": {"prefix": "/"}}],
        }
    },
    {
        "setMirrorRoute": {
            "name": "mirror-gets",
            "percentage": 80,
            "match": [{"path": {"prefix": "/"}, "method": {"exact": "GET"}}],
        }
    },
    {"pause": {}},
    {
        "setMirrorRoute": {
            "name": "mirror-all",
            "percentage": 100,
            "match": [{"path": {"prefix": "/rewrite"}}],
        }
    },
    {"pause": {}},
    {"setWeight": 40},
    {"setMirrorRoute": {"name": "mirror-all"}},
    {"pause": {}},
]


async def test_mirror_route_removed_by_name_and_silent_at_every_pause(
    kube: KubeClient, namespace: str, daemon: Daemon
) -> None:
    """Follows Argo's `TestIstioHostMirrorRoute` (mirror-route/istio-mirror-host.yaml): after
    two promotes `http` is [the second mirror route, primary] at 60/40."""
    ns = namespace
    async with Quiet(kube, ns) as quiet:
        await _apply(kube, ns, _rollout(MIRROR_STEPS, ["mirror-all", "mirror-gets"]))
        await wait_phase(kube, ns, "Healthy", name=NAME)
        assert _names(await _http(kube, ns)) == ["primary"]

        await set_image(kube, ns, YELLOW, name=NAME)
        await wait_phase(kube, ns, "Paused", step=3, name=NAME)
        http = await _http(kube, ns)
        assert _names(http) == ["mirror-all", "mirror-gets", "primary"]
        assert float(http[0]["mirrorPercentage"]["value"]) == 100
        assert float(http[1]["mirrorPercentage"]["value"]) == 80
        for route in http:
            assert _split(route) == {STABLE: 80, CANARY: 20}
        await quiet.hold("paused at step 3 (two mirror routes)")

        await promote(kube, ns, name=NAME)
        await wait_phase(kube, ns, "Paused", step=5, name=NAME)
        http = await _http(kube, ns)
        assert _names(http) == ["mirror-all", "mirror-gets", "primary"]
        assert http[0]["match"] == [{"uri": {"prefix": "/rewrite"}}]
        await quiet.hold("paused at step 5 (first mirror route changed)")

        await promote(kube, ns, name=NAME)
        await wait_phase(kube, ns, "Paused", step=8, name=NAME)
        http = await _http(kube, ns)
        assert _names(http) == ["mirror-gets", "primary"]
        for route in http:
            assert _split(route) == {STABLE: 60, CANARY: 40}
        await quiet.hold("paused at step 8 (first mirror route removed)")
        assert _names(await _http(kube, ns)) == ["mirror-gets", "primary"]

        await _full_promote(kube, ns)
        await wait_phase(kube, ns, "Healthy", name=NAME)
        await _wait_primary_only(kube, ns)
        await quiet.hold("Healthy at revision 2")


# -- steady means silent: an abort writes each selector once --------------------------------


async def test_abort_writes_the_canary_selector_once_then_stays_silent(
    kube: KubeClient, namespace: str, daemon: Daemon
) -> None:
    """Argo's `TestCanaryUnScaleDownOnAbort` and the Istio abort tests: after an abort Argo
    flips the canary Service between the two hashes many times before it settles; rolloutd
    writes it once, to the stable's hash, and then nothing is written at all."""
    ns = namespace
    steps: list[JsonDict] = [{"setWeight": 40}, {"pause": {}}]
    async with Quiet(kube, ns) as quiet:
        await _apply(kube, ns, _rollout(steps, [], replicas=3))
        ro = await wait_phase(kube, ns, "Healthy", name=NAME)
        stable_hash = ro["status"]["stableRS"]
        await set_image(kube, ns, YELLOW, name=NAME)
        ro = await wait_phase(kube, ns, "Paused", step=1, name=NAME)
        canary_hash = ro["status"]["currentPodHash"]
        svc = await kube.get(SERVICES, CANARY, namespace=ns)
        assert svc["spec"]["selector"][POD_HASH] == canary_hash
        await quiet.hold("paused at step 1")

        mark = len(quiet.writes)
        await patch_status(kube, ns, {"abort": True}, name=NAME)
        await wait_phase(kube, ns, "Degraded", name=NAME)
        await quiet.hold("aborted")
        assert quiet.selector_changes(CANARY, since=mark) == [stable_hash]
        assert quiet.selector_changes(STABLE, since=mark) == []
        assert route_weights(await kube.get(VIRTUAL_SERVICES, VS, namespace=ns)) == {
            STABLE: 100,
            CANARY: 0,
        }


# -- case 3: TestEphemeralMetadata ----------------------------------------------------------


async def _pod_labels(kube: KubeClient, ns: str, pod_hash: str) -> list[dict[str, str]]:
    pods = await kube.list(PODS, namespace=ns, label_selector=f"{POD_HASH}={pod_hash}")
    return [dict(p["metadata"].get("labels") or {}) for p in pods.get("items") or []]


async def _wait_labels(
    kube: KubeClient, ns: str, pod_hash: str, count: int, want: dict[str, str | None]
) -> None:
    """Wait until `pod_hash` has `count` pods, each with the labels `want` (None: absent)."""

    async def check() -> bool:
        labels = await _pod_labels(kube, ns, pod_hash)
        return len(labels) == count and all(
            all(lbl.get(k) == v for k, v in want.items()) for lbl in labels
        )

    await eventually(check, f"{count} pods of {pod_hash} labelled {want}", 60)


async def _replica_set_names(kube: KubeClient, ns: str) -> set[str]:
    listed = await kube.list(REPLICA_SETS, namespace=ns)
    return {rs["metadata"]["name"] for rs in listed.get("items") or []}


async def test_canary_and_stable_metadata_on_running_pods(
    kube: KubeClient, namespace: str, daemon: Daemon
) -> None:
    """Follows Argo's `TestEphemeralMetadata` (canary_test.go: 2 replicas, no traffic routing,
    `setWeight: 50`, `pause`): the stable's pods carry `stableMetadata`, the canary's
    `canaryMetadata`; a change of either block relabels the running pods in place (the old key
    gone, the new one there, no new ReplicaSet); at promotion the new stable's pods get the
    stable metadata."""
    ns = namespace
    rollout = _rollout([{"setWeight": 50}, {"pause": {}}], [], replicas=2)
    canary = rollout["spec"]["strategy"]["canary"]
    for key in ("canaryService", "stableService", "trafficRouting"):
        del canary[key]
    canary["canaryMetadata"] = {"labels": {"role": "canary"}}
    canary["stableMetadata"] = {"labels": {"role": "stable"}, "annotations": {"tier": "stable"}}
    await kube.create(ROLLOUTS, rollout, namespace=ns)
    ro = await wait_phase(kube, ns, "Healthy", name=NAME)
    first = ro["status"]["stableRS"]
    await _wait_labels(kube, ns, first, 2, {"role": "stable"})

    await set_image(kube, ns, YELLOW, name=NAME)
    ro = await wait_phase(kube, ns, "Paused", step=1, name=NAME)
    second = ro["status"]["currentPodHash"]
    await _wait_labels(kube, ns, second, 1, {"role": "canary"})
    await _wait_labels(kube, ns, first, 1, {"role": "stable"})

    # A metadata change only: the same ReplicaSets, their running pods relabelled.
    sets_before = await _replica_set_names(kube, ns)
    change = {"labels": {"role": None, "role2": "canary2"}}
    await kube.patch(
        ROLLOUTS, NAME, {"spec": {"strategy": {"canary": {"canaryMetadata": change}}}}, namespace=ns
    )
    await _wait_labels(kube, ns, second, 1, {"role": None, "role2": "canary2"})
    await _wait_labels(kube, ns, first, 1, {"role": "stable"})
    assert await _replica_set_names(kube, ns) == sets_before
    ro = await get_rollout(kube, ns, NAME)
    assert ro["status"]["currentPodHash"] == second

    await promote(kube, ns, name=NAME)
    await wait_phase(kube, ns, "Healthy", name=NAME)
    await _wait_labels(kube, ns, second, 2, {"role": "stable", "role2": None})
    pods = await kube.list(PODS, namespace=ns, label_selector=f"{POD_HASH}={second}")
    for pod in pods.get("items") or []:
        assert (pod["metadata"].get("annotations") or {}).get("tier") == "stable"

    change = {"labels": {"role": None, "role2": "stable2"}}
    await kube.patch(
        ROLLOUTS, NAME, {"spec": {"strategy": {"canary": {"stableMetadata": change}}}}, namespace=ns
    )
    await _wait_labels(kube, ns, second, 2, {"role": None, "role2": "stable2"})
    assert await _replica_set_names(kube, ns) == sets_before


# -- steady means silent with subsets: TestIstioSubsetSplitSingleRoute ----------------------


async def test_subset_split_keeps_the_destination_rule_silent_at_every_pause(
    kube: KubeClient, namespace: str, daemon: Daemon
) -> None:
    """Follows Argo's `TestIstioSubsetSplitSingleRoute` (istio/istio-subset-split-single-
    route.yaml): one route over two DestinationRule subsets, `setWeight: 10`, `pause`. Argo
    checks the weights and subset hashes once; this also holds a silent window at each stop."""
    ns = namespace
    rule = "subsets-demo-rule"
    vs = _virtual_service()
    vs["spec"]["http"][0]["route"] = [
        {"destination": {"host": "subsets-demo", "subset": "stable"}, "weight": 100},
        {"destination": {"host": "subsets-demo", "subset": "canary"}, "weight": 0},
    ]
    destination_rule = {
        "apiVersion": "networking.istio.io/v1alpha3",
        "kind": "DestinationRule",
        "metadata": {"name": rule},
        "spec": {
            "host": "subsets-demo",
            "subsets": [
                {"name": "stable", "labels": {"app": NAME}},
                {"name": "canary", "labels": {"app": NAME}},
            ],
        },
    }
    rollout = _rollout([{"setWeight": 10}, {"pause": {}}], [], replicas=1)
    canary = rollout["spec"]["strategy"]["canary"]
    del canary["canaryService"], canary["stableService"]
    canary["trafficRouting"] = {
        "istio": {
            "virtualService": {"name": VS},
            "destinationRule": {
                "name": rule,
                "canarySubsetName": "canary",
                "stableSubsetName": "stable",
            },
        }
    }

    def subset_hashes(obj: JsonDict) -> list[str | None]:
        return [(s.get("labels") or {}).get(POD_HASH) for s in obj["spec"]["subsets"]]

    async with Quiet(kube, ns) as quiet:
        await kube.create(VIRTUAL_SERVICES, vs, namespace=ns)
        await kube.create(DESTINATION_RULES, destination_rule, namespace=ns)
        await kube.create(ROLLOUTS, rollout, namespace=ns)
        ro = await wait_phase(kube, ns, "Healthy", name=NAME)
        first = ro["status"]["stableRS"]
        weights = [d["weight"] for d in (await _http(kube, ns))[0]["route"]]
        assert weights == [100, 0]
        dr = await kube.get(DESTINATION_RULES, rule, namespace=ns)
        assert subset_hashes(dr) == [first, first]
        await quiet.hold("Healthy at revision 1")

        await set_image(kube, ns, YELLOW, name=NAME)
        ro = await wait_phase(kube, ns, "Paused", step=1, name=NAME)
        second = ro["status"]["currentPodHash"]
        weights = [d["weight"] for d in (await _http(kube, ns))[0]["route"]]
        assert weights == [90, 10]
        dr = await kube.get(DESTINATION_RULES, rule, namespace=ns)
        assert subset_hashes(dr) == [first, second]
        await quiet.hold("paused at step 1")

        await promote(kube, ns, name=NAME)
        await wait_phase(kube, ns, "Healthy", name=NAME)

        async def settled() -> bool:
            http = await _http(kube, ns)
            dr = await kube.get(DESTINATION_RULES, rule, namespace=ns)
            weights = [d["weight"] for d in http[0]["route"]]
            return weights == [100, 0] and subset_hashes(dr) == [second, second]

        await eventually(settled, "all traffic and both subsets on revision 2", 30)
        await quiet.hold("Healthy at revision 2")
