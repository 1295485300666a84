"""What was, or is about to be, sent for one Rollout: a small ConfigMap, the delivery ledger.

One ConfigMap per Rollout (`rolloutd-notified-<rollout>`, owned by the Rollout so it goes with
it), each data key a notification's identity (`Delivery.key`) and its value a JSON record:

    {"state": "pending", "at": "...", "delivery": {...}}   claimed, not yet confirmed sent
    {"state": "sent", "at": "..."}                         the receiver said yes
    {"state": "failed", "at": "...", "error": "..."}       given up (retries exhausted / 4xx)

Every write carries the resourceVersion it read (a PUT, or a create that fails if another
replica created it first), so two writers cannot both claim a key: the loser re-reads, finds
the key and sends nothing. A pending record keeps the rendered notification, so the next
leader can send it after a crash without the Event that caused it. At most MAX_ENTRIES
records are kept: the oldest finished ones are dropped first.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from rolloutd.kube.client import ApiError, KubeClient
from rolloutd.kube.resources import CONFIG_MAPS
from rolloutd.notify.triggers import Delivery

LEDGER_LABEL = "notifications.rolloutd.io/ledger"
PREFIX = "rolloutd-notified-"
MAX_ENTRIES = 200
_ATTEMPTS = 8

JsonDict = dict[str, Any]


def ledger_name(rollout: str) -> str:
    name = PREFIX + rollout
    if len(name) <= 253:
        return name
    digest = hashlib.sha256(rollout.encode()).hexdigest()[:10]
    return name[: 253 - 11] + "-" + digest


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def delivery_from(record: JsonDict) -> Delivery | None:
    d = record.get("delivery")
    if not isinstance(d, dict):
        return None
    try:
        return Delivery(**d)
    except TypeError:
        return None


class Ledger:
    def __init__(self, kube: KubeClient, allowed: Callable[[], bool]) -> None:
        self.kube = kube
        self.allowed = allowed
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}

    def _lock(self, namespace: str, name: str) -> asyncio.Lock:
        return self._locks.setdefault((namespace, name), asyncio.Lock())

    async def claim(self, rollout: JsonDict, deliveries: list[Delivery]) -> list[Delivery]:
        """Record `deliveries` as pending; returns those that nobody had recorded before."""
        meta = rollout["metadata"]
        claimed: list[Delivery] = []

        def change(data: dict[str, str]) -> bool:
            claimed.clear()
            for d in deliveries:
                if d.key not in data:
                    record = {"state": "pending", "at": _now(), "delivery": asdict(d)}
                    data[d.key] = json.dumps(record, sort_keys=True)
                    claimed.append(d)
            return bool(claimed)

        await self._update(meta["namespace"], meta["name"], change, owner=rollout)
        return list(claimed)

    async def finish(
        self, namespace: str, rollout: str, key: str, state: str, error: str = ""
    ) -> None:
        def change(data: dict[str, str]) -> bool:
            record: JsonDict = {"state": state, "at": _now()}
            if error:
                record["error"] = error[:300]
            data[key] = json.dumps(record, sort_keys=True)
            return True

        await self._update(namespace, rollout, change)

    async def pending(self, namespace: str | None) -> list[tuple[str, str, Delivery]]:
        """(namespace, rollout, delivery) of every record still pending, oldest first."""
        listing = await self.kube.list_all(
            CONFIG_MAPS, namespace=namespace, label_selector=LEDGER_LABEL
        )
        found: list[tuple[str, str, str, Delivery]] = []
        for cm in listing.get("items") or []:
            meta = cm.get("metadata") or {}
            for raw in (cm.get("data") or {}).values():
                record = _load(raw)
                if record.get("state") != "pending":
                    continue
                d = delivery_from(record)
                if d is not None:
                    rollout = d.rollout.partition("/")[2]
                    found.append((str(record.get("at", "")), meta["namespace"], rollout, d))
        found.sort(key=lambda item: item[0])
        return [(ns, ro, d) for _, ns, ro, d in found]

    async def _update(
        self,
        namespace: str,
        rollout: str,
        change: Callable[[dict[str, str]], bool],
        *,
        owner: JsonDict | None = None,
    ) -> None:
        name = ledger_name(rollout)
        async with self._lock(namespace, name):
            for _ in range(_ATTEMPTS):
                if not self.allowed():
                    raise PermissionError("not the leader: refusing to write the ledger")
                try:
                    cm: JsonDict | None = await self.kube.get(
                        CONFIG_MAPS, name, namespace=namespace
                    )
                except ApiError as exc:
                    if not exc.not_found:
                        raise
                    cm = None
                data: dict[str, str] = dict((cm or {}).get("data") or {})
                if not change(data):
                    return
                _trim(data)
                try:
                    if cm is None:
                        await self.kube.create(
                            CONFIG_MAPS,
                            _new(name, namespace, rollout, owner, data),
                            namespace=namespace,
                        )
                    else:
                        # The resourceVersion read above is the precondition of this PUT.
                        cm["data"] = data
                        await self.kube.replace(CONFIG_MAPS, name, cm, namespace=namespace)
                    return
                except ApiError as exc:
                    if not exc.conflict:  # 409: changed or created meanwhile; read again
                        raise
            raise ApiError(409, "Conflict", f"ConfigMap {namespace}/{name}: too many conflicts")


def _load(raw: str) -> JsonDict:
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def _trim(data: dict[str, str]) -> None:
    if len(data) <= MAX_ENTRIES:
        return
    finished = sorted(
        (str(r.get("at", "")), k)
        for k, r in ((k, _load(v)) for k, v in data.items())
        if r.get("state") != "pending"
    )
    for _, key in finished[: len(data) - MAX_ENTRIES]:
        del data[key]


def _new(
    name: str, namespace: str, rollout: str, owner: JsonDict | None, data: dict[str, str]
) -> JsonDict:
    meta: JsonDict = {
        "name": name,
        "namespace": namespace,
        "labels": {LEDGER_LABEL: "true", "app.kubernetes.io/managed-by": "rolloutd"},
    }
    if owner is not None and (owner.get("metadata") or {}).get("uid"):
        meta["ownerReferences"] = [
            {
                "apiVersion": owner.get("apiVersion") or "argoproj.io/v1alpha1",
                "kind": owner.get("kind") or "Rollout",
                "name": owner["metadata"]["name"],
                "uid": owner["metadata"]["uid"],
            }
        ]
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data}
