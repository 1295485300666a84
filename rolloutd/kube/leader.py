"""Leader election with a coordination.k8s.io/v1 Lease, client-go's algorithm in asyncio.

Every replica runs a `LeaderElector`. A replica reads the Lease; if nobody holds it, or the
holder has not renewed it for `leaseDurationSeconds` *as measured on this replica's own
monotonic clock since it last saw the record change*, it writes itself in as the holder with a
PUT that carries the resourceVersion it read, so of two replicas racing for an expired Lease
exactly one wins (the other gets 409 Conflict). Timestamps in the record are written for
humans (`kubectl get lease`) and never trusted for expiry, which makes wall-clock skew between
nodes harmless.

The leader renews every `retry_period`. `is_leader` turns false by itself once
`renew_deadline` has passed since the start of the last successful renewal, even while a
request is still hanging, so a leader that cannot renew stops writing before any other replica
may take over (`renew_deadline < lease_duration`). `run()` then raises `LeadershipLost`; the
daemon exits non-zero and Kubernetes restarts it as a fresh standby. As the client-go package
comment says, this is not fencing: the controller's writes are idempotent and minimal, so a
brief overlap does no harm.

`release()` hands the Lease back on a clean shutdown (empty holder, 1 s duration) so a standby
takes over within one retry period instead of a whole lease duration.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import math
import random
import time
from collections.abc import Callable
from typing import Any, NoReturn

import structlog

from rolloutd.kube.client import ApiError, ClusterUnreachable, KubeClient
from rolloutd.kube.resources import LEASES

JsonDict = dict[str, Any]
JITTER = 1.2
"""client-go's JitterFactor: the lease timings must satisfy renew_deadline > JITTER * retry."""

log = structlog.get_logger("rolloutd.leader")


class LeadershipLost(Exception):
    """This replica held the Lease and no longer does; it must stop acting as the leader."""


def micro_time(when: dt.datetime) -> str:
    """A MicroTime: RFC 3339 in UTC with exactly six fractional digits, as the API expects."""
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaderElector:
    def __init__(
        self,
        kube: KubeClient,
        *,
        namespace: str,
        name: str,
        identity: str,
        lease_duration: float = 15.0,
        renew_deadline: float = 10.0,
        retry_period: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        if not lease_duration > renew_deadline > JITTER * retry_period > 0:
            raise ValueError(
                f"leader election needs lease duration ({lease_duration}s) > renew deadline "
                f"({renew_deadline}s) > {JITTER} x retry period ({retry_period}s)"
            )
        self.kube = kube
        self.namespace = namespace
        self.name = name
        self.identity = identity
        self.lease_duration = lease_duration
        self.renew_deadline = renew_deadline
        self.retry_period = retry_period
        self._clock = clock
        self._now = now
        self.holder: str | None = None
        """The holder this replica last saw in the Lease (itself when leading)."""
        self.transitions = 0
        self.known = asyncio.Event()
        """Set once the Lease has been read or written: leader or standby is then known."""
        self.leading = asyncio.Event()
        """Set when this replica becomes the leader; it never becomes the leader again."""
        self._leading = False
        self._renewed_at = -math.inf
        self._seen_version: str | None = None
        self._seen_at = -math.inf
        self._expires_at = -math.inf

    @property
    def is_leader(self) -> bool:
        """True only while the last successful renewal is younger than the renew deadline."""
        return self._leading and self._clock() < self._renewed_at + self.renew_deadline

    # -- the loop ---------------------------------------------------------------------------

    async def run(self) -> None:
        """Acquire the Lease, then renew it until that fails; raises LeadershipLost then."""
        log.info("waiting for leadership", lease=f"{self.namespace}/{self.name}")
        # A standby follows the Lease through a watch, so it sees each renewal when it
        # happens, not up to a poll later: a dead leader is replaced about one lease
        # duration after its last renewal, instead of that plus the polling lag.
        follower = asyncio.create_task(self._follow(), name="lease-follower")
        try:
            await self._wait_for_leadership()
        finally:
            follower.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await follower
        self._leading = True
        self.leading.set()
        log.info("became leader", identity=self.identity, transitions=self.transitions)
        await self._renew_forever()

    async def _follow(self) -> None:
        """Observe every change of the Lease as it happens (standby only); best effort."""
        while True:
            try:
                async for event in self.kube.watch(
                    LEASES,
                    namespace=self.namespace,
                    field_selector=f"metadata.name={self.name}",
                    timeout_seconds=60,
                ):
                    obj = event.get("object") or {}
                    if event.get("type") in ("ADDED", "MODIFIED") and obj.get("spec"):
                        self._observe(obj)
            except (ApiError, ClusterUnreachable) as exc:
                log.debug("lease watch broke", error=str(exc))
                await asyncio.sleep(self.retry_period)

    async def _wait_for_leadership(self) -> None:
        while True:
            if await self._attempt(timeout=None):
                return
            # Jitter keeps replicas that started together from polling in lockstep.
            delay = self.retry_period * (1 + random.random() * (JITTER - 1))
            # When the holder's lease runs out before the next poll, try right then: a dead
            # leader is replaced one poll sooner.
            until_expiry = self._expires_at - self._clock()
            if 0 < until_expiry < delay:
                delay = until_expiry + 0.01
            await asyncio.sleep(delay)

    async def _renew_forever(self) -> None:
        while True:
            await asyncio.sleep(self.retry_period)
            while True:
                remaining = self._renewed_at + self.renew_deadline - self._clock()
                if remaining <= 0:
                    self._lose(f"could not renew the lease within {self.renew_deadline:g}s")
                if await self._attempt(timeout=remaining):
                    break
                if self.holder != self.identity:
                    self._lose(f"the lease is held by {self.holder}")
                await asyncio.sleep(min(self.retry_period, max(remaining, 0.0)))

    def _lose(self, why: str) -> NoReturn:
        self._leading = False
        log.error("lost leadership", reason=why, lease=f"{self.namespace}/{self.name}")
        raise LeadershipLost(why)

    async def _attempt(self, *, timeout: float | None) -> bool:
        try:
            async with asyncio.timeout(timeout):
                return await self._try_acquire_or_renew()
        except TimeoutError:
            log.warning("lease request timed out", lease=self.name)
        except (ApiError, ClusterUnreachable) as exc:
            log.warning("lease request failed", lease=self.name, error=str(exc))
        return False

    # -- one try ----------------------------------------------------------------------------

    async def _try_acquire_or_renew(self) -> bool:
        # The validity of what we write starts no later than this instant, so the deadline is
        # measured from here, not from when the answer arrives.
        started = self._clock()
        stamp = micro_time(self._now())
        try:
            lease = await self.kube.get(LEASES, self.name, namespace=self.namespace)
        except ApiError as exc:
            if not exc.not_found:
                raise
            return await self._create(stamp, started)
        self._observe(lease)
        spec: JsonDict = lease.get("spec") or {}
        if self.holder and self.holder != self.identity and not self._expired():
            return False
        taking_over = self.holder != self.identity
        new_spec = {
            **spec,
            "holderIdentity": self.identity,
            "leaseDurationSeconds": math.ceil(self.lease_duration),
            "renewTime": stamp,
        }
        if taking_over:
            new_spec["acquireTime"] = stamp
            new_spec["leaseTransitions"] = int(spec.get("leaseTransitions") or 0) + 1
        try:
            # PUT with the resourceVersion we read: a concurrent writer makes this a 409.
            updated = await self.kube.replace(
                LEASES, self.name, {**lease, "spec": new_spec}, namespace=self.namespace
            )
        except ApiError as exc:
            if exc.conflict:
                return False
            raise
        self._hold(updated, started)
        return True

    async def _create(self, stamp: str, started: float) -> bool:
        body = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": self.name, "namespace": self.namespace},
            "spec": {
                "holderIdentity": self.identity,
                "leaseDurationSeconds": math.ceil(self.lease_duration),
                "acquireTime": stamp,
                "renewTime": stamp,
                "leaseTransitions": 0,
            },
        }
        try:
            created = await self.kube.create(LEASES, body, namespace=self.namespace)
        except ApiError as exc:
            if exc.conflict:  # another replica created it first
                return False
            raise
        self._hold(created, started)
        return True

    def _observe(self, lease: JsonDict) -> None:
        """Remember when the record last changed, on our clock (client-go's observedTime)."""
        spec = lease.get("spec") or {}
        version = (lease.get("metadata") or {}).get("resourceVersion")
        if version != self._seen_version:
            self._seen_version = version
            self._seen_at = self._clock()
        # The holder's own duration counts (a released lease says 1 s), not ours.
        self._expires_at = self._seen_at + float(
            spec.get("leaseDurationSeconds") or self.lease_duration
        )
        holder = spec.get("holderIdentity") or None
        if holder != self.holder:
            log.info("lease holder", holder=holder or "(none)", identity=self.identity)
        self.holder = holder
        self.transitions = int(spec.get("leaseTransitions") or 0)
        self.known.set()

    def _expired(self) -> bool:
        return self._clock() >= self._expires_at

    def _hold(self, lease: JsonDict, started: float) -> None:
        self._observe(lease)
        self._renewed_at = started

    # -- shutdown ---------------------------------------------------------------------------

    async def release(self) -> None:
        """Give the Lease up (after all leader work has stopped) so a standby takes over fast."""
        if not self.is_leader:
            return
        self._leading = False
        try:
            async with asyncio.timeout(self.renew_deadline):
                # Read it again: a renewal cancelled in flight may have changed it meanwhile.
                lease = await self.kube.get(LEASES, self.name, namespace=self.namespace)
                spec: JsonDict = lease.get("spec") or {}
                if spec.get("holderIdentity") != self.identity:
                    return
                stamp = micro_time(self._now())
                released = {
                    **spec,
                    "holderIdentity": "",
                    "leaseDurationSeconds": 1,
                    "acquireTime": stamp,
                    "renewTime": stamp,
                }
                await self.kube.replace(
                    LEASES, self.name, {**lease, "spec": released}, namespace=self.namespace
                )
        except (ApiError, ClusterUnreachable, TimeoutError) as exc:
            # Not fatal: the standby takes over when the lease expires instead.
            log.warning("could not release the lease", error=str(exc))
            return
        log.info("released the lease", lease=f"{self.namespace}/{self.name}")
