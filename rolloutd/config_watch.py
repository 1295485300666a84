"""Watches the `rolloutd-config` ConfigMap and applies what can change without a restart.

- `logLevel` is applied at once.
- `workers` and `routers` are read once, at start: the routers are instantiated with their
  settings and the controller builds one informer per resource they watch, so changing them
  means rebuilding the controller. A change to either is reported (a warning log line, the
  `rolloutd_config_restart_pending` metric, and /readyz detail) and takes effect on the next
  start; the chart's checksum annotation restarts the pods when `helm upgrade` changes them.
- A ConfigMap that does not parse is reported (an error log line, a Warning Event on the
  ConfigMap, `rolloutd_config_valid 0`, /readyz detail) and changes nothing: the last good
  configuration stays in force. Only the leader records the Event, so two replicas do not
  report the same mistake twice and a standby never writes.
- A deleted ConfigMap means the defaults, as at start.
- Router names under `routers` that no installed router answers to are reported (a warning
  log line naming them, and /readyz detail `warnings`): a typo would otherwise silently leave
  a router with its defaults.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import structlog

from rolloutd import logs
from rolloutd.config import Config, ConfigError, parse_config_map
from rolloutd.kube.client import KubeClient
from rolloutd.kube.events import EventRecorder
from rolloutd.kube.informer import Informer, strip_managed_fields
from rolloutd.kube.resources import CONFIG_MAPS
from rolloutd.traffic.registry import RouterRegistry

JsonDict = dict[str, Any]
log = structlog.get_logger("rolloutd.config")


class ConfigWatcher:
    def __init__(
        self,
        kube: KubeClient,
        *,
        namespace: str,
        name: str,
        started: Config,
        initial: JsonDict | None = None,
        initial_errors: list[str] | None = None,
        events: EventRecorder | None = None,
        may_record: Callable[[], bool] = lambda: True,
        workers_pinned: bool = False,
        set_level: Callable[[str], None] = logs.set_level,
        installed: list[str] | None = None,
    ) -> None:
        """`started` is the configuration the process was built with; `initial` the ConfigMap
        it came from (None: missing) and `initial_errors` what was wrong with it, if anything.
        `workers_pinned`: --workers was given, so the ConfigMap's `workers` is not used.
        `installed`: the router names this process has (default: its entry points)."""
        self.kube = kube
        self.namespace = namespace
        self.name = name
        self.started = started
        self.active = started
        """The configuration in force: `started` plus the changes applied live."""
        self.errors: list[str] = list(initial_errors or [])
        self.pending_restart: list[str] = []
        self.events = events
        self.may_record = may_record
        self.workers_pinned = workers_pinned
        self._set_level = set_level
        self._last_data: Any = _data(initial)
        self._bad: JsonDict | None = initial if self.errors else None
        self._latest: JsonDict | None = initial
        self._changed = asyncio.Event()
        self._installed = installed
        self.warnings: list[str] = []

    # -- state, for /readyz and metrics ----------------------------------------------------

    @property
    def valid(self) -> bool:
        return not self.errors

    @property
    def restart_pending(self) -> bool:
        return bool(self.pending_restart)

    def detail(self) -> JsonDict:
        return {
            "configMap": f"{self.namespace}/{self.name}",
            "valid": self.valid,
            "errors": list(self.errors),
            "restartPending": list(self.pending_restart),
            "warnings": list(self.warnings),
        }

    # -- running ----------------------------------------------------------------------------

    async def run(self) -> None:
        """Watch the ConfigMap and apply each new version until cancelled."""
        informer = Informer(self.kube, CONFIG_MAPS, namespace=self.namespace, transform=self._slim)
        informer.add_handler(self._on_change)
        self._check_routers(self.started)
        await self._report_bad()
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(informer.run(), name="config-informer")
            while True:
                await self._changed.wait()
                self._changed.clear()
                await self.apply(self._latest)

    def _slim(self, obj: JsonDict) -> JsonDict:
        # The namespace may hold large ConfigMaps (dashboards); keep only the one we read.
        if (obj.get("metadata") or {}).get("name") == self.name:
            return strip_managed_fields(obj)
        meta = obj.get("metadata") or {}
        keep = ("name", "namespace", "resourceVersion")
        return {"metadata": {k: meta[k] for k in keep if k in meta}}

    def _on_change(self, kind: str, obj: JsonDict, old: JsonDict | None) -> None:
        if (obj.get("metadata") or {}).get("name") != self.name:
            return
        self._latest = None if kind == "DELETED" else obj
        self._changed.set()

    async def on_leading(self) -> None:
        """Called when this replica becomes the leader: report a bad config it kept quiet."""
        await self._report_bad()

    # -- applying -----------------------------------------------------------------------------

    async def apply(self, config_map: JsonDict | None) -> None:
        """Take one version of the ConfigMap (None: deleted) into account."""
        data = _data(config_map)
        if data == self._last_data:
            return  # metadata-only change, or a re-list: nothing to do
        self._last_data = data
        try:
            new = parse_config_map(config_map)
        except ConfigError as exc:
            self.errors = exc.errors
            self._bad = config_map
            log.error(
                "bad configuration ignored; the last good one stays in force",
                config_map=f"{self.namespace}/{self.name}",
                errors=exc.errors,
            )
            await self._report_bad()
            return
        if self.errors:
            log.info("configuration is valid again", config_map=f"{self.namespace}/{self.name}")
        self.errors = []
        self._bad = None
        if new.log_level != self.active.log_level:
            self._set_level(new.log_level)
            log.info("log level changed", old=self.active.log_level, new=new.log_level)
        # The analysis limits are read at each measurement, so they apply at once too.
        self.active = self.active.model_copy(
            update={"log_level": new.log_level, "analysis": new.analysis}
        )
        self._check_routers(new)
        self._check_restart(new)

    def _check_routers(self, config: Config) -> None:
        if self._installed is None:
            self._installed = list(RouterRegistry().available)
        unknown = config.unknown_routers(self._installed)
        self.warnings = (
            [f"data.config.yaml.routers: unknown router(s) {', '.join(unknown)} (installed: "
             f"{', '.join(sorted(self._installed)) or 'none'}); their settings are unused"]
            if unknown
            else []
        )  # fmt: skip
        if unknown:
            log.warning(
                "configuration names routers that are not installed; their settings are unused",
                unknown=unknown,
                installed=sorted(self._installed),
                config_map=f"{self.namespace}/{self.name}",
            )

    def _check_restart(self, new: Config) -> None:
        pending = []
        if not self.workers_pinned and new.workers != self.started.workers:
            pending.append("workers")
        if new.routers != self.started.routers:
            pending.append("routers")
        if pending == self.pending_restart:
            return
        self.pending_restart = pending
        if pending:
            log.warning(
                "configuration changed; restart rolloutd to apply it (needs restart)",
                fields=pending,
                config_map=f"{self.namespace}/{self.name}",
            )
        else:
            log.info("configuration is back to what is running; no restart needed")

    async def _report_bad(self) -> None:
        if not self.errors or self._bad is None or self.events is None:
            return
        if not self.may_record():
            return
        await self.events.record(
            self._bad,
            "Warning",
            "InvalidConfig",
            "rolloutd ignored this configuration (the last good one stays in force): "
            + "; ".join(self.errors),
        )


def _data(config_map: JsonDict | None) -> Any:
    return None if config_map is None else config_map.get("data")
