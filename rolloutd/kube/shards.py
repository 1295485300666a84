"""The shard manager: every replica works, each Rollout has one writer, by Leases.

Each replica keeps a Lease of its own, `rolloutd-member-<identity>`, renewed every `renew`
seconds; the live members are those whose Lease has not expired (see `sharding.expired`). All
replicas compute the same assignment of the S shards over the live members
(`sharding.assign`), then each one

- acquires the Lease `rolloutd-shard-<i>` of each shard assigned to it, only when that Lease
  is free (no holder) or expired, with a PUT guarded by the resourceVersion it read (of two
  racers the API server refuses one with 409);
- renews the shard Leases it holds (again guarded: a 409 or a new holder means the shard is
  lost, and it is dropped at once);
- for a shard no longer assigned to it: stops work on it first (no new reconcile starts, and
  the ones in flight are waited for), then hands the Lease back with an empty holder so the new
  owner takes it on its next round instead of one lease duration later.

Fencing: `owns(key)` is true only while the shard is held and its last successful renewal
started less than `lease_duration - margin` ago on this process' monotonic clock. The
controllers check it before each write (through `allowed()`, which reads the Rollout key of
the reconcile in progress from a context variable), so a process frozen past its lease writes
nothing when it resumes: its next renewal finds the Lease taken and drops the shard.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import math
import re
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import structlog

from rolloutd.gotime import parse_time
from rolloutd.jsontypes import JsonDict
from rolloutd.kube import sharding
from rolloutd.kube.client import ApiError, ClusterUnreachable, KubeClient, Request
from rolloutd.kube.informer import object_key
from rolloutd.kube.leader import micro_time
from rolloutd.kube.resources import LEASES
from rolloutd.kube.sharding import MEMBER_PREFIX, SHARD_PREFIX, ShardBy

Key = tuple[str, str]
ROLE_LABEL = "rolloutd.io/lease-role"
WRITE_VERBS = frozenset({"create", "update", "patch", "delete"})
log = structlog.get_logger("rolloutd.shards")

CURRENT: ContextVar[Key | None] = ContextVar("rolloutd_shard_key", default=None)
"""The Rollout (namespace, name) the running task reconciles, or works for."""


def lease_name(prefix: str, identity: str) -> str:
    """A valid object name for `identity` (a DNS subdomain: lowercase, digits, '-' and '.')."""
    cleaned = re.sub(r"[^a-z0-9.-]+", "-", identity.lower()).strip("-.") or "x"
    return (prefix + cleaned)[:253].rstrip("-.")


def _renew_seconds(value: object) -> float | None:
    parsed = parse_time(value)
    return None if parsed is None else parsed.timestamp()


@dataclass
class _Held:
    lease: JsonDict
    renewed_at: float


class ShardManager:
    def __init__(
        self,
        kube: KubeClient,
        *,
        namespace: str,
        identity: str,
        shards: int,
        by: ShardBy = "name",
        lease_duration: float = 15.0,
        renew: float = 2.0,
        margin: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        sharding.validate(shards, lease_duration, renew, margin)
        self.kube = kube
        self.namespace = namespace
        self.identity = identity
        self.shards = shards
        self.by: ShardBy = by
        self.lease_duration = lease_duration
        self.renew = renew
        self.margin = margin
        self._clock = clock
        self._wall = wall
        self.held: dict[int, _Held] = {}
        self.members: list[str] = [identity]
        self.handovers = 0
        """Shards this replica gained or gave up (lost or released) since it started."""
        self.writes: dict[Key, int] = {}
        """Write requests made on behalf of each Rollout (its reconciles, runs, experiments)."""
        self.on_gained: list[Callable[[set[int]], None]] = []
        self.member_lease = lease_name(MEMBER_PREFIX, identity)
        self._member: JsonDict | None = None
        self._seen: dict[str, tuple[str, float]] = {}
        self._in_flight: dict[int, int] = {}
        self._idle = asyncio.Event()

    # -- what the controllers ask -------------------------------------------------------------

    def shard(self, key: Key) -> int:
        return sharding.shard_of(key[0], key[1], self.shards, self.by)

    def owns(self, key: Key) -> bool:
        """May this replica act on the Rollout `key` right now (held and fresh)?"""
        held = self.held.get(self.shard(key))
        return held is not None and sharding.fresh(
            held.renewed_at, self._clock(), self.lease_duration, self.margin
        )

    def allowed(self) -> bool:
        """The write guard: for the Rollout being worked on, `owns`; work tied to no Rollout
        (the configuration's own Events) is not sharded."""
        key = CURRENT.get()
        return key is None or self.owns(key)

    @contextlib.contextmanager
    def working(self, key: Key) -> Iterator[None]:
        """Mark a reconcile of `key` in progress: writes are counted for it, and its shard is
        not handed over until it ends."""
        shard = self.shard(key)
        token = CURRENT.set(key)
        self._in_flight[shard] = self._in_flight.get(shard, 0) + 1
        try:
            yield
        finally:
            CURRENT.reset(token)
            left = self._in_flight[shard] - 1
            if left:
                self._in_flight[shard] = left
            else:
                del self._in_flight[shard]
                self._idle.set()

    def observe_request(self, request: Request) -> None:
        key = CURRENT.get()
        if key is not None and request.verb in WRITE_VERBS:
            self.writes[key] = self.writes.get(key, 0) + 1
            # The request log the scale-out tests read: who wrote for which Rollout, when.
            log.debug(
                "shard write",
                owner=f"{key[0]}/{key[1]}",
                shard=self.shard(key),
                verb=request.verb,
                resource=request.resource,
                name=request.name,
            )

    def held_fresh(self) -> int:
        now = self._clock()
        return sum(
            1
            for h in self.held.values()
            if sharding.fresh(h.renewed_at, now, self.lease_duration, self.margin)
        )

    # -- the loop -----------------------------------------------------------------------------

    async def run(self) -> None:
        log.info("sharding", shards=self.shards, by=self.by, identity=self.identity)
        while True:
            started = self._clock()
            try:
                # A round that hangs must not outlive the validity of what it renews.
                async with asyncio.timeout(self.lease_duration - self.margin):
                    await self.tick()
            except (ApiError, ClusterUnreachable, TimeoutError) as exc:
                log.warning("shard round failed", error=str(exc) or type(exc).__name__)
            await asyncio.sleep(max(0.0, self.renew - (self._clock() - started)))

    async def tick(self) -> None:
        """One round: announce, read the Leases, then acquire, renew and release shards."""
        await self._announce()
        listed = await self.kube.list_all(
            LEASES, namespace=self.namespace, label_selector=ROLE_LABEL
        )
        leases = {str(item["metadata"]["name"]): item for item in listed.get("items") or []}
        now = self._clock()
        for name, lease in leases.items():
            version = str(lease["metadata"].get("resourceVersion") or "")
            seen = self._seen.get(name)
            if seen is None or seen[0] != version:
                self._seen[name] = (version, now)
        members = {self.identity}
        for lease in leases.values():
            labels = lease["metadata"].get("labels") or {}
            spec = lease.get("spec") or {}
            holder = spec.get("holderIdentity")
            if labels.get(ROLE_LABEL) == "member" and holder and not self._expired(lease):
                members.add(str(holder))
        self.members = sorted(members)
        mine = sharding.owned_by(sharding.assign(self.shards, members), self.identity)
        gained: set[int] = set()
        results = await asyncio.gather(
            *(
                self._one(i, leases.get(self._shard_lease(i)), i in mine)
                for i in range(self.shards)
            ),
            return_exceptions=True,
        )
        for i, result in enumerate(results):
            if isinstance(result, asyncio.CancelledError):
                raise result
            if isinstance(result, ApiError | ClusterUnreachable | TimeoutError):
                log.warning("shard lease request failed", shard=i, error=str(result))
            elif isinstance(result, BaseException):
                raise result
            elif result:
                gained.add(i)
        if gained:
            log.info("shards gained", shards=sorted(gained), held=sorted(self.held))
            for callback in self.on_gained:
                callback(gained)

    def _shard_lease(self, shard: int) -> str:
        return f"{SHARD_PREFIX}{shard}"

    def _expired(self, lease: JsonDict) -> bool:
        spec = lease.get("spec") or {}
        name = str(lease["metadata"]["name"])
        seen = self._seen.get(name)
        unchanged_for = self._clock() - seen[1] if seen else 0.0
        return sharding.expired(
            _renew_seconds(spec.get("renewTime")),
            float(spec.get("leaseDurationSeconds") or self.lease_duration),
            self._wall().timestamp(),
            unchanged_for,
        )

    def _spec(self, old: JsonDict | None, *, taking: bool) -> JsonDict:
        stamp = micro_time(self._wall())
        spec: JsonDict = dict(old or {})
        spec.update(
            holderIdentity=self.identity,
            leaseDurationSeconds=math.ceil(self.lease_duration),
            renewTime=stamp,
        )
        if taking:
            spec["acquireTime"] = stamp
            spec["leaseTransitions"] = int(spec.get("leaseTransitions") or 0) + (1 if old else 0)
        return spec

    def _body(self, name: str, role: str, spec: JsonDict) -> JsonDict:
        return {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": name, "namespace": self.namespace, "labels": {ROLE_LABEL: role}},
            "spec": spec,
        }

    async def _announce(self) -> None:
        name = self.member_lease
        if self._member is None:
            try:
                self._member = await self.kube.get(LEASES, name, namespace=self.namespace)
            except ApiError as exc:
                if not exc.not_found:
                    raise
                body = self._body(name, "member", self._spec(None, taking=True))
                self._member = await self.kube.create(LEASES, body, namespace=self.namespace)
                return
        lease = self._member
        try:
            self._member = await self.kube.replace(
                LEASES,
                name,
                {**lease, "spec": self._spec(lease.get("spec"), taking=False)},
                namespace=self.namespace,
            )
        except ApiError as exc:
            self._member = None  # read it again next round (409: someone touched it)
            if not exc.conflict:
                raise

    async def _one(self, shard: int, lease: JsonDict | None, want: bool) -> bool:
        """Acquire, renew or release one shard; True when it was just acquired."""
        if shard in self.held:
            if not want:
                await self._release(shard)
                return False
            await self._renew(shard, lease)
            return False
        if not want:
            return False
        return await self._acquire(shard, lease)

    async def _acquire(self, shard: int, lease: JsonDict | None) -> bool:
        name = self._shard_lease(shard)
        started = self._clock()
        try:
            if lease is None:
                body = self._body(name, "shard", self._spec(None, taking=True))
                taken = await self.kube.create(LEASES, body, namespace=self.namespace)
            else:
                spec = lease.get("spec") or {}
                holder = spec.get("holderIdentity")
                if holder and holder != self.identity and not self._expired(lease):
                    return False
                taken = await self.kube.replace(
                    LEASES,
                    name,
                    {**lease, "spec": self._spec(spec, taking=True)},
                    namespace=self.namespace,
                )
        except ApiError as exc:
            if exc.conflict:  # another replica was quicker
                return False
            raise
        self.held[shard] = _Held(taken, started)
        self.handovers += 1
        return True

    async def _renew(self, shard: int, listed: JsonDict | None) -> None:
        held = self.held[shard]
        name = self._shard_lease(shard)
        spec = (listed or held.lease).get("spec") or {}
        if listed is None or spec.get("holderIdentity") != self.identity:
            self._drop(shard, f"the lease is held by {spec.get('holderIdentity') or 'nobody'}")
            return
        started = self._clock()
        try:
            renewed = await self.kube.replace(
                LEASES,
                name,
                # Our own last write carries the resourceVersion we expect; the list may be
                # older than it, and a newer one than ours means somebody else wrote.
                {**held.lease, "spec": self._spec(held.lease.get("spec"), taking=False)},
                namespace=self.namespace,
            )
        except ApiError as exc:
            if exc.conflict:
                self._drop(shard, "the lease changed under us (409)")
                return
            raise
        if shard in self.held:
            self.held[shard] = _Held(renewed, started)

    def _drop(self, shard: int, why: str) -> None:
        if self.held.pop(shard, None) is not None:
            self.handovers += 1
            log.warning("shard lost", shard=shard, reason=why)

    async def _release(self, shard: int) -> None:
        held = self.held.pop(shard)
        self.handovers += 1
        # Work on the shard stops now (owns() is false); wait for the reconciles in flight,
        # but never past the point where the Lease would be stale anyway.
        deadline = held.renewed_at + self.lease_duration - self.margin
        while self._in_flight.get(shard) and self._clock() < deadline:
            self._idle.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.0, deadline - self._clock())):
                    await self._idle.wait()
        if self._in_flight.get(shard):
            log.warning("shard released stale: reconciles still running", shard=shard)
            return  # let it expire instead of handing it over while we may still write
        spec = dict(held.lease.get("spec") or {})
        spec.update(holderIdentity="", leaseDurationSeconds=1, renewTime=micro_time(self._wall()))
        try:
            await self.kube.replace(
                LEASES,
                self._shard_lease(shard),
                {**held.lease, "spec": spec},
                namespace=self.namespace,
            )
        except ApiError as exc:
            if not exc.conflict:
                raise
        log.info("shard released", shard=shard)

    async def release_all(self) -> None:
        """On a clean shutdown, after the workers stopped: hand every shard back."""
        for shard in list(self.held):
            with contextlib.suppress(ApiError, ClusterUnreachable, TimeoutError):
                async with asyncio.timeout(self.margin):
                    await self._release(shard)
        with contextlib.suppress(ApiError, ClusterUnreachable, TimeoutError):
            async with asyncio.timeout(self.margin):
                await self.kube.delete(LEASES, self.member_lease, namespace=self.namespace)


def refresh_on_gain(
    manager: ShardManager,
    kube: KubeClient,
    informer: Any,
    enqueue: Callable[[Key], None],
) -> Callable[[set[int]], None]:
    """A gained shard's Rollouts are read again from the API server before their first
    reconcile here: the previous owner's last writes may not have reached our watch yet."""
    from rolloutd.kube.resources import ROLLOUTS

    async def refresh(keys: list[Key]) -> None:
        for key in keys:
            with contextlib.suppress(ApiError, ClusterUnreachable):
                informer.remember(await kube.get(ROLLOUTS, key[1], namespace=key[0]))
            enqueue(key)

    tasks: set[asyncio.Task[None]] = set()

    def gained(shards: set[int]) -> None:
        keys = []
        for obj in informer.items():
            key = object_key(obj)
            if manager.shard(key) in shards:
                keys.append(key)
        task = asyncio.get_running_loop().create_task(refresh(keys))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    return gained


def owner_key(obj: JsonDict | None, key: Key) -> Key:
    """The Rollout an AnalysisRun or Experiment works for: its controlling Rollout, else an
    owning Experiment (a standalone one shards by its own name), else the object itself."""
    refs = ((obj or {}).get("metadata") or {}).get("ownerReferences") or []
    for kind in ("Rollout", "Experiment"):
        for ref in refs:
            if ref.get("kind") == kind and ref.get("controller") and ref.get("name"):
                return (key[0], str(ref["name"]))
    return key


def scope(manager: ShardManager | None, key: Key) -> contextlib.AbstractContextManager[None]:
    """`manager.working(key)`, or nothing when sharding is off."""
    return contextlib.nullcontext() if manager is None else manager.working(key)


def requeue_on_gain(
    manager: ShardManager,
    informer: Any,
    enqueue: Callable[[Key], None],
    owner: Callable[[JsonDict, Key], Key] = owner_key,
) -> Callable[[set[int]], None]:
    """Queue again the objects of gained shards that this replica skipped while another held
    them (AnalysisRuns, Experiments: they are read from the cache at reconcile)."""

    def gained(shards: set[int]) -> None:
        for obj in informer.items():
            key = object_key(obj)
            if manager.shard(owner(obj, key)) in shards:
                enqueue(key)

    return gained
