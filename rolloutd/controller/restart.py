"""The I/O half of `spec.restartAt` (Argo's pod restarter): list the Rollout's pods, evict what
`rolloutd.plan.restart.pods_to_evict` picks through the Eviction API (so PodDisruptionBudgets
hold; a 429 is tried again later), and once no pod predates restartAt, record it in
`status.restartedAt`. Pods are listed only while a restart is pending, so a Rollout that is
not restarting costs nothing here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import structlog

from rolloutd.kube.client import ApiError, KubeClient
from rolloutd.kube.resources import PODS, ROLLOUTS
from rolloutd.plan.replicas import resolve_int_or_percent
from rolloutd.plan.restart import PodInfo, pods_to_evict, restart_pending
from rolloutd.plan.status import parse_time
from rolloutd.plan.types import POD_HASH_LABEL

log = structlog.get_logger("rolloutd.controller")
JsonDict = dict[str, Any]
RESTART_REQUEUE = 30.0
"""Argo checks a restart in progress again after 30 s (ReplicaSet events come sooner)."""
DEFAULT_MAX_UNAVAILABLE = "25%"


def _pod_info(pod: JsonDict) -> PodInfo | None:
    meta = pod.get("metadata") or {}
    created = parse_time(meta.get("creationTimestamp"))
    if created is None:
        return None
    conditions = (pod.get("status") or {}).get("conditions") or []
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
    return PodInfo(str(meta.get("name")), created, ready, bool(meta.get("deletionTimestamp")))


async def restart_pods(
    kube: KubeClient, rollout: JsonDict, replica_set_uids: Sequence[str], now: dt.datetime
) -> tuple[JsonDict | None, float | None]:
    """One pass of the restarter: (the Rollout as written, if its status was; requeue)."""
    spec, status = rollout.get("spec") or {}, rollout.get("status") or {}
    if not restart_pending(spec.get("restartAt"), status.get("restartedAt")):
        return None, None
    restart_at = parse_time(spec.get("restartAt"))
    assert restart_at is not None  # restart_pending checked it
    if restart_at > now:
        return None, (restart_at - now).total_seconds()
    meta = rollout["metadata"]
    namespace = meta.get("namespace")
    listed = await kube.list(PODS, namespace=namespace, label_selector=POD_HASH_LABEL)
    owned = set(replica_set_uids)
    pods = [
        info
        for pod in listed.get("items") or []
        if any(
            ref.get("uid") in owned and ref.get("controller")
            for ref in (pod.get("metadata") or {}).get("ownerReferences") or []
        )
        and (info := _pod_info(pod)) is not None
    ]
    replicas = int(spec.get("replicas", 1))
    canary = (spec.get("strategy") or {}).get("canary") or {}
    max_unavailable = resolve_int_or_percent(
        canary.get("maxUnavailable", DEFAULT_MAX_UNAVAILABLE), replicas, round_up=False
    )
    evict, done = pods_to_evict(
        pods, restart_at=restart_at, replicas=replicas, max_unavailable=max_unavailable
    )
    if done:
        written = await kube.patch(
            ROLLOUTS,
            meta["name"],
            {"status": {"restartedAt": spec["restartAt"]}},
            namespace=namespace,
            subresource="status",
        )
        log.info("restart done", restarted_at=spec["restartAt"])
        return written, None
    for name in evict:
        body = {
            "apiVersion": "policy/v1",
            "kind": "Eviction",
            "metadata": {"name": name, "namespace": namespace},
        }
        try:
            await kube.create(PODS, body, namespace=namespace, name=name, subresource="eviction")
            log.info("evicted pod for restart", pod=name)
        except ApiError as exc:
            # 429: a PodDisruptionBudget says not now; 404: already gone. Both: later.
            if exc.status not in (404, 429):
                raise
    return None, RESTART_REQUEUE
