"""Typed views of Argo's analysis kinds: AnalysisTemplate, ClusterAnalysisTemplate, AnalysisRun.

The fields follow Argo Rollouts' `analysis_types.go`, so templates written for Argo parse here
unchanged and the CRDs generated from these models (`rolloutd.model.crd`) accept the same
manifests. As for the Rollout, the CRD carries no defaults: a stored object says only what its
author wrote, and the defaults below are applied when a run is measured
(`rolloutd.analysis.runs`).

Argo's int-or-string fields (`count`, `failureLimit`, ...) stay `int | str` here, because they may
hold `"{{args.x}}"` until the arguments are substituted. A metric's `provider` names exactly one
provider; besides Argo's own keys it accepts any other key (a third-party provider installed
as a `rolloutd.metric_providers` entry point), so the CRD keeps unknown keys under `provider`.
"""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field

from rolloutd.model.base import IntOrString, JsonObject, Model

ANALYSIS_API_VERSION = "argoproj.io/v1alpha1"

# Argo's defaults (utils/defaults/defaults.go).
DEFAULT_FAILURE_LIMIT = 0
DEFAULT_INCONCLUSIVE_LIMIT = 0
DEFAULT_CONSECUTIVE_ERROR_LIMIT = 4
DEFAULT_CONSECUTIVE_SUCCESS_LIMIT = 0
DEFAULT_MEASUREMENT_HISTORY_LIMIT = 10
DEFAULT_ERROR_RETRY_SECONDS = 10.0
DEFAULT_PROMETHEUS_TIMEOUT_SECONDS = 30
DEFAULT_WEB_TIMEOUT_SECONDS = 10

# Phases shared by AnalysisRuns, metric results and measurements.
PENDING = "Pending"
RUNNING = "Running"
SUCCESSFUL = "Successful"
FAILED = "Failed"
ERROR = "Error"
INCONCLUSIVE = "Inconclusive"
COMPLETED_PHASES = frozenset({SUCCESSFUL, FAILED, ERROR, INCONCLUSIVE})


def is_completed(phase: str | None) -> bool:
    """Argo's `AnalysisPhase.Completed()`: a phase that never changes again."""
    return phase in COMPLETED_PHASES


# -- arguments -------------------------------------------------------------------------------


class SecretKeyRef(Model):
    name: str
    key: str


class FieldRef(Model):
    field_path: str


class ValueFrom(Model):
    secret_key_ref: SecretKeyRef | None = None
    field_ref: FieldRef | None = None
    pod_template_hash_value: str | None = None
    """`Stable` or `Latest`; only meaningful in a Rollout's analysis args."""


class Argument(Model):
    name: str
    value: str | None = None
    value_from: ValueFrom | None = None


# -- providers -------------------------------------------------------------------------------


class KeyValue(Model):
    key: str
    value: str


class BasicAuth(Model):
    username: str | None = None
    password: str | None = None


class OAuth2Config(Model):
    token_url: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    scopes: list[str] | None = None


class Sigv4Config(Model):
    region: str | None = None
    profile: str | None = None
    role_arn: str | None = None


class Authentication(Model):
    basic_auth: BasicAuth | None = None
    sigv4: Sigv4Config | None = None
    oauth2: OAuth2Config | None = None


class RangeQuery(Model):
    start: str | None = None
    end: str | None = None
    step: str | None = None


class PrometheusMetric(Model):
    address: str | None = None
    query: str | None = None
    timeout: int | None = None
    insecure: bool | None = None
    headers: list[KeyValue] | None = None
    authentication: Authentication | None = None
    range_query: RangeQuery | None = None


class WebMetric(Model):
    url: str
    method: str | None = None
    headers: list[KeyValue] | None = None
    body: str | None = None
    json_body: Any = Field(
        default=None, json_schema_extra={"x-kubernetes-preserve-unknown-fields": True}
    )
    timeout_seconds: int | None = None
    json_path: str | None = None
    insecure: bool | None = None
    authentication: Authentication | None = None


class JobMetadata(Model):
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None


class JobMetric(Model):
    metadata: JobMetadata | None = None
    spec: JsonObject


class MetricProvider(Model):
    """Exactly one provider per metric. Keys Argo names are typed (or kept as they are for
    providers rolloutd does not ship); any other key names a third-party provider."""

    model_config = ConfigDict(extra="allow")

    prometheus: PrometheusMetric | None = None
    web: WebMetric | None = None
    job: JobMetric | None = None
    plugin: JsonObject | None = None
    kayenta: JsonObject | None = None
    datadog: JsonObject | None = None
    new_relic: JsonObject | None = None
    wavefront: JsonObject | None = None
    cloud_watch: JsonObject | None = None
    graphite: JsonObject | None = None
    influxdb: JsonObject | None = None
    skywalking: JsonObject | None = None


# -- metrics and templates ---------------------------------------------------------------------


class Metric(Model):
    name: str
    interval: str | None = None
    initial_delay: str | None = None
    count: IntOrString | None = None
    success_condition: str | None = None
    failure_condition: str | None = None
    failure_limit: IntOrString | None = None
    inconclusive_limit: IntOrString | None = None
    consecutive_error_limit: IntOrString | None = None
    consecutive_success_limit: IntOrString | None = None
    provider: MetricProvider


class DryRun(Model):
    metric_name: str


class MeasurementRetention(Model):
    metric_name: str
    limit: int


class TemplateRef(Model):
    template_name: str | None = None
    cluster_scope: bool | None = None


class AnalysisTemplateSpec(Model):
    metrics: list[Metric] | None = None
    args: list[Argument] | None = None
    dry_run: list[DryRun] | None = None
    measurement_retention: list[MeasurementRetention] | None = None
    templates: list[TemplateRef] | None = None


class TTLStrategy(Model):
    seconds_after_completion: int | None = None
    seconds_after_success: int | None = None
    seconds_after_failure: int | None = None


class AnalysisRunSpec(Model):
    metrics: list[Metric]
    args: list[Argument] | None = None
    terminate: bool | None = None
    dry_run: list[DryRun] | None = None
    measurement_retention: list[MeasurementRetention] | None = None
    ttl_strategy: TTLStrategy | None = None


# -- status ----------------------------------------------------------------------------------


class Measurement(Model):
    phase: str
    message: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    value: str | None = None
    metadata: dict[str, str] | None = None
    resume_at: str | None = None


class MetricResult(Model):
    name: str
    phase: str
    measurements: list[Measurement] | None = None
    message: str | None = None
    count: int | None = None
    successful: int | None = None
    failed: int | None = None
    inconclusive: int | None = None
    error: int | None = None
    consecutive_error: int | None = None
    consecutive_success: int | None = None
    dry_run: bool | None = None
    metadata: dict[str, str] | None = None


class RunSummary(Model):
    count: int | None = None
    successful: int | None = None
    failed: int | None = None
    inconclusive: int | None = None
    error: int | None = None


class AnalysisRunStatus(Model):
    phase: str | None = None
    message: str | None = None
    metric_results: list[MetricResult] | None = None
    started_at: str | None = None
    completed_at: str | None = None
    run_summary: RunSummary | None = None
    dry_run_summary: RunSummary | None = None


# -- whole objects ---------------------------------------------------------------------------


class AnalysisTemplate(Model):
    api_version: str | None = None
    kind: str | None = None
    metadata: JsonObject = Field(default_factory=dict)
    spec: AnalysisTemplateSpec


class ClusterAnalysisTemplate(AnalysisTemplate):
    """Cluster scoped; the same spec as an AnalysisTemplate."""


class AnalysisRun(Model):
    api_version: str | None = None
    kind: str | None = None
    metadata: JsonObject = Field(default_factory=dict)
    spec: AnalysisRunSpec
    status: AnalysisRunStatus = Field(default_factory=AnalysisRunStatus)
