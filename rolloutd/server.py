"""The daemon's HTTP endpoints: /metrics, /healthz and /readyz, served on its own event loop.

- `/metrics` (the metrics port) is the private registry in Prometheus' text format.
- `/healthz` (the health port; the liveness probe) answers 200 while the event loop is
  responsive. A heartbeat task notes the loop's time every second; if the last beat is older
  than `stall_limit`, the loop was blocked (or starved) that long and the answer is 503. A loop
  that is blocked right now cannot answer at all, which the probe's timeout catches. Stalls
  that have ended are counted (`loopStalls`, `loopStalledSecondsMax` in the answer).
- `/readyz` (the readiness probe) answers 200 once the caches are synced and the replica
  knows whether it is the leader or a standby. Standbys are ready: a rolling update and the
  PodDisruptionBudget count on both replicas being Ready, and a standby's warm caches are
  what make a fast takeover possible. A bad ConfigMap does not make the replica unready (it
  runs on with the last good one) but is shown in the detail.

Both answer JSON, so `kubectl port-forward` plus `curl` tells an operator what is going on.
They run on the same loop as the controller, deliberately: a wedged loop must fail liveness.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import structlog
from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client.aiohttp import make_aiohttp_handler

JsonDict = dict[str, Any]
log = structlog.get_logger("rolloutd.server")


class Heartbeat:
    """Notes the event loop's time every `interval` seconds, from a task on that loop.

    `stalled()` is how long the loop has been unresponsive right now; but a stall that has
    ended leaves nothing there (the beat runs as soon as the loop is free), so each beat also
    measures how late it woke: a wake-up more than `threshold` seconds after it was due means
    the loop was blocked that long, and is counted in `stalls`, `stalled_seconds_total` and
    `stalled_seconds_max` (and logged), for /healthz and /metrics.
    """

    def __init__(
        self,
        *,
        interval: float = 1.0,
        threshold: float = 1.0,
        clock: Callable[[], float] | None = None,
    ):
        self.interval = interval
        self.threshold = threshold
        self._clock = clock or asyncio.get_running_loop().time
        self.last = self._clock()
        self.stalls = 0
        self.stalled_seconds_total = 0.0
        self.stalled_seconds_max = 0.0

    async def run(self) -> None:
        while True:
            self.beat()
            await asyncio.sleep(self.interval)

    def beat(self) -> None:
        """One beat: record how late it came, then note the time."""
        now = self._clock()
        late = now - self.last - self.interval
        if late > self.threshold:
            self.stalls += 1
            self.stalled_seconds_total += late
            self.stalled_seconds_max = max(self.stalled_seconds_max, late)
            log.warning("event loop stalled", seconds=round(late, 3), stalls=self.stalls)
        self.last = now

    def stalled(self) -> float:
        """Seconds since the last beat beyond the expected interval (0 when all is well)."""
        return max(self._clock() - self.last - self.interval, 0.0)


class Health:
    """What /healthz and /readyz report; every input is a callable read at request time."""

    def __init__(
        self,
        heartbeat: Heartbeat,
        *,
        synced: Callable[[], bool],
        leadership: Callable[[], JsonDict],
        config: Callable[[], JsonDict],
        stall_limit: float = 10.0,
    ) -> None:
        """`leadership` returns {"state": leader|standby|unknown|disabled, ...detail}."""
        self.heartbeat = heartbeat
        self.synced = synced
        self.leadership = leadership
        self.config = config
        self.stall_limit = stall_limit

    def liveness(self) -> tuple[bool, JsonDict]:
        stalled = self.heartbeat.stalled()
        ok = stalled <= self.stall_limit
        detail: JsonDict = {
            "status": "ok" if ok else "stalled",
            "loopStalledSeconds": stalled,
            # Stalls that have ended: liveness is green again, but they happened.
            "loopStalls": self.heartbeat.stalls,
            "loopStalledSecondsMax": round(self.heartbeat.stalled_seconds_max, 3),
        }
        if not ok:
            detail["reason"] = f"the event loop was blocked for {stalled:.1f}s"
        return ok, detail

    def readiness(self) -> tuple[bool, JsonDict]:
        synced = self.synced()
        leadership = self.leadership()
        known = leadership.get("state") in ("leader", "standby", "disabled")
        ready = synced and known
        reasons = []
        if not synced:
            reasons.append("caches not synced yet")
        if not known:
            reasons.append("leader election has not read the lease yet")
        detail: JsonDict = {
            "status": "ready" if ready else "not ready",
            "cachesSynced": synced,
            "leaderElection": leadership,
            "config": self.config(),
        }
        if reasons:
            detail["reasons"] = reasons
        return ready, detail


def _answer(ok: bool, detail: JsonDict) -> web.Response:
    return web.Response(
        status=200 if ok else 503,
        text=json.dumps(detail, sort_keys=True) + "\n",
        content_type="application/json",
    )


class Servers:
    """The metrics and health listeners (one listener when both ports are the same)."""

    def __init__(
        self,
        *,
        registry: CollectorRegistry,
        health: Health,
        bind_address: str,
        metrics_port: int,
        health_port: int,
    ) -> None:
        self.registry = registry
        self.health = health
        self.bind_address = bind_address
        self.metrics_port = metrics_port
        self.health_port = health_port
        self._runners: list[web.AppRunner] = []

    def _health_routes(self, app: web.Application) -> None:
        async def healthz(request: web.Request) -> web.Response:
            return _answer(*self.health.liveness())

        async def readyz(request: web.Request) -> web.Response:
            return _answer(*self.health.readiness())

        app.router.add_get("/healthz", healthz)
        app.router.add_get("/readyz", readyz)

    def _metrics_routes(self, app: web.Application) -> None:
        app.router.add_get("/metrics", make_aiohttp_handler(self.registry))

    async def start(self) -> None:
        """Bind both ports; raises OSError when one is taken."""
        apps: dict[int, web.Application] = {}
        for port, add_routes in (
            (self.metrics_port, self._metrics_routes),
            (self.health_port, self._health_routes),
        ):
            add_routes(apps.setdefault(port, web.Application()))
        try:
            for port, app in apps.items():
                # No access log: probes every few seconds would drown the controller's lines.
                runner = web.AppRunner(app, access_log=None)
                await runner.setup()
                self._runners.append(runner)
                await web.TCPSite(runner, self.bind_address, port).start()
        except OSError:
            await self.stop()
            raise
        log.info(
            "serving",
            metrics=f"http://{self.bind_address}:{self.metrics_port}/metrics",
            health=f"http://{self.bind_address}:{self.health_port}/healthz",
        )

    async def stop(self) -> None:
        for runner in self._runners:
            await runner.cleanup()
        self._runners.clear()
