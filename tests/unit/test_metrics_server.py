"""/metrics, /healthz and /readyz: what they answer, over real HTTP on loopback."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from typing import Any

import aiohttp
import pytest
from prometheus_client import generate_latest

from rolloutd.metrics import MetricsCollector, new_registry
from rolloutd.server import Health, Heartbeat, Servers

JsonDict = dict[str, Any]


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def health(
    heartbeat: Heartbeat, *, synced: bool = True, state: str = "standby", **config: Any
) -> Health:
    return Health(
        heartbeat,
        synced=lambda: synced,
        leadership=lambda: {"state": state},
        config=lambda: {"valid": True, **config},
    )


async def test_liveness_fails_once_the_loop_missed_its_beats_for_too_long() -> None:
    clock = Clock()
    beat = Heartbeat(interval=1.0, clock=clock)
    check = health(beat)
    clock.now += 1.5
    ok, detail = check.liveness()
    assert ok and detail["status"] == "ok"
    clock.now += 10  # nothing ran on the loop for 11.5 s
    ok, detail = check.liveness()
    assert not ok
    assert detail["status"] == "stalled" and "blocked for 10.5s" in detail["reason"]


async def test_heartbeat_task_keeps_liveness_green() -> None:
    beat = Heartbeat(interval=0.01)
    task = asyncio.create_task(beat.run())
    await asyncio.sleep(0.05)
    assert beat.stalled() < 1
    task.cancel()


async def test_readiness_needs_synced_caches_and_a_known_role() -> None:
    beat = Heartbeat()
    assert health(beat, state="standby").readiness()[0]  # standbys are ready
    assert health(beat, state="leader").readiness()[0]
    assert health(beat, state="disabled").readiness()[0]
    ok, detail = health(beat, state="unknown").readiness()
    assert not ok and detail["reasons"] == ["leader election has not read the lease yet"]
    ok, detail = health(beat, synced=False).readiness()
    assert not ok and detail["reasons"] == ["caches not synced yet"]


async def test_a_bad_config_shows_in_readiness_without_failing_it() -> None:
    errors = ["data.config.yaml.workers: must be >= 1"]
    ok, detail = health(Heartbeat(), valid=False, errors=errors).readiness()
    assert ok
    assert detail["config"] == {"valid": False, "errors": errors}


async def get(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, await response.text()


async def test_endpoints_over_http() -> None:
    synced = {"value": False}
    check = Health(
        Heartbeat(),
        synced=lambda: synced["value"],
        leadership=lambda: {"state": "leader", "identity": "pod-a"},
        config=lambda: {"valid": True},
    )
    servers = Servers(
        registry=new_registry(MetricsCollector(identity="pod-a")),
        health=check,
        bind_address="127.0.0.1",
        metrics_port=(metrics := free_port()),
        health_port=(probes := free_port()),
    )
    await servers.start()
    try:
        status, body = await get(f"http://127.0.0.1:{probes}/readyz")
        assert status == 503 and json.loads(body)["cachesSynced"] is False
        synced["value"] = True
        status, body = await get(f"http://127.0.0.1:{probes}/readyz")
        assert status == 200
        assert json.loads(body)["leaderElection"] == {"state": "leader", "identity": "pod-a"}
        status, body = await get(f"http://127.0.0.1:{probes}/healthz")
        assert status == 200 and json.loads(body)["status"] == "ok"
        status, body = await get(f"http://127.0.0.1:{metrics}/metrics")
        assert status == 200 and 'rolloutd_leader{identity="pod-a"} 1.0' in body
        # Each port serves only its own paths.
        assert (await get(f"http://127.0.0.1:{metrics}/healthz"))[0] == 404
        assert (await get(f"http://127.0.0.1:{probes}/metrics"))[0] == 404
    finally:
        await servers.stop()


async def test_one_port_for_both() -> None:
    port = free_port()
    servers = Servers(
        registry=new_registry(MetricsCollector(identity="x")),
        health=health(Heartbeat()),
        bind_address="127.0.0.1",
        metrics_port=port,
        health_port=port,
    )
    await servers.start()
    try:
        assert (await get(f"http://127.0.0.1:{port}/metrics"))[0] == 200
        assert (await get(f"http://127.0.0.1:{port}/healthz"))[0] == 200
    finally:
        await servers.stop()


async def test_a_taken_port_is_an_error_not_a_hang() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        servers = Servers(
            registry=new_registry(MetricsCollector(identity="x")),
            health=health(Heartbeat()),
            bind_address="127.0.0.1",
            metrics_port=free_port(),
            health_port=port,
        )
        with pytest.raises(OSError):
            await servers.start()


async def test_a_stall_that_has_ended_is_counted() -> None:
    # A stall that is over leaves `stalled()` at 0: only the beat's lateness shows it.
    beat = Heartbeat(interval=0.02, threshold=0.2)
    task = asyncio.create_task(beat.run())
    await asyncio.sleep(0.05)
    time.sleep(0.6)  # noqa: ASYNC251 - blocks the event loop on purpose, as a runaway regex did
    await asyncio.sleep(0.05)
    task.cancel()
    assert beat.stalls > 0
    assert beat.stalled_seconds_max > 0.2
    ok, detail = health(beat).liveness()
    assert ok and detail["loopStalls"] == beat.stalls


async def test_a_late_beat_is_counted_with_its_lateness() -> None:
    clock = Clock()
    beat = Heartbeat(interval=1.0, threshold=1.0, clock=clock)
    clock.now += 1.5
    beat.beat()
    assert beat.stalls == 0  # within the threshold: scheduling noise, not a stall
    clock.now += 36.0
    beat.beat()
    assert beat.stalls == 1 and beat.stalled_seconds_max == 35.0


def test_stalls_are_exported_as_metrics() -> None:
    clock = Clock()
    beat = Heartbeat(interval=1.0, clock=clock)
    collector = MetricsCollector(identity="pod-a")
    collector.heartbeat = beat
    clock.now += 6.0
    beat.beat()
    text = generate_latest(new_registry(collector)).decode()
    assert "rolloutd_event_loop_stalls_total 1.0" in text
    assert "rolloutd_event_loop_stall_seconds_max 5.0" in text
