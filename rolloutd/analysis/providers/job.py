"""The `job` metric provider: a batch/v1 Job whose outcome is the measurement.

Configuration (``provider.job``, as in Argo Rollouts): ``metadata`` (labels and annotations
copied onto the Job) and ``spec``, a complete JobSpec used as it is. Conditions are not used:
the Job's ``Complete`` condition makes the measurement Successful, ``Failed`` makes it Failed,
and a pod stuck on an image error (``ErrImagePull``, ``ImagePullBackOff``,
``InvalidImageName``) makes it Inconclusive.

Naming and ownership follow Argo: the Job is ``<run uid>.<metric>.<n>`` (the metric part cut
so the name stays within 63 characters), carries the label ``analysisrun.argoproj.io/uid`` on
itself and its pods, the annotations ``analysisrun.argoproj.io/{name,namespace,metric-name}``,
and a controller ownerReference to the AnalysisRun, so deleting the run deletes its Jobs. A
Job of that name that is already there is adopted only if it belongs to the same run.

A started measurement is Running and is polled again right away (`resume_at` = now; the
controller also requeues the run when one of its Jobs finishes), then after sqrt(2 x elapsed
seconds). Once the status recording its outcome is written, the finished Job is deleted with
propagation Background (`garbage_collect`), so its pods go too; the measurement keeps
``job-name`` / ``job-namespace`` in its metadata. Terminating a run deletes a
running Job and records the measurement as Inconclusive, ``Metric Terminated``.
"""

from __future__ import annotations

import copy
import datetime as dt
import math
from collections.abc import Mapping
from typing import Any

import structlog

from rolloutd.analysis.providers.contract import (
    AlreadyExists,
    BaseProvider,
    ClusterError,
    MeasureContext,
    ProviderError,
    Reading,
)
from rolloutd.gotime import parse_time

log = structlog.get_logger("rolloutd.analysis.job")

UID_LABEL = "analysisrun.argoproj.io/uid"
NAME_ANNOTATION = "analysisrun.argoproj.io/name"
NAMESPACE_ANNOTATION = "analysisrun.argoproj.io/namespace"
METRIC_ANNOTATION = "analysisrun.argoproj.io/metric-name"
JOB_NAME_KEY = "job-name"
JOB_NAMESPACE_KEY = "job-namespace"
DNS_LIMIT = 63
_TERMINAL_WAITING = ("ErrImagePull", "ImagePullBackOff", "InvalidImageName")


def job_name(run_uid: str, metric: str, number: int) -> str:
    """``<uid>.<metric>.<n>``, cutting the metric name so the whole fits in 63 characters."""
    suffix = f".{number}"
    room = DNS_LIMIT - len(run_uid) - 1 - len(suffix)
    return f"{run_uid}.{metric[: max(room, 0)]}{suffix}"


class JobProvider(BaseProvider):
    TYPE = "Job"

    async def run(self, ctx: MeasureContext) -> Reading:
        name = job_name(ctx.run_uid, ctx.metric_name, ctx.measurement_number)
        body = self._job(ctx, name)
        try:
            created = await ctx.cluster.create("batch/v1", "Job", ctx.namespace, body)
        except AlreadyExists:
            existing = await ctx.cluster.get("batch/v1", "Job", ctx.namespace, name)
            if existing is None or not _belongs_to(existing, ctx.run_uid):
                raise ProviderError(
                    f"job {ctx.namespace}/{name} already exists and does not belong to this "
                    "AnalysisRun"
                ) from None
            created = existing
        except ClusterError as exc:
            raise ProviderError(f"could not create job {ctx.namespace}/{name}: {exc}") from None
        meta = _metadata(created)
        return Reading(phase="Running", metadata=meta, resume_at=ctx.now)

    async def resume(self, ctx: MeasureContext, measurement: Mapping[str, Any]) -> Reading:
        meta = dict(measurement.get("metadata") or {})
        name = meta.get(JOB_NAME_KEY)
        namespace = meta.get(JOB_NAMESPACE_KEY) or ctx.namespace
        if not name:
            raise ProviderError("job metadata not found in the measurement")
        job = await ctx.cluster.get("batch/v1", "Job", namespace, name)
        if job is None:
            raise ProviderError(f"job {namespace}/{name} not found")
        for condition in (job.get("status") or {}).get("conditions") or []:
            if condition.get("status") != "True":
                continue
            if condition.get("type") == "Complete":
                return Reading(phase="Successful", metadata=meta)
            if condition.get("type") == "Failed":
                return Reading(
                    phase="Failed",
                    message=str(condition.get("message") or condition.get("reason") or ""),
                    metadata=meta,
                )
        stuck = await self._terminal_pod_error(ctx, namespace, job)
        if stuck is not None:
            await self._cleanup(ctx, namespace, name, propagation="Foreground")
            return Reading(phase="Inconclusive", message=stuck, metadata=meta)
        started = _parse(measurement.get("startedAt")) or ctx.now
        elapsed = max((ctx.now - started).total_seconds(), 0.0)
        wait = max(math.sqrt(2 * elapsed), 1.0)
        return Reading(
            phase="Running", metadata=meta, resume_at=ctx.now + dt.timedelta(seconds=wait)
        )

    async def terminate(self, ctx: MeasureContext, measurement: Mapping[str, Any]) -> Reading:
        meta = dict(measurement.get("metadata") or {})
        name = meta.get(JOB_NAME_KEY)
        if name:
            await self._cleanup(
                ctx, meta.get(JOB_NAMESPACE_KEY) or ctx.namespace, name, propagation="Foreground"
            )
        return Reading(phase="Inconclusive", message="Metric Terminated", metadata=meta)

    async def garbage_collect(self, ctx: MeasureContext, limit: int) -> None:
        """Delete this run's finished Jobs. The controller calls this after it has written the
        status that records their outcome, so a crash in between loses nothing: the Job is
        still there to be read again. (`limit` does not apply: a finished Job's result lives
        in the status, and Argo's 10 kept Jobs only cost pods and etcd space.)"""
        jobs = await ctx.cluster.list(
            "batch/v1", "Job", ctx.namespace, f"{UID_LABEL}={ctx.run_uid}"
        )
        for job in jobs:
            meta = job.get("metadata") or {}
            if _finished(job) and not meta.get("deletionTimestamp"):
                await self._cleanup(ctx, ctx.namespace, str(meta["name"]))

    def _job(self, ctx: MeasureContext, name: str) -> dict[str, Any]:
        config = ctx.config
        spec = copy.deepcopy(dict(config.get("spec") or {}))
        metadata = config.get("metadata") or {}
        labels = {**(metadata.get("labels") or {}), UID_LABEL: ctx.run_uid}
        annotations = {
            **(metadata.get("annotations") or {}),
            NAME_ANNOTATION: ctx.run_name,
            NAMESPACE_ANNOTATION: ctx.namespace,
            METRIC_ANNOTATION: ctx.metric_name,
        }
        template = spec.setdefault("template", {})
        pod_meta = template.setdefault("metadata", {})
        pod_meta["labels"] = {**(pod_meta.get("labels") or {}), UID_LABEL: ctx.run_uid}
        return {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {
                "name": name,
                "namespace": ctx.namespace,
                "labels": labels,
                "annotations": annotations,
                "ownerReferences": [
                    {
                        "apiVersion": "argoproj.io/v1alpha1",
                        "kind": "AnalysisRun",
                        "name": ctx.run_name,
                        "uid": ctx.run_uid,
                        "controller": True,
                        "blockOwnerDeletion": True,
                    }
                ],
            },
            "spec": spec,
        }

    async def _terminal_pod_error(
        self, ctx: MeasureContext, namespace: str, job: Mapping[str, Any]
    ) -> str | None:
        uid = (job.get("metadata") or {}).get("uid")
        if not uid:
            return None
        try:
            pods = await ctx.cluster.list(
                "v1", "Pod", namespace, f"batch.kubernetes.io/controller-uid={uid}"
            )
        except ClusterError:
            return None
        for pod in pods:
            status = pod.get("status") or {}
            for container in (status.get("initContainerStatuses") or []) + (
                status.get("containerStatuses") or []
            ):
                waiting = (container.get("state") or {}).get("waiting") or {}
                if waiting.get("reason") in _TERMINAL_WAITING:
                    return (
                        f"Pod {pod['metadata']['name']}, container {container.get('name')} has "
                        f"terminal error ({waiting['reason']}): {waiting.get('message', '')}"
                    )
        return None

    async def _cleanup(
        self, ctx: MeasureContext, namespace: str, name: str, propagation: str = "Background"
    ) -> None:
        try:
            await ctx.cluster.delete("batch/v1", "Job", namespace, name, propagation=propagation)
        except ClusterError as exc:
            # The outcome is already known; a Job left behind is collected with its run.
            log.warning("could not delete analysis job", job=f"{namespace}/{name}", error=str(exc))


def _metadata(job: Mapping[str, Any]) -> dict[str, str]:
    meta = job.get("metadata") or {}
    return {JOB_NAME_KEY: str(meta.get("name")), JOB_NAMESPACE_KEY: str(meta.get("namespace"))}


def _belongs_to(job: Mapping[str, Any], run_uid: str) -> bool:
    meta = job.get("metadata") or {}
    owners = meta.get("ownerReferences") or []
    if owners:
        return any(o.get("uid") == run_uid for o in owners)
    return (meta.get("labels") or {}).get(UID_LABEL) == run_uid


def _finished(job: Mapping[str, Any]) -> bool:
    return any(
        c.get("type") in ("Complete", "Failed") and c.get("status") == "True"
        for c in (job.get("status") or {}).get("conditions") or []
    )


_parse = parse_time
