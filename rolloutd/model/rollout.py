"""Typed view of an `argoproj.io/v1alpha1` Rollout: spec, status, and validation.

The fields follow Argo Rollouts' `types.go` so existing manifests work unchanged. Parsing is
lenient about fields rolloutd does not act on (they are kept in the CRD and reported by
`unsupported_features`); `validate_rollout` applies Argo's semantic rules and returns every
problem as `field.path: message`, the form the `InvalidSpec` condition and `lint` print.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from pydantic import Field, ValidationError

from rolloutd.gotime import DurationError, go_duration_nanoseconds
from rolloutd.model.base import (
    INT32_MAX,
    Int32,
    IntOrString,
    JsonObject,
    Model,
    NonNegativeInt32,
    validation_messages,
)

ROLLOUT_API_VERSION = "argoproj.io/v1alpha1"
INSTANCE_ID_LABEL = "argo-rollouts.argoproj.io/controller-instance-id"
"""Argo's sharding label: a controller started with an instance id owns only these objects."""
DEFAULT_REPLICAS = 1
DEFAULT_REVISION_HISTORY_LIMIT = 10
DEFAULT_PROGRESS_DEADLINE_SECONDS = 600
DEFAULT_SCALE_DOWN_DELAY_SECONDS = 30
DEFAULT_ABORT_SCALE_DOWN_DELAY_SECONDS = 30
DEFAULT_MAX_TRAFFIC_WEIGHT = 100
DEFAULT_ANALYSIS_RUN_HISTORY = 5


# -- selectors and metadata ---------------------------------------------------------------


class LabelSelectorRequirement(Model):
    key: str
    operator: str
    values: list[str] | None = None


class LabelSelector(Model):
    match_labels: dict[str, str] | None = None
    match_expressions: list[LabelSelectorRequirement] | None = None


class PodMetadata(Model):
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None


class ObjectRef(Model):
    api_version: str | None = None
    kind: str | None = None
    name: str | None = None
    scale_down: str | None = None


# -- steps --------------------------------------------------------------------------------


class Pause(Model):
    duration: IntOrString | None = None

    def seconds(self) -> int | None:
        """Seconds to wait, None for an indefinite pause, -1 when the text is unparseable."""
        return parse_duration(self.duration) if self.duration is not None else None


class SetCanaryScale(Model):
    weight: Int32 | None = None
    replicas: NonNegativeInt32 | None = None
    match_traffic_weight: bool | None = None


class StringMatch(Model):
    exact: str | None = None
    regex: str | None = None
    prefix: str | None = None


class HeaderRoutingMatch(Model):
    header_name: str
    header_value: StringMatch


class SetHeaderRoute(Model):
    name: str | None = None
    match: list[HeaderRoutingMatch] | None = None


class RouteMatch(Model):
    method: StringMatch | None = None
    path: StringMatch | None = None
    headers: dict[str, StringMatch] | None = None


class SetMirrorRoute(Model):
    name: str
    match: list[RouteMatch] | None = None
    percentage: Int32 | None = None


class AnalysisTemplateRef(Model):
    template_name: str | None = None
    cluster_scope: bool | None = None
    template_ref: str | None = None


class AnalysisArg(Model):
    name: str
    value: str | None = None
    value_from: JsonObject | None = None


class RolloutAnalysis(Model):
    templates: list[AnalysisTemplateRef] | None = None
    args: list[AnalysisArg] | None = None
    dry_run: list[JsonObject] | None = None
    measurement_retention: list[JsonObject] | None = None
    analysis_run_metadata: PodMetadata | None = None


class RolloutAnalysisBackground(RolloutAnalysis):
    starting_step: NonNegativeInt32 | None = None


class PluginStep(Model):
    name: str
    config: JsonObject | None = None


class CanaryStep(Model):
    set_weight: Int32 | None = None
    pause: Pause | None = None
    set_canary_scale: SetCanaryScale | None = None
    analysis: RolloutAnalysis | None = None
    experiment: JsonObject | None = None
    set_header_route: SetHeaderRoute | None = None
    set_mirror_route: SetMirrorRoute | None = None
    plugin: PluginStep | None = None

    def kinds(self) -> list[str]:
        return [name for name, value in self.to_json().items() if value is not None]

    def describe(self) -> str:
        """Argo's step display string, used in events (`setWeight: 20`, `pause: 30s`)."""
        if self.set_weight is not None:
            return f"setWeight: {self.set_weight}"
        if self.pause is not None:
            seconds = self.pause.seconds()
            return "pause" if seconds is None else f"pause: {seconds}s"
        if self.set_canary_scale is not None:
            scale = self.set_canary_scale
            if scale.weight is not None:
                return f"setCanaryScale{{weight: {scale.weight}}}"
            if scale.replicas is not None:
                return f"setCanaryScale{{replicas: {scale.replicas}}}"
            return "setCanaryScale{matchTrafficWeight: true}"
        if self.set_header_route is not None:
            return f"setHeaderRoute: {self.set_header_route.name}"
        if self.set_mirror_route is not None:
            return f"setMirrorRoute: {self.set_mirror_route.name}"
        if self.plugin is not None:
            return f"plugin: {self.plugin.name}"
        return self.kinds()[0] if self.kinds() else "unknown"


# -- traffic routing ------------------------------------------------------------------------


class TLSRoute(Model):
    port: Int32 | None = None
    sni_hosts: list[str] | None = None


class TCPRoute(Model):
    port: Int32 | None = None


class IstioVirtualService(Model):
    name: str
    routes: list[str] | None = None
    tls_routes: list[TLSRoute] | None = None
    tcp_routes: list[TCPRoute] | None = None


class IstioDestinationRule(Model):
    name: str
    canary_subset_name: str
    stable_subset_name: str
    additional_subset_names: list[str] | None = None


class IstioTrafficRouting(Model):
    virtual_service: IstioVirtualService | None = None
    virtual_services: list[IstioVirtualService] | None = None
    destination_rule: IstioDestinationRule | None = None


class SMITrafficRouting(Model):
    root_service: str | None = None
    traffic_split_name: str | None = None


class ManagedRoute(Model):
    name: str


class TrafficRouting(Model):
    istio: IstioTrafficRouting | None = None
    smi: SMITrafficRouting | None = None
    plugins: JsonObject | None = None
    managed_routes: list[ManagedRoute] | None = None
    max_traffic_weight: NonNegativeInt32 | None = None
    nginx: JsonObject | None = None
    alb: JsonObject | None = None
    ambassador: JsonObject | None = None
    app_mesh: JsonObject | None = None
    traefik: JsonObject | None = None
    apisix: JsonObject | None = None


# -- strategies ------------------------------------------------------------------------------


class PingPong(Model):
    ping_service: str
    pong_service: str


class ReplicaProgressThreshold(Model):
    type: str
    value: Int32


class CanaryStrategy(Model):
    canary_service: str | None = None
    stable_service: str | None = None
    steps: list[CanaryStep] | None = None
    traffic_routing: TrafficRouting | None = None
    max_surge: IntOrString | None = None
    max_unavailable: IntOrString | None = None
    analysis: RolloutAnalysisBackground | None = None
    anti_affinity: JsonObject | None = None
    canary_metadata: PodMetadata | None = None
    stable_metadata: PodMetadata | None = None
    scale_down_delay_seconds: NonNegativeInt32 | None = None
    scale_down_delay_revision_limit: NonNegativeInt32 | None = None
    abort_scale_down_delay_seconds: NonNegativeInt32 | None = None
    dynamic_stable_scale: bool | None = None
    ping_pong: PingPong | None = None
    min_pods_per_replica_set: NonNegativeInt32 | None = None
    replica_progress_threshold: ReplicaProgressThreshold | None = None


class BlueGreenStrategy(Model):
    """Argo's `BlueGreenStrategy`: the whole new version beside the old, behind a preview
    Service, and an all-at-once switch of the active Service."""

    active_service: str | None = None
    preview_service: str | None = None
    preview_replica_count: NonNegativeInt32 | None = None
    auto_promotion_enabled: bool | None = None
    auto_promotion_seconds: NonNegativeInt32 | None = None
    max_unavailable: IntOrString | None = None
    scale_down_delay_seconds: NonNegativeInt32 | None = None
    scale_down_delay_revision_limit: NonNegativeInt32 | None = None
    abort_scale_down_delay_seconds: NonNegativeInt32 | None = None
    pre_promotion_analysis: RolloutAnalysis | None = None
    post_promotion_analysis: RolloutAnalysis | None = None
    anti_affinity: JsonObject | None = None
    preview_metadata: PodMetadata | None = None
    active_metadata: PodMetadata | None = None


class RolloutStrategy(Model):
    canary: CanaryStrategy | None = None
    blue_green: BlueGreenStrategy | None = None


class RollbackWindow(Model):
    revisions: NonNegativeInt32 | None = None


class AnalysisRunStrategy(Model):
    successful_run_history_limit: NonNegativeInt32 | None = None
    unsuccessful_run_history_limit: NonNegativeInt32 | None = None


class RolloutSpec(Model):
    replicas: NonNegativeInt32 | None = None
    selector: LabelSelector | None = None
    template: JsonObject | None = None
    workload_ref: ObjectRef | None = None
    min_ready_seconds: NonNegativeInt32 | None = None
    revision_history_limit: NonNegativeInt32 | None = None
    paused: bool | None = None
    progress_deadline_seconds: NonNegativeInt32 | None = None
    progress_deadline_abort: bool | None = None
    restart_at: str | None = None
    rollback_window: RollbackWindow | None = None
    analysis: AnalysisRunStrategy | None = None
    strategy: RolloutStrategy = Field(default_factory=RolloutStrategy)


# -- status ----------------------------------------------------------------------------------


class Condition(Model):
    type: str
    status: str
    reason: str | None = None
    message: str | None = None
    last_update_time: str | None = None
    last_transition_time: str | None = None


class PauseCondition(Model):
    reason: str
    start_time: str


class WeightDestination(Model):
    weight: int
    service_name: str | None = None
    pod_template_hash: str | None = None


class TrafficWeights(Model):
    canary: WeightDestination
    stable: WeightDestination
    additional: list[WeightDestination] | None = None
    verified: bool | None = None


class RolloutAnalysisRunStatus(Model):
    name: str
    status: str
    message: str | None = None


class CanaryStatus(Model):
    weights: TrafficWeights | None = None
    current_step_analysis_run_status: RolloutAnalysisRunStatus | None = None
    current_background_analysis_run_status: RolloutAnalysisRunStatus | None = None
    current_experiment: str | None = None
    stable_ping_pong: str | None = None


class BlueGreenStatus(Model):
    preview_selector: str | None = None
    active_selector: str | None = None
    scale_up_preview_check_point: bool | None = None
    pre_promotion_analysis_run_status: RolloutAnalysisRunStatus | None = None
    post_promotion_analysis_run_status: RolloutAnalysisRunStatus | None = None


class RolloutStatus(Model):
    phase: str | None = None
    message: str | None = None
    observed_generation: str | None = None
    current_pod_hash: str | None = None
    current_step_hash: str | None = None
    current_step_index: int | None = None
    stable_rs: str | None = Field(default=None, alias="stableRS")
    replicas: int | None = None
    updated_replicas: int | None = None
    ready_replicas: int | None = None
    available_replicas: int | None = None
    hpa_replicas: int | None = Field(default=None, alias="HPAReplicas")
    selector: str | None = None
    collision_count: int | None = None
    conditions: list[Condition] | None = None
    pause_conditions: list[PauseCondition] | None = None
    controller_pause: bool | None = None
    abort: bool | None = None
    aborted_at: str | None = None
    promote_full: bool | None = None
    restarted_at: str | None = None
    canary: CanaryStatus | None = None
    blue_green: BlueGreenStatus | None = None


class Rollout(Model):
    """A whole Rollout object; `metadata` stays a dict (it is read, never re-serialised)."""

    api_version: str | None = None
    kind: str | None = None
    metadata: JsonObject = Field(default_factory=dict)
    spec: RolloutSpec
    status: RolloutStatus = Field(default_factory=RolloutStatus)


# -- durations -------------------------------------------------------------------------------

MAX_DURATION_SECONDS = INT32_MAX
"""The longest duration rolloutd accepts (about 68 years): Argo's pause durations and delays are
int32 seconds. Anything longer is refused, so no date arithmetic can overflow."""
_MAX_DIGITS = 20
"""Longer integers are over the cap (and Python refuses to read ints of thousands of digits)."""


def parse_duration(value: int | str) -> int:
    """Argo's pause duration: an int (or int string) is seconds, else a Go duration
    (`30s`, `1m`, `1h30m`), truncated to whole seconds; -1 when it cannot be parsed (or is a
    negative Go duration), and `MAX_DURATION_SECONDS + 1` for anything longer than the cap (a
    400-digit duration is "too long", never an overflow)."""
    if isinstance(value, int):
        return value
    text = value.strip()
    if re.fullmatch(r"-?\d+", text):
        if len(text.lstrip("-").lstrip("0")) > _MAX_DIGITS:
            return -1 if text.startswith("-") else MAX_DURATION_SECONDS + 1
        return int(text)
    try:
        nanoseconds = go_duration_nanoseconds(text)
    except DurationError as exc:
        return MAX_DURATION_SECONDS + 1 if exc.overflow and not text.startswith("-") else -1
    if nanoseconds < 0:
        return -1
    return min(nanoseconds // 1_000_000_000, MAX_DURATION_SECONDS + 1)


# -- parsing and validation ------------------------------------------------------------------


class InvalidRollout(Exception):
    """The object is not a Rollout rolloutd can act on; `errors` are field-path messages."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


def parse_rollout(obj: dict[str, Any]) -> Rollout:
    """Parse a Rollout dict; raises InvalidRollout with field paths on type errors."""
    try:
        return Rollout.model_validate(obj)
    except ValidationError as exc:
        raise InvalidRollout(validation_messages(exc)) from None


def validate_rollout(obj: dict[str, Any]) -> list[str]:
    """Every problem with a Rollout manifest as `field.path: message` (empty when valid)."""
    try:
        rollout = parse_rollout(obj)
    except InvalidRollout as exc:
        return exc.errors
    errors = validate_spec(rollout.spec, name=rollout.metadata.get("name"))
    template = rollout.spec.template or {}
    meta = template.get("metadata")
    meta = meta if isinstance(meta, dict) else {}
    if rollout.spec.workload_ref is not None and (meta.get("labels") or meta.get("annotations")):
        # Argo's rule (a template with labels or annotations is not empty); in the controller
        # plan/workload.py reports it, before the template is resolved from the workload.
        errors.append(f"spec.template: {TEMPLATE_MUST_BE_EMPTY}")
    return errors


def validate_spec(spec: RolloutSpec, *, name: object = None) -> list[str]:
    """Argo's semantic rules, and what the API server would refuse in the objects rolloutd
    makes from the spec (the ReplicaSet's name, pod template and selector), so a bad spec is
    an InvalidSpec naming the field before anything is written. `name` is the Rollout's."""
    errors: list[str] = []
    if isinstance(name, str) and len(name) > MAX_ROLLOUT_NAME:
        errors.append(
            f"metadata.name: must be no more than {MAX_ROLLOUT_NAME} characters, so that the "
            f"ReplicaSet name (<name>-<pod hash>) fits in {MAX_OBJECT_NAME}"
        )
    if spec.replicas is not None and spec.replicas < 0:
        errors.append("spec.replicas: must be greater than or equal to 0")
    errors += _validate_selector(spec)
    strategy = spec.strategy
    if strategy.canary is not None and strategy.blue_green is not None:
        errors.append("spec.strategy: Multiple Strategies can not be listed")
    elif strategy.canary is None and strategy.blue_green is None:
        errors.append("spec.strategy: one of canary or blueGreen must be set")
    if strategy.canary is not None:
        errors += _validate_canary(strategy.canary)
    if strategy.blue_green is not None:
        errors += _validate_blue_green(strategy.blue_green)
    errors += _validate_references(spec)
    for name, value in (
        ("revisionHistoryLimit", spec.revision_history_limit),
        ("progressDeadlineSeconds", spec.progress_deadline_seconds),
        ("minReadySeconds", spec.min_ready_seconds),
    ):
        if value is not None and value < 0:
            errors.append(f"spec.{name}: must be greater than or equal to 0")
    if (
        spec.progress_deadline_seconds is not None
        and spec.min_ready_seconds is not None
        and spec.progress_deadline_seconds <= spec.min_ready_seconds
    ):
        errors.append("spec.progressDeadlineSeconds: must be greater than minReadySeconds")
    return errors


TEMPLATE_MUST_BE_EMPTY = "template must be empty for workload reference rollout"
"""Argo's message for a Rollout with both `workloadRef` and a template of its own."""
_WORKLOAD_KINDS = {"Deployment": "apps/v1", "ReplicaSet": "apps/v1", "PodTemplate": "v1"}
"""What Argo's workloadRef can point at, and the apiVersion of each."""
_PLUGIN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?$")


def _validate_references(spec: RolloutSpec) -> list[str]:
    """Fields that name something (a time, a workload, a step plugin, pod metadata): refused
    when they could not name anything real, even where rolloutd does not act on them yet."""
    errors: list[str] = []
    if spec.restart_at is not None:
        try:
            dt.datetime.fromisoformat(spec.restart_at)
        except ValueError:
            shown = spec.restart_at if len(spec.restart_at) <= 40 else spec.restart_at[:40] + "..."
            errors.append(f"spec.restartAt: {shown!r} is not an RFC 3339 date-time")
    ref = spec.workload_ref
    if ref is not None:
        root = "spec.workloadRef"
        if ref.kind not in _WORKLOAD_KINDS:
            errors.append(f"{root}.kind: must be one of {', '.join(_WORKLOAD_KINDS)}")
        elif ref.api_version != _WORKLOAD_KINDS[ref.kind]:
            errors.append(f"{root}.apiVersion: must be {_WORKLOAD_KINDS[ref.kind]} for {ref.kind}")
        if not ref.name or len(ref.name) > MAX_OBJECT_NAME or not _DNS_SUBDOMAIN.match(ref.name):
            errors.append(f"{root}.name: must be the name of a {ref.kind or 'workload'}")
        if ref.scale_down not in (None, "never", "onsuccess", "progressively"):
            errors.append(f"{root}.scaleDown: must be one of never, onsuccess, progressively")
    canary = spec.strategy.canary
    if canary is None:
        return errors
    for i, step in enumerate(canary.steps or []):
        plugin = step.plugin
        if plugin is not None and (len(plugin.name) > 253 or not _PLUGIN_NAME.match(plugin.name)):
            errors.append(
                f"spec.strategy.canary.steps[{i}].plugin.name: not a plugin name "
                "(letters, digits, '.', '_', '-', one optional '/', at most 253 characters)"
            )
    for field, meta in (
        ("canaryMetadata", canary.canary_metadata),
        ("stableMetadata", canary.stable_metadata),
    ):
        errors += _metadata_errors(f"spec.strategy.canary.{field}", meta)
    return errors


def _validate_selector(spec: RolloutSpec) -> list[str]:
    if spec.workload_ref is not None and not spec.template:
        return []  # not resolved yet (a manifest linted alone): the controller fills it in
    errors = _validate_template(spec.template)
    selector = spec.selector
    if selector is None or (not selector.match_labels and not selector.match_expressions):
        return [
            "spec.selector: This rollout is selecting all pods. A non-empty selector is required.",
            *errors,
        ]
    for key, value in (selector.match_labels or {}).items():
        errors += _label_errors("spec.selector.matchLabels", key, value)
    for i, req in enumerate(selector.match_expressions or []):
        path = f"spec.selector.matchExpressions[{i}]"
        errors += _label_errors(path, req.key, None)
        if req.operator not in _SELECTOR_OPERATORS:
            errors.append(
                f"{path}.operator: {req.operator!r} is not a valid selector operator "
                f"(one of {', '.join(_SELECTOR_OPERATORS)})"
            )
        elif req.operator in ("In", "NotIn") and not req.values:
            errors.append(f"{path}.values: must be specified when `operator` is 'In' or 'NotIn'")
        elif req.operator in ("Exists", "DoesNotExist") and req.values:
            errors.append(
                f"{path}.values: may not be specified when `operator` is 'Exists' or 'DoesNotExist'"
            )
    if errors:
        return errors
    if not selector_matches(selector, template_labels(spec)):
        return ["spec.selector: `selector` does not match template `labels`"]
    return []


_SELECTOR_OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")


def template_labels(spec: RolloutSpec) -> dict[str, str]:
    """The pod template's labels; empty when the template is malformed (validate_spec says
    how), so no caller has to guard against `labels: [app]` or `metadata: "x"`."""
    meta = (spec.template or {}).get("metadata")
    labels = meta.get("labels") if isinstance(meta, dict) else None
    return labels if isinstance(labels, dict) else {}


def selector_matches(selector: LabelSelector, labels: dict[str, str]) -> bool:
    """A label selector's meaning (matchLabels and matchExpressions, all must hold)."""
    for key, value in (selector.match_labels or {}).items():
        if labels.get(key) != value:
            return False
    for req in selector.match_expressions or []:
        values = req.values or []
        present = req.key in labels
        if req.operator == "In":
            ok = present and labels[req.key] in values
        elif req.operator == "NotIn":
            ok = not present or labels[req.key] not in values
        elif req.operator == "Exists":
            ok = present
        elif req.operator == "DoesNotExist":
            ok = not present
        else:
            ok = False
        if not ok:
            return False
    return True


MAX_OBJECT_NAME = 253
MAX_ANNOTATIONS_BYTES = 256 * 1024
"""The API server's limit on an object's annotations, keys and values together."""
"""A ReplicaSet's name is a DNS subdomain."""
MAX_POD_HASH = 10
"""A pod-template-hash is a 32-bit number, safe-encoded: at most 10 characters."""
MAX_ROLLOUT_NAME = MAX_OBJECT_NAME - 1 - MAX_POD_HASH
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_LABEL_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def _label_errors(path: str, key: object, value: object) -> list[str]:
    """What the API server says of a label key (and value, unless None)."""
    errors: list[str] = []
    if not isinstance(key, str):
        return [f"{path}: label keys must be strings (got {key!r})"]
    prefix, _, name = key.rpartition("/")
    if (
        len(name) > 63
        or not _LABEL_NAME.match(name)
        or ("/" in key and (not prefix or len(prefix) > 253 or not _DNS_SUBDOMAIN.match(prefix)))
    ):
        errors.append(
            f"{path}: {key!r} is not a valid label key (an optional DNS subdomain prefix and "
            "/, then at most 63 alphanumeric characters, '-', '_' or '.')"
        )
    if value is None:
        return errors
    if not isinstance(value, str):
        errors.append(f"{path}.{key}: label values must be strings (got {value!r})")
    elif value and (len(value) > 63 or not _LABEL_NAME.match(value)):
        errors.append(
            f"{path}.{key}: {value!r} is not a valid label value (at most 63 alphanumeric "
            "characters, '-', '_' or '.')"
        )
    return errors


def _validate_template(template: JsonObject | None) -> list[str]:
    """The pod template's shape, as far as the ReplicaSet made from it would be refused."""
    root = "spec.template"
    if not template:
        return [f"{root}.spec.containers: at least one container is required"]
    errors: list[str] = []
    meta = template.get("metadata")
    if meta is not None and not isinstance(meta, dict):
        errors.append(f"{root}.metadata: must be an object")
        meta = None
    for kind in ("labels", "annotations"):
        values = (meta or {}).get(kind)
        if values is None:
            continue
        if not isinstance(values, dict):
            errors.append(f"{root}.metadata.{kind}: must be an object of strings")
            continue
        if kind == "labels":
            for key, value in values.items():
                errors += _label_errors(f"{root}.metadata.labels", key, value)
        else:
            errors += [
                f"{root}.metadata.annotations.{key}: annotation values must be strings"
                for key, value in values.items()
                if not isinstance(value, str)
            ]
            size = sum(len(str(k)) + len(str(v)) for k, v in values.items())
            if size > MAX_ANNOTATIONS_BYTES:
                errors.append(
                    f"{root}.metadata.annotations: Too long: must have at most "
                    f"{MAX_ANNOTATIONS_BYTES} bytes (has {size})"
                )
    pod = template.get("spec")
    if not isinstance(pod, dict):
        what = "is required" if pod is None else "must be an object"
        return [*errors, f"{root}.spec: {what}"]
    for kind in ("containers", "initContainers"):
        errors += _validate_containers(pod.get(kind), f"{root}.spec.{kind}", kind == "containers")
    return errors


def _validate_containers(containers: object, path: str, required: bool) -> list[str]:
    if containers is None or containers == []:
        return [f"{path}: at least one container is required"] if required else []
    if not isinstance(containers, list):
        return [f"{path}: must be a list of containers"]
    errors: list[str] = []
    seen: set[str] = set()
    for i, container in enumerate(containers):
        item = f"{path}[{i}]"
        if not isinstance(container, dict):
            errors.append(f"{item}: must be an object")
            continue
        name = container.get("name")
        if not isinstance(name, str) or not name:
            errors.append(f"{item}.name: Required value")
        elif len(name) > 63 or not _DNS_LABEL.match(name):
            errors.append(
                f"{item}.name: {name!r} must be a DNS label (at most 63 lowercase alphanumeric "
                "characters or '-')"
            )
        elif name in seen:
            errors.append(f"{item}.name: Duplicate value: {name!r}")
        else:
            seen.add(name)
        image = container.get("image")
        if not isinstance(image, str) or not image.strip():
            errors.append(f"{item}.image: Required value")
    return errors


def _validate_canary(canary: CanaryStrategy) -> list[str]:
    errors: list[str] = []
    root = "spec.strategy.canary"
    routing = canary.traffic_routing
    max_weight = (routing.max_traffic_weight if routing else None) or DEFAULT_MAX_TRAFFIC_WEIGHT
    if routing is not None:
        uses_subsets = routing.istio is not None and routing.istio.destination_rule is not None
        if not uses_subsets and (not canary.canary_service or not canary.stable_service):
            errors.append(
                f"{root}.trafficRouting: Canary service and Stable service must to be set to "
                "use Traffic Routing"
            )
        istio = routing.istio
        if istio is not None and (istio.virtual_service is None) == (
            istio.virtual_services is None
        ):
            errors.append(
                f"{root}.trafficRouting.istio: either VirtualService or VirtualServices must be "
                "configured"
            )
    if (
        canary.canary_service
        and canary.stable_service
        and canary.canary_service == canary.stable_service
    ):
        errors.append(f"{root}.stableService: Stable and canary services cannot be the same")
    if routing is None:
        for name, value in (
            ("scaleDownDelaySeconds", canary.scale_down_delay_seconds),
            ("abortScaleDownDelaySeconds", canary.abort_scale_down_delay_seconds),
        ):
            if value is not None:
                errors.append(f"{root}.{name}: can only be used with traffic routing")
        if canary.dynamic_stable_scale:
            errors.append(f"{root}.dynamicStableScale: can only be used with traffic routing")
    if canary.dynamic_stable_scale and canary.scale_down_delay_seconds is not None:
        errors.append(
            f"{root}.dynamicStableScale: cannot be used together with scaleDownDelaySeconds"
        )
    for name, value in (
        ("scaleDownDelaySeconds", canary.scale_down_delay_seconds),
        ("abortScaleDownDelaySeconds", canary.abort_scale_down_delay_seconds),
    ):
        if value is not None and value < 0:
            errors.append(f"{root}.{name}: must be greater than or equal to 0")
    errors += _int_or_percent(canary.max_surge, f"{root}.maxSurge", max_percent=None)
    errors += _int_or_percent(canary.max_unavailable, f"{root}.maxUnavailable", max_percent=100)
    if _is_zero(canary.max_surge) and _is_zero(canary.max_unavailable):
        errors.append(f"{root}.maxUnavailable: MaxSurge and MaxUnavailable cannot both be zero")
    managed = {r.name for r in (routing.managed_routes or [])} if routing else set()
    for i, step in enumerate(canary.steps or []):
        errors += _validate_step(step, f"{root}.steps[{i}]", routing, max_weight, managed)
    return errors


def _validate_blue_green(blue_green: BlueGreenStrategy) -> list[str]:
    """Argo's blue-green rules (`pkg/apis/rollouts/validation`), each naming its field."""
    errors: list[str] = []
    root = "spec.strategy.blueGreen"
    if not blue_green.active_service:
        errors.append(f"{root}.activeService: Required value")
    elif blue_green.preview_service == blue_green.active_service:
        errors.append(
            f"{root}.activeService: Preview service and Active service cannot be the same"
        )
    for name, value in (
        ("previewReplicaCount", blue_green.preview_replica_count),
        ("autoPromotionSeconds", blue_green.auto_promotion_seconds),
        ("scaleDownDelaySeconds", blue_green.scale_down_delay_seconds),
        ("scaleDownDelayRevisionLimit", blue_green.scale_down_delay_revision_limit),
        ("abortScaleDownDelaySeconds", blue_green.abort_scale_down_delay_seconds),
    ):
        if value is not None and value < 0:
            errors.append(f"{root}.{name}: must be greater than or equal to 0")
    errors += _int_or_percent(blue_green.max_unavailable, f"{root}.maxUnavailable", max_percent=100)
    for field, meta in (
        ("previewMetadata", blue_green.preview_metadata),
        ("activeMetadata", blue_green.active_metadata),
    ):
        errors += _metadata_errors(f"{root}.{field}", meta)
    return errors


def _metadata_errors(path: str, meta: PodMetadata | None) -> list[str]:
    """Labels and annotations that a pod could not carry."""
    if meta is None:
        return []
    errors: list[str] = []
    for key, value in (meta.labels or {}).items():
        errors += _label_errors(f"{path}.labels", key, value)
    for key in meta.annotations or {}:
        errors += [
            message.replace("label key", "annotation key")
            for message in _label_errors(f"{path}.annotations", key, None)
        ]
    return errors


def _validate_step(
    step: CanaryStep,
    path: str,
    routing: TrafficRouting | None,
    max_weight: int,
    managed: set[str],
) -> list[str]:
    kinds = step.kinds()
    if len(kinds) != 1:
        what = "no step type" if not kinds else f"several step types ({', '.join(kinds)})"
        return [f"{path}: Step must have exactly one of the step types set, found {what}"]
    errors: list[str] = []
    if step.set_weight is not None and not 0 <= step.set_weight <= max_weight:
        errors.append(f"{path}.setWeight: must be between 0 and {max_weight}")
    if step.pause is not None and step.pause.duration is not None:
        seconds = step.pause.seconds()
        if seconds is None or seconds < 0:
            errors.append(
                f"{path}.pause.duration: Duration needs to be greater than 0 "
                f"(got {_short(step.pause.duration)}; use seconds or a value like 30s, 1m, 1h)"
            )
        elif seconds > MAX_DURATION_SECONDS:
            errors.append(
                f"{path}.pause.duration: must be at most {MAX_DURATION_SECONDS} seconds "
                f"(got {_short(step.pause.duration)})"
            )
    scale = step.set_canary_scale
    if scale is not None:
        if routing is None:
            errors.append(
                f"{path}.setCanaryScale: SetCanaryScale requires TrafficRouting to be set"
            )
        chosen = [
            v for v in (scale.weight, scale.replicas, scale.match_traffic_weight) if v is not None
        ]
        if len(chosen) != 1:
            errors.append(
                f"{path}.setCanaryScale: exactly one of weight, replicas or "
                "matchTrafficWeight must be set"
            )
        if scale.weight is not None and not 0 <= scale.weight <= 100:
            errors.append(f"{path}.setCanaryScale.weight: must be between 0 and 100")
        if scale.replicas is not None and scale.replicas < 0:
            errors.append(f"{path}.setCanaryScale.replicas: must be greater than or equal to 0")
    for kind, route in (
        ("setHeaderRoute", step.set_header_route),
        ("setMirrorRoute", step.set_mirror_route),
    ):
        if route is None:
            continue
        # As in Argo: header routes also with APISIX (its router makes an ApisixRoute for them)
        # and ALB (an action and a condition per route).
        header_router = (
            kind == "setHeaderRoute"
            and routing is not None
            and (routing.apisix is not None or routing.alb is not None)
        )
        if routing is None or (routing.istio is None and not routing.plugins and not header_router):
            others = "Istio, APISIX, ALB" if kind == "setHeaderRoute" else "Istio"
            errors.append(f"{path}.{kind}: {kind} requires {others} or a plugin traffic router")
        elif route.name not in managed:
            errors.append(
                f"{path}.{kind}.name: route {route.name!r} must be listed in "
                "spec.strategy.canary.trafficRouting.managedRoutes"
            )
    mirror = step.set_mirror_route
    if mirror is not None and mirror.percentage is not None and not 0 <= mirror.percentage <= 100:
        errors.append(f"{path}.setMirrorRoute.percentage: must be between 0 and 100")
    return errors


_PERCENT = re.compile(r"^(\d{1,10})%?$")


def _int_or_percent(value: int | str | None, path: str, *, max_percent: int | None) -> list[str]:
    """Kubernetes' IntOrString for maxSurge/maxUnavailable: a count, `"N%"` (or Argo's bare
    `"N"`, read as a percentage), never negative, int32-sized; a percentage of unavailable
    pods is at most 100%."""
    if value is None:
        return []
    if isinstance(value, int):
        if not 0 <= value <= INT32_MAX:
            return [f"{path}: must be between 0 and {INT32_MAX} (got {value})"]
        return []
    match = _PERCENT.match(value.strip())
    if match is None:
        return [f"{path}: must be an integer or a percentage like '25%' (got {_short(value)})"]
    percent = int(match.group(1))
    if max_percent is not None and percent > max_percent:
        return [f"{path}: must not be greater than {max_percent}% (got {_short(value)})"]
    if percent > INT32_MAX:
        return [f"{path}: must be at most {INT32_MAX}% (got {_short(value)})"]
    return []


def _short(value: object, limit: int = 40) -> str:
    """A value for a message: hostile input must not make the condition huge."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def _is_zero(value: int | str | None) -> bool:
    if value is None:
        return False
    return str(value).strip().rstrip("%") == "0"


def unsupported_features(spec: RolloutSpec) -> list[str]:
    """Fields rolloutd accepts but does not act on yet (reported as a Warning event).

    Not here: routers such as `nginx` or `alb` (a router that is not installed is an invalid
    spec; one that is installed is acted on)."""
    found = []
    if spec.rollback_window is not None:
        found.append("spec.rollbackWindow")
    canary = spec.strategy.canary
    if canary is not None:
        for name, value in (
            ("dynamicStableScale", canary.dynamic_stable_scale),
            ("pingPong", canary.ping_pong),
            ("antiAffinity", canary.anti_affinity),
            ("replicaProgressThreshold", canary.replica_progress_threshold),
        ):
            if value:
                found.append(f"spec.strategy.canary.{name}")
        for i, step in enumerate(canary.steps or []):
            for kind in ("experiment", "plugin"):
                if getattr(step, kind) is not None:
                    found.append(f"spec.strategy.canary.steps[{i}].{kind}")
    blue_green = spec.strategy.blue_green
    if blue_green is not None and blue_green.anti_affinity:
        found.append("spec.strategy.blueGreen.antiAffinity")
    return found
