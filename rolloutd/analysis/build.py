"""Building an AnalysisRun from a Rollout's analysis block: pure, for the Rollout planner.

Argo's `newAnalysisRunFromRollout` + `NewAnalysisRunFromTemplates`, as functions of plain dicts
(no I/O, no clock). The planner resolves the templates from its caches and calls::

    run = build_analysis_run(
        rollout=rollout_obj,                 # the Rollout as JSON (metadata.uid needed)
        templates=[tmpl, ...],               # AnalysisTemplate / ClusterAnalysisTemplate objects
        rollout_analysis=step["analysis"],   # {templates, args, dryRun, measurementRetention,
                                             #  analysisRunMetadata}
        kind="Step",                         # or Background, PrePromotion, PostPromotion
        step_index=2,                        # Step only
        pod_hash="6f646bf7b7",               # the new ReplicaSet's rollouts-pod-template-hash
        revision=3,                          # the rollout.argoproj.io/revision being rolled out
        stable_hash="5d4c7b8f9",             # the stable ReplicaSet's hash (or None)
    )
    # -> {"apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisRun", "metadata": {...},
    #     "spec": {"metrics": [...], "args": [...], "dryRun": [...], "measurementRetention": [...]}}

What the returned object holds:

* ``metadata.name``: ``<rollout>-<podHash>-<revision>`` plus ``-<stepIndex>`` for a step,
  ``-pre`` / ``-post`` for blue-green (on a name collision with a different run, Argo appends
  ``.1``, ``.2``: that is the caller's job, see `collision_name`);
* ``metadata.namespace``: the Rollout's; ``ownerReferences``: the Rollout, ``controller: true``;
* labels: ``rollouts-pod-template-hash``, ``rollout-type``, ``step-index`` (steps), the
  controller-instance-id label when the Rollout has one, then ``analysisRunMetadata.labels``,
  then the Rollout's ``spec.selector.matchLabels``; annotations: ``rollout.argoproj.io/revision``,
  then ``analysisRunMetadata.annotations``;
* ``spec.metrics``: the templates' metrics, namespaced templates first (given order), then
  cluster templates; ``spec.args``: the arguments the templates declare, the Rollout's values
  overriding template defaults (extra Rollout args are ignored, as in Argo), with
  ``podTemplateHashValue`` (``Latest`` -> `pod_hash`, ``Stable`` -> `stable_hash`) and
  ``fieldRef`` (``metadata.name``, ``metadata.labels['k']``, ``spec.x.y[0].z``, ...) resolved to
  values; Secret-backed args stay references (the analysis controller reads them);
* ``spec.dryRun`` / ``spec.measurementRetention``: the Rollout's rules first, then the
  templates'.

Every problem raises `AnalysisSpecError` (a `ValueError`) whose `path` is relative to the
analysis block (``templates[1]``, ``args[0]``, ``args``, ``dryRun``) and whose `message` is
Argo's wording, e.g. ``AnalysisTemplate 'success-rate' not found`` or
``args.service-name was not resolved``; prefix the block's own path for InvalidSpec
(``spec.strategy.canary.steps[2].analysis.templates[1]: ...``). For a step (and blue-green)
run a metric that would run forever is refused, as Argo's Rollout validation does.

`run_phase_outcome(run)` reads a run back for the planner (``Pending`` until the controller has
seen it) and `rollout_run_status(run)` is the ``{name, status, message}`` the Rollout records in
``status.canary.currentStepAnalysisRunStatus``. `template_references` lists every template a
block needs, nested ones included, so the planner can fetch them all before building.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from rolloutd.analysis.providers.gojson import compact_json
from rolloutd.analysis.spec import substitute
from rolloutd.model.constants import (
    POD_HASH_LABEL,
    REVISION_ANNOTATION,
    ROLLOUT_TYPE_LABEL,
    STEP_INDEX_LABEL,
)
from rolloutd.model.rollout import INSTANCE_ID_LABEL

JsonDict = dict[str, Any]
RunKind = Literal["Step", "Background", "PrePromotion", "PostPromotion"]

_SUFFIX = {"PrePromotion": "-pre", "PostPromotion": "-post"}
_KINDS = ("Step", "Background", "PrePromotion", "PostPromotion")


class AnalysisSpecError(ValueError):
    """A Rollout's analysis block cannot become an AnalysisRun; `path` says where."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path
        self.message = message


def build_analysis_run(
    *,
    rollout: Mapping[str, Any],
    templates: Sequence[Mapping[str, Any]],
    rollout_analysis: Mapping[str, Any],
    kind: RunKind | str,
    step_index: int | None,
    pod_hash: str,
    revision: int,
    stable_hash: str | None,
) -> JsonDict:
    """The AnalysisRun for one analysis block; see the module docstring."""
    if kind not in _KINDS:
        raise AnalysisSpecError("", f"unknown analysis run type {kind!r}")
    if kind == "Step" and step_index is None:
        raise AnalysisSpecError("", "a Step analysis run needs its step index")
    meta = rollout.get("metadata") or {}
    ordered = _collect_templates(rollout_analysis, templates)
    metrics: list[JsonDict] = []
    seen: set[str] = set()
    for template in ordered:
        for metric in (template.get("spec") or {}).get("metrics") or []:
            name = str(metric.get("name"))
            if name in seen:
                raise AnalysisSpecError("templates", f"two metrics have the same name '{name}'")
            seen.add(name)
            metrics.append(copy.deepcopy(dict(metric)))
    args = _merge_args(ordered, rollout_analysis.get("args") or [], rollout, pod_hash, stable_hash)
    if kind != "Background":
        _refuse_indefinite(ordered, args)
    spec: JsonDict = {"metrics": metrics}
    if args:
        spec["args"] = args
    for field, what in (("dryRun", "Dry-Run"), ("measurementRetention", "Measurement Retention")):
        rules = _merge_rules(field, what, rollout_analysis, ordered)
        if rules:
            spec[field] = rules

    name = f"{meta.get('name')}-{pod_hash}-{revision}"
    name += f"-{step_index}" if kind == "Step" else _SUFFIX.get(str(kind), "")
    labels: dict[str, str] = {POD_HASH_LABEL: pod_hash, ROLLOUT_TYPE_LABEL: str(kind)}
    if kind == "Step":
        labels[STEP_INDEX_LABEL] = str(step_index)
    instance = (meta.get("labels") or {}).get(INSTANCE_ID_LABEL)
    if instance:
        labels[INSTANCE_ID_LABEL] = str(instance)
    run_metadata = rollout_analysis.get("analysisRunMetadata") or {}
    labels.update({str(k): str(v) for k, v in (run_metadata.get("labels") or {}).items()})
    selector = ((rollout.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    labels.update({str(k): str(v) for k, v in selector.items()})
    annotations = {REVISION_ANNOTATION: str(revision)}
    annotations.update({str(k): str(v) for k, v in (run_metadata.get("annotations") or {}).items()})
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "AnalysisRun",
        "metadata": {
            "name": name,
            "namespace": meta.get("namespace"),
            "labels": labels,
            "annotations": annotations,
            "ownerReferences": [
                {
                    "apiVersion": str(rollout.get("apiVersion") or "argoproj.io/v1alpha1"),
                    "kind": "Rollout",
                    "name": meta.get("name"),
                    "uid": meta.get("uid"),
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": spec,
    }


def collision_name(name: str, attempt: int) -> str:
    """Argo's name for the n-th retry after a name collision: ``<name>.<n>``."""
    return name if attempt <= 0 else f"{name}.{attempt}"


def run_phase_outcome(run: Mapping[str, Any]) -> str:
    """The run's phase: ``Pending`` (not yet seen by the controller), ``Running``,
    ``Successful``, ``Failed``, ``Error`` or ``Inconclusive``."""
    phase = (run.get("status") or {}).get("phase")
    return str(phase) if phase else "Pending"


def rollout_run_status(run: Mapping[str, Any]) -> JsonDict:
    """``{name, status, message}`` as a Rollout records its current runs."""
    status = run.get("status") or {}
    out: JsonDict = {
        "name": (run.get("metadata") or {}).get("name"),
        "status": run_phase_outcome(run),
    }
    if status.get("message"):
        out["message"] = status["message"]
    return out


def template_references(
    rollout_analysis: Mapping[str, Any], templates: Sequence[Mapping[str, Any]] = ()
) -> list[tuple[bool, str]]:
    """(cluster scoped?, name) of every template the block needs, nested references of the
    given templates included, in first-reference order."""
    refs: list[tuple[bool, str]] = []

    def add(raw_refs: Sequence[Mapping[str, Any]]) -> None:
        for ref in raw_refs:
            key = (bool(ref.get("clusterScope")), str(ref.get("templateName") or ""))
            if key not in refs:
                refs.append(key)

    add(rollout_analysis.get("templates") or [])
    by_key = {_template_key(t): t for t in templates}
    i = 0
    while i < len(refs):
        template = by_key.get(refs[i])
        if template is not None:
            add((template.get("spec") or {}).get("templates") or [])
        i += 1
    return refs


# -- templates ---------------------------------------------------------------------------------


def _template_key(template: Mapping[str, Any]) -> tuple[bool, str]:
    return (
        template.get("kind") == "ClusterAnalysisTemplate",
        str((template.get("metadata") or {}).get("name") or ""),
    )


def _collect_templates(
    rollout_analysis: Mapping[str, Any], templates: Sequence[Mapping[str, Any]]
) -> list[Mapping[str, Any]]:
    by_key = {_template_key(t): t for t in templates}
    refs = rollout_analysis.get("templates") or []
    if not refs:
        raise AnalysisSpecError("templates", "at least one template is required")
    for i, ref in enumerate(refs):
        key = (bool(ref.get("clusterScope")), str(ref.get("templateName") or ""))
        if key not in by_key:
            kind = "ClusterAnalysisTemplate" if key[0] else "AnalysisTemplate"
            raise AnalysisSpecError(f"templates[{i}]", f"{kind} '{key[1]}' not found")
    needed = template_references(rollout_analysis, templates)
    for key in needed:
        if key not in by_key:
            kind = "ClusterAnalysisTemplate" if key[0] else "AnalysisTemplate"
            raise AnalysisSpecError("templates", f"{kind} '{key[1]}' not found")
    # Namespaced templates first, then cluster templates, each in reference order (Argo).
    return [by_key[k] for k in needed if not k[0]] + [by_key[k] for k in needed if k[0]]


# -- arguments ---------------------------------------------------------------------------------


def _merge_args(
    templates: Sequence[Mapping[str, Any]],
    rollout_args: Sequence[Mapping[str, Any]],
    rollout: Mapping[str, Any],
    pod_hash: str,
    stable_hash: str | None,
) -> list[JsonDict]:
    declared: dict[str, JsonDict] = {}
    for template in templates:
        for arg in (template.get("spec") or {}).get("args") or []:
            name = str(arg.get("name"))
            previous = declared.get(name)
            if previous is None or (_has_value(arg) and not _has_value(previous)):
                declared[name] = copy.deepcopy(dict(arg))
            elif _has_value(arg) and _source(arg) != _source(previous):
                raise AnalysisSpecError(
                    "templates",
                    f"Argument `{name}` specified multiple times with different values: "
                    f"'{_describe(previous)}', '{_describe(arg)}'",
                )
    for i, arg in enumerate(rollout_args):
        name = str(arg.get("name"))
        if name not in declared:
            continue  # Argo ignores arguments no template declares
        value = _rollout_arg_value(i, arg, rollout, pod_hash, stable_hash)
        if value is not None:
            declared[name] = {"name": name, "value": value}
    for name, arg in declared.items():
        if not _has_value(arg):
            raise AnalysisSpecError("args", f"args.{name} was not resolved")
    return list(declared.values())


def _has_value(arg: Mapping[str, Any]) -> bool:
    return arg.get("value") is not None or bool(arg.get("valueFrom"))


def _source(arg: Mapping[str, Any]) -> Any:
    return arg.get("value") if arg.get("value") is not None else arg.get("valueFrom")


def _describe(arg: Mapping[str, Any]) -> str:
    source = _source(arg)
    return source if isinstance(source, str) else compact_json(source)


def _rollout_arg_value(
    i: int,
    arg: Mapping[str, Any],
    rollout: Mapping[str, Any],
    pod_hash: str,
    stable_hash: str | None,
) -> str | None:
    if arg.get("value") is not None:
        return str(arg["value"])
    value_from = arg.get("valueFrom") or {}
    which = value_from.get("podTemplateHashValue")
    if which is not None:
        if which == "Latest":
            return pod_hash
        if which == "Stable":
            if not stable_hash:
                raise AnalysisSpecError(
                    f"args[{i}].valueFrom.podTemplateHashValue",
                    "Stable pod hash is not known yet (no stable ReplicaSet)",
                )
            return stable_hash
        raise AnalysisSpecError(
            f"args[{i}].valueFrom.podTemplateHashValue",
            f"must be Stable or Latest, got {which!r}",
        )
    field_ref = value_from.get("fieldRef") or {}
    if field_ref.get("fieldPath"):
        try:
            return resolve_field_path(rollout, str(field_ref["fieldPath"]))
        except ValueError as exc:
            raise AnalysisSpecError(f"args[{i}].valueFrom.fieldRef", str(exc)) from None
    return None


_META_KEY = re.compile(r"^metadata\.(labels|annotations)\[['\"](.+)['\"]\]$")


def resolve_field_path(obj: Mapping[str, Any], path: str) -> str:
    """A Rollout field as a string: downward-API paths under ``metadata``, else a walk of the
    JSON splitting on ``.``, ``[`` and ``]`` that must end at a scalar (Argo's wording)."""
    meta = obj.get("metadata") or {}
    if path.startswith("metadata"):
        if path in ("metadata.name", "metadata.namespace", "metadata.uid"):
            return str(meta.get(path.split(".", 1)[1]) or "")
        if path in ("metadata.labels", "metadata.annotations"):
            items = meta.get(path.split(".", 1)[1]) or {}
            # The downward API's format for a whole map: key="value" lines, sorted.
            return "\n".join(f'{k}="{v}"' for k, v in sorted(items.items()))
        match = _META_KEY.match(path)
        if match:
            return str((meta.get(match.group(1)) or {}).get(match.group(2), ""))
    parts = [p for p in re.split(r"[.\[\]]", path) if p]
    node: Any = obj
    for part in parts:
        if isinstance(node, list):
            try:
                index = int(part)
            except ValueError:
                raise ValueError(f"invalid path {path} in rollout") from None
            if not 0 <= index < len(node):
                raise ValueError(f"index {index} out of range")
            node = node[index]
        elif isinstance(node, Mapping) and part in node:
            node = node[part]
        else:
            raise ValueError(f"invalid path {path} in rollout")
    if isinstance(node, Mapping | list):
        raise ValueError(f"path {path} in rollout must terminate in a primitive value")
    if node is None:
        raise ValueError(f"invalid path {path} in rollout")
    return node if isinstance(node, str) else compact_json(node)


# -- rules and validation ------------------------------------------------------------------------


def _merge_rules(
    field: str,
    what: str,
    rollout_analysis: Mapping[str, Any],
    templates: Sequence[Mapping[str, Any]],
) -> list[JsonDict]:
    rules: list[JsonDict] = []
    seen: set[str] = set()
    sources = [rollout_analysis.get(field) or []]
    sources += [(t.get("spec") or {}).get(field) or [] for t in templates]
    for source in sources:
        for rule in source:
            name = str(rule.get("metricName"))
            if name in seen:
                raise AnalysisSpecError(
                    field, f"two {what} metric rules have the same name '{name}'"
                )
            seen.add(name)
            rules.append(copy.deepcopy(dict(rule)))
    return rules


def _refuse_indefinite(templates: Sequence[Mapping[str, Any]], args: Sequence[JsonDict]) -> None:
    """Step and blue-green runs must end: no metric with an interval but no count."""
    values = {str(a["name"]): str(a["value"]) for a in args if a.get("value") is not None}
    for template in templates:
        template_name = (template.get("metadata") or {}).get("name")
        for metric in (template.get("spec") or {}).get("metrics") or []:
            try:
                resolved = substitute(
                    {"count": metric.get("count"), "interval": metric.get("interval")}, values
                )
            except ValueError:
                continue  # a Secret-backed count: the run's own validation reports it
            count = resolved.get("count")
            try:
                number = int(count) if count is not None else 0
            except (TypeError, ValueError):
                number = 0
            if resolved.get("interval") and number <= 0:
                raise AnalysisSpecError(
                    "templates",
                    f"AnalysisTemplate {template_name} has metric {metric.get('name')} which "
                    f"runs indefinitely. Invalid value for count: {count}",
                )
