"""Pod defaults from the real API server (controller/templates.py), and a ReplicaSet that the
API server stored under another hash found by its template (plan/rsmatch.py)."""

from __future__ import annotations

import copy
from typing import Any

from rolloutd.controller.templates import PodDefaults
from rolloutd.kube.client import KubeClient
from rolloutd.kube.resources import POD_TEMPLATES, REPLICA_SETS
from rolloutd.plan.hashing import pod_template_hash
from rolloutd.plan.rsmatch import find_by_template
from rolloutd.plan.types import POD_HASH_LABEL, ReplicaSetView

TEMPLATE: dict[str, Any] = {
    "metadata": {"labels": {"app": "defaults-demo"}},
    "spec": {
        "containers": [
            {
                "name": "demo",
                "image": "argoproj/rollouts-demo:blue",
                "ports": [{"name": "http", "containerPort": 8080}],
                "resources": {"requests": {"memory": "32Mi", "cpu": "0.005"}},
            }
        ]
    },
}


async def test_the_server_defaults_a_template_and_stores_nothing(
    kube: KubeClient, namespace: str
) -> None:
    defaults = PodDefaults(kube)
    got = await defaults.defaulted(namespace, copy.deepcopy(TEMPLATE))
    assert got is not None
    container = got["spec"]["containers"][0]
    assert container["terminationMessagePath"] == "/dev/termination-log"
    assert container["ports"][0]["protocol"] == "TCP"
    assert got["spec"]["dnsPolicy"] == "ClusterFirst"
    assert (await kube.list(POD_TEMPLATES, namespace=namespace))["items"] == []
    # Cached: the same template is not sent again (a closed client would fail otherwise).
    defaults.kube = None  # type: ignore[assignment]
    assert await defaults.defaulted(namespace, copy.deepcopy(TEMPLATE)) == got


async def test_a_bad_template_gives_none(kube: KubeClient, namespace: str) -> None:
    bad = {"spec": {"containers": [{"name": "Not_A_DNS_Name", "image": "x"}]}}
    assert await PodDefaults(kube).defaulted(namespace, bad) is None


async def test_a_replica_set_under_another_hash_is_found_by_its_template(
    kube: KubeClient, namespace: str
) -> None:
    old_hash = "6c8b8f7d4f"
    live = copy.deepcopy(TEMPLATE)
    live["metadata"]["labels"][POD_HASH_LABEL] = old_hash
    body = {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {"name": f"demo-{old_hash}", "labels": {POD_HASH_LABEL: old_hash}},
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": {"app": "defaults-demo", POD_HASH_LABEL: old_hash}},
            "template": live,
        },
    }
    stored = await kube.create(REPLICA_SETS, body, namespace=namespace)
    view = ReplicaSetView.from_dict(stored)
    assert view.pod_hash != pod_template_hash(TEMPLATE)
    desired = await PodDefaults(kube).defaulted(namespace, copy.deepcopy(TEMPLATE))
    assert desired is not None
    assert find_by_template(desired, [view]) is view
    changed = copy.deepcopy(TEMPLATE)
    changed["spec"]["containers"][0]["image"] = "argoproj/rollouts-demo:yellow"
    other = await PodDefaults(kube).defaulted(namespace, changed)
    assert other is not None and find_by_template(other, [view]) is None
