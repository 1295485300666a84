"""Assembles a running controller process from its parts and runs it until told to stop.

Parts: the API client, the configuration (ConfigMap), the router registry, the Rollout
controller, the metrics and health servers, and leader election. `daemon.py` parses the
command line; this module owns lifetimes.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import structlog

from rolloutd import logs
from rolloutd.config import Config, ConfigError, parse_config_map
from rolloutd.controller.rollouts import RolloutController
from rolloutd.kube.client import ApiError, ClusterUnreachable, KubeClient
from rolloutd.kube.events import EventRecorder
from rolloutd.kube.resources import CONFIG_MAPS
from rolloutd.traffic.registry import RouterRegistry

log = structlog.get_logger("rolloutd.runtime")


class StartupError(Exception):
    """The process cannot start; the message says why and what to do."""


class Runtime:
    def __init__(self, kube: KubeClient, options: dict[str, Any], config: Config) -> None:
        self.kube = kube
        self.options = options
        self.config = config
        self.config_namespace: str = options.get("config_namespace") or kube.connection.namespace
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
        )

    @classmethod
    async def start(cls, options: dict[str, Any]) -> Runtime:
        try:
            kube = await KubeClient.connect(
                kubeconfig=options.get("kubeconfig"), context=options.get("context")
            )
        except ClusterUnreachable as exc:
            raise StartupError(str(exc)) from None
        namespace = options.get("config_namespace") or kube.connection.namespace
        try:
            config = await load_config(kube, namespace, options.get("config_map", ""))
        except ConfigError as exc:
            log.error("bad configuration; using defaults", errors=exc.errors)
            config = Config()
        except (ApiError, ClusterUnreachable) as exc:
            await kube.close()
            raise StartupError(
                f"cannot read configuration from {kube.connection.server}: {exc}"
            ) from None
        logs.set_level(config.log_level)
        log.info(
            "starting",
            server=kube.connection.server,
            namespace=options.get("namespace") or "(all)",
            routers=config.enabled_routers(RouterRegistry().available),
        )
        return cls(kube, options, config)

    async def serve(self, stop: asyncio.Event) -> int:
        controller = asyncio.create_task(self.controller.run(), name="controller")
        stopper = asyncio.create_task(stop.wait(), name="stop")
        done, _ = await asyncio.wait({controller, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if controller in done:
            stopper.cancel()
            exc = controller.exception()
            if exc is not None:
                log.error("controller stopped", error=repr(exc))
                return 1
            return 0
        log.info("stopping")
        controller.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await controller
        return 0

    async def close(self) -> None:
        await self.kube.close()


async def load_config(kube: KubeClient, namespace: str, name: str) -> Config:
    if not name:
        return Config()
    try:
        cm = await kube.get(CONFIG_MAPS, name, namespace=namespace)
    except ApiError as exc:
        if exc.not_found:
            return Config()
        raise
    return parse_config_map(cm)
