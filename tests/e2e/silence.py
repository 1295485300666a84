""" "Steady means silent": once a rollout is paused or Healthy, nothing it manages is written.

`Quiet` watches a namespace's VirtualServices, DestinationRules and Services with the
controller's own informers and records every write (one entry per new resourceVersion). At a
pause a test calls `await quiet.hold(...)`: it reads each object's resourceVersion from the API
server, waits the window, reads them again, and fails naming every object that changed, with
what the informer saw written in between. The comparison is of resourceVersions, not of times:
any write at all in the window fails, however fast or slow the machine is.

The window is a parameter; the default comes from `ROLLOUTD_QUIET_SECONDS` (10 s, which keeps
CI short; the issue's 30 s is `ROLLOUTD_QUIET_SECONDS=30`).
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field
from typing import Any

from rolloutd.kube.client import KubeClient
from rolloutd.kube.informer import Informer
from rolloutd.kube.resources import SERVICES, Resource
from tests.e2e.harness import POD_HASH, VIRTUAL_SERVICES

JsonDict = dict[str, Any]

DESTINATION_RULES = Resource(
    "networking.istio.io", "v1alpha3", "destinationrules", "DestinationRule"
)
DEFAULT_WINDOW = float(os.environ.get("ROLLOUTD_QUIET_SECONDS", "10"))


@dataclass
class Write:
    kind: str
    name: str
    resource_version: str
    selector_hash: str | None
    """For a Service: the pod-hash its selector holds after this write."""


@dataclass
class Quiet:
    """Records writes to routing objects and Services; `hold` asserts a silent window."""

    kube: KubeClient
    namespace: str
    writes: list[Write] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.informers = {
            res.kind: Informer(self.kube, res, namespace=self.namespace)
            for res in (VIRTUAL_SERVICES, DESTINATION_RULES, SERVICES)
        }
        for kind, inf in self.informers.items():
            inf.add_handler(self._recorder(kind))
        self._tasks: list[asyncio.Task[None]] = []

    def _recorder(self, kind: str) -> Any:
        def record(event: str, obj: JsonDict, old: JsonDict | None) -> None:
            if event == "DELETED":
                return
            meta = obj.get("metadata") or {}
            selector = ((obj.get("spec") or {}).get("selector") or {}).get(POD_HASH)
            self.writes.append(
                Write(kind, meta.get("name", ""), str(meta.get("resourceVersion")), selector)
            )

        return record

    async def __aenter__(self) -> Quiet:
        for inf in self.informers.values():
            self._tasks.append(asyncio.create_task(inf.run()))
        await asyncio.gather(*(inf.synced.wait() for inf in self.informers.values()))
        return self

    async def __aexit__(self, *exc: object) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _versions(self) -> dict[tuple[str, str], str]:
        found: dict[tuple[str, str], str] = {}
        for kind, inf in self.informers.items():
            listed = await self.kube.list(inf.resource, namespace=self.namespace)
            for obj in listed.get("items") or []:
                meta = obj.get("metadata") or {}
                found[(kind, meta.get("name", ""))] = str(meta.get("resourceVersion"))
        return found

    async def hold(self, what: str, window: float = DEFAULT_WINDOW) -> None:
        """Fail if any VirtualService, DestinationRule or Service is written within `window`
        seconds from now. `what` names the moment, for the message."""
        before = await self._versions()
        seen = len(self.writes)
        await asyncio.sleep(window)
        after = await self._versions()
        changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
        if changed:
            during = [f"{w.kind} {w.name}@{w.resource_version}" for w in self.writes[seen:]]
            raise AssertionError(
                f"{what}: written during a {window:g} s window while steady: "
                + ", ".join(f"{k} {n}" for k, n in changed)
                + f" (writes seen: {during})"
            )

    def selector_changes(self, service: str, since: int = 0) -> list[str | None]:
        """The pod-hash selector values `service` was written with, from write `since` on,
        each change once (a write that leaves the selector as it was is not a change)."""
        values: list[str | None] = []
        last: str | None = None
        for i, w in enumerate(self.writes):
            if w.kind != "Service" or w.name != service:
                continue
            if i >= since and w.selector_hash != last:
                values.append(w.selector_hash)
            last = w.selector_hash
        return values
