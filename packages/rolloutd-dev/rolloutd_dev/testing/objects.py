"""Ready-made objects for tests on the real cluster: a stable/canary pair, as a Rollout has it.

`create_service_pair` makes what a canary Rollout looks like mid-update, without a controller:
two ReplicaSets (stable and canary, told apart by the `rollouts-pod-template-hash` label) and
two Services whose selectors pick one ReplicaSet each. Router tests route between the two
Services; controller tests can start from the same shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rolloutd.kube.client import KubeClient
from rolloutd.kube.resources import REPLICA_SETS, SERVICES

HASH_LABEL = "rollouts-pod-template-hash"


@dataclass(frozen=True, slots=True)
class ServicePair:
    """The names of a stable/canary pair in one namespace."""

    namespace: str
    app: str
    stable: str
    canary: str
    stable_hash: str
    canary_hash: str
    port: int = 80


def _service(name: str, app: str, pod_hash: str, port: int) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "labels": {"app": app}},
        "spec": {
            "selector": {"app": app, HASH_LABEL: pod_hash},
            "ports": [{"name": "http", "port": port, "targetPort": "http", "protocol": "TCP"}],
        },
    }


def _replica_set(app: str, pod_hash: str, image: str, replicas: int) -> dict[str, Any]:
    labels = {"app": app, HASH_LABEL: pod_hash}
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {"name": f"{app}-{pod_hash}", "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [
                        {
                            "name": app,
                            "image": image,
                            "ports": [{"name": "http", "containerPort": 8080}],
                        }
                    ]
                },
            },
        },
    }


async def create_service(
    kube: KubeClient, namespace: str, name: str, *, app: str = "other", port: int = 80
) -> dict[str, Any]:
    """A plain Service selecting `app` (e.g. a backend a router must leave alone)."""
    body = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {
            "selector": {"app": app},
            "ports": [{"name": "http", "port": port, "targetPort": "http"}],
        },
    }
    return await kube.create(SERVICES, body, namespace=namespace)


async def create_service_pair(
    kube: KubeClient,
    namespace: str,
    *,
    app: str = "demo",
    stable_hash: str = "6c7d8b9f5a",
    canary_hash: str = "58f4c7b6d9",
    replicas: int = 0,
    image: str = "argoproj/rollouts-demo:blue",
    port: int = 80,
) -> ServicePair:
    """Create `<app>-stable`/`<app>-canary` Services and a ReplicaSet behind each.

    `replicas` defaults to 0: routers only need the objects, and pods cost the sandbox time.
    """
    pair = ServicePair(
        namespace, app, f"{app}-stable", f"{app}-canary", stable_hash, canary_hash, port
    )
    for name, pod_hash, tag in (
        (pair.stable, stable_hash, image),
        (pair.canary, canary_hash, image.rsplit(":", 1)[0] + ":canary"),
    ):
        await kube.create(
            REPLICA_SETS, _replica_set(app, pod_hash, tag, replicas), namespace=namespace
        )
        await kube.create(SERVICES, _service(name, app, pod_hash, port), namespace=namespace)
    return pair
