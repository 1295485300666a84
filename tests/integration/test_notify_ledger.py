"""The notification ledger on the real API server: a key is claimed once, by one writer."""

from __future__ import annotations

import asyncio
import json

from rolloutd.kube.client import KubeClient
from rolloutd.kube.resources import CONFIG_MAPS
from rolloutd.notify.ledger import Ledger, ledger_name
from rolloutd.notify.triggers import Delivery

ROLLOUT = {
    "apiVersion": "argoproj.io/v1alpha1",
    "kind": "Rollout",
    "metadata": {"name": "demo", "uid": ""},
}


def delivery(key: str) -> Delivery:
    return Delivery(key, "ns/demo", "on-x", "t", "slack", "slack", "c", {"text": key})


async def test_two_writers_racing_claim_each_key_once(kube: KubeClient, namespace: str) -> None:
    rollout = {**ROLLOUT, "metadata": {**ROLLOUT["metadata"], "namespace": namespace}}
    # Two replicas' ledgers (separate locks), both told to claim the same ten keys at once.
    a, b = Ledger(kube, lambda: True), Ledger(kube, lambda: True)
    wanted = [delivery(f"k{i}") for i in range(10)]
    results = await asyncio.gather(
        *(ledger.claim(rollout, [d]) for d in wanted for ledger in (a, b))
    )
    claimed = [d.key for got in results for d in got]
    assert sorted(claimed) == sorted(d.key for d in wanted)  # each once, none lost

    pending = await a.pending(namespace)
    assert sorted(d.key for _, _, d in pending) == sorted(claimed)
    await b.finish(namespace, "demo", "k3", "sent")
    assert "k3" not in {d.key for _, _, d in await a.pending(namespace)}
    assert await a.claim(rollout, [delivery("k3")]) == []  # done stays done
    cm = await kube.get(CONFIG_MAPS, ledger_name("demo"), namespace=namespace)
    assert json.loads(cm["data"]["k3"])["state"] == "sent"


async def test_a_standby_never_writes(kube: KubeClient, namespace: str) -> None:
    rollout = {**ROLLOUT, "metadata": {**ROLLOUT["metadata"], "namespace": namespace}}
    standby = Ledger(kube, lambda: False)
    try:
        await standby.claim(rollout, [delivery("k")])
    except PermissionError:
        pass
    else:
        raise AssertionError("a standby claimed a notification")
    assert (
        await kube.list(
            CONFIG_MAPS, namespace=namespace, label_selector="notifications.rolloutd.io/ledger"
        )
    )["items"] == []
