"""The seed's canary through the NGINX, ALB and Traefik routers, with the daemon as a process.

Each run: Healthy at 0, then 20 -> 40 -> 60 -> 80 -> (100) -> Healthy at 0, every step an
indefinite pause so each weight is seen without timing anything; then a second update aborted
at 40, straight back to 0. A watch records every canary weight the routing object carried, and
what is someone else's (the stable Ingress for NGINX, a foreign action and target group for
ALB, a foreign weighted entry for Traefik) is the same at the end as at the start.
"""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from rolloutd_traefik.router import Router as TraefikRouter

from rolloutd.kube.client import KubeClient
from rolloutd.kube.informer import Informer
from rolloutd.kube.resources import INGRESSES, ROLLOUTS, SERVICES, Resource
from tests.e2e.harness import (
    Daemon,
    eventually,
    is_subsequence,
    patch_status,
    promote,
    sample,
    set_image,
    wait_phase,
)

JsonDict = dict[str, Any]
STABLE, CANARY = "rollouts-demo-stable", "rollouts-demo-canary"
INGRESS = "rollouts-demo-ingress"
TRAEFIK_SERVICES = TraefikRouter({}).resource
ALB_KEY = f"alb.ingress.kubernetes.io/actions.{STABLE}"
ALB_OTHER = "alb.ingress.kubernetes.io/actions.maintenance"
STEPS = [
    {"setWeight": 20},
    {"pause": {}},
    {"setWeight": 40},
    {"pause": {}},
    {"setWeight": 60},
    {"pause": {}},
    {"setWeight": 80},
    {"pause": {}},
]


def ingress(annotations: dict[str, str]) -> JsonDict:
    backend = {"service": {"name": STABLE, "port": {"number": 80}}}
    return {
        "apiVersion": INGRESSES.api_version,
        "kind": "Ingress",
        "metadata": {"name": INGRESS, "annotations": annotations},
        "spec": {
            "rules": [
                {
                    "host": "demo.example.com",
                    "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": backend}]},
                }
            ]
        },
    }


def alb_ingress() -> JsonDict:
    body = ingress(
        {
            ALB_OTHER: json.dumps({"Type": "fixed-response", "FixedResponseConfig": {}}),
            ALB_KEY: json.dumps(
                {
                    "Type": "forward",
                    "ForwardConfig": {
                        "TargetGroups": [
                            {"ServiceName": "maintenance", "ServicePort": "80", "Weight": 0},
                            {"ServiceName": STABLE, "ServicePort": "80", "Weight": 100},
                        ]
                    },
                }
            ),
        }
    )
    body["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["port"] = {
        "name": "use-annotation"
    }
    return body


def traefik_service() -> JsonDict:
    return {
        "apiVersion": TRAEFIK_SERVICES.api_version,
        "kind": "TraefikService",
        "metadata": {"name": "rollouts-demo"},
        "spec": {
            "weighted": {
                "services": [
                    {"name": STABLE, "port": 80, "weight": 100},
                    {"name": CANARY, "port": 80, "weight": 0},
                    {"name": "maintenance", "port": 80, "weight": 0},
                ]
            }
        },
    }


def nginx_weight(obj: JsonDict) -> int | None:
    if obj["metadata"]["name"] != f"rollouts-demo-{INGRESS}-canary":
        return None
    return int(obj["metadata"]["annotations"]["nginx.ingress.kubernetes.io/canary-weight"])


def alb_weight(obj: JsonDict) -> int | None:
    text = (obj["metadata"].get("annotations") or {}).get(ALB_KEY)
    if obj["metadata"]["name"] != INGRESS or not text:
        return None
    groups = json.loads(text)["ForwardConfig"]["TargetGroups"]
    return next((int(g["Weight"]) for g in groups if g["ServiceName"] == CANARY), 0)


def traefik_weight(obj: JsonDict) -> int | None:
    services = obj["spec"]["weighted"]["services"]
    return next(int(s["weight"]) for s in services if s["name"] == CANARY)


def nginx_foreign(objects: dict[str, JsonDict]) -> Any:
    stable = objects[INGRESS]
    return stable["metadata"]["resourceVersion"], stable["spec"]


def alb_foreign(objects: dict[str, JsonDict]) -> Any:
    annotations = objects[INGRESS]["metadata"]["annotations"]
    groups = json.loads(annotations[ALB_KEY])["ForwardConfig"]["TargetGroups"]
    return annotations[ALB_OTHER], [g for g in groups if g["ServiceName"] == "maintenance"]


def traefik_foreign(objects: dict[str, JsonDict]) -> Any:
    services = objects["rollouts-demo"]["spec"]["weighted"]["services"]
    return [s for s in services if s["name"] == "maintenance"]


@dataclass(frozen=True)
class Case:
    routing: JsonDict
    resource: Resource
    objects: Callable[[], list[JsonDict]]
    weight: Callable[[JsonDict], int | None]
    foreign: Callable[[dict[str, JsonDict]], Any]


CASES = {
    "nginx": Case(
        {"nginx": {"stableIngress": INGRESS}},
        INGRESSES,
        lambda: [ingress({"kubernetes.io/ingress.class": "nginx"})],
        nginx_weight,
        nginx_foreign,
    ),
    "alb": Case(
        {"alb": {"ingress": INGRESS, "servicePort": 80}},
        INGRESSES,
        lambda: [alb_ingress()],
        alb_weight,
        alb_foreign,
    ),
    "traefik": Case(
        {"traefik": {"weightedTraefikServiceName": "rollouts-demo"}},
        TRAEFIK_SERVICES,
        lambda: [traefik_service()],
        traefik_weight,
        traefik_foreign,
    ),
}


class Weights:
    """Every canary weight the routing object carried, in order (deduplicated), from a watch."""

    def __init__(self, kube: KubeClient, case: Case, namespace: str) -> None:
        self.case = case
        self.seen: list[int] = []
        self.objects: dict[str, JsonDict] = {}
        self.uids: dict[str, set[str]] = {}
        self.informer = Informer(kube, case.resource, namespace=namespace)
        self.informer.add_handler(self._on)

    def _on(self, kind: str, obj: JsonDict, old: JsonDict | None) -> None:
        name = obj["metadata"]["name"]
        self.uids.setdefault(name, set()).add(obj["metadata"]["uid"])
        if kind == "DELETED":
            self.uids[name].add("deleted")
            return
        self.objects[name] = obj
        weight = self.case.weight(obj)
        if weight is not None and (not self.seen or self.seen[-1] != weight):
            self.seen.append(weight)

    async def last_is(self, weight: int) -> bool:
        return bool(self.seen) and self.seen[-1] == weight


@pytest.mark.parametrize("router", sorted(CASES))
async def test_seed_canary_and_abort_through_router(
    kube: KubeClient, namespace: str, daemon: Daemon, router: str
) -> None:
    ns, case = namespace, CASES[router]
    for doc in sample("services"):
        await kube.create(SERVICES, doc, namespace=ns)
    for obj in case.objects():
        await kube.create(case.resource, obj, namespace=ns)
    ro = copy.deepcopy(sample("rollout")[0])
    ro["spec"]["strategy"]["canary"]["trafficRouting"] = case.routing
    ro["spec"]["strategy"]["canary"]["steps"] = STEPS
    await kube.create(ROLLOUTS, ro, namespace=ns)

    weights = Weights(kube, case, ns)
    task = asyncio.create_task(weights.informer.run())
    try:
        await weights.informer.synced.wait()
        await wait_phase(kube, ns, "Healthy", step=8)
        foreign_before = case.foreign(weights.objects)

        await set_image(kube, ns, "argoproj/rollouts-demo:yellow")
        for step, weight in ((1, 20), (3, 40), (5, 60), (7, 80)):
            await wait_phase(kube, ns, "Paused", step=step)
            await eventually(lambda w=weight: weights.last_is(w), f"canary weight {weight}", 15)
            await promote(kube, ns)
        ro = await wait_phase(kube, ns, "Healthy", step=8)
        assert ro["status"]["stableRS"] == ro["status"]["currentPodHash"]
        await eventually(lambda: weights.last_is(0), "the weight back at 0 after promotion", 15)
        assert is_subsequence([20, 40, 60, 80, 100, 0], weights.seen), weights.seen

        # Second run, aborted at 40: the next weight is 0, nothing between.
        await set_image(kube, ns, "argoproj/rollouts-demo:green")
        await wait_phase(kube, ns, "Paused", step=1)
        await promote(kube, ns)
        await wait_phase(kube, ns, "Paused", step=3)
        await eventually(lambda: weights.last_is(40), "canary weight 40", 15)
        await patch_status(kube, ns, {"abort": True})
        ro = await wait_phase(kube, ns, "Degraded")
        assert ro["status"]["message"] == "RolloutAborted: Rollout aborted update to revision 3"
        await eventually(lambda: weights.last_is(0), "the weight back at 0 after abort", 15)
        assert weights.seen[-2:] == [40, 0], weights.seen
        assert case.foreign(weights.objects) == foreign_before
        # Nothing was deleted or made twice (NGINX's canary Ingress lives on at weight 0).
        assert all(len(uids) == 1 for uids in weights.uids.values()), weights.uids
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
