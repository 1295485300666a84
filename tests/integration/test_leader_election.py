"""Leader election on the real API server: the Lease protocol, then two daemons side by side.

The first half drives `LeaderElector`s in this process with short timings (3 s lease, 2 s renew
deadline, 0.5 s retry) to check the protocol: the record's fields and formats, a standby that
waits for expiry and then takes over, a release handing over at once, a stolen Lease, and a
leader whose requests hang. The second half runs two `rolloutd run --leader-elect` processes
with the default timings: only the leader writes, SIGKILL on it hands over within the lease
time, the new leader finishes the rollout, and SIGTERM releases the Lease.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import time
from pathlib import Path
from typing import Any

import pytest

from rolloutd.kube.client import KubeClient
from rolloutd.kube.leader import LeaderElector, LeadershipLost
from rolloutd.kube.resources import LEASES
from rolloutd_dev.sandbox.cluster import Status
from tests.integration.test_metrics_daemon import (
    Rolloutd,
    apply_seed,
    eventually,
    new_instance_id,
    promote,
    set_image,
    wait_phase,
)

pytestmark = pytest.mark.sandbox

JsonDict = dict[str, Any]
MICRO_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
LEASE, RENEW, RETRY = 3.0, 2.0, 0.5  # fast timings for the protocol tests
LOCK = "test-lock"


def elector(kube: KubeClient, namespace: str, identity: str) -> LeaderElector:
    return LeaderElector(
        kube,
        namespace=namespace,
        name=LOCK,
        identity=identity,
        lease_duration=LEASE,
        renew_deadline=RENEW,
        retry_period=RETRY,
    )


async def lease_spec(kube: KubeClient, namespace: str, name: str = LOCK) -> JsonDict:
    spec: JsonDict = (await kube.get(LEASES, name, namespace=namespace))["spec"]
    return spec


async def lead(candidate: LeaderElector) -> asyncio.Task[None]:
    task = asyncio.create_task(candidate.run())
    await asyncio.wait_for(candidate.leading.wait(), timeout=15)
    return task


async def stop(*tasks: asyncio.Task[None]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def parse_micro_time(text: str) -> float:
    return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.UTC).timestamp()


# -- the protocol ---------------------------------------------------------------------------------


async def test_the_first_candidate_creates_the_lease_and_renews_it(
    kube: KubeClient, namespace: str
) -> None:
    a = elector(kube, namespace, "a")
    task = await lead(a)
    try:
        assert a.is_leader
        first = await lease_spec(kube, namespace)
        assert first["holderIdentity"] == "a"
        assert first["leaseDurationSeconds"] == 3
        assert first["leaseTransitions"] == 0
        # MicroTime: six fractional digits, UTC, close to now.
        for field in ("acquireTime", "renewTime"):
            assert MICRO_TIME.match(first[field]), first[field]
        assert abs(parse_micro_time(first["renewTime"]) - time.time()) < 30

        async def renewed() -> bool:
            spec = await lease_spec(kube, namespace)
            return bool(spec["renewTime"] != first["renewTime"])

        await eventually(renewed, "a renewal", timeout=10)
        spec = await lease_spec(kube, namespace)
        assert spec["acquireTime"] == first["acquireTime"]  # renewing is not acquiring
        assert spec["leaseTransitions"] == 0
    finally:
        await stop(task)


async def test_a_standby_waits_for_expiry_then_takes_over(kube: KubeClient, namespace: str) -> None:
    a, b = elector(kube, namespace, "a"), elector(kube, namespace, "b")
    a_task = await lead(a)
    b_task = asyncio.create_task(b.run())
    try:
        await asyncio.wait_for(b.known.wait(), timeout=10)
        await asyncio.sleep(1.5)  # several of b's polls, while a renews
        assert not b.is_leader and b.holder == "a"
        acquired = (await lease_spec(kube, namespace))["acquireTime"]

        await stop(a_task)  # a dies without releasing
        died = time.monotonic()
        await asyncio.wait_for(b.leading.wait(), timeout=15)
        waited = time.monotonic() - died
        # Not before the lease could have run out: a renewed at most one retry before dying.
        assert waited >= LEASE - RETRY - 0.3, waited
        spec = await lease_spec(kube, namespace)
        assert spec["holderIdentity"] == "b"
        assert spec["leaseTransitions"] == 1
        assert spec["acquireTime"] != acquired
    finally:
        await stop(a_task, b_task)


async def test_release_hands_over_without_waiting_for_expiry(
    kube: KubeClient, namespace: str
) -> None:
    a, b = elector(kube, namespace, "a"), elector(kube, namespace, "b")
    a_task = await lead(a)
    b_task = asyncio.create_task(b.run())
    try:
        await asyncio.wait_for(b.known.wait(), timeout=10)
        await stop(a_task)  # leader work stops first, then the release
        await a.release()
        released = time.monotonic()
        assert not a.is_leader
        await asyncio.wait_for(b.leading.wait(), timeout=15)
        assert time.monotonic() - released < LEASE
        assert (await lease_spec(kube, namespace))["holderIdentity"] == "b"
    finally:
        await stop(a_task, b_task)


async def test_a_leader_whose_lease_is_taken_stops_at_once(
    kube: KubeClient, namespace: str
) -> None:
    a = elector(kube, namespace, "a")
    task = await lead(a)
    lease = await kube.get(LEASES, LOCK, namespace=namespace)
    lease["spec"]["holderIdentity"] = "intruder"
    lease["spec"]["renewTime"] = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    await kube.replace(LEASES, LOCK, lease, namespace=namespace)
    with pytest.raises(LeadershipLost, match="intruder"):
        await asyncio.wait_for(task, timeout=10)
    assert not a.is_leader


class Hanging:
    """An API client whose every request hangs, like a partitioned node's."""

    async def get(self, *args: Any, **kwargs: Any) -> JsonDict:
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")

    replace = create = get


async def test_a_leader_that_cannot_renew_stops_before_anyone_may_take_over(
    kube: KubeClient, namespace: str
) -> None:
    a = elector(kube, namespace, "a")
    task = await lead(a)
    last_renewal = parse_micro_time((await lease_spec(kube, namespace))["renewTime"])
    a.kube = Hanging()  # type: ignore[assignment]
    flipped = None
    while not task.done():
        if flipped is None and not a.is_leader:
            flipped = time.time()
        await asyncio.sleep(0.02)
    with pytest.raises(LeadershipLost, match="within 2s"):
        task.result()
    assert flipped is not None
    # It stopped acting as the leader while its last renewal was still valid for the others.
    spec = await lease_spec(kube, namespace)
    last_renewal = max(last_renewal, parse_micro_time(spec["renewTime"]))
    assert flipped < last_renewal + LEASE, (flipped, last_renewal)


def test_timings_are_validated() -> None:
    with pytest.raises(ValueError, match="lease duration"):
        LeaderElector(
            None,  # type: ignore[arg-type]
            namespace="x",
            name="y",
            identity="z",
            lease_duration=10,
            renew_deadline=10,
            retry_period=2,
        )


# -- two daemons ----------------------------------------------------------------------------------

LEASE_DURATION, RETRY_PERIOD = 15.0, 2.0  # the daemon's defaults
STEPS: list[JsonDict] = [{"setWeight": 20}, {"pause": {}}, {"setWeight": 60}, {"pause": {}}]


async def test_only_the_leader_writes_and_a_killed_leader_is_replaced(
    sandbox: Status, kube: KubeClient, namespace: str, tmp_path: Path
) -> None:
    ns, iid = namespace, new_instance_id()

    def replica(identity: str) -> Rolloutd:
        return Rolloutd(
            sandbox,
            ns,
            tmp_path,
            "--leader-elect",
            "--identity",
            identity,
            name=identity,
            instance_id=iid,
        )

    a = replica("replica-a").start()
    b: Rolloutd | None = None
    try:
        await a.wait_ready()

        async def a_leads() -> bool:
            return bool((await a.probe("/readyz"))[1]["leaderElection"]["state"] == "leader")

        await eventually(a_leads, "replica-a to lead", timeout=30)
        b = replica("replica-b").start()
        detail = await b.wait_ready()
        # The standby is Ready too: the chart's PDB and rolling update count on it.
        assert detail["leaderElection"]["state"] == "standby"
        assert detail["leaderElection"]["holder"] == "replica-a"

        await apply_seed(kube, ns, instance_id=iid, steps=STEPS)
        await wait_phase(kube, ns, "Healthy")
        await set_image(kube, ns, "argoproj/rollouts-demo:yellow")
        await wait_phase(kube, ns, "Paused", step=1)

        spec = await lease_spec(kube, ns, "rolloutd-controller-lock")
        assert spec["holderIdentity"] == "replica-a"
        assert await a.sample("rolloutd_leader", identity="replica-a") == 1
        assert await b.sample("rolloutd_leader", identity="replica-b") == 0
        assert await a.writes() > 0
        assert await b.writes() == 0, "the standby wrote to the API server"
        # The standby's caches are warm: it sees the rollout the leader is driving.
        assert await b.sample("rollout_info", name="rollouts-demo") == 1

        a.kill()
        killed = time.monotonic()

        async def b_holds() -> bool:
            spec = await lease_spec(kube, ns, "rolloutd-controller-lock")
            return bool(spec["holderIdentity"] == "replica-b")

        await eventually(b_holds, "replica-b to take the lease", timeout=60, interval=0.1)
        handover = time.monotonic() - killed
        print(f"handover after SIGKILL: {handover:.1f}s (lease {LEASE_DURATION:g}s)")
        # The lease time, plus the standby's poll and a generous allowance for a busy machine.
        assert handover < LEASE_DURATION + 2 * RETRY_PERIOD + 5, handover
        spec = await lease_spec(kube, ns, "rolloutd-controller-lock")
        assert spec["leaseTransitions"] == 1

        # The new leader finishes the rollout.
        await promote(kube, ns)
        await wait_phase(kube, ns, "Paused", step=3)
        await promote(kube, ns)
        await wait_phase(kube, ns, "Healthy", step=4)
        assert await b.sample("rolloutd_leader", identity="replica-b") == 1
        assert await b.writes() > 0

        # A clean stop hands the lease back.
        assert await b.stop() == 0, b.log_tail()
        spec = await lease_spec(kube, ns, "rolloutd-controller-lock")
        assert not spec.get("holderIdentity")
        assert any(line.get("event") == "released the lease" for line in b.log())
    finally:
        a.kill()
        if b is not None:
            b.kill()


async def test_a_daemon_that_loses_its_lease_exits_non_zero(
    sandbox: Status, kube: KubeClient, namespace: str, tmp_path: Path
) -> None:
    daemon = Rolloutd(
        sandbox, namespace, tmp_path, "--leader-elect", "--identity", "only",
        instance_id=new_instance_id(),
    ).start()  # fmt: skip
    try:
        await daemon.wait_ready()

        async def leads() -> bool:
            state = (await daemon.probe("/readyz"))[1]["leaderElection"]["state"]
            return bool(state == "leader")

        await eventually(leads, "the daemon to lead", timeout=30)
        lease = await kube.get(LEASES, "rolloutd-controller-lock", namespace=namespace)
        lease["spec"]["holderIdentity"] = "someone-else"
        lease["spec"]["renewTime"] = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        await kube.replace(LEASES, "rolloutd-controller-lock", lease, namespace=namespace)
        assert await daemon.wait_exit(timeout=30) == 1
        events = [line.get("event") for line in daemon.log()]
        assert "lost leadership" in events
        # It did not hand back a lease it no longer held.
        assert "released the lease" not in events
    finally:
        daemon.kill()
