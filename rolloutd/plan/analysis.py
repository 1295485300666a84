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
from rolloutd.model.constants import ROLLOUT_TYPE_LABEL, STEP_INDEX_LABEL
from rolloutd.model.rollout import DEFAULT_ANALYSIS_RUN_HISTORY, CanaryStrategy, RolloutSpec
from rolloutd.plan.types import (
    POD_HASH_LABEL,
    CreateAnalysisRun,
    DeleteAnalysisRun,
    JsonDict,
    TerminateAnalysisRun,
)

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
    blue_green = spec.strategy.blue_green
    if blue_green is not None:
        for field_name, block in (
            ("prePromotionAnalysis", blue_green.pre_promotion_analysis),
            ("postPromotionAnalysis", blue_green.post_promotion_analysis),
        ):
            if block is not None:
                found.append((f"spec.strategy.blueGreen.{field_name}", block.to_json()))
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
        kind = _KIND_OF_FIELD.get(path.rsplit(".", 1)[-1], "Step")
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


_KIND_OF_FIELD = {
    "analysis": "Background",
    "prePromotionAnalysis": "PrePromotion",
    "postPromotionAnalysis": "PostPromotion",
}


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
    runner = _Runner(out, rollout, runs, templates, pod_hash, stable_hash, revision)
    ensure = runner.ensure

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
    runner.finish(spec)
    return out


@dataclass
class _Runner:
    """Finds, creates and reads back the runs of one template; stops and prunes the rest."""

    out: AnalysisOutcome
    rollout: JsonDict
    runs: Sequence[JsonDict]
    templates: Mapping[TemplateKey, JsonDict]
    pod_hash: str
    stable_hash: str | None
    revision: int
    wanted: set[str] = field(default_factory=set)

    def current(self, kind: str, index: int | None) -> JsonDict | None:
        return _newest(
            [
                r
                for r in self.runs
                if _labels(r).get(ROLLOUT_TYPE_LABEL) == kind
                and _labels(r).get(POD_HASH_LABEL) == self.pod_hash
                and (index is None or _labels(r).get(STEP_INDEX_LABEL) == str(index))
            ]
        )

    def read(
        self, kind: str, *, keep: bool, recorded: str | None
    ) -> tuple[str | None, JsonDict | None]:
        """(phase, status) of the current run of `kind`; `keep`: it is not terminated."""
        run = _unless_forgotten(self.current(kind, None), recorded)
        if run is None:
            return None, None
        if keep:
            self.wanted.add(run["metadata"]["name"])
        return run_phase_outcome(run), rollout_run_status(run)

    def ensure(
        self, kind: str, index: int | None, block: JsonDict, *, recorded: str | None = ""
    ) -> tuple[str | None, JsonDict]:
        """(phase, status) of the run of `kind`, created first when there is none (see
        `_unless_forgotten` for `recorded`)."""
        run = self.current(kind, index)
        if recorded != "":
            run = _unless_forgotten(run, recorded)
        if run is None:
            resolved, _ = resolve_templates(block, self.templates)
            body = build_analysis_run(
                rollout=self.rollout,
                templates=resolved,
                rollout_analysis=block,
                kind=kind,
                step_index=index,
                pod_hash=self.pod_hash,
                revision=self.revision,
                stable_hash=self.stable_hash,
            )
            taken = {r["metadata"]["name"] for r in self.runs}
            base, n = body["metadata"]["name"], 0
            while body["metadata"]["name"] in taken:  # Argo's collision counter: name.1, ...
                n += 1
                body["metadata"]["name"] = f"{base}.{n}"
            self.out.actions.append(CreateAnalysisRun(body))
            self.wanted.add(body["metadata"]["name"])
            return None, {"name": body["metadata"]["name"], "status": "Pending"}
        self.wanted.add(run["metadata"]["name"])
        return run_phase_outcome(run), rollout_run_status(run)

    def finish(self, spec: RolloutSpec) -> None:
        """Terminate what still runs but is not wanted; keep only the last finished runs."""
        _stop_and_prune(self.out, self.runs, self.wanted, spec)


def _unless_forgotten(run: JsonDict | None, recorded: str | None) -> JsonDict | None:
    """A run that did not succeed counts only while the status still names it (`recorded`):
    a retry forgets it, so the analysis runs again (Argo's `needsNewAnalysisRun`)."""
    if run is None or run_phase_outcome(run) not in TERMINAL - {"Successful"}:
        return run
    return run if run["metadata"]["name"] == recorded else None


@dataclass
class PromotionOutcome:
    """What blue-green's pre- and post-promotion runs mean for the rollout."""

    actions: list[CreateAnalysisRun | TerminateAnalysisRun | DeleteAnalysisRun]
    pre_phase: str | None = None
    pre_status: JsonDict | None = None
    post_phase: str | None = None
    post_status: JsonDict | None = None
    abort_reason: str | None = None
    """`Blue/green pre-promotion analysis phase failed: ...` when a run failed."""
    inconclusive: bool = False


def plan_promotion_analysis(
    *,
    rollout: JsonDict,
    spec: RolloutSpec,
    runs: Sequence[JsonDict],
    templates: Mapping[TemplateKey, JsonDict],
    pod_hash: str,
    stable_hash: str | None,
    revision: int,
    start_pre: bool,
    start_post: bool,
    recorded: tuple[str | None, str | None],
    active: bool,
) -> PromotionOutcome:
    """Blue-green's runs (Argo's `reconcileBlueGreenAnalysis`): a run of this template is read
    back wherever it is (its status stays visible after the rollout moves on); a missing one
    is created only when `start_pre` / `start_post` say its moment has come. `recorded`: the
    (pre, post) run names the status holds (a failed run it no longer names is run again).
    A run that started goes on while `active` (an update in progress); everything else that
    runs is terminated."""
    out = AnalysisOutcome()
    runner = _Runner(out, rollout, runs, templates, pod_hash, stable_hash, revision)
    blue_green = spec.strategy.blue_green
    result = PromotionOutcome(actions=out.actions)
    if blue_green is None:
        runner.finish(spec)
        return result
    for kind, block, start, label, name in (
        (
            "PrePromotion",
            blue_green.pre_promotion_analysis,
            start_pre,
            "pre-promotion",
            recorded[0],
        ),
        (
            "PostPromotion",
            blue_green.post_promotion_analysis,
            start_post,
            "post-promotion",
            recorded[1],
        ),
    ):
        phase: str | None
        status: JsonDict | None
        if block is not None and start and active:
            phase, status = runner.ensure(kind, None, block.to_json(), recorded=name)
        else:
            phase, status = runner.read(kind, keep=active and block is not None, recorded=name)
        if kind == "PrePromotion":
            result.pre_phase, result.pre_status = phase, status
        else:
            result.post_phase, result.post_status = phase, status
        live = active and block is not None
        if live and phase in FAILED and result.abort_reason is None and status is not None:
            reason = f"Blue/green {label} analysis phase {phase.lower()}"
            message = status.get("message")
            result.abort_reason = f"{reason}: {message}" if message else reason
        if live and phase == "Inconclusive":
            result.inconclusive = True
    runner.finish(spec)
    return result


def _stop_and_prune(
    out: AnalysisOutcome, runs: Sequence[JsonDict], wanted: set[str], spec: RolloutSpec
) -> None:
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
