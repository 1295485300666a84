"""Assembles a running controller process from its parts and runs it until told to stop.

Parts: the API client, the configuration (ConfigMap, then watched), the router registry, the
Rollout controller, the metrics and health servers, and leader election. `daemon.py` parses the
command line; this module owns lifetimes.

With --leader-elect every replica runs its caches, but only the Lease holder's workers run and
write (`allowed` is checked before every write as well). Exit codes: 0 after SIGTERM/SIGINT
(workers stopped first, then the Lease is released so a standby takes over at once); 1 when
leadership is lost, or when a part fails, so Kubernetes restarts the process.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import Callable
from typing import Any

import structlog

from rolloutd import logs
from rolloutd.analysis.providers.registry import ProviderRegistry
from rolloutd.config import Config, ConfigError, parse_config_map
from rolloutd.config_watch import ConfigWatcher
from rolloutd.controller.analysis import AnalysisController, AnalysisMetrics
from rolloutd.controller.experiments import ExperimentController
from rolloutd.controller.rollouts import RolloutController
from rolloutd.kube.client import ApiError, ClusterUnreachable, KubeClient
from rolloutd.kube.events import EventRecorder
from rolloutd.kube.leader import LeaderElector, LeadershipLost
from rolloutd.kube.resources import CONFIG_MAPS
from rolloutd.kube.shards import ShardManager, refresh_on_gain, requeue_on_gain
from rolloutd.metrics import MetricsCollector, new_registry
from rolloutd.notify.notifier import Notifier
from rolloutd.server import Health, Heartbeat, Servers
from rolloutd.traffic.registry import RouterRegistry

JsonDict = dict[str, Any]
log = structlog.get_logger("rolloutd.runtime")


class StartupError(Exception):
    """The process cannot start; the message says why and what to do."""


class Runtime:
    def __init__(
        self,
        kube: KubeClient,
        options: dict[str, Any],
        config: Config,
        *,
        config_map: JsonDict | None = None,
        config_errors: list[str] | None = None,
    ) -> None:
        self.kube = kube
        self.options = options
        self.config = config
        self.config_namespace: str = options.get("config_namespace") or kube.connection.namespace
        self.identity: str = options.get("identity") or f"{socket.gethostname()}-{os.getpid()}"
        self.elector: LeaderElector | None = None
        if options.get("leader_elect"):
            try:
                self.elector = LeaderElector(
                    kube,
                    namespace=self.config_namespace,
                    name=options.get("lease_name") or "rolloutd-controller-lock",
                    identity=self.identity,
                    lease_duration=options.get("lease_duration", 15.0),
                    renew_deadline=options.get("renew_deadline", 10.0),
                    retry_period=options.get("retry_period", 2.0),
                )
            except ValueError as exc:
                raise StartupError(str(exc)) from None
        self.shards = self._shard_manager(kube, options, config)
        allowed = self._allowed()
        installed = RouterRegistry().available
        self.registry = RouterRegistry(config.router_settings())
        self.events = EventRecorder(kube)
        self.controller = RolloutController(
            kube,
            self.registry,
            namespace=options.get("namespace"),
            workers=options.get("workers") or config.workers,
            events=self.events,
            enabled_routers=config.enabled_routers(installed),
            instance_id=options.get("instance_id"),
            allowed=allowed,
        )
        self.config_watch: ConfigWatcher | None = None
        if options.get("config_map"):
            self.config_watch = ConfigWatcher(
                kube,
                namespace=self.config_namespace,
                name=options["config_map"],
                started=config,
                initial=config_map,
                initial_errors=config_errors,
                # Its own recorder: ConfigMap events are not counted as Rollout events.
                events=EventRecorder(kube),
                may_record=allowed,
                workers_pinned=bool(options.get("workers")),
            )
        watch = self.config_watch
        self.metrics = MetricsCollector(
            identity=self.identity,
            is_leader=allowed,
            config_valid=lambda: watch is None or watch.valid,
            restart_pending=lambda: watch is not None and watch.restart_pending,
        )
        self.metrics.controller = self.controller
        # -- analysis: the AnalysisRun controller, in the same process and leadership --------
        self.analysis = AnalysisController(
            kube,
            namespace=options.get("namespace"),
            workers=options.get("workers") or config.workers,
            # Its own recorder: AnalysisRun events are not counted as Rollout events.
            events=EventRecorder(kube),
            instance_id=options.get("instance_id"),
            allowed=allowed,
            # The ConfigMap's `analysis` block, as in force now (it applies without a restart).
            providers=ProviderRegistry(
                lambda: (watch.active if watch else config).analysis.provider_settings()
            ),
        )
        templates = (self.controller.templates, self.controller.cluster_templates)
        self.metrics.analysis = AnalysisMetrics(
            self.analysis, lambda: [t for cache in templates for t in cache.items()]
        )
        # -- end analysis ---------------------------------------------------------------------
        # Experiments: their own controller and recorder, in the same process and leadership.
        self.experiments = ExperimentController(
            kube,
            namespace=options.get("namespace"),
            workers=min(4, options.get("workers") or config.workers),
            events=EventRecorder(kube),
            instance_id=options.get("instance_id"),
            allowed=allowed,
        )
        # Notifications: fired by the Rollout Events this recorder writes (as Argo's are).
        self.notifier = Notifier(
            kube,
            config_namespace=self.config_namespace,
            watch_namespace=options.get("namespace"),
            allowed=allowed,
            events=self.events,
        )
        self.events.object_observers.append(self.notifier.observe)
        kube.observers.append(self.metrics.observe_request)
        self.events.observers.append(self.metrics.observe_event)
        if self.shards is not None:
            self._wire_shards(self.shards)
        self.metrics_registry = new_registry(self.metrics, extra=self._shard_collectors())

    def _shard_manager(
        self, kube: KubeClient, options: dict[str, Any], config: Config
    ) -> ShardManager | None:
        count = options.get("shards") or config.shards
        if not count:
            return None
        if self.elector is not None:
            raise StartupError("--shards and --leader-elect exclude each other: choose one")
        duration = options.get("lease_duration", 15.0)
        margin = options.get("shard_safety_margin")
        try:
            return ShardManager(
                kube,
                namespace=self.config_namespace,
                identity=self.identity,
                shards=count,
                by=options.get("shard_by") or "name",
                lease_duration=duration,
                renew=options.get("shard_renew", 2.0),
                margin=duration / 3 if margin is None else margin,
            )
        except ValueError as exc:
            raise StartupError(str(exc)) from None

    def _wire_shards(self, shards: ShardManager) -> None:
        self.controller.shards = shards
        self.analysis.shards = shards
        self.experiments.shards = shards
        self.kube.observers.append(shards.observe_request)
        shards.on_gained.append(
            refresh_on_gain(shards, self.kube, self.controller.rollouts, self.controller.queue.add)
        )
        shards.on_gained.append(
            requeue_on_gain(shards, self.analysis.runs, self.analysis.queue.add)
        )
        shards.on_gained.append(
            requeue_on_gain(shards, self.experiments.experiments, self.experiments.queue.add)
        )

    def _shard_collectors(self) -> list[Any]:
        if self.shards is None:
            return []
        from rolloutd.shard_metrics import ShardCollector

        return [ShardCollector(self.shards, self.controller.rollouts)]

    def _allowed(self) -> Callable[[], bool]:
        if self.shards is not None:
            return self.shards.allowed
        elector = self.elector
        if elector is None:
            return lambda: True
        return lambda: elector.is_leader

    @classmethod
    async def start(cls, options: dict[str, Any]) -> Runtime:
        try:
            kube = await KubeClient.connect(
                kubeconfig=options.get("kubeconfig"), context=options.get("context")
            )
        except ClusterUnreachable as exc:
            raise StartupError(str(exc)) from None
        namespace = options.get("config_namespace") or kube.connection.namespace
        errors: list[str] | None = None
        try:
            config_map = await load_config_map(kube, namespace, options.get("config_map", ""))
        except (ApiError, ClusterUnreachable) as exc:
            await kube.close()
            raise StartupError(
                f"cannot read configuration from {kube.connection.server}: {exc}"
            ) from None
        try:
            config = parse_config_map(config_map)
        except ConfigError as exc:
            log.error("bad configuration; using defaults", errors=exc.errors)
            config, errors = Config(), exc.errors
        logs.set_level(config.log_level)
        log.info(
            "starting",
            server=kube.connection.server,
            namespace=options.get("namespace") or "(all)",
            routers=config.enabled_routers(RouterRegistry().available),
        )
        try:
            return cls(kube, options, config, config_map=config_map, config_errors=errors)
        except StartupError:
            await kube.close()
            raise

    def leadership(self) -> JsonDict:
        """Leader-election state for /readyz."""
        elector = self.elector
        if elector is None:
            return {"state": "disabled", "identity": self.identity}
        if elector.is_leader:
            state = "leader"
        elif elector.known.is_set():
            state = "standby"
        else:
            state = "unknown"
        return {
            "state": state,
            "identity": self.identity,
            "holder": elector.holder,
            "lease": f"{elector.namespace}/{elector.name}",
        }

    async def serve(self, stop: asyncio.Event) -> int:
        heartbeat = Heartbeat()
        self.metrics.heartbeat = heartbeat
        watch = self.config_watch
        health = Health(
            heartbeat,
            synced=lambda: self.controller.synced,
            leadership=self.leadership,
            config=lambda: watch.detail() if watch else {"valid": True},
        )
        servers = Servers(
            registry=self.metrics_registry,
            health=health,
            bind_address=self.options.get("bind_address") or "0.0.0.0",
            metrics_port=self.options.get("metrics_port", 8090),
            health_port=self.options.get("health_port", 8080),
        )
        try:
            await servers.start()
        except OSError as exc:
            log.error("cannot listen", error=str(exc))
            return 1
        try:
            return await self._run(stop, heartbeat)
        finally:
            await servers.stop()

    async def _run(self, stop: asyncio.Event, heartbeat: Heartbeat) -> int:
        elector = self.elector
        leading = elector.leading if elector else asyncio.Event()
        if elector is None:
            leading.set()
        controller = asyncio.create_task(self.controller.run(leading=leading), name="controller")
        analysis = asyncio.create_task(self.analysis.run(leading=leading), name="analysis")
        experiments = asyncio.create_task(self.experiments.run(leading=leading), name="experiments")
        stopper = asyncio.create_task(stop.wait(), name="stop")
        others = [
            asyncio.create_task(heartbeat.run(), name="heartbeat"),
            asyncio.create_task(self.notifier.run(), name="notifications"),
        ]
        if self.config_watch is not None:
            others.append(asyncio.create_task(self.config_watch.run(), name="config"))
        election = None
        if elector is not None:
            election = asyncio.create_task(elector.run(), name="leader-election")
            others.append(election)
        sharder = None
        if self.shards is not None:
            sharder = asyncio.create_task(self.shards.run(), name="shards")
            others.append(sharder)
        watched = {controller, analysis, experiments, stopper, *others}
        # Not watched: it ends normally once this replica leads.
        others.append(asyncio.create_task(self._when_leading(leading), name="on-leading"))
        done, _ = await asyncio.wait(watched, return_when=asyncio.FIRST_COMPLETED)

        code = 0
        lost = False
        for task in done:
            if task is stopper or task.cancelled():
                continue
            exc = task.exception()
            if isinstance(exc, LeadershipLost):
                lost = True
                code = 1
            elif exc is not None:
                log.error(f"{task.get_name()} failed", error=repr(exc))
                code = 1
            elif task in (controller, analysis, experiments):
                code = 0 if stop.is_set() else 1
        if stopper in done:
            log.info("stopping")
        elif lost:
            log.error("exiting: leadership lost; a restart makes this replica a standby")
        # Leader work stops first, then renewals; only then may the Lease be handed over.
        await _cancel(controller)
        await _cancel(analysis)
        await _cancel(experiments)
        if election is not None:
            await _cancel(election)
        if sharder is not None and self.shards is not None:
            # Workers have stopped: only now may the shards be handed over.
            await _cancel(sharder)
            await self.shards.release_all()
        if elector is not None and not lost:
            await elector.release()
        for task in [stopper, *others]:
            await _cancel(task)
        return code

    async def _when_leading(self, leading: asyncio.Event) -> None:
        await leading.wait()
        if self.config_watch is not None and self.elector is not None:
            await self.config_watch.on_leading()
        await self.notifier.on_leading()

    async def close(self) -> None:
        await self.kube.close()


async def _cancel(task: asyncio.Task[Any]) -> None:
    if not task.done():
        task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task


async def load_config_map(kube: KubeClient, namespace: str, name: str) -> JsonDict | None:
    """The configuration ConfigMap, or None when it is not named or does not exist."""
    if not name:
        return None
    try:
        return await kube.get(CONFIG_MAPS, name, namespace=namespace)
    except ApiError as exc:
        if exc.not_found:
            return None
        raise
