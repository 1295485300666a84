"""The Rollout side of analysis: which AnalysisRuns a canary needs, and what their phases mean.

Pure, like the rest of the planner. For the current template it finds the run of each analysis
block (the current `analysis` step, and background analysis from `startingStep` on), asks for
the ones that do not exist yet to be created (built by `rolloutd.analysis.build`), and reads
the others back: Successful completes an analysis step, Inconclusive pauses the rollout
(`InconclusiveAnalysisRun`), Failed or Error aborts it. Runs that no longer matter (an older
template, a step left behind, an aborted or promoted rollout) are terminated, and old finished
runs beyond the history limits are deleted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from rolloutd.analysis.build import (
    AnalysisSpecError,
    build_analysis_run,
    rollout_run_status,
    run_phase_outcome,
    template_references,
)
from rolloutd.model.rollout import DEFAULT_ANALYSIS_RUN_HISTORY, CanaryStrategy, RolloutSpec
from rolloutd.plan.types import (
    POD_HASH_LABEL,
    CreateAnalysisRun,
    DeleteAnalysisRun,
    JsonDict,
    TerminateAnalysisRun,
)

ROLLOUT_TYPE_LABEL = "rollout-type"
STEP_INDEX_LABEL = "step-index"
TERMINAL = frozenset({"Successful", "Failed", "Error", "Inconclusive"})
FAILED = frozenset({"Failed", "Error"})

TemplateKey = tuple[bool, str]
"""(cluster scoped?, name) of an AnalysisTemplate."""


@dataclass
class AnalysisOutcome:
    """What the runs of this plan mean for the rollout."""

    actions: list[CreateAnalysisRun | TerminateAnalysisRun | DeleteAnalysisRun] = field(
        default_factory=list
    )
    step_status: JsonDict | None = None
    background_status: JsonDict | None = None
    step_phase: str | None = None
    background_phase: str | None = None
    abort_reason: str | None = None
    """`Step-based analysis phase error/failed: ...` when a run failed."""
    inconclusive: bool = False


def blocks(spec: RolloutSpec) -> list[tuple[str, JsonDict]]:
    """Every analysis block of the spec, with its field path."""
    canary = spec.strategy.canary or CanaryStrategy()
    found: list[tuple[str, JsonDict]] = []
    if canary.analysis is not None:
        found.append(("spec.strategy.canary.analysis", canary.analysis.to_json()))
    for i, step in enumerate(canary.steps or []):
        if step.analysis is not None:
            found.append((f"spec.strategy.canary.steps[{i}].analysis", step.analysis.to_json()))
    return found


def resolve_templates(
    block: JsonDict, templates: Mapping[TemplateKey, JsonDict]
) -> tuple[list[JsonDict], list[str]]:
    """The template objects a block needs (nested included), and what is missing."""
    refs = template_references(block, list(templates.values()))
    found, missing = [], []
    for cluster, name in refs:
        obj = templates.get((cluster, name))
        if obj is None:
            kind = "ClusterAnalysisTemplate" if cluster else "AnalysisTemplate"
            missing.append(f"{kind} '{name}' not found")
        else:
            found.append(obj)
    return found, missing


def spec_errors(
    rollout: JsonDict, spec: RolloutSpec, templates: Mapping[TemplateKey, JsonDict]
) -> list[str]:
    """Analysis problems that make the spec invalid: missing templates, unresolvable args."""
    errors = []
    for path, block in blocks(spec):
        resolved, missing = resolve_templates(block, templates)
        if missing:
            errors += [f"{path}.templates: {m}" for m in missing]
            continue
        kind = "Background" if path.endswith("canary.analysis") else "Step"
        try:
            build_analysis_run(
                rollout=rollout,
                templates=resolved,
                rollout_analysis=block,
                kind=kind,
                step_index=0 if kind == "Step" else None,
                pod_hash="validation",
                revision=0,
                stable_hash="validation",
            )
        except AnalysisSpecError as exc:
            where = f"{path}.{exc.path}" if exc.path else path
            errors.append(f"{where}: {exc.message}")
    return errors


def _labels(run: JsonDict) -> Mapping[str, str]:
    labels: Mapping[str, str] = (run.get("metadata") or {}).get("labels") or {}
    return labels


def _newest(runs: Sequence[JsonDict]) -> JsonDict | None:
    return max(
        runs,
        key=lambda r: (
            r["metadata"].get("creationTimestamp") or "",
            r["metadata"].get("name") or "",
        ),
        default=None,
    )


def plan_analysis(
    *,
    rollout: JsonDict,
    spec: RolloutSpec,
    runs: Sequence[JsonDict],
    templates: Mapping[TemplateKey, JsonDict],
    pod_hash: str,
    stable_hash: str | None,
    revision: int,
    step_index: int | None,
    active: bool,
) -> AnalysisOutcome:
    """The runs this plan needs. `active`: a canary is in progress (not aborted, not promoted,
    not a first deploy), so analysis should run; otherwise every running run is terminated."""
    out = AnalysisOutcome()
    canary = spec.strategy.canary or CanaryStrategy()
    steps = canary.steps or []
    wanted: set[str] = set()

    def current(kind: str, index: int | None) -> JsonDict | None:
        return _newest(
            [
                r
                for r in runs
                if _labels(r).get(ROLLOUT_TYPE_LABEL) == kind
                and _labels(r).get(POD_HASH_LABEL) == pod_hash
                and (index is None or _labels(r).get(STEP_INDEX_LABEL) == str(index))
            ]
        )

    def ensure(kind: str, index: int | None, block: JsonDict) -> tuple[str | None, JsonDict]:
        run = current(kind, index)
        if run is None:
            resolved, _ = resolve_templates(block, templates)
            body = build_analysis_run(
                rollout=rollout,
                templates=resolved,
                rollout_analysis=block,
                kind=kind,
                step_index=index,
                pod_hash=pod_hash,
                revision=revision,
                stable_hash=stable_hash,
            )
            out.actions.append(CreateAnalysisRun(body))
            wanted.add(body["metadata"]["name"])
            return None, {"name": body["metadata"]["name"], "status": "Pending"}
        wanted.add(run["metadata"]["name"])
        return run_phase_outcome(run), rollout_run_status(run)

    if active and step_index is not None and step_index < len(steps):
        step = steps[step_index]
        if step.analysis is not None:
            out.step_phase, out.step_status = ensure("Step", step_index, step.analysis.to_json())
            if out.step_phase in FAILED:
                message = out.step_status.get("message") or ""
                out.abort_reason = f"Step-based analysis phase {out.step_phase.lower()}: {message}"
    background = canary.analysis
    starting = (background.starting_step or 0) if background else 0
    if active and background is not None and (step_index or 0) >= starting:
        out.background_phase, out.background_status = ensure(
            "Background", None, background.to_json()
        )
        if out.background_phase in FAILED and out.abort_reason is None:
            message = out.background_status.get("message") or ""
            out.abort_reason = (
                f"Background analysis phase {out.background_phase.lower()}: {message}"
            )
    out.inconclusive = "Inconclusive" in (out.step_phase, out.background_phase)

    # Terminate what is still running but no longer wanted.
    for run in runs:
        name = run["metadata"]["name"]
        if name in wanted or run_phase_outcome(run) in TERMINAL:
            continue
        if not (run.get("spec") or {}).get("terminate"):
            out.actions.append(TerminateAnalysisRun(name))

    # Keep the last N finished runs of each kind (Argo: 5 successful, 5 unsuccessful).
    limits = spec.analysis
    keep_ok = limits.successful_run_history_limit if limits else None
    keep_bad = limits.unsuccessful_run_history_limit if limits else None
    for outcomes, keep in (
        ({"Successful"}, DEFAULT_ANALYSIS_RUN_HISTORY if keep_ok is None else keep_ok),
        (
            {"Failed", "Error", "Inconclusive"},
            DEFAULT_ANALYSIS_RUN_HISTORY if keep_bad is None else keep_bad,
        ),
    ):
        done = [
            r
            for r in runs
            if run_phase_outcome(r) in outcomes and r["metadata"]["name"] not in wanted
        ]
        done.sort(key=lambda r: r["metadata"].get("creationTimestamp") or "")
        for run in done[: max(0, len(done) - keep)]:
            out.actions.append(DeleteAnalysisRun(run["metadata"]["name"]))
    return out
