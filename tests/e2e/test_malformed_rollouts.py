"""Malformed Rollouts on the real cluster, the daemon running: each is refused by the CRD's
schema or gets a condition naming the field (or the object and the server's message), and
the cluster is unchanged (no ReplicaSet written, or none changed, by resourceVersion).

On main, before issue 11's fixes, the planner crashed on most of these with no condition, no
Event and no phase, retried every 10 s forever; int64 delays were stored (`format: int32`
was missing) and overflowed later; the API server's refusal of a ReplicaSet was only in the
daemon's log. Several Rollouts share one namespace and one daemon, to keep this lean.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from rolloutd.kube.client import ApiError, KubeClient
from rolloutd.kube.resources import EVENTS, REPLICA_SETS, ROLLOUTS
from tests.e2e.harness import Daemon, eventually, get_rollout, wait_phase

JsonDict = dict[str, Any]
INT64_MAX = 2**63 - 1
IMAGE = "argoproj/rollouts-demo:blue"


def basic(name: str) -> JsonDict:
    """A basic canary (no Services, no router): what each case breaks one field of."""
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": name},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name[:60]}},
            "template": {
                "metadata": {"labels": {"app": name[:60]}},
                "spec": {
                    "containers": [
                        {
                            "name": "demo",
                            "image": IMAGE,
                            "resources": {"requests": {"cpu": "5m", "memory": "16Mi"}},
                        }
                    ]
                },
            },
            "strategy": {"canary": {"steps": [{"setWeight": 50}, {"pause": {"duration": 3600}}]}},
        },
    }


def _canary(**fields: Any) -> Callable[[JsonDict], None]:
    return lambda r: r["spec"]["strategy"]["canary"].update(fields)


def _pod(change: Callable[[JsonDict], None]) -> Callable[[JsonDict], None]:
    return lambda r: change(r["spec"]["template"]["spec"])


def _two_demo(pod: JsonDict) -> None:
    pod["containers"].append(copy.deepcopy(pod["containers"][0]))


def _missing_labels(r: JsonDict) -> None:
    r["spec"]["selector"] = {
        "matchExpressions": [{"key": "app", "operator": "In", "values": ["someone-else"]}]
    }


# name, edit, text the InvalidSpec condition must contain
INVALID = [
    ("surge-abc", _canary(maxSurge="abc"), "spec.strategy.canary.maxSurge: "),
    ("unavailable-abc", _canary(maxUnavailable="abc"), "spec.strategy.canary.maxUnavailable: "),
    ("surge-minus-3", _canary(maxSurge=-3), "spec.strategy.canary.maxSurge: "),
    (
        "pause-400-digits",
        lambda r: r["spec"]["strategy"]["canary"]["steps"][1]["pause"].update(
            duration="9" * 400 + "s"
        ),
        "spec.strategy.canary.steps[1].pause.duration: ",
    ),
    ("template-spec-x", lambda r: r["spec"]["template"].update(spec="x"), "spec.template.spec: "),
    (
        "labels-list",
        lambda r: r["spec"]["template"]["metadata"].update(labels=["app"]),
        "spec.template.metadata.labels: ",
    ),
    ("selector-misses", _missing_labels, "spec.selector: `selector` does not match"),
    (
        "duplicate-names",
        _pod(_two_demo),
        "spec.template.spec.containers[1].name: Duplicate value",
    ),
    (
        "no-image",
        _pod(lambda p: p["containers"][0].pop("image")),
        "spec.template.spec.containers[0].image: ",
    ),
    (
        "containers-string",
        _pod(lambda p: p.update(containers="demo")),
        "spec.template.spec.containers: ",
    ),
    ("n" * 250, lambda r: None, "metadata.name: must be no more than"),
]


async def _condition(kube: KubeClient, ns: str, name: str, kind: str) -> JsonDict:
    found: JsonDict = {}

    async def check() -> bool:
        ro = await get_rollout(kube, ns, name)
        for cond in (ro.get("status") or {}).get("conditions") or []:
            if cond["type"] == kind and cond["status"] == "True":
                found.update(cond)
                return True
        return False

    await eventually(check, f"a {kind} condition on {name[:40]}", timeout=60)
    return found


async def _warnings(kube: KubeClient, ns: str, name: str) -> list[JsonDict]:
    events = (await kube.list(EVENTS, namespace=ns))["items"]
    return [
        e for e in events if e["involvedObject"].get("name") == name and e.get("type") == "Warning"
    ]


async def test_malformed_rollouts_get_invalid_spec_and_write_nothing(
    kube: KubeClient, namespace: str, daemon: Daemon
) -> None:
    ns = namespace
    for name, edit, _ in INVALID:
        body = basic(name)
        edit(body)
        await kube.create(ROLLOUTS, body, namespace=ns)
    for name, _, expected in INVALID:
        cond = await _condition(kube, ns, name, "InvalidSpec")
        assert expected in cond["message"], (name[:40], cond["message"])
        assert len(cond["message"]) < 1000  # a 400-digit value is not copied whole
        ro = await get_rollout(kube, ns, name)
        assert ro["status"]["phase"] == "Degraded"
        warnings = await _warnings(kube, ns, name)
        assert any(e["reason"] == "InvalidSpec" for e in warnings), name[:40]
    assert (await kube.list(REPLICA_SETS, namespace=ns))["items"] == []
    assert daemon.alive()


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (_canary(scaleDownDelaySeconds=INT64_MAX), "spec.strategy.canary.scaleDownDelaySeconds"),
        (lambda r: r["spec"].update(progressDeadlineSeconds=INT64_MAX), "progressDeadlineSeconds"),
        (lambda r: r["spec"].update(replicas=-1), "spec.replicas"),
        (
            lambda r: r["spec"]["strategy"]["canary"]["steps"][0].update(setWeight=INT64_MAX),
            "setWeight",
        ),
    ],
    ids=["scaleDownDelay-int64", "progressDeadline-int64", "replicas-negative", "weight-int64"],
)
async def test_the_schema_refuses_out_of_range_integers(
    kube: KubeClient, namespace: str, edit: Callable[[JsonDict], None], field: str
) -> None:
    body = basic("out-of-range")
    edit(body)
    with pytest.raises(ApiError) as refused:
        await kube.create(ROLLOUTS, body, namespace=namespace)
    assert refused.value.status == 422
    assert field in refused.value.message


async def test_an_update_gone_bad_changes_nothing_and_a_refused_replica_set_is_reported(
    kube: KubeClient, namespace: str, daemon: Daemon
) -> None:
    ns = namespace
    # A Healthy rollout whose next pause duration becomes an int64 on update.
    await kube.create(ROLLOUTS, basic("update"), namespace=ns)
    await wait_phase(kube, ns, "Healthy", name="update")
    # A pod template the API server refuses though it passes validation and hashes: a port out
    # of range (a bad quantity is caught earlier now, by the hash's Go encoding, as InvalidSpec).
    refused = basic("refused")
    refused["spec"]["template"]["spec"]["containers"][0]["ports"] = [
        {"name": "http", "containerPort": 70000, "protocol": "TCP"}
    ]
    await kube.create(ROLLOUTS, refused, namespace=ns)

    before = {
        rs["metadata"]["name"]: rs["metadata"]["resourceVersion"]
        for rs in (await kube.list(REPLICA_SETS, namespace=ns))["items"]
    }
    ro = await get_rollout(kube, ns, "update")
    ro["spec"]["strategy"]["canary"]["steps"][1] = {"pause": {"duration": INT64_MAX}}
    ro["spec"]["template"]["spec"]["containers"][0]["image"] = "argoproj/rollouts-demo:yellow"
    await kube.replace(ROLLOUTS, "update", ro, namespace=ns)

    cond = await _condition(kube, ns, "update", "InvalidSpec")
    assert "spec.strategy.canary.steps[1].pause.duration: must be at most" in cond["message"]

    cond = await _condition(kube, ns, "refused", "ReconcileError")
    assert 'Failed to create new replica set "refused-' in cond["message"]
    assert "must be between 1 and 65535" in cond["message"]
    ro = await get_rollout(kube, ns, "refused")
    assert ro["status"]["phase"] == "Degraded"
    assert ro["status"]["message"].startswith("ReconcileError: Failed to create new replica set")

    async def warned() -> bool:
        return any(
            e["reason"] == "ReplicaSetCreateError" and "must be between 1 and 65535" in e["message"]
            for e in await _warnings(kube, ns, "refused")
        )

    await eventually(warned, "a ReplicaSetCreateError Warning Event", timeout=30)
    after = {
        rs["metadata"]["name"]: rs["metadata"]["resourceVersion"]
        for rs in (await kube.list(REPLICA_SETS, namespace=ns))["items"]
    }
    assert after == before  # the update wrote no ReplicaSet; the refused one never existed

    # Fixed by its author: the ReplicaSet is made and the failure condition goes.
    ro = await get_rollout(kube, ns, "refused")
    ro["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = 8080
    await kube.replace(ROLLOUTS, "refused", ro, namespace=ns)
    ro = await wait_phase(kube, ns, "Healthy", name="refused")
    assert not [c for c in ro["status"]["conditions"] if c["type"] == "ReconcileError"]
    assert daemon.alive()
