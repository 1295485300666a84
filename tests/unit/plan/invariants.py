"""The design's invariants (docs/design.md, "Invariants") as checks on one recorded reconcile.

Each check takes a `Reconcile` from the simulator (what the planner saw, what it decided, and
the traffic state before the plan and after each of its actions) and raises AssertionError with
a readable message when the planner broke a promise. `check_reconcile` runs them all; the
simulator calls it after every reconcile in the scenario and property tests.

The traffic checks look at every instant inside a plan, not only at its end: the controller
stops at the first failed action, so any prefix of a plan is a state the cluster may stay in.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence
from typing import Any

from sim import NAME, Cluster, Reconcile, Traffic

from rolloutd.model.rollout import parse_duration, validate_spec
from rolloutd.plan.planner import plan as make_plan
from rolloutd.plan.replicas import basic_canary_split, canary_replicas, surge_and_unavailable
from rolloutd.plan.types import (
    AnnotateReplicaSet,
    AnnotateRollout,
    CreateAnalysisRun,
    CreateReplicaSet,
    DeleteAnalysisRun,
    DeleteReplicaSet,
    ScaleReplicaSet,
    SetWeight,
    SwitchService,
    SyncPodMetadata,
    TerminateAnalysisRun,
)

JsonDict = dict[str, Any]

KUBE_WRITES = (
    CreateReplicaSet,
    SyncPodMetadata,
    ScaleReplicaSet,
    AnnotateReplicaSet,
    DeleteReplicaSet,
    SwitchService,
    AnnotateRollout,
    CreateAnalysisRun,
    TerminateAnalysisRun,
    DeleteAnalysisRun,
)
"""Actions that are API writes whatever the state (router calls read and compare first)."""


def need(replicas: int, weight: int) -> int:
    """Pods needed to carry `weight`% of the traffic of `replicas` pods (router semantics)."""
    if weight <= 0:
        return 0
    return math.ceil(replicas * weight / 100)


def scale_cap(steps: Sequence[JsonDict], index: int | None, replicas: int) -> int | None:
    """The canary size a setCanaryScale fixes at step `index` (None: no such scale in effect,
    or a matchTrafficWeight one, or no step)."""
    if index is None or index >= len(steps):
        return None
    for step in reversed(steps[: index + 1]):
        scale = step.get("setCanaryScale")
        if scale is None:
            continue
        if scale.get("matchTrafficWeight"):
            return None
        if scale.get("replicas") is not None:
            return min(int(scale["replicas"]), replicas)
        return canary_replicas(replicas, int(scale.get("weight") or 0))
    return None


def weight_need(rec: Reconcile, weight: int) -> int:
    """Pods a canary weight needs in this reconcile: `need()`, or fewer when a setCanaryScale
    fixed the canary's size (Argo sends the weight to the pods the scale asked for), but at
    least one. The scale is read at the step index before and after the plan, and at the
    step before a setCanaryScale step that is under way (its old size holds while the canary
    moves to the new one); the smallest of these counts."""
    replicas = _replicas(rec.before)
    steps = _steps(rec.before)
    needed = need(replicas, weight)
    if weight <= 0:
        return needed
    caps = []
    before = (rec.before.get("status") or {}).get("currentStepIndex")
    for index in (before, rec.plan.status.get("currentStepIndex")):
        if index is None:
            continue
        caps.append(scale_cap(steps, index, replicas))
        if index < len(steps) and "setCanaryScale" in steps[index] and index > 0:
            caps.append(scale_cap(steps, index - 1, replicas))
    found = [c for c in caps if c is not None]
    if not found:
        return needed
    return max(1, min(needed, min(found)))


def _replicas(rollout: Mapping[str, Any]) -> int:
    value = rollout["spec"].get("replicas")
    return 1 if value is None else int(value)


def _routed(rollout: Mapping[str, Any]) -> bool:
    return (rollout["spec"]["strategy"].get("canary") or {}).get("trafficRouting") is not None


def _surge_and_unavailable(rollout: Mapping[str, Any]) -> tuple[int, int]:
    canary = rollout["spec"]["strategy"].get("canary") or {}
    return surge_and_unavailable(
        canary.get("maxSurge"), canary.get("maxUnavailable"), _replicas(rollout)
    )


def _steps(rollout: Mapping[str, Any]) -> list[JsonDict]:
    return list((rollout["spec"]["strategy"].get("canary") or {}).get("steps") or [])


def _capacity(state: Traffic, target: str | None) -> int:
    """Serving pods behind a Service: its ReplicaSet's, or every pod when it has no hash yet."""
    if target is None:
        return sum(min(state.available[h], state.spec_replicas[h]) for h in state.available)
    return state.capacity(target)


def traffic_ok(state: Traffic, replicas: int, canary_need: int | None = None) -> tuple[bool, bool]:
    """(canary side ok, stable side ok): each Service's pods can carry the share it gets
    (`canary_need`: the canary's pods for its weight, when a setCanaryScale fixed them)."""
    if state.weight is None:
        return True, True
    if canary_need is None:
        canary_need = need(replicas, state.weight)
    canary = _capacity(state, state.canary_target) >= canary_need
    stable = _capacity(state, state.stable_target) >= need(replicas, 100 - state.weight)
    return canary, stable


def _describe(rec: Reconcile) -> str:
    lines = [f"at {rec.now:%H:%M:%S}, status before: {_short_status(rec.before)}"]
    for state in rec.trace:
        lines.append(
            f"  {state.action!r}: weight={state.weight} canary->{state.canary_target} "
            f"stable->{state.stable_target} spec={dict(state.spec_replicas)} "
            f"available={dict(state.available)}"
        )
    return "\n".join(lines)


def _short_status(rollout: Mapping[str, Any]) -> JsonDict:
    status = rollout.get("status") or {}
    keep = (
        "phase",
        "currentStepIndex",
        "stableRS",
        "currentPodHash",
        "abort",
        "promoteFull",
        "pauseConditions",
        "controllerPause",
    )
    return {k: status[k] for k in keep if k in status}


# -- (a) traffic only to pods that can carry it ------------------------------------------------


def check_traffic(rec: Reconcile) -> None:
    """Invariant 1 (and 2's purpose): no instant of a plan sends a share of the traffic to a
    Service whose pods cannot carry it, unless that was already so before the plan; and a
    plan never ends with the canary Service carrying more than its pods can.

    "Instant" matters: the controller stops at the first failed action, so a plan that
    shrinks the canary before it lowers the weight leaves the old weight on too few pods if
    the router write fails. "Pods" are the ones that serve and stay: available, and not above
    the ReplicaSet's spec (pods being scaled away do not count)."""
    replicas = _replicas(rec.before)
    previous = rec.trace[0]

    def ok(state: Traffic) -> tuple[bool, bool]:
        canary_need = None if state.weight is None else weight_need(rec, state.weight)
        return traffic_ok(state, replicas, canary_need)

    prev_canary, prev_stable = ok(previous)
    for at, state in enumerate(rec.trace[1:], start=1):
        canary_ok, stable_ok = ok(state)
        action = state.action
        if (
            isinstance(action, SwitchService)
            and state.canary_target is not None
            and state.canary_target == rec.plan.status.get("stableRS")
        ):
            # The canary Service going back to stable (an abort, a promotion) follows the
            # stable Service's rule: at least one serving pod.
            canary_ok = _capacity(state, state.canary_target) > 0 or not state.weight
        assert canary_ok or not prev_canary, (
            f"{action!r} left the canary Service ({state.canary_target}) with "
            f"weight {state.weight} and too few pods\n{_describe(rec)}"
        )
        # The stable side: the stable Service may move to a ReplicaSet with at least one
        # serving pod (Argo's rule once a Service is ours), and no scale-down may shrink it
        # below its share. (A lower canary weight is not checked here: like Argo, the planner
        # takes traffic back to stable, e.g. for a new template, even if stable lost pods.)
        starved = (
            isinstance(action, SwitchService)
            and state.weight is not None
            and state.weight < 100
            and _capacity(state, state.stable_target) == 0
        )
        target = state.stable_target
        shrunk = (
            isinstance(action, ScaleReplicaSet)
            and not stable_ok
            and (target is None or action.name == f"{NAME}-{target}")
            and state.spec_replicas.get(target or "", 0)
            < rec.trace[at - 1].spec_replicas.get(target or "", 0)
        )
        assert not (starved or shrunk) or not prev_stable, (
            f"{action!r} left the stable Service ({state.stable_target}) with "
            f"weight {100 - (state.weight or 0)} and too few pods\n{_describe(rec)}"
        )
        if isinstance(state.action, SetWeight) and state.action.weight > 0:
            # The brief's form: the canary Service's ReplicaSet has the available pods.
            available = (
                state.available.get(state.canary_target, 0)
                if state.canary_target
                else sum(state.available.values())
            )
            assert available >= weight_need(rec, state.action.weight), (
                f"SetWeight({state.action.weight}) with {available} available canary pods"
                f"\n{_describe(rec)}"
            )
        prev_canary, prev_stable = canary_ok, stable_ok
    assert ok(rec.trace[-1])[0], (
        f"the plan ends with the canary Service carrying more than its pods can\n{_describe(rec)}"
    )


# -- (b) stable stays at full size ---------------------------------------------------------------


def check_stable_full(rec: Reconcile) -> None:
    """Invariant 2: with traffic routing the stable ReplicaSet is never scaled below
    spec.replicas (before, during and at the end of an update)."""
    if not _routed(rec.before):
        return
    replicas = _replicas(rec.before)
    stable_hashes = {
        h
        for h in ((rec.before.get("status") or {}).get("stableRS"), rec.plan.status.get("stableRS"))
        if h
    }
    for previous, state in zip(rec.trace, rec.trace[1:], strict=False):
        for pod_hash in stable_hashes:
            size = state.spec_replicas.get(pod_hash)
            was = previous.spec_replicas.get(pod_hash)
            if size is None or was is None or size >= was:
                continue
            assert size >= replicas, (
                f"{state.action!r} scaled the stable ReplicaSet {pod_hash} down to {size} "
                f"(< {replicas})\n{_describe(rec)}"
            )


# -- (c) weights -----------------------------------------------------------------------------------


def check_weights(rec: Reconcile) -> None:
    """Invariant 3: status weights sum to 100 and say what the router was told."""
    weights = (rec.plan.status.get("canary") or {}).get("weights")
    if not _routed(rec.before):
        assert weights is None, f"weights recorded without traffic routing: {weights}"
        assert rec.plan.desired_weight is None
        return
    if not rec.plan.actions:
        return  # an invalid spec: nothing was written, the old weights stand
    assert weights is not None, "a routed rollout's plan records no weights"
    canary, stable = int(weights["canary"]["weight"]), int(weights["stable"]["weight"])
    assert 0 <= canary <= 100 and 0 <= stable <= 100, weights
    assert canary + stable == 100, f"weights do not sum to 100: {weights}"
    assert rec.plan.desired_weight == canary, (rec.plan.desired_weight, weights)
    assert rec.trace[-1].weight == canary, (
        f"the router holds {rec.trace[-1].weight} but the status says {canary}"
    )


# -- (d) steps -------------------------------------------------------------------------------------


def canary_target_size(steps: Sequence[JsonDict], index: int, replicas: int) -> int:
    """The canary size a step asks for (setCanaryScale, else the last setWeight)."""
    weight = 0
    for step in steps[: index + 1]:
        if "setWeight" in step:
            weight = int(step["setWeight"])
    for step in reversed(steps[: index + 1]):
        scale = step.get("setCanaryScale")
        if scale is None:
            continue
        if scale.get("matchTrafficWeight"):
            break
        if scale.get("replicas") is not None:
            return min(int(scale["replicas"]), replicas)
        return canary_replicas(replicas, int(scale["weight"]))
    return canary_replicas(replicas, weight)


def check_steps(rec: Reconcile) -> None:
    """Invariant 4 (no step is skipped): the index moves on only past steps that are done,
    resets only for a new template, new steps, an abort or a retry, jumps to the end only for
    a first deploy, a full promotion or a return to the stable template.

    One plan may pass several steps: `plan()` chains passes while a pass only finishes a step
    and acts on nothing, so every step but the last one passed was done in the state before
    the plan, and the last one in that state or in the state after the plan."""
    before = rec.before.get("status") or {}
    after = rec.plan.status
    steps = _steps(rec.before)
    old, new = before.get("currentStepIndex"), after.get("currentStepIndex")
    if not steps:
        assert new is None, f"currentStepIndex {new} without steps"
        return
    if new is None:
        assert not rec.plan.actions, "a rollout with steps has no step index"
        return
    if old is None or new == old:
        # (An index a user patched past the end, e.g. a promote while an invalid spec had
        # more steps, is left as it is: the planner does not clamp it.)
        return
    assert 0 <= new <= len(steps), f"currentStepIndex {new} out of range 0..{len(steps)}"
    template_changed = before.get("currentPodHash") not in (None, after.get("currentPodHash"))
    steps_changed = before.get("currentStepHash") not in (None, after.get("currentStepHash"))
    aborted = bool(before.get("abort"))
    retried = not aborted and bool(before.get("abortedAt"))
    fully_promoted = after.get("stableRS") == after.get("currentPodHash")
    to_end = before.get("promoteFull") or fully_promoted or not before.get("stableRS")
    if new == len(steps) and to_end:
        return  # a full promotion, a first deploy, or back on the stable template
    reset = template_changed or steps_changed or aborted or retried
    if new < old or reset:
        # A reset goes back to 0, and the steps from there may complete in the same plan.
        assert reset, f"step index moved {old} -> {new}\n{_describe(rec)}"
        _check_steps_passed(rec, steps, 0, new, entered=True)
        return
    if template_changed or steps_changed:
        assert new == old + 1, f"step index moved {old} -> {new}\n{_describe(rec)}"
        return
    assert new > old, f"step index moved {old} -> {new}\n{_describe(rec)}"
    _check_steps_passed(rec, steps, old, new, entered=False)


def _check_steps_passed(
    rec: Reconcile, steps: Sequence[JsonDict], first: int, new: int, *, entered: bool
) -> None:
    """Steps first..new-1 were each done when the plan passed them; `entered` says the plan
    began at `first` (a reset), so a pause there was begun by this plan too, and only a
    pause of 0 seconds may end in the plan that began it."""
    for index in range(first, new):
        step = steps[index]
        if "pause" in step and (index > first or entered):
            duration = (step["pause"] or {}).get("duration")
            assert duration is not None and parse_duration(duration) == 0, (
                f"pause step {index} ended in the plan that began it\n{_describe(rec)}"
            )
            continue
        states = (rec.trace[0],) if index < new - 1 else (rec.trace[0], rec.trace[-1])
        failures = []
        for state in states:
            try:
                _check_step_done(rec, steps, index, state)
                break
            except AssertionError as failure:
                failures.append(str(failure))
        else:
            raise AssertionError(f"step {index} left before it was done: {failures[-1]}")


def _check_step_done(
    rec: Reconcile, steps: Sequence[JsonDict], index: int, end: Traffic | None = None
) -> None:
    step = steps[index]
    before = rec.before.get("status") or {}
    replicas = _replicas(rec.before)
    new_hash = rec.plan.status.get("currentPodHash")
    end = rec.trace[-1] if end is None else end
    if "pause" in step:
        mine = next(
            (p for p in before.get("pauseConditions") or [] if p["reason"] == "CanaryPauseStep"),
            None,
        )
        resumed = mine is None and bool(before.get("controllerPause"))
        duration = (step["pause"] or {}).get("duration")
        if duration is None:
            assert resumed, f"an indefinite pause ended without a promote\n{_describe(rec)}"
            return
        seconds = parse_duration(duration)
        if resumed:
            return
        if mine is None:
            assert seconds == 0, f"pause {duration} ended in the plan that began it"
            return
        started = mine["startTime"]
        elapsed = (rec.now - _parse(started)).total_seconds()
        assert elapsed >= seconds, (
            f"pause {duration} ended after {elapsed:.0f}s (started {started})\n{_describe(rec)}"
        )
    elif "setWeight" in step:
        weight = int(step["setWeight"])
        if _routed(rec.before):
            assert end.weight == weight, (
                f"setWeight {weight} completed with the router at {end.weight}\n{_describe(rec)}"
            )
            assert end.available.get(new_hash or "", 0) >= weight_need(rec, weight)
        else:
            canary, _ = basic_canary_split(replicas, weight, _surge_and_unavailable(rec.before)[0])
            assert end.available.get(new_hash or "", 0) >= canary, (
                f"basic setWeight {weight} completed with too few canary pods\n{_describe(rec)}"
            )
    elif "setCanaryScale" in step:
        size = canary_target_size(steps, index, replicas)
        assert end.available.get(new_hash or "", 0) >= size, (
            f"setCanaryScale completed below {size} available pods\n{_describe(rec)}"
        )


def _parse(text: str) -> Any:
    import datetime as dt

    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def check_promotion(rec: Reconcile) -> None:
    """Invariant 4 (never reverses a promotion): stableRS only ever moves to the current hash."""
    old = (rec.before.get("status") or {}).get("stableRS")
    new = rec.plan.status.get("stableRS")
    if old and new != old:
        assert new == rec.plan.status.get("currentPodHash"), (
            f"stableRS moved {old} -> {new}, which is not the current template"
        )


# -- (e) purity ------------------------------------------------------------------------------------


def check_pure(rec: Reconcile) -> None:
    """plan() is a function: the same snapshot and time give the same plan."""
    again = make_plan(rec.snapshot, rec.now)
    assert again == rec.plan, "the same snapshot planned twice gave different plans"


def check_quiescent(cluster: Cluster, *, limit: int | None = None) -> None:
    """Invariant 6: with the world left alone (same time, no pod changes, no user), planning
    again and again reaches a plan that writes nothing, within a few passes (each pass may
    only follow on what the last one wrote, e.g. a step that is already satisfied)."""
    probe = cluster.fork(checkers=[])
    rounds = limit if limit is not None else len(probe.steps) + 6
    for _ in range(rounds):
        status = copy.deepcopy(probe.status)
        result = probe.plan()
        writes = [a for a in result.actions if probe.changes_anything(a)]
        api_writes = [a for a in result.actions if isinstance(a, KUBE_WRITES)]
        if not writes and not api_writes and result.status == status:
            return
        probe.reconcile()
    raise AssertionError(
        f"no quiet plan after {rounds} passes with nothing changing: last actions "
        f"{list(result.actions)}, status {_short_status(probe.rollout)}"
    )


# -- (f) invalid specs -----------------------------------------------------------------------------


def expected_errors(rec: Reconcile) -> list[str]:
    """What makes this snapshot's spec invalid, found without the planner."""
    errors = validate_spec(rec.snapshot.rollout.spec)
    for router in rec.snapshot.routers:
        errors += list(router.errors)
    errors += list(rec.snapshot.unknown_routers)
    for name, svc in rec.snapshot.services.items():
        if svc is None:
            errors.append(f"service {name} missing")
    return errors


def check_invalid(rec: Reconcile) -> None:
    """Invariant 5: a bad spec changes nothing in the cluster, and says so in the status."""
    invalid = next(
        (
            c
            for c in rec.plan.status.get("conditions") or []
            if c["type"] == "InvalidSpec" and c["status"] == "True"
        ),
        None,
    )
    if expected_errors(rec):
        assert list(rec.plan.actions) == [], f"an invalid spec produced {rec.plan.actions}"
        assert invalid is not None, "an invalid spec without the InvalidSpec condition"
        assert rec.plan.status["phase"] == "Degraded"
        assert rec.plan.status["message"] == f"InvalidSpec: {invalid['message']}"
    else:
        assert invalid is None, f"a valid spec got InvalidSpec: {invalid}"


# -- status, pauses and wake-ups ---------------------------------------------------------------


def check_phase(rec: Reconcile) -> None:
    """Phase and message follow Argo's order (reference §2.2), and the conditions agree."""
    s = rec.plan.status
    spec = rec.before["spec"]
    conds = {c["type"]: c for c in s.get("conditions") or []}
    progressing = conds.get("Progressing") or {}
    phase, message = str(s.get("phase", "")), str(s.get("message", ""))
    promoted = bool(s.get("stableRS")) and s.get("stableRS") == s.get("currentPodHash")
    if s.get("abort") and (rec.before.get("status") or {}).get("abort"):
        # (An abort this plan decided, e.g. progressDeadlineAbort, is acted on next time.)
        assert not promoted, "a fully promoted rollout kept status.abort"
        assert phase == "Degraded", (phase, message)
        assert message.startswith("RolloutAborted: Rollout aborted update to revision "), message
        assert progressing.get("reason") == "RolloutAborted"
        assert progressing.get("status") == "False"
        assert not s.get("pauseConditions") and s.get("controllerPause") is False
    elif progressing.get("reason") == "ProgressDeadlineExceeded":
        assert (phase, message) == (
            "Degraded",
            f"ProgressDeadlineExceeded: {progressing['message']}",
        )
    elif spec.get("paused"):
        assert (phase, message) == ("Paused", "manually paused")
    elif s.get("pauseConditions"):
        assert (phase, message) == ("Paused", s["pauseConditions"][0]["reason"])
    if phase == "Healthy":
        assert promoted and message == "", (phase, message, s.get("stableRS"))
    completed = conds.get("Completed") or {}
    assert completed.get("status") == ("True" if promoted else "False"), completed
    paused = conds.get("Paused") or {}
    is_paused = bool(spec.get("paused")) or bool(s.get("pauseConditions"))
    assert paused.get("status") == ("True" if is_paused else "False"), paused


def check_pauses(rec: Reconcile) -> None:
    """A pause condition is only held at a pause step, and only a CanaryPauseStep one."""
    s = rec.plan.status
    pauses = s.get("pauseConditions") or []
    if not pauses:
        return
    assert [p["reason"] for p in pauses] == ["CanaryPauseStep"], pauses
    steps = _steps(rec.before)
    index = s.get("currentStepIndex")
    assert index is not None and index < len(steps), f"paused at step {index} of {len(steps)}"
    assert "pause" in steps[index], f"CanaryPauseStep held at {steps[index]}"


def check_wakeups(cluster: Cluster, rec: Reconcile) -> None:
    """No waiting without a wake-up: a timed pause and a scale-down deadline each make the
    plan ask to be requeued no later than when they are due."""
    s = rec.plan.status
    if rec.before["spec"].get("paused"):
        return
    due: list[float] = []
    steps = _steps(rec.before)
    index = s.get("currentStepIndex")
    for pause in s.get("pauseConditions") or []:
        if index is None or index >= len(steps):
            continue
        duration = (steps[index].get("pause") or {}).get("duration")
        if duration is not None:
            ends = _parse(pause["startTime"]).timestamp() + parse_duration(duration)
            due.append(ends - rec.now.timestamp())
    before = rec.before.get("status") or {}
    special = {s.get("currentPodHash"), s.get("stableRS"), before.get("stableRS")}
    for rs in cluster.replica_sets.values():
        pod_hash = rs["metadata"]["labels"].get("rollouts-pod-template-hash")
        deadline = (rs["metadata"].get("annotations") or {}).get("scale-down-deadline")
        if deadline and pod_hash not in special and int(rs["spec"]["replicas"]) > 0:
            due.append(_parse(deadline).timestamp() - rec.now.timestamp())
    if not due:
        return
    wake = rec.plan.requeue_after
    assert wake is not None, f"waiting for something due in {min(due)}s with no requeue"
    if min(due) > 0:
        # (Something overdue, e.g. a ReplicaSet a Service still selects, may be retried later.)
        assert wake.total_seconds() <= min(due), (wake, due)


def check_basic_pacing(rec: Reconcile) -> None:
    """A basic canary moves like a rolling update: no instant of a plan asks for more than
    replicas + maxSurge pods, or leaves fewer than replicas - maxUnavailable available, unless
    it was already so before the plan (and then the plan makes it no worse)."""
    if _routed(rec.before):
        return
    replicas = _replicas(rec.before)
    surge, unavailable = _surge_and_unavailable(rec.before)
    first = rec.trace[0]
    ceiling = max(replicas + surge, sum(first.spec_replicas.values()))
    floor = min(replicas - unavailable, sum(first.capacity(h) for h in first.spec_replicas))
    for state in rec.trace[1:]:
        total = sum(state.spec_replicas.values())
        assert total <= ceiling, (
            f"{total} pods asked for, over replicas + maxSurge = {ceiling}\n{_describe(rec)}"
        )
        serving = sum(state.capacity(h) for h in state.spec_replicas)
        assert serving >= floor, (
            f"{serving} available pods kept, under replicas - maxUnavailable = {floor}\n"
            f"{_describe(rec)}"
        )


def check_reconcile(cluster: Cluster, rec: Reconcile) -> None:
    """Every per-plan invariant (the simulator's default checker in these tests)."""
    check_pure(rec)
    check_invalid(rec)
    if not rec.plan.actions and expected_errors(rec):
        return
    check_traffic(rec)
    check_stable_full(rec)
    check_basic_pacing(rec)
    check_weights(rec)
    check_steps(rec)
    check_promotion(rec)
    check_phase(rec)
    check_pauses(rec)
    check_wakeups(cluster, rec)


# -- no silent hang ----------------------------------------------------------------------------


def _held_by_empty_canary_scale(cluster: Cluster) -> bool:
    """The one wait rolloutd keeps on purpose: a setWeight above 0 while a setCanaryScale
    asked for no canary pods (no traffic goes to a canary without pods, where Argo would send
    it); the progress deadline is what reports it."""
    index = cluster.index
    steps = cluster.steps
    if index is None or index >= len(steps) or not steps[index].get("setWeight"):
        return False
    return scale_cap(steps, index, cluster.replicas) == 0


def check_progress_or_reason(cluster: Cluster, *, rounds: int | None = None) -> None:
    """No silent hang: from this state, with every pod available (the kubelet catches up
    after each pass) and the clock moving to each wake-up the plan asks for, the rollout
    comes to rest with a reason a user can read: Healthy, Paused (a pause step or
    spec.paused), or Degraded by an abort or an invalid spec. It must not sit Progressing,
    nor time out (ProgressDeadlineExceeded) when nothing but the planner held it back."""
    probe = cluster.fork(checkers=[])
    probe.kubelet()
    start = probe.now
    limit = rounds if rounds is not None else 30 + 8 * len(probe.steps) + 3 * probe.replicas
    for _ in range(limit):
        result = probe.reconcile()
        probe.kubelet()
        phase, message = probe.phase
        progressing = probe.condition("Progressing") or {}
        timed_out = progressing.get("reason") == "ProgressDeadlineExceeded"
        if timed_out:
            since = _parse(str(progressing.get("lastTransitionTime")))
            assert since < start or _held_by_empty_canary_scale(probe), (
                f"timed out with every pod available: {message} at step {probe.index}, "
                f"status {_short_status(probe.rollout)}"
            )
            return
        if phase in ("Healthy", "Paused") or (phase == "Degraded" and message):
            return
        wait = result.requeue_after.total_seconds() if result.requeue_after else 1.0
        probe.advance(max(1.0, wait))
    raise AssertionError(
        f"no progress and no reason after {limit} passes with every pod available: "
        f"{probe.phase} at step {probe.index}, status {_short_status(probe.rollout)}"
    )
