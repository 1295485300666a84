"""The AnalysisRun controller: caches -> work queue -> pure state machine -> providers -> status.

A thin I/O shell around `rolloutd.analysis.runs`. Each reconcile of one AnalysisRun:

1. reads the run from the informer cache (no API read) and stops if it is completed (after
   deleting it once its `ttlStrategy` has expired);
2. validates the spec with placeholders for Secret values (`prepare_run`); a bad spec or a bad
   condition ends the run in Error with Argo's message;
3. asks `due_tasks` what to measure now; only then reads the Secrets the arguments name and
   calls the providers, concurrently, each call guarded so that nothing a provider does (an
   exception, a hang) can take a worker or the daemon down: it becomes an Error measurement;
4. evaluates the conditions for synchronous providers, folds the measurements in with
   `record`, writes the status as one JSON merge patch of what changed, records Kubernetes
   Events for run and metric phase changes, lets providers clean up (the Job provider deletes
   finished Jobs once their outcome is stored), and requeues the key for the moment the state
   machine asked for. Nothing sleeps.

The status goes to the `/status` subresource, as rolloutd's CRD defines it; under Argo's own
CRD (which has no status subresource) that answers 404 and the controller writes the status
through the object itself from then on, so rolloutd stays a drop-in replacement.

Jobs created by the Job provider are watched (label `analysisrun.argoproj.io/uid`) so that a
finishing Job requeues its run at once. Counters for the metrics endpoint are kept in
`AnalysisStats`; `AnalysisMetrics` turns them and the cache into Prometheus series.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import datetime as dt
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog
from prometheus_client import Histogram
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric

from rolloutd.analysis.conditions import ConditionError, judge
from rolloutd.analysis.expr.regex import RegexError, compile_regex
from rolloutd.analysis.providers.contract import (
    AlreadyExists,
    ClusterError,
    MeasureContext,
    Reading,
)
from rolloutd.analysis.providers.job import NAME_ANNOTATION, UID_LABEL
from rolloutd.analysis.providers.registry import ProviderRegistry, ProviderUnavailable
from rolloutd.analysis.runs import (
    Measured,
    Step,
    Task,
    due_tasks,
    error_status,
    format_time,
    metric_results,
    parse_time,
    record,
)
from rolloutd.analysis.settings import bounded_text
from rolloutd.analysis.spec import PreparedRun, RunSpecError, prepare_run
from rolloutd.controller.patches import merge_patch
from rolloutd.controller.stats import ObjectTimings
from rolloutd.kube.client import ApiError, ClusterUnreachable, KubeClient
from rolloutd.kube.events import EventRecorder
from rolloutd.kube.informer import Informer
from rolloutd.kube.resources import (
    ANALYSIS_RUNS,
    CONFIG_MAPS,
    JOBS,
    PODS,
    SECRETS,
    Resource,
)
from rolloutd.kube.shards import ShardManager, owner_key, scope
from rolloutd.kube.workqueue import WorkQueue
from rolloutd.model.analysis import (
    ERROR,
    FAILED,
    INCONCLUSIVE,
    PENDING,
    RUNNING,
    SUCCESSFUL,
    is_completed,
)
from rolloutd.model.rollout import INSTANCE_ID_LABEL

JsonDict = dict[str, Any]
Key = tuple[str, str]
log = structlog.get_logger("rolloutd.analysis")
PROVIDER_CALL_TIMEOUT = 300.0
"""A provider call that takes longer than this is abandoned and counted as an Error."""

_PHASES = (PENDING, ERROR, FAILED, SUCCESSFUL, RUNNING, INCONCLUSIVE)
_KNOWN_RESOURCES = {
    ("batch/v1", "Job"): JOBS,
    ("v1", "Pod"): PODS,
    ("v1", "Secret"): SECRETS,
    ("v1", "ConfigMap"): CONFIG_MAPS,
}
# Measurement durations: web and Prometheus answer in milliseconds, Jobs take minutes.
MEASUREMENT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


@dataclass
class AnalysisStats:
    """Counters the metrics collector reads (and drains, for the duration samples)."""

    reconciles: int = 0
    errors: int = 0
    measurements: list[tuple[str, float]] = field(default_factory=list)
    """(provider type, seconds) of each provider call since the last scrape."""
    per_run: ObjectTimings = field(default_factory=ObjectTimings)


class _Cluster:
    """`ClusterAccess` for providers, over the controller's client and Job cache."""

    def __init__(self, kube: KubeClient, jobs: Informer) -> None:
        self._kube = kube
        self._jobs = jobs

    @staticmethod
    def _resource(api_version: str, kind: str) -> Resource:
        known = _KNOWN_RESOURCES.get((api_version, kind))
        if known is not None:
            return known
        group, _, version = api_version.rpartition("/")
        return Resource(group, version, kind.lower() + "s", kind)

    async def create(self, api_version: str, kind: str, namespace: str, body: JsonDict) -> JsonDict:
        res = self._resource(api_version, kind)
        try:
            created = await self._kube.create(res, body, namespace=namespace)
        except ApiError as exc:
            if exc.conflict:
                raise AlreadyExists(exc.message, exc.status) from None
            raise ClusterError(exc.message, exc.status) from None
        except ClusterUnreachable as exc:
            raise ClusterError(str(exc)) from None
        if res == JOBS:
            self._jobs.remember(created)
        return created

    async def get(self, api_version: str, kind: str, namespace: str, name: str) -> JsonDict | None:
        res = self._resource(api_version, kind)
        if res == JOBS:
            cached = self._jobs.get(namespace, name)
            if cached is not None:
                return cached
        try:
            return await self._kube.get(res, name, namespace=namespace)
        except ApiError as exc:
            if exc.not_found:
                return None
            raise ClusterError(exc.message, exc.status) from None
        except ClusterUnreachable as exc:
            raise ClusterError(str(exc)) from None

    async def list(
        self, api_version: str, kind: str, namespace: str, label_selector: str
    ) -> list[JsonDict]:
        res = self._resource(api_version, kind)
        try:
            page = await self._kube.list_all(
                res, namespace=namespace, label_selector=label_selector
            )
        except ApiError as exc:
            raise ClusterError(exc.message, exc.status) from None
        except ClusterUnreachable as exc:
            raise ClusterError(str(exc)) from None
        return list(page.get("items") or [])

    async def delete(
        self,
        api_version: str,
        kind: str,
        namespace: str,
        name: str,
        *,
        propagation: str = "Background",
    ) -> None:
        try:
            await self._kube.delete(
                self._resource(api_version, kind),
                name,
                namespace=namespace,
                propagation=propagation,
            )
        except ApiError as exc:
            if not exc.not_found:
                raise ClusterError(exc.message, exc.status) from None
        except ClusterUnreachable as exc:
            raise ClusterError(str(exc)) from None


class AnalysisController:
    def __init__(
        self,
        kube: KubeClient,
        providers: ProviderRegistry | None = None,
        *,
        namespace: str | None = None,
        workers: int = 10,
        events: EventRecorder | None = None,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
        allowed: Callable[[], bool] = lambda: True,
        instance_id: str | None = None,
        runs: Informer | None = None,
    ) -> None:
        """`runs` shares an AnalysisRun informer another controller already runs (it must
        select the same runs: this namespace, this controller-instance-id)."""
        self.kube = kube
        self.providers = providers or ProviderRegistry()
        self.namespace = namespace
        self.workers = workers
        self.events = events or EventRecorder(kube)
        self.clock = clock
        self.allowed = allowed
        self.queue: WorkQueue[Key] = WorkQueue("analysisruns")
        self.shards: ShardManager | None = None
        """With sharding on: a run is reconciled by the holder of its Rollout's shard."""
        self.stats = AnalysisStats()
        instance_selector = (
            f"{INSTANCE_ID_LABEL}={instance_id}" if instance_id else f"!{INSTANCE_ID_LABEL}"
        )
        self._owns_runs = runs is None
        self.runs = runs or Informer(
            kube, ANALYSIS_RUNS, namespace=namespace, label_selector=instance_selector
        )
        self.jobs = Informer(kube, JOBS, namespace=namespace, label_selector=UID_LABEL)
        self.informers: dict[Resource, Informer] = {ANALYSIS_RUNS: self.runs, JOBS: self.jobs}
        self.cluster = _Cluster(kube, self.jobs)
        self._status_subresource = True
        self._wire_handlers()

    def _wire_handlers(self) -> None:
        def on_run(kind: str, obj: JsonDict, old: JsonDict | None) -> None:
            self.queue.add(_key(obj))

        def on_job(kind: str, obj: JsonDict, old: JsonDict | None) -> None:
            # Only a Job that just finished matters: its run can record the outcome now.
            if kind == "DELETED" or not _job_finished(obj) or (old and _job_finished(old)):
                return
            meta = obj.get("metadata") or {}
            run = (meta.get("annotations") or {}).get(NAME_ANNOTATION)
            if run:
                self.queue.add((meta.get("namespace") or "", run))

        self.runs.add_handler(on_run)
        self.jobs.add_handler(on_job)

    # -- running ---------------------------------------------------------------------------------

    async def run(self, *, leading: asyncio.Event | None = None) -> None:
        """Caches, then (once leading, with leader election) the workers; until cancelled."""
        async with asyncio.TaskGroup() as tasks:
            for res, informer in self.informers.items():
                if res != ANALYSIS_RUNS or self._owns_runs:
                    tasks.create_task(informer.run())
            await self.wait_synced()
            log.info("analysis caches synced")
            if leading is not None:
                await leading.wait()
            tasks.create_task(self.queue.run_timers())
            for _ in range(self.workers):
                tasks.create_task(self._worker())

    async def wait_synced(self) -> None:
        await asyncio.gather(*(inf.synced.wait() for inf in self.informers.values()))

    @property
    def synced(self) -> bool:
        return all(inf.synced.is_set() for inf in self.informers.values())

    async def _worker(self) -> None:
        while True:
            key = await self.queue.get()
            owner = owner_key(self.runs.get(*key), key)
            if self.shards is not None and not self.shards.owns(owner):
                self.queue.done(key)
                continue
            started = time.perf_counter()
            failed = False
            try:
                with (
                    scope(self.shards, owner),
                    structlog.contextvars.bound_contextvars(namespace=key[0], analysisrun=key[1]),
                ):
                    requeue = await self.reconcile(key)
                self.queue.forget(key)
                if requeue is not None:
                    self.queue.add_after(key, requeue)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.stats.errors += 1
                failed = True
                if isinstance(exc, ApiError | ClusterUnreachable | PermissionError):
                    log.warning("analysis reconcile failed", key=key, error=str(exc))
                else:
                    log.exception("analysis reconcile crashed", key=key)
                self.queue.add_rate_limited(key)
            finally:
                self.stats.reconciles += 1
                self.stats.per_run.observe(key, time.perf_counter() - started, failed=failed)
                self.queue.done(key)

    # -- one reconcile ---------------------------------------------------------------------------

    async def reconcile(self, key: Key) -> float | None:
        """Reconcile one AnalysisRun; returns seconds until it wants to run again, if it does."""
        namespace, name = key
        obj = self.runs.get(namespace, name)
        if obj is None or (obj.get("metadata") or {}).get("deletionTimestamp"):
            return None
        spec: JsonDict = obj.get("spec") or {}
        status: JsonDict = obj.get("status") or {}
        now = self.clock()
        if is_completed(status.get("phase")):
            return await self._expire(obj, now)
        try:
            prepared = prepare_run(spec)
        except RunSpecError as exc:
            await self._write(obj, error_status(status, str(exc), now))
            return None
        tasks = due_tasks(prepared, spec, status, now)
        measured: list[Measured] = []
        if tasks:
            if _has_secret_args(spec):
                try:
                    secrets = await self._secrets(namespace, spec)
                    prepared = prepare_run(spec, secrets=_lookup(secrets))
                except RunSpecError as exc:
                    await self._write(obj, error_status(status, str(exc), now))
                    return None
                tasks = due_tasks(prepared, spec, status, now)
            measured = list(
                await asyncio.gather(*(self._measure(obj, prepared, t, now) for t in tasks))
            )
        step = record(prepared, spec, status, measured, now)
        await self._write(obj, step)
        await self._collect_garbage(obj, prepared, step, now)
        if step.requeue_after is None:
            return await self._expire(obj, now) if is_completed(step.status.get("phase")) else None
        return step.requeue_after.total_seconds()

    async def _measure(
        self, obj: JsonDict, prepared: PreparedRun, task: Task, now: dt.datetime
    ) -> Measured:
        """One provider call, turned into a measurement; never raises."""
        metric = task.metric
        started_at = (task.measurement or {}).get("startedAt") or format_time(now)
        provider_type = self.providers.type_name(metric.raw.get("provider") or {})
        began = time.perf_counter()
        metric_metadata: Mapping[str, str] | None = None
        try:
            entry, provider, block = self.providers.for_metric(metric.raw.get("provider") or {})
            provider_type = provider.TYPE
            ctx = self._context(obj, task, block.config, now, self.providers.settings(entry))
            if task.action == "run":
                call = provider.run(ctx)
                if not metric_results(obj.get("status") or {}).get(metric.name):
                    metric_metadata = provider.metric_metadata(ctx)
            elif task.action == "resume":
                call = provider.resume(ctx, task.measurement or {})
            else:
                call = provider.terminate(ctx, task.measurement or {})
            reading = await asyncio.wait_for(call, PROVIDER_CALL_TIMEOUT)
            measurement = _measurement(
                reading, metric.metric.success_condition, metric.metric.failure_condition, now
            )
        except ProviderUnavailable as exc:
            measurement = {"phase": ERROR, "message": str(exc)}
        except TimeoutError:
            measurement = {
                "phase": ERROR,
                "message": f"metric provider did not answer within {PROVIDER_CALL_TIMEOUT:g}s",
            }
        except Exception as exc:  # a provider's bug or error is this measurement's Error
            if not isinstance(exc, ClusterError | ApiError | ClusterUnreachable):
                log.debug("provider raised", metric=metric.name, error=repr(exc))
            measurement = {"phase": ERROR, "message": bounded_text(str(exc) or type(exc).__name__)}
        finally:
            self.stats.measurements.append((provider_type, time.perf_counter() - began))
        measurement["startedAt"] = started_at
        return Measured(task, measurement, metric_metadata)

    def _context(
        self,
        obj: JsonDict,
        task: Task,
        config: Mapping[str, Any],
        now: dt.datetime,
        settings: Mapping[str, Any],
    ) -> MeasureContext:
        meta = obj.get("metadata") or {}
        result = metric_results(obj.get("status") or {}).get(task.metric.name) or {}
        number = int(result.get("count") or 0) + int(result.get("error") or 0)
        if task.action == "run":
            number += 1
        return MeasureContext(
            namespace=str(meta.get("namespace") or ""),
            run_name=str(meta.get("name") or ""),
            run_uid=str(meta.get("uid") or ""),
            metric_name=task.metric.name,
            metric=task.metric.raw,
            config=config,
            now=now,
            measurement_number=max(number, 1),
            cluster=self.cluster,
            settings=settings,
        )

    async def _secrets(self, namespace: str, spec: Mapping[str, Any]) -> dict[str, JsonDict | None]:
        names = {
            ref["name"]
            for arg in spec.get("args") or []
            if (ref := ((arg.get("valueFrom") or {}).get("secretKeyRef") or {})).get("name")
        }
        found: dict[str, JsonDict | None] = {}
        for secret in sorted(names):
            try:
                found[secret] = await self.kube.get(SECRETS, secret, namespace=namespace)
            except ApiError as exc:
                if not exc.not_found:
                    raise
                found[secret] = None
        return found

    async def _write(self, obj: JsonDict, step: Step) -> None:
        old = obj.get("status") or {}
        patch = merge_patch(old, step.status)
        if patch:
            if not self.allowed():
                raise PermissionError("not the leader: refusing to write")
            updated = await self._patch_status(obj, {"status": patch})
            if updated is None:
                return
            self.runs.remember(updated)
        for event in step.events:
            await self.events.record(obj, event.type, event.reason, event.message)

    async def _patch_status(self, obj: JsonDict, body: JsonDict) -> JsonDict | None:
        ns, name = _key(obj)
        if self._status_subresource:
            try:
                return await self.kube.patch(
                    ANALYSIS_RUNS, name, body, namespace=ns, subresource="status"
                )
            except ApiError as exc:
                if not exc.not_found:
                    raise
        try:
            updated = await self.kube.patch(ANALYSIS_RUNS, name, body, namespace=ns)
        except ApiError as exc:
            if exc.not_found:
                return None  # the run is gone
            raise
        if self._status_subresource:
            # /status was 404 but the object is there: Argo's CRD, without the subresource.
            log.info("AnalysisRun CRD has no status subresource; writing status in place")
            self._status_subresource = False
        return updated

    async def _collect_garbage(
        self, obj: JsonDict, prepared: PreparedRun, step: Step, now: dt.datetime
    ) -> None:
        finished = {name for name, _ in step.completed_measurements}
        for metric in prepared.metrics:
            if metric.name not in finished:
                continue
            try:
                entry, provider, block = self.providers.for_metric(metric.raw.get("provider") or {})
                ctx = self._context(
                    obj, Task(metric, "resume"), block.config, now, self.providers.settings(entry)
                )
                await asyncio.wait_for(
                    provider.garbage_collect(ctx, metric.retention), PROVIDER_CALL_TIMEOUT
                )
            except Exception as exc:  # cleanup is best effort; the outcome is stored
                log.warning("provider cleanup failed", metric=metric.name, error=str(exc))

    async def _expire(self, obj: JsonDict, now: dt.datetime) -> float | None:
        """Delete a completed run whose ttlStrategy has run out; else when it will."""
        remaining = ttl_remaining(obj, now)
        if remaining is None:
            return None
        if remaining > 0:
            return remaining
        if not self.allowed():
            return None
        ns, name = _key(obj)
        try:
            await self.kube.delete(ANALYSIS_RUNS, name, namespace=ns)
            log.info("deleted AnalysisRun after its ttlStrategy")
        except ApiError as exc:
            if not exc.not_found:
                raise
        return None


# -- helpers -----------------------------------------------------------------------------------


def _key(obj: Mapping[str, Any]) -> Key:
    meta = obj.get("metadata") or {}
    return (meta.get("namespace") or "", meta.get("name") or "")


def _job_finished(job: Mapping[str, Any]) -> bool:
    return any(
        c.get("type") in ("Complete", "Failed") and c.get("status") == "True"
        for c in (job.get("status") or {}).get("conditions") or []
    )


def _has_secret_args(spec: Mapping[str, Any]) -> bool:
    return any(
        ((arg.get("valueFrom") or {}).get("secretKeyRef")) and arg.get("value") is None
        for arg in spec.get("args") or []
    )


def _lookup(secrets: Mapping[str, JsonDict | None]) -> Callable[[str, str], str]:
    def lookup(name: str, key: str) -> str:
        secret = secrets.get(name)
        if secret is None:
            raise LookupError(f'secret "{name}" not found')
        data = secret.get("data") or {}
        if key not in data:
            raise LookupError(f'key "{key}" not found in secret "{name}"')
        try:
            return base64.b64decode(data[key]).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise LookupError(f'key "{key}" of secret "{name}" is not UTF-8 text') from None

    return lookup


def _measurement(
    reading: Reading,
    success_condition: str | None,
    failure_condition: str | None,
    now: dt.datetime,
) -> JsonDict:
    phase = reading.phase
    message = reading.message
    if phase is None:
        try:
            phase = judge(
                reading.result,
                success_condition=success_condition,
                failure_condition=failure_condition,
                now=now,
            )
        except ConditionError as exc:
            phase, message = ERROR, str(exc)
    measurement: JsonDict = {"phase": phase}
    # Bounded: a provider can return a huge body, and the status must still be patchable.
    if reading.value:
        measurement["value"] = bounded_text(reading.value)
    if message:
        measurement["message"] = bounded_text(message)
    if reading.metadata:
        measurement["metadata"] = dict(reading.metadata)
    if phase == RUNNING and reading.resume_at is not None:
        measurement["resumeAt"] = format_time(reading.resume_at)
    return measurement


def ttl_remaining(obj: Mapping[str, Any], now: dt.datetime) -> float | None:
    """Seconds until a completed run's ttlStrategy deletes it; None when it never does."""
    status = obj.get("status") or {}
    ttl = (obj.get("spec") or {}).get("ttlStrategy") or {}
    completed = parse_time(status.get("completedAt"))
    if not ttl or completed is None:
        return None
    phase = status.get("phase")
    seconds = None
    if phase == SUCCESSFUL and ttl.get("secondsAfterSuccess") is not None:
        seconds = ttl["secondsAfterSuccess"]
    elif phase == FAILED and ttl.get("secondsAfterFailure") is not None:
        seconds = ttl["secondsAfterFailure"]
    elif ttl.get("secondsAfterCompletion") is not None:
        seconds = ttl["secondsAfterCompletion"]
    if seconds is None:
        return None
    # Argo deletes once the whole seconds elapsed are greater than the TTL.
    return max(float(seconds) + 1 - (now - completed).total_seconds(), 0.0)


# -- metrics -----------------------------------------------------------------------------------


class AnalysisMetrics:
    """Prometheus series for AnalysisRuns (Argo's names), built from the cache on each scrape.

    - ``analysis_run_info{namespace,name,phase}``: always 1;
    - ``analysis_run_metric_type{namespace,name,metric,type}``: 1 per spec metric;
    - ``analysis_run_metric_phase{namespace,name,metric,type,dry_run,phase}``: six series per
      metric, 1 for the current phase (a metric with no result yet is Pending);
    - ``analysis_run_phase{namespace,name,phase}``: Argo's deprecated one, six series per run;
    - ``analysis_run_reconcile{namespace,name}`` histogram, ``analysis_run_reconcile_error``;
    - ``analysis_template_info{namespace,name}`` and
      ``analysis_template_metric_info{namespace,name,type,metric}`` (ClusterAnalysisTemplates
      with namespace ""), from `templates`, the Rollout controller's template caches;
    - ``analysis_run_measurement_duration_seconds{type}``: histogram of provider calls;
    - ``rolloutd_analysis_reconciles`` / ``rolloutd_analysis_reconcile_errors``: counters.
    """

    def __init__(
        self,
        controller: AnalysisController,
        templates: Callable[[], Iterable[Mapping[str, Any]]] = lambda: (),
    ) -> None:
        self.templates = templates
        self.controller = controller
        self._durations = Histogram(
            "analysis_run_measurement_duration_seconds",
            "Time one metric provider call (one measurement, or one poll of one) took.",
            ["type"],
            buckets=MEASUREMENT_BUCKETS,
            registry=None,
        )

    def collect(self) -> Iterable[Metric]:
        controller = self.controller
        runs = list(controller.runs.items())
        yield from run_metrics(runs, controller.providers)
        controller.stats.per_run.forget_missing({_key(run) for run in runs})
        yield from controller.stats.per_run.families("analysis_run", "Analysis Run")
        yield from template_metrics(self.templates(), controller.providers)
        samples = controller.stats.measurements[:]
        del controller.stats.measurements[: len(samples)]
        for provider_type, seconds in samples:
            self._durations.labels(provider_type).observe(seconds)
        yield from self._durations.collect()
        reconciles = CounterMetricFamily(
            "rolloutd_analysis_reconciles", "Reconciles of AnalysisRuns."
        )
        reconciles.add_metric([], controller.stats.reconciles)
        errors = CounterMetricFamily(
            "rolloutd_analysis_reconcile_errors",
            "AnalysisRun reconciles that failed and were retried with backoff.",
        )
        errors.add_metric([], controller.stats.errors)
        yield from (reconciles, errors)


def run_metrics(runs: Sequence[Mapping[str, Any]], providers: ProviderRegistry) -> list[Metric]:
    info = GaugeMetricFamily(
        "analysis_run_info",
        "Always 1: an AnalysisRun and its phase (Argo Rollouts' metric).",
        labels=["namespace", "name", "phase"],
    )
    types = GaugeMetricFamily(
        "analysis_run_metric_type",
        "1 for each metric of an AnalysisRun, labelled with its provider type.",
        labels=["namespace", "name", "metric", "type"],
    )
    deprecated_phase = GaugeMetricFamily(
        "analysis_run_phase",
        "Information on the state of the Analysis Run (DEPRECATED in Argo: use analysis_run_info).",
        labels=["namespace", "name", "phase"],
    )
    phases = GaugeMetricFamily(
        "analysis_run_metric_phase",
        "1 for the current phase of each metric of an AnalysisRun, 0 for the others.",
        labels=["namespace", "name", "metric", "type", "dry_run", "phase"],
    )
    for run in runs:
        ns, name = _key(run)
        spec = run.get("spec") or {}
        status = run.get("status") or {}
        run_phase = str(status.get("phase") or "")
        info.add_metric([ns, name, run_phase], 1)
        for phase in _PHASES:
            current_phase = run_phase or PENDING
            deprecated_phase.add_metric([ns, name, phase], 1 if phase == current_phase else 0)
        results = metric_results(status)
        rules = [str(r.get("metricName") or "") for r in spec.get("dryRun") or []]
        for metric in spec.get("metrics") or []:
            metric_name = str(metric.get("name") or "")
            provider_type = providers.type_name(metric.get("provider") or {})
            types.add_metric([ns, name, metric_name, provider_type], 1)
            result = results.get(metric_name)
            current = str((result or {}).get("phase") or PENDING)
            dry = bool((result or {}).get("dryRun")) or _dry_run(metric_name, rules)
            for phase in _PHASES:
                phases.add_metric(
                    [ns, name, metric_name, provider_type, str(dry).lower(), phase],
                    1 if phase == current else 0,
                )
    return [info, deprecated_phase, types, phases]


def template_metrics(
    templates: Iterable[Mapping[str, Any]], providers: ProviderRegistry
) -> list[Metric]:
    info = GaugeMetricFamily(
        "analysis_template_info",
        "Always 1: an AnalysisTemplate or ClusterAnalysisTemplate (Argo Rollouts' metric).",
        labels=["namespace", "name"],
    )
    metrics = GaugeMetricFamily(
        "analysis_template_metric_info",
        "Always 1: a metric of an analysis template and its provider type (Argo's metric).",
        labels=["namespace", "name", "type", "metric"],
    )
    for template in templates:
        ns, name = _key(template)
        info.add_metric([ns, name], 1)
        for metric in (template.get("spec") or {}).get("metrics") or []:
            provider_type = providers.type_name(metric.get("provider") or {})
            metrics.add_metric([ns, name, provider_type, str(metric.get("name") or "")], 1)
    return [info, metrics]


def _dry_run(metric: str, rules: Sequence[str]) -> bool:
    # RE2, as for the spec's own rules: a rule is user input and must not backtrack.
    for rule in rules:
        try:
            if compile_regex(rule).search(metric):
                return True
        except RegexError:
            continue
    return False
