"""A dry run of a Rollout change: the pure planner driven against a simulated cluster and clock.

`kubectl argo rollouts plan` reads the Rollout and what it owns, applies the change in memory
(a new spec, or a new image), and hands the result to `dry_run`, which plays the controller's
loop here, without I/O: plan, carry out the actions on plain dicts, let pods come up, move the
clock to the plan's requeue time. It records the rollout's state after each pass and folds it
into one `StepPlan` per canary step (or blue-green phase): the pods per ReplicaSet, the weight
per router destination, the pauses and analyses, and where a person has to promote.

What the dry run assumes, printed with every plan (`ASSUMPTIONS`): pods become ready at once,
every AnalysisRun succeeds, and a person promotes at each indefinite pause. Under those
assumptions the sequence of states is the one the controller walks through on a real cluster.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from rolloutd.model.rollout import parse_rollout
from rolloutd.plan.planner import plan as make_plan
from rolloutd.plan.types import (
    POD_HASH_LABEL,
    Action,
    AnnotateReplicaSet,
    AnnotateRollout,
    CreateAnalysisRun,
    CreateReplicaSet,
    DeleteAnalysisRun,
    DeleteReplicaSet,
    ReplicaSetView,
    RouterState,
    ScaleReplicaSet,
    ServiceView,
    SetWeight,
    Snapshot,
    SwitchService,
    SyncPodMetadata,
    TerminateAnalysisRun,
)

JsonDict = dict[str, Any]

ASSUMPTIONS: tuple[str, ...] = (
    "pods become ready as soon as they are created",
    "every analysis succeeds",
    "a person promotes at each indefinite pause",
)

# `trafficRouting` keys that are settings, not routers (as rolloutd.traffic.registry has them).
_NOT_ROUTERS = frozenset({"plugins", "managedRoutes", "maxTrafficWeight"})
# A dry run that has not converged after this many passes is reported as such.
MAX_PASSES = 500
# A requeue longer than this is cut short: nothing in a rollout waits for more than a day.
_MAX_WAIT = dt.timedelta(hours=24)


class DryRunError(Exception):
    """The change cannot be planned (invalid spec, no convergence); the message says why."""


@dataclass(frozen=True)
class Frame:
    """The rollout's state after one controller pass."""

    at: float
    """Seconds since the change was applied."""
    step_index: int | None
    phase: str
    message: str
    pods: Mapping[str, int]
    """spec.replicas by ReplicaSet name (ReplicaSets scaled to zero left out)."""
    weights: Mapping[str, int]
    """Traffic weight by destination (`stable`, `canary`) when a router is used."""
    services: Mapping[str, str]
    """Pod hash each named Service selects."""
    waiting_for_person: bool
    acting: int | None = None
    """The step index whose actions this state is the result of."""


@dataclass(frozen=True)
class StepPlan:
    """What one step does, as it stands when the step is done (or the rollout waits in it)."""

    index: int | None
    """Canary step index; None for the phases of a blue-green rollout or a step-less canary."""
    description: str
    pods: Mapping[str, int]
    weights: Mapping[str, int]
    services: Mapping[str, str]
    waits_for_person: bool
    wait_seconds: float
    """Time spent in this step under the assumptions (pauses with a duration, requeues)."""
    analysis: tuple[str, ...] = ()


@dataclass(frozen=True)
class DryRun:
    """The whole plan: steps in order, the final state, the total expected duration."""

    rollout: str
    strategy: str
    steps: tuple[StepPlan, ...]
    frames: tuple[Frame, ...]
    final_phase: str
    expected_seconds: float
    promotions: int
    analyses: tuple[str, ...]
    weight_changes: tuple[int, ...] = ()
    """Every canary weight the routers are set to, in order, from the one they hold now."""
    assumptions: tuple[str, ...] = ASSUMPTIONS

    def to_json(self) -> JsonDict:
        return {
            "rollout": self.rollout,
            "strategy": self.strategy,
            "assumptions": list(self.assumptions),
            "expectedDurationSeconds": self.expected_seconds,
            "promotions": self.promotions,
            "finalPhase": self.final_phase,
            "analyses": list(self.analyses),
            "weightChanges": list(self.weight_changes),
            "steps": [
                {
                    "index": s.index,
                    "description": s.description,
                    "pods": dict(s.pods),
                    "weights": dict(s.weights),
                    "services": dict(s.services),
                    "waitsForPerson": s.waits_for_person,
                    "waitSeconds": s.wait_seconds,
                    "analysis": list(s.analysis),
                }
                for s in self.steps
            ],
        }


@dataclass
class World:
    """One Rollout's objects as plain dicts, the router's weight, and a clock."""

    rollout: JsonDict
    replica_sets: dict[str, JsonDict] = field(default_factory=dict)
    services: dict[str, JsonDict] = field(default_factory=dict)
    analysis_runs: dict[str, JsonDict] = field(default_factory=dict)
    analysis_templates: Mapping[tuple[bool, str], JsonDict] = field(default_factory=dict)
    router_weight: int | None = None
    now: dt.datetime = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    created_runs: list[str] = field(default_factory=list)

    @property
    def spec(self) -> JsonDict:
        spec: JsonDict = self.rollout.setdefault("spec", {})
        return spec

    @property
    def status(self) -> JsonDict:
        status: JsonDict = self.rollout.setdefault("status", {})
        return status

    def routers(self) -> list[str]:
        canary = (self.spec.get("strategy") or {}).get("canary") or {}
        routing = canary.get("trafficRouting")
        if not isinstance(routing, dict):
            return []
        names = [k for k in routing if k not in _NOT_ROUTERS]
        names += list((routing.get("plugins") or {}).keys())
        return names

    def named_services(self) -> list[str]:
        strategy = self.spec.get("strategy") or {}
        canary = strategy.get("canary") or {}
        blue_green = strategy.get("blueGreen") or {}
        names = (
            canary.get("stableService"),
            canary.get("canaryService"),
            blue_green.get("activeService"),
            blue_green.get("previewService"),
        )
        return [str(n) for n in names if n]

    def snapshot(self) -> Snapshot:
        services: dict[str, ServiceView | None] = {}
        for name in self.named_services():
            svc = self.services.get(name)
            services[name] = ServiceView.from_dict(copy.deepcopy(svc)) if svc else None
        return Snapshot(
            rollout=parse_rollout(copy.deepcopy(self.rollout)),
            replica_sets=[
                ReplicaSetView.from_dict(copy.deepcopy(rs)) for rs in self.replica_sets.values()
            ],
            services=services,
            routers=[RouterState(name=n, canary_weight=self.router_weight) for n in self.routers()],
            raw=copy.deepcopy(self.rollout),
            analysis_runs=[copy.deepcopy(r) for r in self.analysis_runs.values()],
            analysis_templates=self.analysis_templates,
        )

    def do(self, action: Action) -> None:
        """Carry out one action on the dicts (only what changes what a later pass reads)."""
        stamp = self.now.strftime("%Y-%m-%dT%H:%M:%SZ")
        if isinstance(action, CreateReplicaSet):
            body = copy.deepcopy(action.body)
            name = body["metadata"]["name"]
            if name not in self.replica_sets:
                body["metadata"].update(generation=1, creationTimestamp=stamp)
                body["status"] = {"replicas": 0, "observedGeneration": 0}
                self.replica_sets[name] = body
        elif isinstance(action, ScaleReplicaSet):
            rs = self.replica_sets[action.name]
            if int(rs["spec"].get("replicas", 1)) != action.replicas:
                rs["spec"]["replicas"] = action.replicas
                rs["metadata"]["generation"] = int(rs["metadata"].get("generation") or 1) + 1
            _annotate(rs, action.annotations)
        elif isinstance(action, AnnotateReplicaSet):
            _annotate(self.replica_sets[action.name], action.annotations)
        elif isinstance(action, DeleteReplicaSet):
            self.replica_sets.pop(action.name, None)
        elif isinstance(action, SyncPodMetadata):
            rs = self.replica_sets[action.name]
            meta = rs["spec"].setdefault("template", {}).setdefault("metadata", {})
            for kind, changes in action.template.items():
                values = meta.setdefault(kind, {})
                for key, value in changes.items():
                    if value is None:
                        values.pop(key, None)
                    else:
                        values[key] = value
        elif isinstance(action, SwitchService):
            svc = self.services.get(action.service)
            if svc is not None:
                svc.setdefault("spec", {}).setdefault("selector", {})[POD_HASH_LABEL] = (
                    action.pod_hash
                )
        elif isinstance(action, SetWeight):
            self.router_weight = action.weight
        elif isinstance(action, AnnotateRollout):
            self.rollout.setdefault("metadata", {}).setdefault("annotations", {}).update(
                action.annotations
            )
        elif isinstance(action, CreateAnalysisRun):
            body = copy.deepcopy(action.body)
            name = str(body["metadata"].get("name") or f"run-{len(self.analysis_runs)}")
            # The assumption: every analysis succeeds as soon as it is created.
            body["status"] = {"phase": "Successful"}
            self.analysis_runs[name] = body
            self.created_runs.append(name)
        elif isinstance(action, TerminateAnalysisRun):
            run = self.analysis_runs.get(action.name)
            if run is not None:
                run.setdefault("spec", {})["terminate"] = True
        elif isinstance(action, DeleteAnalysisRun):
            self.analysis_runs.pop(action.name, None)
        # Header and mirror routes, hash updates and route removal change nothing a later
        # pass reads, so they are left out of the simulation.

    def kubelet(self) -> None:
        """Every ReplicaSet's pods exist and are available (the first assumption)."""
        for rs in self.replica_sets.values():
            spec = int(rs["spec"].get("replicas", 1))
            rs["status"] = {
                "observedGeneration": rs["metadata"].get("generation", 1),
                "replicas": spec,
                "readyReplicas": spec,
                "availableReplicas": spec,
                "fullyLabeledReplicas": spec,
            }

    def waiting_for_person(self) -> bool:
        """An indefinite pause: `spec.paused`, or a pause condition no duration will end."""
        if self.spec.get("paused"):
            return True
        if not self.status.get("pauseConditions"):
            return False
        step = current_step(self.rollout)
        if step is None or "pause" not in step:
            # Blue-green's pre-promotion pause ends by itself only with autoPromotionSeconds.
            bg = (self.spec.get("strategy") or {}).get("blueGreen") or {}
            return not bg.get("autoPromotionSeconds")
        pause = step.get("pause")
        duration = pause.get("duration") if isinstance(pause, dict) else None
        return duration in (None, "", 0, "0")

    def promote(self) -> None:
        """What `promote` sends for an indefinite pause: clear the pause (see cli/patches)."""
        self.spec.pop("paused", None)
        self.status.pop("pauseConditions", None)

    def frame(self, at: float) -> Frame:
        pods = {
            name: int(rs["spec"].get("replicas", 1))
            for name, rs in sorted(self.replica_sets.items())
            if int(rs["spec"].get("replicas", 1)) > 0
        }
        weights: dict[str, int] = {}
        if self.routers() and self.router_weight is not None:
            weights = {"stable": 100 - self.router_weight, "canary": self.router_weight}
        services = {
            name: str(((svc.get("spec") or {}).get("selector") or {}).get(POD_HASH_LABEL, ""))
            for name, svc in sorted(self.services.items())
            if name in self.named_services()
        }
        index = self.status.get("currentStepIndex")
        return Frame(
            at=at,
            step_index=None if index is None else int(index),
            phase=str(self.status.get("phase") or ""),
            message=str(self.status.get("message") or ""),
            pods=pods,
            weights=weights,
            services=services,
            waiting_for_person=self.waiting_for_person(),
            acting=None if index is None else int(index),
        )


def _annotate(rs: JsonDict, annotations: Mapping[str, str | None]) -> None:
    current = rs["metadata"].setdefault("annotations", {})
    for key, value in annotations.items():
        if value is None:
            current.pop(key, None)
        else:
            current[key] = value


def steps_of(rollout: Mapping[str, Any]) -> list[JsonDict]:
    canary = ((rollout.get("spec") or {}).get("strategy") or {}).get("canary") or {}
    steps = canary.get("steps") or []
    return [s for s in steps if isinstance(s, dict)]


def current_step(rollout: Mapping[str, Any]) -> JsonDict | None:
    index = (rollout.get("status") or {}).get("currentStepIndex")
    steps = steps_of(rollout)
    if index is None or not 0 <= int(index) < len(steps):
        return None
    return steps[int(index)]


def describe_step(step: Mapping[str, Any]) -> str:
    """One line for a canary step, in the words of `get rollout`'s step list."""
    if "setWeight" in step:
        return f"setWeight: {step['setWeight']}"
    if "pause" in step:
        pause = step.get("pause") or {}
        duration = pause.get("duration") if isinstance(pause, dict) else None
        return f"pause: {duration}" if duration not in (None, "") else "pause (until promoted)"
    if "analysis" in step:
        templates = (step.get("analysis") or {}).get("templates") or []
        names = ", ".join(str(t.get("templateName", "")) for t in templates)
        return f"analysis: {names}"
    if "setCanaryScale" in step:
        return f"setCanaryScale: {step['setCanaryScale']}"
    if "experiment" in step:
        return "experiment"
    key = next(iter(step), "step")
    return f"{key}: {step.get(key)}"


def dry_run(
    world: World,
    *,
    max_passes: int = MAX_PASSES,
) -> DryRun:
    """Drive `world` (its spec already changed) until the rollout is done or waits forever.

    Each pass: plan, carry out the actions, write the status, bring pods up, let a person
    promote at an indefinite pause, then move the clock to the plan's requeue time.
    """
    start = world.now
    # The first assumption holds from the start: what exists now is up and ready.
    world.kubelet()
    frames: list[Frame] = []
    initial = world.frame(0.0)
    promotions = 0
    quiet = 0
    for _ in range(max_passes):
        acted_on = world.status.get("currentStepIndex")
        result = make_plan(world.snapshot(), world.now)
        if result.checkpoint is not None:
            # The finished step is recorded before the next one acts: that instant is the
            # state the finished step leaves behind.
            world.rollout["status"] = copy.deepcopy(result.checkpoint.status)
            boundary = world.frame((world.now - start).total_seconds())
            frames.append(replace(boundary, acting=acted_on))
        before = copy.deepcopy((world.replica_sets, world.services, world.router_weight))
        for action in result.actions:
            world.do(action)
        old_status = copy.deepcopy(world.status)
        world.rollout["status"] = copy.deepcopy(result.status)
        world.kubelet()
        elapsed = (world.now - start).total_seconds()
        frame = world.frame(elapsed)
        if result.checkpoint is None:
            # No step was recorded first: these actions were the step the pass started in.
            frame = replace(frame, acting=acted_on)
        else:
            frame = replace(frame, acting=result.checkpoint.status.get("currentStepIndex"))
        frames.append(frame)
        if frame.phase == "Degraded" or (frame.phase == "" and frame.message):
            raise DryRunError(frame.message or "the rollout would be Degraded")
        if _invalid(world.status):
            raise DryRunError(_invalid(world.status) or "invalid spec")
        if frame.waiting_for_person:
            world.promote()
            promotions += 1
            quiet = 0
            continue
        changed = before != (world.replica_sets, world.services, world.router_weight)
        if not changed and old_status == world.status:
            if frame.phase == "Healthy":
                quiet += 1
                if quiet >= 2:
                    break
            if result.requeue_after is None and frame.phase != "Healthy":
                # Nothing to wait for and nothing changes: the rollout is stuck here.
                quiet += 1
                if quiet >= 5:
                    break
        else:
            quiet = 0
        wait = result.requeue_after if result.requeue_after else dt.timedelta(seconds=1)
        world.now += max(dt.timedelta(seconds=1), min(wait, _MAX_WAIT))
    else:
        raise DryRunError(f"the dry run did not converge after {max_passes} passes")
    strategy = "blueGreen" if (world.spec.get("strategy") or {}).get("blueGreen") else "canary"
    steps = _fold(initial, frames, steps_of(world.rollout), strategy)
    end = frames[-1].at if frames else 0.0
    weights: list[int] = []
    for frame in (initial, *frames):
        canary = frame.weights.get("canary")
        if canary is not None and (not weights or weights[-1] != canary):
            weights.append(canary)
    return DryRun(
        rollout=str((world.rollout.get("metadata") or {}).get("name", "")),
        strategy=strategy,
        steps=steps,
        frames=tuple(frames),
        final_phase=frames[-1].phase if frames else "",
        expected_seconds=end,
        promotions=promotions,
        analyses=tuple(world.created_runs),
        weight_changes=tuple(weights),
    )


def _invalid(status: Mapping[str, Any]) -> str | None:
    for condition in status.get("conditions") or []:
        if condition.get("type") == "InvalidSpec" and condition.get("status") == "True":
            return str(condition.get("message") or "InvalidSpec")
    return None


def _fold(
    initial: Frame, frames: Sequence[Frame], steps: Sequence[JsonDict], strategy: str
) -> tuple[StepPlan, ...]:
    """One StepPlan per step index (canary) or per change of pods or Services (blue-green)."""
    if not frames:
        return ()
    if strategy == "canary" and steps:
        return _fold_steps(frames, steps)
    out: list[StepPlan] = []
    previous: Frame | None = initial
    for frame in frames:
        same = previous is not None and _state(previous) == _state(frame)
        if same and out:
            if frame.waiting_for_person and not out[-1].waits_for_person:
                out[-1] = _replace_wait(out[-1], True)
            continue
        out.append(
            StepPlan(
                index=None,
                description=_changes(previous, frame),
                pods=frame.pods,
                weights=frame.weights,
                services=frame.services,
                waits_for_person=frame.waiting_for_person,
                wait_seconds=0.0,
            )
        )
        previous = frame
    return tuple(out)


def _fold_steps(frames: Sequence[Frame], steps: Sequence[JsonDict]) -> tuple[StepPlan, ...]:
    out: list[StepPlan] = []
    last_index = len(steps)

    def clamp(index: int | None) -> int | None:
        return None if index is None else min(index, last_index)

    for index in range(last_index + 1):
        acted = [f for f in frames if clamp(f.acting) == index]
        shown = [f for f in frames if clamp(f.step_index) == index]
        if not acted and not shown:
            continue
        # A step's result is the state its own passes leave, before the next step acts.
        done = acted[-1] if acted else shown[-1]
        began = (acted or shown)[0].at
        step = steps[index] if index < last_index else {}
        if "pause" in step and out:
            # A pause changes nothing: it holds what the step before it left (the pass that
            # ends it may already act for the next step).
            held = out[-1]
            done = replace(done, pods=held.pods, weights=held.weights, services=held.services)
        if index == last_index:
            done, began = frames[-1], frames[-1].at
        out.append(
            StepPlan(
                index=index if index < last_index else None,
                description=describe_step(step) if step else "done: fully promoted",
                pods=done.pods,
                weights=done.weights,
                services=done.services,
                waits_for_person=any(f.waiting_for_person for f in shown),
                wait_seconds=max(0.0, done.at - began),
                analysis=_analysis_names(step),
            )
        )
    return tuple(out)


def _state(frame: Frame) -> tuple[Any, ...]:
    return (dict(frame.pods), dict(frame.services), dict(frame.weights))


def _replace_wait(step: StepPlan, waits: bool) -> StepPlan:
    return StepPlan(
        index=step.index,
        description=step.description,
        pods=step.pods,
        weights=step.weights,
        services=step.services,
        waits_for_person=waits,
        wait_seconds=step.wait_seconds,
        analysis=step.analysis,
    )


def _changes(before: Frame | None, after: Frame) -> str:
    """What changed between two states, in a few words ("ReplicaSet x: 0 -> 3, ...")."""
    parts: list[str] = []
    old_pods = dict(before.pods) if before else {}
    for name in sorted(set(old_pods) | set(after.pods)):
        was, now = old_pods.get(name, 0), after.pods.get(name, 0)
        if was != now:
            parts.append(f"ReplicaSet {name}: {was} -> {now} pods")
    old_svc = dict(before.services) if before else {}
    for name, target in after.services.items():
        if old_svc.get(name) != target:
            parts.append(f"Service {name} -> {target or '(all pods)'}")
    return ", ".join(parts) or "no change"


def _analysis_names(step: Mapping[str, Any]) -> tuple[str, ...]:
    analysis = step.get("analysis")
    if not isinstance(analysis, dict):
        return ()
    return tuple(str(t.get("templateName", "")) for t in analysis.get("templates") or [])
