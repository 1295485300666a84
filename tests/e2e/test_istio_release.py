"""A DestinationRule is given back when its Rollout stops using it or is deleted, as in Argo.

Argo's e2e expectation (`test/e2e/istio_test.go`): once a Rollout's `trafficRouting` is set to
null, the rule loses the `argo-rollouts.argoproj.io/managed-by-rollouts` annotation and the
`rollouts-pod-template-hash` labels of its subsets. The same when the Rollout is deleted.
"""

from __future__ import annotations

from typing import Any

from rolloutd.kube.client import KubeClient
from rolloutd.kube.resources import ROLLOUTS, Resource
from tests.e2e.harness import VIRTUAL_SERVICES, Daemon, eventually, wait_phase

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
