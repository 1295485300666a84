"""The manifests a benchmark creates: the seed's shape, once per rollout, with small changes.

Every rollout `rNNNN` gets what the seed gives `rollouts-demo`: a stable and a canary Service,
a VirtualService whose `primary` HTTP route splits between them, and a Rollout with Istio
traffic routing. Differences from the seed, and why:

- 2 replicas instead of 5, so 1,000 rollouts make 2,000 pods (kwok fakes them, but the
  kube-controller-manager still creates each one).
- The steps depend on the rollout's *profile* (see `STEPS`): each workload needs rollouts that
  stop at a known place.
- Every Rollout carries the `controller-instance-id` label of this benchmark run, and the
  daemon under test runs with the same `--instance-id`. Other engineers' daemons (which run
  without an instance id) then ignore our Rollouts, and ours ignores theirs.

All functions are pure: they return dicts and touch no cluster.
"""

from __future__ import annotations

import copy
from typing import Any, Literal

JsonDict = dict[str, Any]
Profile = Literal["idle", "scaled", "plain", "nopause"]

INSTANCE_LABEL = "argo-rollouts.argoproj.io/controller-instance-id"
HASH_LABEL = "rollouts-pod-template-hash"
BENCH_LABEL = "rolloutd.bench"
ROUTE = "primary"
GATEWAY = "bench-gateway"
IMAGE_OLD = "argoproj/rollouts-demo:blue"
IMAGE_NEW = "argoproj/rollouts-demo:yellow"
REPLICAS = 2

# Weights a paused latency rollout sits at before its promote, and moves to after it.
PAUSED_WEIGHT = 20
PROMOTED_WEIGHT = 60

STEPS: dict[Profile, list[JsonDict]] = {
    # Idle rollouts never change image; their steps only need to be valid.
    "idle": [{"setWeight": 50}, {"pause": {}}],
    # 2a: the canary is scaled to full size first, so a promote only moves weight.
    "scaled": [
        {"setCanaryScale": {"replicas": REPLICAS}},
        {"setWeight": PAUSED_WEIGHT},
        {"pause": {}},
        {"setWeight": PROMOTED_WEIGHT},
        {"pause": {}},
    ],
    # 2b: 20% of 2 replicas is 1 pod, 60% is 2: the promote must scale up and wait for a pod.
    "plain": [
        {"setWeight": PAUSED_WEIGHT},
        {"pause": {}},
        {"setWeight": PROMOTED_WEIGHT},
        {"pause": {}},
    ],
    # 3: four weight steps and no pause; an image change runs straight to Healthy.
    "nopause": [{"setWeight": 20}, {"setWeight": 40}, {"setWeight": 60}, {"setWeight": 80}],
}
"""Steps per profile."""

PAUSE_INDEX: dict[Profile, int] = {"scaled": 2, "plain": 1}
"""`status.currentStepIndex` of the first pause, where latency rollouts wait to be promoted."""


def rollout_name(index: int) -> str:
    return f"r{index:04d}"


def services(name: str) -> list[JsonDict]:
    """The stable and canary Services, both selecting every pod of the app, as in the seed."""
    return [
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": f"{name}-{role}", "labels": {BENCH_LABEL: "true"}},
            "spec": {
                "selector": {"app": name},
                "ports": [{"port": 80, "targetPort": "http", "protocol": "TCP", "name": "http"}],
            },
        }
        for role in ("stable", "canary")
    ]


def virtual_service(name: str, canary_weight: int = 0) -> JsonDict:
    """The seed's VirtualService without its TLS route (the router leaves that alone anyway)."""
    return {
        "apiVersion": "networking.istio.io/v1alpha3",
        "kind": "VirtualService",
        "metadata": {"name": f"{name}-vsvc", "labels": {BENCH_LABEL: "true"}},
        "spec": {
            "gateways": [GATEWAY],
            "hosts": [f"{name}.local"],
            "http": [
                {
                    "name": ROUTE,
                    "route": [
                        {
                            "destination": {"host": f"{name}-stable"},
                            "weight": 100 - canary_weight,
                        },
                        {"destination": {"host": f"{name}-canary"}, "weight": canary_weight},
                    ],
                }
            ],
        },
    }


def gateway() -> JsonDict:
    return {
        "apiVersion": "networking.istio.io/v1alpha3",
        "kind": "Gateway",
        "metadata": {"name": GATEWAY},
        "spec": {
            "selector": {"istio": "ingressgateway"},
            "servers": [
                {"port": {"number": 80, "name": "http", "protocol": "HTTP"}, "hosts": ["*"]}
            ],
        },
    }


def pod_template(name: str, image: str = IMAGE_OLD) -> JsonDict:
    return {
        "metadata": {"labels": {"app": name}},
        "spec": {
            "containers": [
                {
                    "name": "app",
                    "image": image,
                    "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
                    "resources": {"requests": {"memory": "32Mi", "cpu": "5m"}},
                }
            ]
        },
    }


def rollout(name: str, profile: Profile, instance_id: str) -> JsonDict:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {
            "name": name,
            "labels": {INSTANCE_LABEL: instance_id, BENCH_LABEL: profile},
        },
        "spec": {
            "replicas": REPLICAS,
            "revisionHistoryLimit": 2,
            "selector": {"matchLabels": {"app": name}},
            "template": pod_template(name),
            "strategy": {
                "canary": {
                    "canaryService": f"{name}-canary",
                    "stableService": f"{name}-stable",
                    "trafficRouting": {
                        "istio": {"virtualServices": [{"name": f"{name}-vsvc", "routes": [ROUTE]}]}
                    },
                    "steps": copy.deepcopy(STEPS[profile]),
                }
            },
        },
    }


def replica_set(name: str, pod_hash: str, replicas: int, image: str = IMAGE_NEW) -> JsonDict:
    """A ReplicaSet like the one a controller makes for a revision (used by the floor)."""
    template = pod_template(name, image)
    template["metadata"]["labels"][HASH_LABEL] = pod_hash
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {"name": f"{name}-{pod_hash}", "labels": dict(template["metadata"]["labels"])},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name, HASH_LABEL: pod_hash}},
            "template": template,
        },
    }


def image_patch(image: str) -> JsonDict:
    """A strategic-merge-free way to set the one container's image: a JSON patch."""
    return {"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": image}


def canary_weight(vs: JsonDict) -> int | None:
    """The canary weight of the `primary` route, or None when the route is not there."""
    for route in (vs.get("spec") or {}).get("http") or []:
        if route.get("name") != ROUTE:
            continue
        for dest in route.get("route") or []:
            host = str((dest.get("destination") or {}).get("host") or "")
            if host.endswith("-canary"):
                return int(dest.get("weight") or 0)
    return None


def profiles_for(n: int, latency_n: int, throughput_n: int) -> list[Profile]:
    """Which profile each of the n rollouts gets: latency (a), latency (b), throughput, idle."""
    out: list[Profile] = []
    for i in range(n):
        if i < latency_n:
            out.append("scaled")
        elif i < 2 * latency_n:
            out.append("plain")
        elif i < 2 * latency_n + throughput_n:
            out.append("nopause")
        else:
            out.append("idle")
    return out
