"""Typed view of Argo's Experiment kind (`experiment_types.go`).

An Experiment runs one ReplicaSet per template (optionally behind a Service) for a while, with
AnalysisRuns alongside, and concludes Successful, Failed, Error or Inconclusive. The field names
are Argo's, so Experiments written for Argo parse here unchanged; as for the other kinds, the
CRD generated from this model (`rolloutd.model.crd`) carries no defaults: they are applied by the
planner (`rolloutd.plan.experiment`).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, ValidationError

from rolloutd.model.analysis import Argument, DryRun, MeasurementRetention
from rolloutd.model.base import (
    Int32,
    IntOrString,
    JsonObject,
    Model,
    NonNegativeInt32,
    validation_messages,
)
from rolloutd.model.rollout import Condition, LabelSelector, PodMetadata

EXPERIMENT_API_VERSION = "argoproj.io/v1alpha1"
EXPERIMENT_NAME_ANNOTATION = "experiment.argoproj.io/name"
EXPERIMENT_TEMPLATE_NAME_ANNOTATION = "experiment.argoproj.io/template-name"
DEFAULT_EXPERIMENT_PROGRESS_DEADLINE_SECONDS = 600
DEFAULT_EXPERIMENT_SCALE_DOWN_DELAY_SECONDS = 30
DEFAULT_TEMPLATE_REPLICAS = 1

# Template statuses (TemplateStatusCode).
TEMPLATE_PROGRESSING = "Progressing"
TEMPLATE_RUNNING = "Running"
TEMPLATE_SUCCESSFUL = "Successful"
TEMPLATE_FAILED = "Failed"
TEMPLATE_ERROR = "Error"


class TemplateService(Model):
    """Asks for a Service in front of the template's pods; `name` defaults to the RS's."""

    name: str | None = None


class TemplateSpec(Model):
    name: str
    replicas: NonNegativeInt32 | None = None
    min_ready_seconds: NonNegativeInt32 | None = None
    selector: LabelSelector | None = None
    template: JsonObject = Field(default_factory=dict)
    metadata: PodMetadata | None = None
    service: TemplateService | None = None
    weight: Int32 | None = None
    """Traffic weight, read only when a Rollout's experiment step routes traffic to it."""


class AnalysisRunMetadata(Model):
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None


class ExperimentAnalysisTemplateRef(Model):
    name: str
    template_name: str
    cluster_scope: bool | None = None
    args: list[Argument] | None = None
    required_for_completion: bool | None = None


class ExperimentSpec(Model):
    templates: list[TemplateSpec]
    duration: IntOrString | None = None
    """A Go duration string ("1h", "30s") or a number of seconds."""
    progress_deadline_seconds: NonNegativeInt32 | None = None
    terminate: bool | None = None
    analyses: list[ExperimentAnalysisTemplateRef] | None = None
    scale_down_delay_seconds: NonNegativeInt32 | None = None
    dry_run: list[DryRun] | None = None
    measurement_retention: list[MeasurementRetention] | None = None
    analysis_run_metadata: AnalysisRunMetadata | None = None


class TemplateStatus(Model):
    name: str
    replicas: int = 0
    updated_replicas: int = 0
    ready_replicas: int = 0
    available_replicas: int = 0
    collision_count: int | None = None
    status: str | None = None
    message: str | None = None
    last_transition_time: str | None = None
    service_name: str | None = None
    pod_template_hash: str | None = None


class ExperimentAnalysisRunStatus(Model):
    name: str
    analysis_run: str
    phase: str
    message: str | None = None


class ExperimentStatus(Model):
    phase: str | None = None
    message: str | None = None
    template_statuses: list[TemplateStatus] | None = None
    analysis_runs: list[ExperimentAnalysisRunStatus] | None = None
    available_at: str | None = None
    conditions: list[Condition] | None = None


class Experiment(Model):
    api_version: str | None = None
    kind: str | None = None
    metadata: JsonObject = Field(default_factory=dict)
    spec: ExperimentSpec
    status: ExperimentStatus = Field(default_factory=ExperimentStatus)


class InvalidExperiment(Exception):
    """The object is not a valid Experiment; `messages` name each bad field."""

    def __init__(self, messages: list[str]) -> None:
        super().__init__("; ".join(messages))
        self.messages = messages


def parse_experiment(obj: dict[str, Any]) -> Experiment:
    """The typed Experiment, or InvalidExperiment naming each bad field (`spec.templates[0]...`)."""
    try:
        return Experiment.model_validate(obj)
    except ValidationError as err:
        raise InvalidExperiment(validation_messages(err)) from err
