"""Prometheus metrics: one collector that reads the process's state when it is scraped.

Per-Rollout series (weights, agreement, `rollout_info`, replica counts) are built from the
controller's caches on every scrape, the way Argo Rollouts' collector does it, so a deleted
Rollout simply stops appearing: no series is ever left behind. Counters that the controller
keeps (reconciles, errors, corrections, work-queue adds and retries) are read as they are;
duration samples the controller buffers are drained into histograms at scrape time. API
requests and Events arrive through the client's and the recorder's observer hooks.

Everything lives in a private `CollectorRegistry` (no process-global state), so tests and a
second daemon in the same process never see each other's series. Scrapes run on the event
loop (the aiohttp handler calls `generate_latest` there), the same thread that mutates the
controller's state, so reading it needs no locks.

The metric names, types, labels and meanings are listed in docs/metrics.md.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Callable, Iterable, Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any, Protocol

import structlog
from prometheus_client import (
    CollectorRegistry,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric

from rolloutd.controller.rollouts import ReconcileStats, RolloutView
from rolloutd.kube.client import Request
from rolloutd.kube.workqueue import QueueStats

JsonDict = dict[str, Any]
log = structlog.get_logger("rolloutd.metrics")

# controller-runtime's reconcile buckets: fine below a second, coarse up to a minute.
RECONCILE_BUCKETS = (
    *(0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7),
    *(0.8, 0.9, 1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5, 6, 7, 8, 9, 10),
    *(15, 20, 25, 30, 40, 50, 60),
)
# Time in queue: a key waits microseconds when workers are idle, seconds when they are not.
QUEUE_BUCKETS = (0.0001, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0)

# Argo's `traffic_router` label values, in the order its collector checks the blocks.
_ROUTER_LABELS = (
    ("alb", "ALB"),
    ("ambassador", "Ambassador"),
    ("appMesh", "AppMesh"),
    ("istio", "Istio"),
    ("nginx", "Nginx"),
    ("smi", "SMI"),
)
# Argo's `phase` label: the Progressing condition's reason, mapped.
_PHASES = {
    "NewReplicaSetAvailable": "Completed",
    "RolloutPaused": "Paused",
    "ReplicaSetCreateError": "Error",
    "ProgressDeadlineExceeded": "Timeout",
    "RolloutAborted": "Abort",
}
# Argo's deprecated rollout_phase has one series per phase but InvalidSpec.
_DEPRECATED_PHASES = ("Completed", "Progressing", "Paused", "Timeout", "Error", "Abort")
ARGO_REQUEST_SERIES = 20_000
"""At most this many controller_clientset_k8s_request_total series name an object."""


class QueueSource(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def depth(self) -> int: ...
    @property
    def stats(self) -> QueueStats: ...


class ControllerSource(Protocol):
    """What the collector reads of the Rollout controller (a fake will do in tests)."""

    @property
    def stats(self) -> ReconcileStats: ...
    @property
    def queue(self) -> QueueSource: ...
    def views(self) -> Sequence[RolloutView]: ...


class StallSource(Protocol):
    """What the collector reads of the event loop heartbeat."""

    @property
    def stalls(self) -> int: ...
    @property
    def stalled_seconds_max(self) -> float: ...


class MetricSource(Protocol):
    """Another part of the process that builds its own series at scrape time."""

    def collect(self) -> Iterable[Metric]: ...


class MetricsCollector:
    """The prometheus_client Collector for everything rolloutd exports."""

    def __init__(
        self,
        *,
        identity: str,
        is_leader: Callable[[], bool] = lambda: True,
        config_valid: Callable[[], bool] = lambda: True,
        restart_pending: Callable[[], bool] = lambda: False,
        version: str | None = None,
    ) -> None:
        self.controller: ControllerSource | None = None
        self.heartbeat: StallSource | None = None
        """The event loop heartbeat (rolloutd.server.Heartbeat), set when the servers start."""
        self.analysis: MetricSource | None = None
        """AnalysisRun series (rolloutd.controller.analysis.AnalysisMetrics)."""
        self.identity = identity
        self.is_leader = is_leader
        self.config_valid = config_valid
        self.restart_pending = restart_pending
        self.version = version or _version()
        self.requests: dict[tuple[str, str, str], int] = {}
        self.argo_requests: dict[tuple[str, str, str, str, str], int] = {}
        self.events: dict[tuple[str, str, str, str], int] = {}
        # Not registered anywhere: collect() drains samples into them, then yields them.
        self._reconcile_seconds = Histogram(
            "rolloutd_reconcile_duration_seconds",
            "Time one reconcile of one Rollout took.",
            buckets=RECONCILE_BUCKETS,
            registry=None,
        )
        self._queue_seconds = Histogram(
            "workqueue_queue_duration_seconds",
            "Time a key waited in the work queue before a worker took it.",
            ["name"],
            buckets=QUEUE_BUCKETS,
            registry=None,
        )

    # -- observers (plugged into KubeClient.observers and EventRecorder.observers) -------------

    def observe_request(self, request: Request) -> None:
        code = str(request.status) if request.status else "<error>"
        key = (request.verb, request.resource, code)
        self.requests[key] = self.requests.get(key, 0) + 1
        # Argo's per-object request counter; names as its client wrapper gives them (none for
        # lists, Events and ReplicaSets), and folded into N/A past a bound so that objects
        # that come and go cannot grow the series without end.
        kind = request.resource.split("/", 1)[0]
        name = request.name
        if request.verb in {"list", "watch"} or kind in {"events", "replicasets"}:
            name = "N/A"
        argo = (kind, request.namespace, name, request.verb.capitalize(), str(request.status))
        if argo not in self.argo_requests and len(self.argo_requests) >= ARGO_REQUEST_SERIES:
            argo = (kind, request.namespace, "N/A", *argo[3:])
        self.argo_requests[argo] = self.argo_requests.get(argo, 0) + 1

    def observe_event(
        self, namespace: str, name: str, event_type: str, reason: str, message: str
    ) -> None:
        key = (namespace, name, event_type, reason)
        self.events[key] = self.events.get(key, 0) + 1

    # -- scrape ---------------------------------------------------------------------------

    def describe(self) -> Iterable[Metric]:
        # Names are dynamic per scrape; telling the registry nothing keeps it from calling
        # collect() at registration time (which would drain samples nobody has seen).
        return []

    def collect(self) -> Iterable[Metric]:
        yield from self._process()
        if self.analysis is not None:
            try:
                yield from self.analysis.collect()
            except Exception:  # a bad cache entry must not take /metrics down
                log.exception("could not build the AnalysisRun metrics")
        if self.controller is None:
            return
        try:
            views = list(self.controller.views())
        except Exception:  # a bad router read must not take /metrics down
            log.exception("could not read the controller's caches for metrics")
            views = None
        if views is not None:
            yield from rollout_metrics(views)
        yield from self._controller(self.controller, views)

    def _process(self) -> Iterable[Metric]:
        build = GaugeMetricFamily(
            "rolloutd_build_info",
            "Always 1; the labels say which rolloutd and Python run.",
            labels=["version", "python"],
        )
        build.add_metric([self.version, platform.python_version()], 1)
        leader = GaugeMetricFamily(
            "rolloutd_leader",
            "1 while this replica holds the leader Lease (or runs without leader election).",
            labels=["identity"],
        )
        leader.add_metric([self.identity], 1 if self.is_leader() else 0)
        valid = GaugeMetricFamily(
            "rolloutd_config_valid",
            "1 when the last ConfigMap seen was valid; 0 while a bad one is ignored.",
        )
        valid.add_metric([], 1 if self.config_valid() else 0)
        pending = GaugeMetricFamily(
            "rolloutd_config_restart_pending",
            "1 when the ConfigMap changed settings that take effect only after a restart.",
        )
        pending.add_metric([], 1 if self.restart_pending() else 0)
        requests = CounterMetricFamily(
            "rolloutd_kube_requests",
            "Kubernetes API requests by verb, resource and HTTP status (<error>: no answer).",
            labels=["verb", "resource", "code"],
        )
        for (verb, resource, code), count in sorted(self.requests.items()):
            requests.add_metric([verb, resource, code], count)
        argo_requests = CounterMetricFamily(
            "controller_clientset_k8s_request",
            "Kubernetes API requests by kind, object, verb and status (Argo Rollouts' metric).",
            labels=["kind", "namespace", "name", "verb", "status_code"],
        )
        for labels, count in sorted(self.argo_requests.items()):
            argo_requests.add_metric(list(labels), count)
        argo_info = GaugeMetricFamily(
            "argo_rollouts_controller_info",
            "Always 1: the running controller's version (Argo Rollouts' metric; rolloutd's).",
            labels=["version"],
        )
        argo_info.add_metric([self.version], 1)
        heap = GaugeMetricFamily(
            "go_memstats_heap_alloc_bytes",
            "Resident memory of the process in bytes. rolloutd has no Go heap: this is the "
            "figure Argo's Grafana dashboard plots under that name, for that dashboard only.",
        )
        heap.add_metric([], resident_bytes())
        return [
            build,
            leader,
            valid,
            pending,
            requests,
            argo_requests,
            argo_info,
            heap,
            *self._loop(),
        ]

    def _loop(self) -> list[Metric]:
        """The heartbeat's stall counts (rolloutd.server.Heartbeat), once the servers run."""
        beat = self.heartbeat
        if beat is None:
            return []
        stalls = CounterMetricFamily(
            "rolloutd_event_loop_stalls",
            "Times the event loop was blocked for more than the heartbeat's threshold (1 s).",
        )
        stalls.add_metric([], beat.stalls)
        longest = GaugeMetricFamily(
            "rolloutd_event_loop_stall_seconds_max",
            "The longest event loop stall since the start, in seconds.",
        )
        longest.add_metric([], beat.stalled_seconds_max)
        return [stalls, longest]

    def _controller(
        self, controller: ControllerSource, views: Sequence[RolloutView] | None
    ) -> Iterable[Metric]:
        stats = controller.stats
        # Drain in place: the controller appends, we take what is there now.
        durations = stats.durations[:]
        del stats.durations[: len(durations)]
        for seconds in durations:
            self._reconcile_seconds.observe(seconds)
        yield from self._reconcile_seconds.collect()
        errors = CounterMetricFamily(
            "rolloutd_reconcile_errors", "Reconciles that failed and were retried with backoff."
        )
        errors.add_metric([], stats.errors)
        yield errors

        # Per-Rollout counters are shown only for Rollouts that still exist, so a deleted
        # Rollout's series end with it (a re-created one starts again: a counter reset).
        live = {_key(v.obj) for v in views} if views is not None else None
        if live is not None:
            stats.per_rollout.forget_missing(live)
        yield from stats.per_rollout.families("rollout", "Rollout")

        corrections = CounterMetricFamily(
            "rolloutd_traffic_weight_corrections",
            "Times a router's weight had drifted from the Rollout's and was put back.",
            labels=["namespace", "rollout", "router"],
        )
        for (ns, name, router), count in sorted(stats.corrections.items()):
            if live is None or (ns, name) in live:
                corrections.add_metric([ns, name, router], count)
        yield corrections
        if live is not None:
            for key in [k for k in self.events if (k[0], k[1]) not in live]:
                del self.events[key]
        events = CounterMetricFamily(
            "rollout_events",
            "Kubernetes Events rolloutd recorded on Rollouts.",
            labels=["namespace", "name", "type", "reason"],
        )
        for labels, count in sorted(self.events.items()):
            events.add_metric(list(labels), count)
        yield events

        queue = controller.queue
        waits = queue.stats.wait_seconds[:]
        del queue.stats.wait_seconds[: len(waits)]
        child = self._queue_seconds.labels(queue.name)
        for seconds in waits:
            child.observe(seconds)
        yield from self._queue_seconds.collect()
        depth = GaugeMetricFamily(
            "workqueue_depth", "Keys waiting in the work queue now.", labels=["name"]
        )
        depth.add_metric([queue.name], queue.depth)
        adds = CounterMetricFamily(
            "workqueue_adds", "Keys added to the work queue.", labels=["name"]
        )
        adds.add_metric([queue.name], queue.stats.adds)
        retries = CounterMetricFamily(
            "workqueue_retries", "Keys re-queued with backoff after a failure.", labels=["name"]
        )
        retries.add_metric([queue.name], queue.stats.retries)
        yield from (depth, adds, retries)


def rollout_metrics(views: Sequence[RolloutView]) -> Iterable[Metric]:
    """The per-Rollout series: traffic weights, agreement, rollout_info and replica counts."""
    desired = GaugeMetricFamily(
        "rolloutd_traffic_weight_desired",
        "Canary weight (percent) the Rollout should carry now.",
        labels=["namespace", "rollout"],
    )
    actual = GaugeMetricFamily(
        "rolloutd_traffic_weight_actual",
        "Canary weight each routing object holds now (read from the cache).",
        labels=["namespace", "rollout", "router", "object"],
    )
    agreement = GaugeMetricFamily(
        "rolloutd_traffic_weight_in_agreement",
        "1 when every routing object holds the desired canary weight, else 0.",
        labels=["namespace", "rollout"],
    )
    info = GaugeMetricFamily(
        "rollout_info",
        "Always 1: a Rollout's strategy, traffic router and phase (Argo Rollouts' metric).",
        labels=["namespace", "name", "strategy", "traffic_router", "phase"],
    )
    replicas = {
        field: GaugeMetricFamily(
            f"rollout_info_replicas_{field}", doc, labels=["namespace", "name"]
        )
        for field, doc in (
            ("available", "Available pods of the Rollout (status.availableReplicas)."),
            ("unavailable", "Pods of the Rollout that are not available."),
            ("desired", "Pods the Rollout asks for (spec.replicas)."),
            ("updated", "Pods of the Rollout's newest template (status.updatedReplicas)."),
        )
    }
    deprecated_phase = GaugeMetricFamily(
        "rollout_phase",
        "Information on the state of the rollout (DEPRECATED in Argo: use rollout_info).",
        labels=["namespace", "name", "strategy", "phase"],
    )
    selected = GaugeMetricFamily(
        "rolloutd_bluegreen_service_selector",
        "Always 1: the pod-template hash a blue-green Rollout's active or preview Service "
        "selects (status.blueGreen, which mirrors the Services).",
        labels=["namespace", "rollout", "role", "hash"],
    )
    on_current = GaugeMetricFamily(
        "rolloutd_bluegreen_active_on_current",
        "1 when a blue-green Rollout's active Service selects its newest template "
        "(status.currentPodHash), 0 while that template is only previewed or was aborted.",
        labels=["namespace", "rollout"],
    )
    for view in views:
        ns, name = _key(view.obj)
        spec: JsonDict = view.obj.get("spec") or {}
        status: JsonDict = view.obj.get("status") or {}
        strategy, phase = _strategy(spec), _phase(status)
        info.add_metric([ns, name, strategy, _traffic_router(spec), phase], 1)
        for each in _DEPRECATED_PHASES:
            deprecated_phase.add_metric([ns, name, strategy, each], 1 if each == phase else 0)
        if strategy == "blueGreen":
            blue_green: JsonDict = status.get("blueGreen") or {}
            for role in ("active", "preview"):
                pod_hash = blue_green.get(f"{role}Selector")
                if pod_hash:
                    selected.add_metric([ns, name, role, str(pod_hash)], 1)
            current = status.get("currentPodHash")
            active = blue_green.get("activeSelector")
            on_current.add_metric([ns, name], 1 if current and active == current else 0)
        counts = replica_counts(spec, status)
        for field, family in replicas.items():
            family.add_metric([ns, name], counts[field])

        want = desired_weight(view)
        if want is None:
            continue  # no traffic routing: no weights to speak of
        desired.add_metric([ns, name], want)
        readings = [
            (router, obj, weight)
            for router, entries in sorted(view.observed.items())
            for obj, weight in entries
        ]
        for router, obj, weight in readings:
            actual.add_metric([ns, name, router, obj], weight)
        # No reading at all (the routing object is missing) is not agreement either.
        agrees = bool(readings) and all(weight == want for _, _, weight in readings)
        agreement.add_metric([ns, name], 1 if agrees else 0)
    return [
        desired,
        actual,
        agreement,
        info,
        deprecated_phase,
        *replicas.values(),
        selected,
        on_current,
    ]


def desired_weight(view: RolloutView) -> int | None:
    """The planner's weight; before this replica has reconciled the Rollout (a standby never
    does), the weight the leader recorded in status.canary.weights."""
    if view.desired_weight is not None:
        return view.desired_weight
    canary = ((view.obj.get("spec") or {}).get("strategy") or {}).get("canary") or {}
    if not canary.get("trafficRouting"):
        return None
    weights = ((view.obj.get("status") or {}).get("canary") or {}).get("weights") or {}
    weight = (weights.get("canary") or {}).get("weight")
    return int(weight) if weight is not None else None


def replica_counts(spec: Mapping[str, Any], status: Mapping[str, Any]) -> dict[str, int]:
    available = int(status.get("availableReplicas") or 0)
    return {
        "available": available,
        "unavailable": max(int(status.get("replicas") or 0) - available, 0),
        "desired": int(spec["replicas"]) if spec.get("replicas") is not None else 1,
        "updated": int(status.get("updatedReplicas") or 0),
    }


def _strategy(spec: Mapping[str, Any]) -> str:
    strategy = spec.get("strategy") or {}
    # Argo's collector looks at blueGreen first (a spec with both is InvalidSpec anyway).
    if strategy.get("blueGreen") is not None:
        return "blueGreen"
    if strategy.get("canary") is not None:
        return "canary"
    return "none"


def _traffic_router(spec: Mapping[str, Any]) -> str:
    canary = (spec.get("strategy") or {}).get("canary") or {}
    routing = canary.get("trafficRouting") or {}
    # Plugins (and routers Argo does not map, e.g. Traefik) give "", as in Argo.
    return next((label for key, label in _ROUTER_LABELS if routing.get(key)), "")


def _phase(status: Mapping[str, Any]) -> str:
    conditions = status.get("conditions") or []
    if any(c.get("type") == "InvalidSpec" for c in conditions):
        return "InvalidSpec"
    progressing = next((c for c in conditions if c.get("type") == "Progressing"), None)
    return _PHASES.get((progressing or {}).get("reason", ""), "Progressing")


def _key(obj: Mapping[str, Any]) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return (meta.get("namespace") or "", meta.get("name") or "")


def resident_bytes() -> float:
    """The process's resident set size, from /proc (0 where there is no /proc)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return 0.0
    return float(pages * os.sysconf("SC_PAGE_SIZE"))


def _version() -> str:
    try:
        return metadata.version("rolloutd")
    except metadata.PackageNotFoundError:
        return "unknown"


def new_registry(collector: MetricsCollector, extra: Sequence[Any] = ()) -> CollectorRegistry:
    """A private registry: rolloutd's collector plus the standard process_* and python_info
    (and `extra` collectors, such as the sharding one)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    for more in extra:
        registry.register(more)
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    return registry


def exposition(registry: CollectorRegistry) -> bytes:
    """The registry in Prometheus' text format (what /metrics serves)."""
    return generate_latest(registry)
