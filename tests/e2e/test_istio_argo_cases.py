"""Two Istio cases of Argo's e2e suite: a DestinationRule is given back when its Rollout stops
using it or is deleted, and a TLS-only VirtualService is run on its TLS routes.

Argo's e2e expectation (`test/e2e/istio_test.go`): once a Rollout's `trafficRouting` is set to
null, the rule loses the `argo-rollouts.argoproj.io/managed-by-rollouts` annotation and the
`rollouts-pod-template-hash` labels of its subsets. The same when the Rollout is deleted.
"""

from __future__ import annotations

from typing import Any

from rolloutd.kube.client import KubeClient
from rolloutd.kube.resources import ROLLOUTS, SERVICES, Resource
from tests.e2e.harness import (
    VIRTUAL_SERVICES,
    Daemon,
    eventually,
    exists,
    promote,
    set_image,
    wait_phase,
)

DESTINATION_RULES = Resource(
    "networking.istio.io", "v1alpha3", "destinationrules", "DestinationRule"
)
MANAGED_BY = "argo-rollouts.argoproj.io/managed-by-rollouts"
HASH = "rollouts-pod-template-hash"
JsonDict = dict[str, Any]
ROUTING: JsonDict = {
    "istio": {
        "virtualService": {"name": "subset-vsvc", "routes": ["primary"]},
        "destinationRule": {
            "name": "subset-dr",
            "canarySubsetName": "canary",
            "stableSubsetName": "stable",
        },
    }
}


def objects() -> tuple[JsonDict, JsonDict, JsonDict]:
    rule = {
        "apiVersion": DESTINATION_RULES.api_version,
        "kind": "DestinationRule",
        "metadata": {"name": "subset-dr"},
        "spec": {
            "host": "subset-app",
            "subsets": [
                {"name": "canary", "labels": {"app": "subset-app"}},
                {"name": "stable", "labels": {"app": "subset-app"}},
            ],
        },
    }
    vs = {
        "apiVersion": VIRTUAL_SERVICES.api_version,
        "kind": "VirtualService",
        "metadata": {"name": "subset-vsvc"},
        "spec": {
            "hosts": ["subset-app"],
            "http": [
                {
                    "name": "primary",
                    "route": [
                        {"destination": {"host": "subset-app", "subset": "stable"}, "weight": 100},
                        {"destination": {"host": "subset-app", "subset": "canary"}, "weight": 0},
                    ],
                }
            ],
        },
    }
    rollout = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": "subset-app"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "subset-app"}},
            "template": {
                "metadata": {"labels": {"app": "subset-app"}},
                "spec": {"containers": [{"name": "app", "image": "nginx:1.19-alpine"}]},
            },
            "strategy": {
                "canary": {
                    "trafficRouting": ROUTING,
                    "steps": [{"setWeight": 20}, {"pause": {}}],
                }
            },
        },
    }
    return rule, vs, rollout


def marked(rule: JsonDict) -> bool:
    annotations = rule["metadata"].get("annotations") or {}
    return annotations.get(MANAGED_BY) == "subset-app" and all(
        HASH in (s.get("labels") or {}) for s in rule["spec"]["subsets"]
    )


def released(rule: JsonDict) -> bool:
    annotations = rule["metadata"].get("annotations") or {}
    return MANAGED_BY not in annotations and all(
        s.get("labels") == {"app": "subset-app"} for s in rule["spec"]["subsets"]
    )


async def test_destination_rule_released_when_unused_or_rollout_deleted(
    kube: KubeClient, namespace: str, daemon: Daemon
) -> None:
    ns = namespace
    rule, vs, rollout = objects()
    await kube.create(DESTINATION_RULES, rule, namespace=ns)
    await kube.create(VIRTUAL_SERVICES, vs, namespace=ns)
    await kube.create(ROLLOUTS, rollout, namespace=ns)
    await wait_phase(kube, ns, "Healthy", name="subset-app")

    async def rule_is(check: Any) -> bool:
        return bool(check(await kube.get(DESTINATION_RULES, "subset-dr", namespace=ns)))

    await eventually(lambda: rule_is(marked), "the DestinationRule to be marked")

    # trafficRouting: null -> the rule is given back, nothing of ours left on it.
    await kube.patch(
        ROLLOUTS,
        "subset-app",
        {"spec": {"strategy": {"canary": {"trafficRouting": None}}}},
        namespace=ns,
    )
    await eventually(lambda: rule_is(released), "the DestinationRule to be released")
    await wait_phase(kube, ns, "Healthy", name="subset-app")

    # Routing again, then the Rollout is deleted -> given back once more.
    await kube.patch(
        ROLLOUTS,
        "subset-app",
        {"spec": {"strategy": {"canary": {"trafficRouting": ROUTING}}}},
        namespace=ns,
    )
    await eventually(lambda: rule_is(marked), "the DestinationRule to be marked again")
    await kube.delete(ROLLOUTS, "subset-app", namespace=ns)
    await eventually(lambda: rule_is(released), "the DestinationRule to be released on delete")

    # No finalizer: a Rollout deleted while rolloutd is down is seen from the rule at start.
    await kube.create(ROLLOUTS, objects()[2], namespace=ns)
    await eventually(lambda: rule_is(marked), "the DestinationRule to be marked by the new one")
    daemon.stop()
    await kube.delete(ROLLOUTS, "subset-app", namespace=ns)

    async def rollout_gone() -> bool:
        return not await exists(kube, ROLLOUTS, "subset-app", ns)

    await eventually(rollout_gone, "the Rollout to be deleted")
    assert await rule_is(marked)
    daemon.start()
    await eventually(lambda: rule_is(released), "the DestinationRule to be released at start")


def tls_split_objects() -> list[tuple[Resource, JsonDict]]:
    """Argo's `test/e2e/istio/istio-host-only-tls-split.yaml`: only TLS routes in the
    VirtualService, while the Rollout also lists an HTTP route name."""
    app = "istio-host-split-tls"
    services = [
        (
            SERVICES,
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": f"{app}-{role}"},
                "spec": {
                    "ports": [
                        {"port": 80, "targetPort": "http", "protocol": "TCP", "name": "http"}
                    ],
                    "selector": {"app": app},
                },
            },
        )
        for role in ("canary", "stable")
    ]
    vs = {
        "apiVersion": VIRTUAL_SERVICES.api_version,
        "kind": "VirtualService",
        "metadata": {"name": f"{app}-vsvc"},
        "spec": {
            "hosts": [app],
            "tls": [
                {
                    "match": [{"port": 3000, "sniHosts": [app]}],
                    "route": [
                        {"destination": {"host": f"{app}-stable"}, "weight": 100},
                        {"destination": {"host": f"{app}-canary"}, "weight": 0},
                    ],
                }
            ],
        },
    }
    rollout = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": app},
        "spec": {
            "strategy": {
                "canary": {
                    "canaryService": f"{app}-canary",
                    "stableService": f"{app}-stable",
                    "trafficRouting": {
                        "istio": {
                            "virtualService": {
                                "name": f"{app}-vsvc",
                                "routes": ["primary"],
                                "tlsRoutes": [{"port": 3000, "sniHosts": [app]}],
                            }
                        }
                    },
                    "steps": [{"setWeight": 10}, {"pause": {}}],
                }
            },
            "selector": {"matchLabels": {"app": app}},
            "template": {
                "metadata": {"labels": {"app": app}},
                "spec": {
                    "containers": [
                        {
                            "name": app,
                            "image": "nginx:1.19-alpine",
                            "ports": [{"name": "http", "containerPort": 80, "protocol": "TCP"}],
                            "resources": {"requests": {"memory": "16Mi", "cpu": "5m"}},
                        }
                    ]
                },
            },
        },
    }
    return [*services, (VIRTUAL_SERVICES, vs), (ROLLOUTS, rollout)]


async def test_tls_only_virtual_service_runs_on_its_tls_routes(
    kube: KubeClient, namespace: str, daemon: Daemon
) -> None:
    ns, app = namespace, "istio-host-split-tls"
    for resource, obj in tls_split_objects():
        await kube.create(resource, obj, namespace=ns)
    ro = await wait_phase(kube, ns, "Healthy", name=app)
    assert not any(c["type"] == "InvalidSpec" for c in ro["status"].get("conditions") or [])

    async def tls_weights() -> list[int]:
        vs = await kube.get(VIRTUAL_SERVICES, f"{app}-vsvc", namespace=ns)
        return [int(d["weight"]) for d in vs["spec"]["tls"][0]["route"]]

    await set_image(kube, ns, "nginx:1.21-alpine", name=app)
    await wait_phase(kube, ns, "Paused", step=1, name=app)
    assert await tls_weights() == [90, 10]
    await promote(kube, ns, name=app)
    await wait_phase(kube, ns, "Healthy", step=2, name=app)

    async def back_to_stable() -> bool:
        return await tls_weights() == [100, 0]

    await eventually(back_to_stable, "the TLS route back at 100/0")
