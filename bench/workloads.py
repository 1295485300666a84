"""The four workloads, run in order against one namespace of N rollouts.

1. load + idle: create N rollouts, start the daemon, time until each was reconciled once and
   until all are Healthy; then an idle window (CPU and API requests); then a warm restart
   (every rollout reconciled again, nothing should be written).
2. latency: promote paused rollouts one at a time, (a) where a promote only moves weight and
   (b) where it must first scale the canary up; time from the promote request returning to the
   VirtualService carrying the new weight, as a watch sees it.
3. throughput: change the image of many rollouts at once; time until all are Healthy on the new
   revision, and the API writes it took, by verb and resource.
4. the floor (`bench.floor`) does the same promotions with only the necessary writes.

Each method returns plain dicts (seconds, counts, KiB) that `report` prints and JSON keeps.
"""

from __future__ import annotations

import asyncio
import functools
import math
import statistics
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import objects
from bench.cluster import GATEWAYS, VIRTUAL_SERVICES, Tracker, create_all, gather_limited
from bench.daemon import ControllerProcess, Daemon, Scrape
from rolloutd.cli.patches import promote_patches
from rolloutd.kube.client import KubeClient
from rolloutd.kube.resources import ROLLOUTS, SERVICES, Resource

JsonDict = dict[str, Any]


ControllerFactory = Callable[[Path], ControllerProcess]
"""Makes the controller under test (not yet started), given the path of its log."""


@dataclass(frozen=True)
class Settings:
    """Sizes and windows of one run."""

    n: int
    latency_n: int
    throughput_n: int
    idle_seconds: float
    workers: int | None
    out: Path
    profile: bool = False
    scale_down_wait: bool = True

    @classmethod
    def for_n(cls, n: int, *, quick: bool, out: Path, workers: int | None = None) -> Settings:
        # The brief's full run: 1,000 rollouts, 200 promotions per latency case, 200 at once
        # for throughput. Smaller N keeps the same proportions (a fifth each).
        share = max(1, n // 5)
        return cls(
            n=n,
            latency_n=share,
            throughput_n=share,
            idle_seconds=10.0 if quick else 60.0,
            workers=workers,
            out=out,
            scale_down_wait=not quick,
        )


def percentiles(values: Sequence[float]) -> dict[str, float]:
    """p50/p90/p99/max (nearest-rank) and the mean, in the unit given."""
    if not values:
        return {}
    ordered = sorted(values)

    def rank(p: float) -> float:
        return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]

    return {
        "n": len(ordered),
        "p50": rank(50),
        "p90": rank(90),
        "p99": rank(99),
        "max": ordered[-1],
        "mean": statistics.fmean(ordered),
    }


def status(obj: JsonDict | None) -> JsonDict:
    return (obj or {}).get("status") or {}


def observed(obj: JsonDict) -> bool:
    """The controller has written a status for the Rollout's current generation."""
    gen = str((obj.get("metadata") or {}).get("generation", ""))
    return str(status(obj).get("observedGeneration", "")) == gen


def healthy(obj: JsonDict) -> bool:
    st = status(obj)
    return (
        observed(obj)
        and st.get("phase") == "Healthy"
        and bool(st.get("stableRS"))
        and st.get("stableRS") == st.get("currentPodHash")
    )


def paused_at(index: int) -> Any:
    def check(obj: JsonDict) -> bool:
        st = status(obj)
        return (
            observed(obj)
            and st.get("phase") == "Paused"
            and st.get("currentStepIndex") == index
            and bool(st.get("pauseConditions"))
        )

    return check


def weight_is(weight: int) -> Any:
    return lambda vs: objects.canary_weight(vs) == weight


def by_verb_resource(counts: Counter[tuple[str, str]], per: float = 1.0) -> dict[str, float]:
    return {f"{v} {r}": round(c / per, 3) for (v, r), c in sorted(counts.items())}


class ControllerRun:
    """Workloads 1-3 against one namespace and one daemon (restarted once, for workload 1)."""

    def __init__(
        self,
        kube: KubeClient,
        settings: Settings,
        *,
        kubeconfig: str,
        namespace: str,
        instance_id: str,
        log: Any,
        controller: ControllerFactory | None = None,
    ) -> None:
        self.kube = kube
        self.controller = controller or self._rolloutd
        self.s = settings
        self.kubeconfig = kubeconfig
        self.ns = namespace
        self.instance_id = instance_id
        self.log = log
        self.profiles = objects.profiles_for(settings.n, settings.latency_n, settings.throughput_n)
        self.names = [objects.rollout_name(i) for i in range(settings.n)]
        self.daemon: ControllerProcess | None = None
        self.daemons = 0
        self.rollouts = Tracker(kube, ROLLOUTS, namespace)
        self.vss = Tracker(kube, VIRTUAL_SERVICES, namespace)
        self.profilers: list[Any] = []
        self._scrape_cpu = 0.0

    def group(self, profile: objects.Profile) -> list[str]:
        return [n for n, p in zip(self.names, self.profiles, strict=True) if p == profile]

    # -- daemon --------------------------------------------------------------------------------

    def _rolloutd(self, log_path: Path) -> ControllerProcess:
        return Daemon(
            kubeconfig=self.kubeconfig,
            namespace=self.ns,
            instance_id=self.instance_id,
            log_path=log_path,
            workers=self.s.workers,
        )

    def _start_daemon(self) -> ControllerProcess:
        self.daemons += 1
        daemon = self.controller(self.s.out / "logs" / f"controller-{self.ns}-{self.daemons}.log")
        daemon.start()
        self.daemon = daemon
        if self.s.profile:
            from bench.profile import Profiler

            profiler = Profiler(daemon.pid, self.s.out / "profiles" / f"daemon-{self.daemons}")
            profiler.start()
            self.profilers.append(profiler)
        return daemon

    async def _stop_daemon(self) -> dict[str, int]:
        assert self.daemon is not None
        for profiler in self.profilers:
            await profiler.stop()
        figures = await self.daemon.stop()
        self.daemon = None
        return figures

    async def _settle(
        self, daemon: ControllerProcess, *, quiet: float = 3.0, timeout: float = 120.0
    ) -> float:
        """Wait until the daemon's queue is empty and no reconcile ran for `quiet` seconds."""
        started = time.monotonic()
        last = await daemon.scrape()
        while time.monotonic() - started < timeout:
            await asyncio.sleep(quiet)
            now = await daemon.scrape()
            if now.reconciles == last.reconciles and now.queue_depth == 0:
                break
            last = now
        return time.monotonic() - started

    # -- setup -----------------------------------------------------------------------------------

    async def create_objects(self) -> JsonDict:
        started = time.monotonic()
        items: list[tuple[Resource, JsonDict]] = [(GATEWAYS, objects.gateway())]
        for name in self.names:
            items += [(SERVICES, svc) for svc in objects.services(name)]
            items.append((VIRTUAL_SERVICES, objects.virtual_service(name)))
        await create_all(self.kube, self.ns, items)
        rollouts = [
            (ROLLOUTS, objects.rollout(name, profile, self.instance_id))
            for name, profile in zip(self.names, self.profiles, strict=True)
        ]
        await create_all(self.kube, self.ns, rollouts)
        await self.rollouts.start()
        await self.vss.start()
        return {"objects": len(items) + len(rollouts), "seconds": time.monotonic() - started}

    # -- workload 1 ----------------------------------------------------------------------------

    async def load_and_idle(self) -> JsonDict:
        names = self.names
        first = self.rollouts.expect(names, lambda o: bool(status(o)))
        all_healthy = self.rollouts.expect(names, healthy)
        daemon = self._start_daemon()
        t0 = daemon.started_at
        ready = await daemon.wait_ready(120)
        # Start-up (imports, connecting, listing) is paid once; it is kept out of the
        # per-reconcile figure and reported on its own.
        ready_cpu = daemon.cpu()
        timeout = 120 + self.s.n * 0.6
        reconciled = await first.wait(timeout)
        healthy_at = await all_healthy.wait(timeout)
        load_cpu = daemon.cpu()
        load_scrape = await daemon.scrape()
        healthy_times = [t - t0 for t in healthy_at.values()]
        self.log(f"load: all {len(names)} Healthy after {max(healthy_times):.1f}s")

        settle = await self._settle(daemon)
        mem_steady = daemon.memory()
        # The idle window: CPU and requests between two scrapes, nothing else happening.
        before = await daemon.scrape()
        cpu0 = daemon.cpu()
        await asyncio.sleep(self.s.idle_seconds)
        cpu1 = daemon.cpu()
        after = await daemon.scrape()
        idle_cpu = cpu1 - cpu0
        # What one /metrics scrape costs the daemon (it walks every Rollout): measured so the
        # warm restart below can take its own polling back out of its CPU figure.
        cpu_a = daemon.cpu()
        for _ in range(3):
            await daemon.scrape()
        scrape_cpu = (daemon.cpu() - cpu_a) / 3
        self._scrape_cpu = scrape_cpu
        mem_idle = daemon.memory()
        assert daemon.sampler is not None
        series = list(daemon.sampler.series)
        stopped = await self._stop_daemon()

        warm = await self._warm_restart()
        return {
            "n": self.s.n,
            "ready_seconds": ready,
            "all_reconciled_once_seconds": max(t - t0 for t in reconciled.values()),
            "all_healthy_seconds": max(healthy_times),
            "healthy_p50_seconds": percentiles(healthy_times)["p50"],
            "startup_cpu_seconds": ready_cpu,
            "load_cpu_seconds": load_cpu,
            "load_reconciles": load_scrape.reconciles,
            "load_cpu_ms_per_reconcile": 1000
            * (load_cpu - ready_cpu)
            / max(1.0, load_scrape.reconciles),
            "load_writes": by_verb_resource(load_scrape.writes_since(_empty())),
            "load_writes_per_rollout": sum(load_scrape.writes_since(_empty()).values()) / self.s.n,
            "settle_seconds": settle,
            "rss_peak_mib": stopped.get("VmHWM", 0) / 1024,
            "rss_steady_mib": mem_steady.get("VmRSS", 0) / 1024,
            "rss_after_idle_mib": mem_idle.get("VmRSS", 0) / 1024,
            "idle_seconds": self.s.idle_seconds,
            "idle_cpu_percent": 100 * idle_cpu / self.s.idle_seconds,
            "idle_reconciles": after.reconciles - before.reconciles,
            "idle_writes": by_verb_resource(after.writes_since(before)),
            "idle_reads": by_verb_resource(after.reads_since(before)),
            "idle_non_watch_reads": sum(
                c for (v, _), c in after.reads_since(before).items() if v != "watch"
            ),
            "scrape_cpu_ms": 1000 * scrape_cpu,
            "rss_series": series,
            "warm_restart": warm,
        }

    async def _warm_restart(self) -> JsonDict:
        """A second daemon over the same, all-Healthy rollouts: one reconcile each, no write."""
        daemon = self._start_daemon()
        ready = await daemon.wait_ready(120)
        ready_cpu = daemon.cpu()
        scrapes = 0
        deadline = time.monotonic() + 120 + self.s.n * 0.3
        while time.monotonic() < deadline:
            now = await daemon.scrape()
            scrapes += 1
            if now.reconciles >= self.s.n and now.queue_depth == 0:
                break
            await asyncio.sleep(0.5)
        done = time.monotonic() - daemon.started_at
        cpu = daemon.cpu()
        settle = await self._settle(daemon)
        end = await daemon.scrape()
        return {
            "ready_seconds": ready,
            "all_reconciled_seconds": done,
            "reconciles": now.reconciles,
            "startup_cpu_seconds": ready_cpu,
            "cpu_seconds": cpu,
            "polling_scrapes": scrapes,
            # /proc counts CPU in 10 ms ticks: at small N this is noise, and can come out
            # below zero once the polling scrapes are taken out; it is clamped at zero.
            "cpu_ms_per_reconcile": max(
                0.0,
                1000 * (cpu - ready_cpu - scrapes * self._scrape_cpu) / max(1.0, now.reconciles),
            ),
            "writes": by_verb_resource(end.writes_since(_empty())),
            "writes_total": sum(end.writes_since(_empty()).values()),
            "non_watch_reads": by_verb_resource(
                Counter({k: c for k, c in end.reads_since(_empty()).items() if k[0] != "watch"})
            ),
            "settle_seconds": settle,
        }

    # -- workload 2 ----------------------------------------------------------------------------

    async def prepare_paused(self) -> JsonDict:
        """Change the image of the latency rollouts and wait until each sits at its pause."""
        started = time.monotonic()
        waits = []
        for profile in ("scaled", "plain"):
            group = self.group(profile)
            waits.append(self.rollouts.expect(group, paused_at(objects.PAUSE_INDEX[profile])))
            waits.append(
                self.vss.expect([f"{n}-vsvc" for n in group], weight_is(objects.PAUSED_WEIGHT))
            )
        await self._set_image(self.group("scaled") + self.group("plain"), objects.IMAGE_NEW)
        for wait in waits:
            await wait.wait(180 + self.s.latency_n)
        assert self.daemon is not None
        await self._settle(self.daemon)
        return {"seconds": time.monotonic() - started}

    async def _set_image(self, names: Iterable[str], image: str) -> None:
        patch = [objects.image_patch(image)]
        await gather_limited(
            [
                functools.partial(
                    self.kube.patch, ROLLOUTS, name, patch, namespace=self.ns, patch_type="json"
                )
                for name in names
            ]
        )

    async def promote_one(self, name: str, profile: objects.Profile) -> JsonDict:
        obj = self.rollouts.get(name)
        assert obj is not None
        planned = promote_patches(obj)
        assert planned.status is not None and planned.spec is None, planned
        vs_moved = self.vss.expect([f"{name}-vsvc"], weight_is(objects.PROMOTED_WEIGHT))
        seen = self.rollouts.expect([name], lambda o: not status(o).get("pauseConditions"))
        settled = self.rollouts.expect([name], paused_at(objects.PAUSE_INDEX[profile] + 2))
        # The first status write of the promote: the pause is over, the next step is current.
        # The VirtualService patch comes after it, so this splits the latency in two.
        advanced = self.rollouts.expect(
            [name],
            lambda o: (status(o).get("currentStepIndex") or 0) > objects.PAUSE_INDEX[profile],
        )
        sent = time.monotonic()
        await self.kube.patch(
            ROLLOUTS, name, planned.status, namespace=self.ns, subresource="status"
        )
        returned = time.monotonic()
        moved_at = (await vs_moved.wait(60))[f"{name}-vsvc"]
        seen_at = (await seen.wait(60))[name]
        settled_at = (await settled.wait(60))[name]
        advanced_at = (await advanced.wait(60))[name]
        return {
            "step_advanced": advanced_at - returned,
            "latency": moved_at - returned,
            "request": returned - sent,
            "watch_delivery": seen_at - returned,
            "status_settled": settled_at - returned,
        }

    async def latency(self, profile: objects.Profile) -> JsonDict:
        daemon = self.daemon
        assert daemon is not None
        group = self.group(profile)
        before = await daemon.scrape()
        cpu0 = daemon.cpu()
        samples = []
        for name in group:
            samples.append(await self.promote_one(name, profile))
        cpu1 = daemon.cpu()
        after = await daemon.scrape()
        reconciles = after.reconciles - before.reconciles
        writes = after.writes_since(before)
        return {
            "promotions": len(group),
            "latency_ms": _ms(percentiles([s["latency"] for s in samples])),
            "watch_delivery_ms": _ms(percentiles([s["watch_delivery"] for s in samples])),
            "status_settled_ms": _ms(percentiles([s["status_settled"] for s in samples])),
            "step_advanced_ms": _ms(percentiles([s["step_advanced"] for s in samples])),
            "request_ms": _ms(percentiles([s["request"] for s in samples])),
            "samples_ms": [round(1000 * s["latency"], 2) for s in samples],
            "reconciles": reconciles,
            "cpu_ms_per_reconcile": 1000 * (cpu1 - cpu0) / max(1.0, reconciles),
            "writes_per_promotion": by_verb_resource(writes, len(group)),
            "writes_per_promotion_total": sum(writes.values()) / len(group),
        }

    # -- workload 3 ----------------------------------------------------------------------------

    async def throughput(self) -> JsonDict:
        daemon = self.daemon
        assert daemon is not None
        group = self.group("nopause")
        old_hash = {n: status(self.rollouts.get(n)).get("stableRS") for n in group}
        done = self.rollouts.expect(
            group, lambda o: healthy(o) and status(o).get("stableRS") != old_hash[_name(o)]
        )
        before = await daemon.scrape()
        cpu0 = daemon.cpu()
        started = time.monotonic()
        await self._set_image(group, objects.IMAGE_NEW)
        patched = time.monotonic()
        times = await done.wait(300 + 2 * self.s.throughput_n)
        finished = max(times.values())
        cpu1 = daemon.cpu()
        after = await daemon.scrape()
        writes = after.writes_since(before)
        reconciles = after.reconciles - before.reconciles
        steps = len(objects.STEPS["nopause"])
        result: JsonDict = {
            "rollouts": len(group),
            "steps": steps,
            "seconds": finished - started,
            "patch_seconds": patched - started,
            "per_rollout_done_p50_seconds": percentiles([t - started for t in times.values()])[
                "p50"
            ],
            "rollouts_per_second": len(group) / (finished - started),
            "reconciles": reconciles,
            "reconciles_per_rollout": reconciles / len(group),
            "cpu_seconds": cpu1 - cpu0,
            "cpu_ms_per_reconcile": 1000 * (cpu1 - cpu0) / max(1.0, reconciles),
            "writes_per_rollout": by_verb_resource(writes, len(group)),
            "writes_per_rollout_total": sum(writes.values()) / len(group),
            "writes_per_step": sum(writes.values()) / (len(group) * steps),
            "writes_per_step_without_events": sum(
                c for (_, r), c in writes.items() if r != "events"
            )
            / (len(group) * steps),
            "reads": by_verb_resource(after.reads_since(before)),
        }
        if self.s.scale_down_wait:
            # The old ReplicaSets are scaled down after scaleDownDelaySeconds (30 s): writes
            # that belong to the update but come after Healthy.
            await asyncio.sleep(40)
            await self._settle(daemon)
            later = await daemon.scrape()
            trailing = later.writes_since(after)
            result["trailing_writes_per_rollout"] = by_verb_resource(trailing, len(group))
        return result

    async def close(self) -> JsonDict:
        figures = await self._stop_daemon() if self.daemon is not None else {}
        await self.rollouts.stop()
        await self.vss.stop()
        return {"rss_peak_mib": figures.get("VmHWM", 0) / 1024}


def _name(obj: JsonDict) -> str:
    return str((obj.get("metadata") or {}).get("name") or "")


def _ms(p: dict[str, float]) -> dict[str, float]:
    return {k: (v if k == "n" else round(1000 * v, 2)) for k, v in p.items()}


def _empty() -> Scrape:
    return Scrape(0.0, Counter(), 0.0, 0.0, 0.0)


__all__ = ["ControllerRun", "Settings", "percentiles"]
