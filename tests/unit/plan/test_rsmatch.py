"""The current ReplicaSet found by its template when no hash label names it (plan/rsmatch.py)."""

from __future__ import annotations

import copy
import dataclasses
import json
from typing import Any

from rolloutd.plan.canary import plan
from rolloutd.plan.rsmatch import EPHEMERAL_METADATA_ANNOTATION, find_by_template
from rolloutd.plan.types import POD_HASH_LABEL, CreateReplicaSet, ReplicaSetView
from tests.unit.plan.sim import BLUE, YELLOW, Cluster, template

OLD_HASH = "5b9d8c7f6d"  # a hash from another hash function (an older Argo, say)


def defaulted(t: dict[str, Any]) -> dict[str, Any]:
    """What the API server adds to a pod template (a few of its defaults)."""
    out = copy.deepcopy(t)
    for c in out["spec"]["containers"]:
        c.setdefault("imagePullPolicy", "IfNotPresent")
        c.setdefault("terminationMessagePath", "/dev/termination-log")
        c.setdefault("terminationMessagePolicy", "File")
    out["spec"].setdefault("restartPolicy", "Always")
    out["spec"].setdefault("dnsPolicy", "ClusterFirst")
    out["spec"].setdefault("securityContext", {})
    return out


def replica_set(
    name: str, t: dict[str, Any], created: str, annotations: dict[str, str] | None = None
) -> ReplicaSetView:
    live = copy.deepcopy(t)
    live["metadata"].setdefault("labels", {})[POD_HASH_LABEL] = name
    return ReplicaSetView.from_dict(
        {
            "metadata": {
                "name": f"demo-{name}",
                "labels": {POD_HASH_LABEL: name},
                "annotations": annotations or {},
                "creationTimestamp": created,
            },
            "spec": {"replicas": 1, "template": live},
        }
    )


def test_the_template_finds_a_replica_set_made_under_another_hash() -> None:
    live = defaulted(template(BLUE))
    live["spec"]["serviceAccount"] = "default"  # deprecated field, ignored
    live["spec"]["containers"][0]["resources"] = {"requests": {"cpu": "0.005"}}
    desired = defaulted(template(BLUE))
    desired["spec"]["containers"][0]["resources"] = {"requests": {"cpu": "5m"}}
    other = replica_set("other", defaulted(template(YELLOW)), "2026-01-01T00:00:00Z")
    old = replica_set(OLD_HASH, live, "2026-01-02T00:00:00Z")
    assert find_by_template(desired, [other, old]) is old


def test_a_different_or_undefaulted_template_is_not_found() -> None:
    old = replica_set(OLD_HASH, defaulted(template(BLUE)), "2026-01-02T00:00:00Z")
    assert find_by_template(defaulted(template(YELLOW)), [old]) is None
    # Without the server's defaults the desired template differs from what the server stored.
    assert find_by_template(template(BLUE), [old]) is None


def test_the_oldest_equal_replica_set_wins() -> None:
    t = defaulted(template(BLUE))
    newer = replica_set("newer", t, "2026-01-03T00:00:00Z")
    older = replica_set("older", t, "2026-01-01T00:00:00Z")
    assert find_by_template(t, [newer, older]) is older


def test_injected_metadata_and_anti_affinity_are_ignored() -> None:
    live = defaulted(template(BLUE))
    live["metadata"]["labels"]["role"] = "canary"
    live["metadata"]["annotations"] = {"injected": "yes"}
    live["spec"]["affinity"] = {
        "podAntiAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {
                    "weight": 50,
                    "podAffinityTerm": {
                        "labelSelector": {
                            "matchExpressions": [
                                {"key": POD_HASH_LABEL, "operator": "In", "values": ["x"]}
                            ]
                        },
                        "namespaces": ["ns"],
                        "topologyKey": "kubernetes.io/hostname",
                    },
                }
            ]
        }
    }
    recorded = json.dumps({"labels": {"role": "canary"}, "annotations": {"injected": "yes"}})
    old = replica_set(
        OLD_HASH, live, "2026-01-02T00:00:00Z", {EPHEMERAL_METADATA_ANNOTATION: recorded}
    )
    strategy = {"preferredDuringSchedulingIgnoredDuringExecution": {"weight": 50}}
    assert find_by_template(defaulted(template(BLUE)), [old], strategy) is old
    # Not injected by Argo (no strategy asks for it): a real difference.
    assert find_by_template(defaulted(template(BLUE)), [old]) is None


def test_the_planner_adopts_it_and_creates_no_replica_set() -> None:
    cluster = Cluster.seed()
    cluster.settle()
    new_hash = cluster.current_hash
    # Make the world Argo-with-another-hash: the ReplicaSet and status carry OLD_HASH.
    (name,) = cluster.replica_sets
    rs = cluster.replica_sets.pop(name)
    for labels in (rs["metadata"]["labels"], rs["spec"]["template"]["metadata"]["labels"]):
        labels[POD_HASH_LABEL] = OLD_HASH
    rs["spec"]["selector"]["matchLabels"][POD_HASH_LABEL] = OLD_HASH
    rs["metadata"]["name"] = f"rollouts-demo-{OLD_HASH}"
    cluster.replica_sets[rs["metadata"]["name"]] = rs
    for svc in cluster.services.values():
        svc["spec"]["selector"][POD_HASH_LABEL] = OLD_HASH
    status = cluster.status
    status["stableRS"] = status["currentPodHash"] = OLD_HASH
    status["canary"]["weights"]["stable"]["podTemplateHash"] = OLD_HASH
    snap = cluster.snapshot()

    without = plan(snap, cluster.now)
    assert any(isinstance(a, CreateReplicaSet) for a in without.actions)  # hash only: redeploy

    with_defaults = plan(
        dataclasses.replace(snap, defaulted_template=cluster.spec["template"]), cluster.now
    )
    assert not any(isinstance(a, CreateReplicaSet) for a in with_defaults.actions)
    assert with_defaults.status["currentPodHash"] == OLD_HASH != new_hash
    assert with_defaults.status["stableRS"] == OLD_HASH
    assert with_defaults.status["phase"] == "Healthy"
