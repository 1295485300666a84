"""`spec.workloadRef`: a Rollout that takes its pod template from another object (pure rules).

Argo (`rollout/templateref.go`) resolves the reference before each reconcile: the referenced
Deployment, ReplicaSet or PodTemplate gives the pod template, and the selector too when the
Rollout has none of its own; the result lives only in memory (never written back to the
Rollout's spec). The workload's `metadata.generation` is recorded on the Rollout in the
annotation `rollout.argoproj.io/workload-generation`, and the status then reports it as
`workloadObservedGeneration`, so users can tell that the Rollout has seen the workload's
latest template.

`scaleDown` (Deployments only) says what happens to the Deployment the Rollout replaces, for as
long as the Rollout is on its first revision (a one-time migration, as in Argo):

- `never` (or unset): the Deployment is left alone;
- `onsuccess`: scaled to 0 once the Rollout is Healthy;
- `progressively`: scaled to `spec.replicas - available` as the Rollout's pods become
  available, then to 0 once it is Healthy, so the pods available across both never drop
  below `spec.replicas`.

The controller reads the objects and writes; this module only decides.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from rolloutd.model.rollout import TEMPLATE_MUST_BE_EMPTY

JsonDict = dict[str, Any]

WORKLOAD_GENERATION_ANNOTATION = "rollout.argoproj.io/workload-generation"

SCALE_DOWN_NEVER = "never"
SCALE_DOWN_ON_SUCCESS = "onsuccess"
SCALE_DOWN_PROGRESSIVELY = "progressively"
SCALE_DOWN_MODES = (SCALE_DOWN_NEVER, SCALE_DOWN_ON_SUCCESS, SCALE_DOWN_PROGRESSIVELY)


@dataclass(frozen=True, slots=True)
class WorkloadKind:
    """Where a kind keeps its pod template and selector, and what its objects are called in
    API errors (`deployments.apps "x" not found`, as Argo reports them)."""

    api_version: str
    kind: str
    resource: str
    template_path: tuple[str, ...]
    selector_path: tuple[str, ...] | None


KINDS: dict[str, WorkloadKind] = {
    "Deployment": WorkloadKind(
        "apps/v1", "Deployment", "deployments.apps", ("spec", "template"), ("spec", "selector")
    ),
    "ReplicaSet": WorkloadKind(
        "apps/v1", "ReplicaSet", "replicasets.apps", ("spec", "template"), ("spec", "selector")
    ),
    "PodTemplate": WorkloadKind("v1", "PodTemplate", "podtemplates", ("template",), None),
}


@dataclass(frozen=True, slots=True)
class WorkloadRef:
    """A well-formed `spec.workloadRef` of a known kind and `scaleDown` (anything else is left
    unresolved, to the model's validation, which names the field)."""

    kind: WorkloadKind
    name: str
    scale_down: str


def workload_ref(obj: JsonDict) -> WorkloadRef | None:
    """The Rollout's reference, when it names a kind this module can resolve."""
    spec = obj.get("spec")
    ref = spec.get("workloadRef") if isinstance(spec, dict) else None
    if not isinstance(ref, dict):
        return None
    kind = KINDS.get(ref.get("kind"))  # type: ignore[arg-type]
    name = ref.get("name")
    if kind is None or ref.get("apiVersion") != kind.api_version or not isinstance(name, str):
        return None
    scale_down = ref.get("scaleDown", "")
    if scale_down not in ("", *SCALE_DOWN_MODES):
        return None
    return WorkloadRef(kind, name, scale_down)


def template_is_empty(template: object) -> bool:
    """Argo's `EmptyTemplate`: a template with no labels and no annotations counts as unset
    (what a Rollout with a workloadRef must have)."""
    if not isinstance(template, dict):
        return template is None
    meta = template.get("metadata")
    if not isinstance(meta, dict):
        return True
    return not meta.get("labels") and not meta.get("annotations")


@dataclass(frozen=True, slots=True)
class Resolved:
    """The Rollout as the planner should see it: the workload's template (and selector) in
    its spec. `generation` is the workload's, as the annotation and status record it."""

    obj: JsonDict
    generation: str


def resolve(obj: JsonDict, ref: WorkloadRef, workload: JsonDict | None) -> Resolved | list[str]:
    """The Rollout with the referenced workload's template, or why it cannot have one
    (Argo's messages, each naming the field)."""
    spec = obj.get("spec") or {}
    if not template_is_empty(spec.get("template")):
        return [f"spec.template: {TEMPLATE_MUST_BE_EMPTY}"]
    if workload is None:
        return [f'spec.workloadRef: {ref.kind.resource} "{ref.name}" not found']
    template = _nested(workload, ref.kind.template_path)
    if not isinstance(template, dict) or not template:
        path = ".".join(ref.kind.template_path)
        return [f'spec.workloadRef: {ref.kind.kind} "{ref.name}" has no {path}']
    resolved = dict(obj)
    resolved_spec = dict(spec)
    resolved_spec["template"] = copy.deepcopy(template)
    if spec.get("selector") is None and ref.kind.selector_path is not None:
        selector = _nested(workload, ref.kind.selector_path)
        if isinstance(selector, dict):
            resolved_spec["selector"] = copy.deepcopy(selector)
    resolved["spec"] = resolved_spec
    generation = str((workload.get("metadata") or {}).get("generation") or 0)
    return Resolved(resolved, generation)


def recorded_generation(obj: JsonDict) -> str | None:
    """The workload generation the Rollout's annotation records, if any."""
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    value = annotations.get(WORKLOAD_GENERATION_ANNOTATION)
    return value if isinstance(value, str) else None


def with_observed_generation(status: JsonDict, generation: str | None) -> JsonDict:
    """The status with `workloadObservedGeneration` set to the recorded workload generation,
    or without it when the Rollout has no workloadRef (Argo clears it)."""
    if generation is None:
        if "workloadObservedGeneration" not in status:
            return status
        return {k: v for k, v in status.items() if k != "workloadObservedGeneration"}
    if status.get("workloadObservedGeneration") == generation:
        return status
    return {**status, "workloadObservedGeneration": generation}


def deployment_replicas(
    *,
    scale_down: str,
    revision: int,
    phase: str,
    replicas: int,
    available: int,
) -> int | None:
    """What the referenced Deployment's `spec.replicas` should be, or None to leave it alone.

    `revision` is that of the Rollout's current ReplicaSet (Argo acts on revision 1 only: the
    migration; later revisions come from the Deployment's own template changes, and the
    Deployment is by then at 0). `phase` is the Rollout's phase as last written, so a
    Deployment is scaled to 0 only once Healthy is on record. `available` counts the pods
    available across the Rollout's ReplicaSets.

    Argo's `progressively` counts ready pods and waits for the first one before it scales;
    rolloutd counts available pods (the same with `minReadySeconds: 0`, never more), so a pod
    still within minReadySeconds never lets a Deployment pod go early.
    """
    if revision != 1 or scale_down not in (SCALE_DOWN_ON_SUCCESS, SCALE_DOWN_PROGRESSIVELY):
        return None
    if phase == "Healthy":
        return 0
    if scale_down == SCALE_DOWN_PROGRESSIVELY and available > 0:
        return max(0, replicas - available)
    return None


def _nested(obj: JsonDict, path: tuple[str, ...]) -> object:
    value: object = obj
    for part in path:
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value
