"""The canary planner: one pure function from a Snapshot and `now` to a Plan.

It follows Argo Rollouts' canary reconcile (see docs in `argo-rollouts-behaviour.md` §3) with
rolloutd's stronger guarantees:

- Traffic only moves to the canary when the canary has the available pods that weight needs;
  if pods go away, the weight falls back to the largest earlier step the pods can carry.
- A ReplicaSet that carried traffic (an interrupted canary, an old stable) is kept for its
  scale-down delay before it is scaled to zero, so routes can converge first.
- Every decision is recomputed from the cluster: nothing is remembered between plans except
  what is written in the Rollout's status and in ReplicaSet annotations.

Reading order: `plan()` at the bottom drives the helpers above it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from typing import Any

from rolloutd.model.rollout import (
    DEFAULT_ABORT_SCALE_DOWN_DELAY_SECONDS,
    DEFAULT_MAX_TRAFFIC_WEIGHT,
    DEFAULT_SCALE_DOWN_DELAY_SECONDS,
    CanaryStep,
    CanaryStrategy,
    RolloutStatus,
    validate_spec,
)
from rolloutd.plan import claims
from rolloutd.plan import metadata as ephemeral
from rolloutd.plan import status as st
from rolloutd.plan.analysis import AnalysisOutcome, plan_analysis
from rolloutd.plan.analysis import blocks as analysis_blocks
from rolloutd.plan.analysis import spec_errors as analysis_spec_errors
from rolloutd.plan.base import PlannerBase, drop_deadline, selector_string
from rolloutd.plan.hashing import (
    TemplateEncodingError,
    step_hash_matches,
    steps_hash,
)
from rolloutd.plan.replicas import (
    Pods,
    basic_canary_sizes,
    basic_canary_split,
    canary_replicas,
    old_scale_down_budget,
    surge_and_unavailable,
    weight_supported,
)
from rolloutd.plan.restart import restart_pending
from rolloutd.plan.types import (
    MANAGED_BY_ANNOTATION,
    POD_HASH_LABEL,
    SCALE_DOWN_DEADLINE_ANNOTATION,
    Action,
    AnnotateReplicaSet,
    DeleteReplicaSet,
    Event,
    JsonDict,
    Plan,
    RemoveManagedRoutes,
    ReplicaSetView,
    SetHeaderRoute,
    SetMirrorRoute,
    SetWeight,
    Snapshot,
    SwitchService,
    UpdateHash,
)


@dataclass
class _Targets:
    """Replica targets for this plan."""

    new: int
    stable: int


@dataclass
class _Planner(PlannerBase):
    targets: _Targets | None = None
    analysis_outcome: AnalysisOutcome = field(default_factory=AnalysisOutcome)

    def __post_init__(self) -> None:
        super().__post_init__()
        self.canary: CanaryStrategy = self.spec.strategy.canary or CanaryStrategy()
        self.steps: list[CanaryStep] = list(self.canary.steps or [])
        routing = self.canary.traffic_routing
        self.routed = routing is not None
        self.max_weight = (
            routing.max_traffic_weight if routing and routing.max_traffic_weight else None
        ) or DEFAULT_MAX_TRAFFIC_WEIGHT
        self.managed_routes = [m.name for m in (routing.managed_routes or [])] if routing else []

    def waits_indefinitely(self) -> bool:
        """A pause, analysis or experiment step has no progress deadline."""
        index = self.status.get("currentStepIndex")
        if index is not None and index < len(self.steps):
            step = self.steps[index]
            return (
                step.pause is not None or step.analysis is not None or step.experiment is not None
            )
        return False

    # -- validation ---------------------------------------------------------------------------

    def spec_errors(self) -> list[str]:
        errors = validate_spec(self.spec, name=self.name)
        if analysis_blocks(self.spec):
            errors += analysis_spec_errors(
                self.snap.raw or {"metadata": self.snap.rollout.metadata},
                self.spec,
                self.snap.analysis_templates,
            )
        errors += list(self.snap.unknown_routers)
        for router in self.snap.routers:
            errors += list(router.errors)
        errors += self.service_errors(
            "spec.strategy.canary",
            [
                ("canaryService", self.canary.canary_service),
                ("stableService", self.canary.stable_service),
            ],
        )
        return errors

    # -- the planner --------------------------------------------------------------------------

    def run(self) -> Plan:
        errors = self.spec_errors()
        if errors:
            return self.invalid(errors)
        st.remove_condition(self.conditions(), st.INVALID_SPEC)
        # Only a valid spec is resolved (an invalid maxSurge is an InvalidSpec, not a crash).
        self.max_surge, self.max_unavailable = surge_and_unavailable(
            self.canary.max_surge, self.canary.max_unavailable, self.replicas
        )
        self.warn_unsupported()
        try:
            pod_hash, new_rs = self.find_new_rs(self.canary.anti_affinity)
        except TemplateEncodingError as err:  # Argo cannot decode such a template either
            return self.invalid([str(err)])
        by_hash = {rs.pod_hash: rs for rs in self.snap.replica_sets}
        stable_hash = self.status.get("stableRS") or ""
        if not stable_hash and self.snap.replica_sets:
            stable_hash = self.adopt_stable(pod_hash)
        initial = not stable_hash
        self.reset_for_new_template(pod_hash, stable_hash, new_rs)
        stable_hash = self.status.get("stableRS") or ""
        stable_rs = by_hash.get(stable_hash)

        # Abort, retry, full promotion: user intents recorded in status.
        fully_promoted = bool(stable_hash) and stable_hash == pod_hash
        aborted = bool(self.status.get("abort"))
        if aborted and fully_promoted:
            self.status.pop("abort", None)
            self.status.pop("abortedAt", None)
            aborted = False
        retried = not aborted and bool(self.status.get("abortedAt"))
        if retried:
            self.status.pop("abortedAt", None)
            self.status["currentStepIndex"] = 0 if self.steps else None
            self.emit(st.ROLLOUT_RETRY, "Retrying Rollout after abort")
        if aborted:
            self.enter_abort()
        promote_full = bool(self.status.get("promoteFull"))
        if promote_full and fully_promoted:
            self.status.pop("promoteFull", None)
            promote_full = False
        if promote_full:
            self.status["currentStepIndex"] = len(self.steps) if self.steps else None
            self.status.pop("pauseConditions", None)
            self.status["controllerPause"] = False

        if initial:
            # First deploy: no canary to speak of, so the new ReplicaSet is stable at once.
            self.status["stableRS"] = pod_hash
            stable_hash = pod_hash
            fully_promoted = True
            self.status["currentStepIndex"] = len(self.steps) if self.steps else None

        # Create the new ReplicaSet when there is none yet.
        targets = self.replica_targets(pod_hash, stable_hash, fully_promoted, aborted, promote_full)

        def size(created: ReplicaSetView) -> int:
            if self.routed:
                return targets.new
            return self.basic_sizes(targets, created, by_hash.get(stable_hash))[0]

        new_rs = self.settle_revision(pod_hash, new_rs, size)
        revision = self.revision

        outcome = self.analysis(
            pod_hash,
            stable_hash,
            revision,
            active=not (initial or fully_promoted or aborted or promote_full),
        )
        if outcome.abort_reason is not None:
            # A failed run aborts in this very plan: traffic goes back to stable now.
            self.status["abort"] = True
            self.enter_abort()
            aborted = True
            self.abort_detail = outcome.abort_reason
            targets = self.replica_targets(
                pod_hash, stable_hash, fully_promoted, aborted, promote_full
            )
        self.analysis_outcome = outcome

        paused = bool(self.spec.paused)
        self.targets = targets
        # Traffic moves before pods go away: a plan that lowers the weight and shrinks the
        # canary must not leave the old weight on fewer pods if it stops half way.
        self.switch_services(new_rs, stable_rs, aborted, fully_promoted)
        desired_weight = self.traffic(new_rs, stable_rs, aborted, fully_promoted, promote_full)
        if not paused:
            self.scale(new_rs, stable_rs, targets, aborted)
        self.scale_down_old(new_rs, stable_rs, aborted, fully_promoted)

        if not paused and not aborted:
            fully_promoted = self.progress(
                new_rs, stable_rs, targets, desired_weight, fully_promoted, promote_full, initial
            )
        self.cleanup_history(new_rs, stable_rs)
        self.sync_metadata(new_rs, stable_rs, fully_promoted)
        self.compute_status(new_rs, pod_hash, fully_promoted, paused, aborted, retried)
        return Plan(
            actions=self.actions,
            status=self.status,
            events=self.events,
            requeue_after=self.requeue_after(),
            desired_weight=desired_weight,
        )

    def adopt_stable(self, pod_hash: str) -> str:
        """A Rollout that owns ReplicaSets but has no stableRS (its status was lost or wiped):
        the newest other ReplicaSet that still has pods is the stable, so a new template still
        goes through every step instead of being promoted as an "initial deploy"."""
        others = [
            rs for rs in self.snap.replica_sets if rs.pod_hash != pod_hash and rs.spec_replicas
        ]
        if others:
            stable = max(others, key=lambda rs: rs.revision).pod_hash
            self.status["currentStepIndex"] = 0 if self.steps else None
        else:
            stable = pod_hash
            self.status["currentStepIndex"] = len(self.steps) if self.steps else None
        self.status["stableRS"] = stable
        self.status["currentPodHash"] = pod_hash
        self.status["currentStepHash"] = steps_hash(self.steps_json())
        return stable

    def steps_json(self) -> list[dict[str, Any]] | None:
        """The steps as Argo hashes them: None (Go's nil slice) when the spec has none."""
        if self.canary.steps is None:
            return None
        return [s.to_json() for s in self.steps]

    # -- analysis ------------------------------------------------------------------------------

    def analysis(
        self, pod_hash: str, stable_hash: str, revision: int, *, active: bool
    ) -> AnalysisOutcome:
        """Create, read back, terminate and prune this Rollout's AnalysisRuns."""
        if not self.snap.analysis_runs and not analysis_blocks(self.spec):
            return AnalysisOutcome()

        def run(active: bool) -> AnalysisOutcome:
            return plan_analysis(
                rollout=self.snap.raw,
                spec=self.spec,
                runs=self.snap.analysis_runs,
                templates=self.snap.analysis_templates,
                pod_hash=pod_hash,
                stable_hash=stable_hash or None,
                revision=revision,
                step_index=self.status.get("currentStepIndex"),
                active=active,
            )

        outcome = run(active)
        if outcome.abort_reason is not None:
            # Keep what was read; stop everything else that still runs.
            stopping = run(False)
            stopping.abort_reason = outcome.abort_reason
            stopping.step_status, stopping.background_status = (
                outcome.step_status,
                outcome.background_status,
            )
            outcome = stopping
        self.take_analysis(
            outcome,
            self.status.setdefault("canary", {}),
            {
                "currentStepAnalysisRunStatus": outcome.step_status,
                "currentBackgroundAnalysisRunStatus": outcome.background_status,
            },
        )
        return outcome

    # -- a new template, or changed steps --------------------------------------------------------

    def reset_for_new_template(
        self, pod_hash: str, stable_hash: str, new_rs: ReplicaSetView | None
    ) -> None:
        steps_json = self.steps_json()
        step_hash = steps_hash(steps_json)
        template_changed = self.status.get("currentPodHash") not in (None, pod_hash)
        # A legacy (BLAKE2b) hash of the same steps is not a change; Argo's value replaces it.
        recorded = self.status.get("currentStepHash")
        steps_changed = recorded is not None and not step_hash_matches(recorded, steps_json)
        first_seen = self.status.get("currentPodHash") is None
        self.status["currentPodHash"] = pod_hash
        self.status["currentStepHash"] = step_hash
        if first_seen and stable_hash:
            return
        if not (template_changed or steps_changed) and not first_seen:
            return
        rollback_to_stable = bool(stable_hash) and stable_hash == pod_hash
        for key in ("pauseConditions", "abort", "abortedAt", "promoteFull"):
            self.status.pop(key, None)
        self.status["controllerPause"] = False
        if rollback_to_stable or not self.steps:
            self.status["currentStepIndex"] = len(self.steps) if self.steps else None
        else:
            self.status["currentStepIndex"] = 0
        if template_changed and rollback_to_stable:
            self.emit("SkipSteps", "Rollback to stable ReplicaSets")
        elif template_changed and new_rs is not None:
            self.emit(
                st.FOUND_NEW_RS,
                f'Found new replica set "{new_rs.name}"',
            )

    # -- replica arithmetic -------------------------------------------------------------------

    def current_weight_for_sizes(
        self, fully_promoted: bool, aborted: bool, promote_full: bool
    ) -> int:
        """Argo's GetCanaryReplicasOrWeight, as a weight (replicas handled by the caller)."""
        if fully_promoted or promote_full:
            return self.max_weight
        if aborted:
            return 0
        index = self.status.get("currentStepIndex")
        if index is None or index >= len(self.steps):
            return self.max_weight
        weight = 0
        for step in self.steps[: index + 1]:
            if step.set_weight is not None:
                weight = step.set_weight
        return weight

    def canary_scale(self) -> tuple[int | None, int | None]:
        """The (replicas, weight) of a setCanaryScale in effect at the current step, if any."""
        index = self.status.get("currentStepIndex")
        if index is None or index >= len(self.steps):
            return None, None
        for step in reversed(self.steps[: index + 1]):
            scale = step.set_canary_scale
            if scale is None:
                continue
            if scale.match_traffic_weight:
                return None, None
            return scale.replicas, scale.weight
        return None, None

    def weight_cap(self) -> int | None:
        """The canary size a setCanaryScale fixed for the current step, if any: a weight then
        needs only those pods (Argo routes a setWeight to the pods the scale asked for).

        While a setCanaryScale step is still under way, the size of the step before it holds
        too (the smaller of the two), so a weight already in place is not taken away while the
        canary grows to its new size."""
        index = self.status.get("currentStepIndex")
        if index is None or index >= len(self.steps):
            return None
        indexes = [index]
        if self.steps[index].set_canary_scale is not None and index > 0:
            indexes.append(index - 1)
        caps = [c for c in (self._scale_size_at(i) for i in indexes) if c is not None]
        return min(caps) if caps else None

    def _scale_size_at(self, index: int) -> int | None:
        for step in reversed(self.steps[: index + 1]):
            scale = step.set_canary_scale
            if scale is None:
                continue
            if scale.match_traffic_weight:
                return None
            if scale.replicas is not None:
                return min(scale.replicas, self.replicas)
            if scale.weight is not None:
                return canary_replicas(self.replicas, scale.weight, 100)
            return None
        return None

    def replica_targets(
        self,
        pod_hash: str,
        stable_hash: str,
        fully_promoted: bool,
        aborted: bool,
        promote_full: bool,
    ) -> _Targets:
        weight = self.current_weight_for_sizes(fully_promoted, aborted, promote_full)
        if fully_promoted or stable_hash == pod_hash:
            return _Targets(new=self.replicas, stable=self.replicas)
        if self.routed:
            scale_replicas, scale_weight = (None, None)
            if not promote_full and not aborted:
                scale_replicas, scale_weight = self.canary_scale()
            if scale_replicas is not None:
                new = (
                    min(scale_replicas, self.replicas)
                    if scale_replicas > self.replicas
                    else scale_replicas
                )
            else:
                if scale_weight is not None:
                    new = canary_replicas(self.replicas, scale_weight, 100)
                else:
                    new = canary_replicas(self.replicas, weight, self.max_weight)
                if new and self.canary.min_pods_per_replica_set:
                    # High availability: a canary that has pods has at least this many.
                    new = max(new, self.canary.min_pods_per_replica_set)
            return _Targets(new=new, stable=self.replicas)
        canary, stable = basic_canary_split(
            self.replicas, round(100 * weight / self.max_weight), self.max_surge
        )
        return _Targets(new=canary, stable=stable)

    def basic_sizes(
        self, targets: _Targets, new_rs: ReplicaSetView, stable_rs: ReplicaSetView | None
    ) -> tuple[int, int]:
        """(new, stable) sizes for this plan of a basic canary, paced by maxSurge and
        maxUnavailable on the way to the targets."""
        stable = None
        if stable_rs is not None and stable_rs is not new_rs:
            stable = Pods(stable_rs.spec_replicas, stable_rs.available)
        others = sum(
            rs.spec_replicas
            for rs in self.snap.replica_sets
            if rs is not new_rs and rs is not stable_rs
        )
        return basic_canary_sizes(
            (targets.new, targets.stable),
            Pods(new_rs.spec_replicas, new_rs.available),
            stable,
            replicas=self.replicas,
            max_surge=self.max_surge,
            max_unavailable=self.max_unavailable,
            others=others,
        )

    def role_metadata(self, pod_hash: str) -> ephemeral.Wanted | None:
        """canaryMetadata / stableMetadata for a ReplicaSet created now."""
        stable = self.status.get("stableRS") == pod_hash
        return ephemeral.wanted(
            self.canary.stable_metadata if stable else self.canary.canary_metadata
        )

    def sync_metadata(
        self, new_rs: ReplicaSetView, stable_rs: ReplicaSetView | None, fully_promoted: bool
    ) -> None:
        deleted = {a.name for a in self.actions if isinstance(a, DeleteReplicaSet)}
        others = [
            rs
            for rs in self.snap.replica_sets
            if rs is not new_rs and rs is not stable_rs and rs.name not in deleted
        ]
        self.actions += ephemeral.sync_actions(
            canary=self.canary.canary_metadata,
            stable=self.canary.stable_metadata,
            new_rs=new_rs,
            stable_rs=None if fully_promoted else stable_rs,
            # Promoted in this plan: the old stable is now just an older ReplicaSet.
            others=others
            + ([stable_rs] if fully_promoted and stable_rs not in (None, new_rs) else []),
            fully_promoted=fully_promoted,
            created=self.created_rs,
        )

    def scale(
        self,
        new_rs: ReplicaSetView,
        stable_rs: ReplicaSetView | None,
        targets: _Targets,
        aborted: bool,
    ) -> None:
        if not self.routed:
            # The pods are the traffic split: move both sides together, within the surge
            # and availability limits, aborted or not.
            new_size, stable_size = self.basic_sizes(targets, new_rs, stable_rs)
            if stable_rs is not None and stable_rs is not new_rs:
                self.scale_to(stable_rs, stable_size)
            if not self.created_rs:
                self.scale_to(new_rs, new_size)
            return
        # Stable first: with traffic routing it must stay at full size so an abort is instant.
        if stable_rs is not None and stable_rs is not new_rs:
            # A ReplicaSet back in service forgets the scale-down it was waiting for.
            self.scale_to(stable_rs, targets.stable, drop_deadline(stable_rs))
        if aborted or self.created_rs:
            # An aborted canary is scaled down after its delay (scale_down_old); a ReplicaSet
            # created by this plan already has its size.
            return
        self.scale_to(new_rs, targets.new, drop_deadline(new_rs))

    def scale_down_old(
        self,
        new_rs: ReplicaSetView,
        stable_rs: ReplicaSetView | None,
        aborted: bool,
        fully_promoted: bool,
    ) -> None:
        """Old ReplicaSets keep their pods for their delay, then go to zero."""
        referenced = self.referenced_hashes()
        if not self.routed:
            # A basic canary's canary Service may still select an interrupted canary: its pods
            # are paced by the budget below instead, since the new canary can neither grow
            # nor take the Service until they go (Argo's scaleDownOldReplicaSetsForCanary
            # does not wait on references without traffic routing).
            referenced = self.referenced_hashes(skip=self.canary.canary_service)
        delay = self.canary.scale_down_delay_seconds
        if delay is None:
            delay = DEFAULT_SCALE_DOWN_DELAY_SECONDS if self.routed else 0
        stable_ready = stable_rs is not None and stable_rs.available >= self.replicas
        # A basic canary's older pods take traffic through the Service's plain selector, so
        # they leave only as fast as maxUnavailable allows; the newest old ones go first.
        budget: int | None = None
        if not self.routed:
            # Pods above a ReplicaSet's spec are already on their way out: they do not count.
            available = sum(min(rs.available, rs.spec_replicas) for rs in self.snap.replica_sets)
            budget = old_scale_down_budget(available, self.replicas, self.max_unavailable)
        # scaleDownDelayRevisionLimit: only the newest this-many old ReplicaSets wait out
        # their delay; older ones go to zero at once (Argo's scaleDownDelayHelper).
        limit = self.canary.scale_down_delay_revision_limit if self.routed else None
        delayed = 0
        for rs in sorted(self.snap.replica_sets, key=lambda r: -r.revision):
            if rs is stable_rs:
                continue
            rs_delay = delay
            if rs is new_rs:
                if not aborted or not self.routed:
                    continue  # a basic canary's new ReplicaSet is paced by scale()
                abort_delay = self.canary.abort_scale_down_delay_seconds
                if abort_delay is None:
                    abort_delay = DEFAULT_ABORT_SCALE_DOWN_DELAY_SECONDS if self.routed else 0
                if abort_delay == 0 and self.routed:
                    continue  # 0 means: keep the aborted canary up
                if not stable_ready:
                    continue  # keep the canary until stable can take everything
                rs_delay = abort_delay
            if rs.spec_replicas == 0:
                if SCALE_DOWN_DEADLINE_ANNOTATION in rs.annotations:
                    self.actions.append(
                        AnnotateReplicaSet(rs.name, {SCALE_DOWN_DEADLINE_ANNOTATION: None})
                    )
                continue
            deadline = st.parse_time(rs.annotations.get(SCALE_DOWN_DEADLINE_ANNOTATION))
            if limit is not None and rs is not new_rs and (deadline is not None or rs_delay > 0):
                delayed += 1
                if delayed > limit:
                    deadline, rs_delay = None, 0  # beyond the limit: no delay
            if deadline is None and rs_delay > 0:
                deadline = self.now + dt.timedelta(seconds=rs_delay)
                self.actions.append(
                    AnnotateReplicaSet(
                        rs.name, {SCALE_DOWN_DEADLINE_ANNOTATION: st.timestamp(deadline)}
                    )
                )
                self.wake_at(deadline)
                continue
            if deadline is not None and deadline > self.now:
                self.wake_at(deadline)
                continue
            if rs.pod_hash in referenced and rs is not new_rs:
                # A Service or the routers still point at it: wait for the switch to land.
                self.wake_at(self.now + dt.timedelta(seconds=1))
                continue
            target = 0
            if budget is not None:
                # Pods that are not available cost no availability; the rest fit the budget.
                unavailable = max(0, rs.spec_replicas - rs.available)
                target = max(0, rs.spec_replicas - unavailable - budget)
                budget -= rs.spec_replicas - unavailable - target
            if target != rs.spec_replicas:
                extra: dict[str, str | None] | None = None
                if target == 0:
                    extra = {SCALE_DOWN_DEADLINE_ANNOTATION: None}
                self.scale_to(rs, target, extra)

    def referenced_hashes(self, skip: str | None = None) -> set[str]:
        hashes = set()
        for name, svc in self.snap.services.items():
            if name == skip:
                continue
            if svc is not None and svc.selector.get(POD_HASH_LABEL):
                hashes.add(svc.selector[POD_HASH_LABEL])
        weights = (self.old_status.get("canary") or {}).get("weights") or {}
        canary_w = weights.get("canary") or {}
        if canary_w.get("weight"):
            hashes.add(canary_w.get("podTemplateHash") or "")
        return hashes

    # -- services and traffic -----------------------------------------------------------------

    def switch(self, svc_name: str | None, rs: ReplicaSetView | None, *, adopt_full: bool) -> None:
        if not svc_name or rs is None:
            return
        svc = self.snap.services.get(svc_name)
        if svc is None or svc.selector.get(POD_HASH_LABEL) == rs.pod_hash:
            return
        first_time = MANAGED_BY_ANNOTATION not in svc.annotations
        needed = self.replicas if (first_time and adopt_full) else 1
        if rs.available < max(1, min(needed, rs.spec_replicas or needed)):
            return  # never point a Service at pods that cannot serve
        self.actions.append(SwitchService(svc_name, rs.pod_hash))
        old = svc.selector.get(POD_HASH_LABEL, "")
        self.emit(
            "SwitchService",
            f"Switched selector for service '{svc_name}' from '{old}' to '{rs.pod_hash}'",
        )

    def switch_services(
        self,
        new_rs: ReplicaSetView,
        stable_rs: ReplicaSetView | None,
        aborted: bool,
        fully_promoted: bool,
    ) -> None:
        self.switch(self.canary.stable_service, stable_rs, adopt_full=True)
        if aborted or fully_promoted:
            self.switch(self.canary.canary_service, stable_rs, adopt_full=True)
        elif weight_supported(
            self.serving_pods(new_rs),
            self.replicas,
            self.routed_weight(),
            self.max_weight,
            cap=self.weight_cap(),
        ):
            # The canary Service may carry traffic already (an interrupted canary): move it
            # only to pods that can take the weight it carries now.
            self.switch(self.canary.canary_service, new_rs, adopt_full=False)

    def routed_weight(self) -> int:
        """The largest canary weight the routers may carry now (status or observed)."""
        weights = (self.old_status.get("canary") or {}).get("weights") or {}
        recorded = int((weights.get("canary") or {}).get("weight") or 0)
        observed = [r.canary_weight for r in self.snap.routers if r.canary_weight is not None]
        return max([recorded, *observed])

    def traffic(
        self,
        new_rs: ReplicaSetView,
        stable_rs: ReplicaSetView | None,
        aborted: bool,
        fully_promoted: bool,
        promote_full: bool,
    ) -> int | None:
        """Plan the router writes; returns the canary weight the routers will carry."""
        if not self.routed:
            self.status.setdefault("canary", {}).pop("weights", None)
            return None
        canary_status: JsonDict = self.status.setdefault("canary", {})
        old_weights = canary_status.get("weights") or {}
        old_weight = int((old_weights.get("canary") or {}).get("weight") or 0)
        remove_routes = False
        if fully_promoted or aborted or self.serving_pods(new_rs) == 0:
            desired = 0
            remove_routes = True
        elif promote_full:
            desired = self.supported_weight(new_rs, old_weight)
            remove_routes = True
        else:
            desired = self.step_weight(new_rs)
            stable_available = stable_rs.available if stable_rs else 0
            needed = (self.max_weight - desired) * self.replicas // self.max_weight
            if desired > old_weight and stable_available < needed:
                desired = old_weight  # Argo's gate: stable must carry the rest first
        if remove_routes and self.managed_routes:
            self.actions.append(RemoveManagedRoutes())
        elif not remove_routes:
            self.plan_managed_routes(new_rs)
        stable_hash = stable_rs.pod_hash if stable_rs else None
        serving = not (aborted or fully_promoted) and self.serving_pods(new_rs) > 0
        update_hash = UpdateHash(new_rs.pod_hash if serving else stable_hash, stable_hash)
        if stable_hash is None:
            # No stable pods yet (a first deploy): leave subset labels as they are rather than
            # clear them.
            self.actions.append(SetWeight(desired))
        elif desired < old_weight:
            # Take traffic away before moving subsets, so nothing is sent to an empty subset.
            self.actions += [SetWeight(desired), update_hash]
        else:
            self.actions += [update_hash, SetWeight(desired)]
        if desired != old_weight or not old_weights:
            self.emit(
                "TrafficWeightUpdated",
                f"Traffic weight updated from {old_weight} to {desired}"
                if old_weights
                else f"Traffic weight updated to {desired}",
            )
        canary_status["weights"] = {
            "canary": {
                "weight": desired,
                "serviceName": self.canary.canary_service or "",
                "podTemplateHash": new_rs.pod_hash,
            },
            "stable": {
                "weight": self.max_weight - desired,
                "serviceName": self.canary.stable_service or "",
                "podTemplateHash": stable_hash or "",
            },
            "verified": True,
        }
        return desired

    def serving_pods(self, rs: ReplicaSetView) -> int:
        """Canary pods that can take traffic through this plan: available now, and neither
        being scaled away (spec already lowered) nor about to be (this plan's target)."""
        pods = min(rs.available, rs.spec_replicas)
        if self.targets is not None:
            pods = min(pods, self.targets.new)
        return pods

    def supported_weight(self, new_rs: ReplicaSetView, weight: int) -> int:
        """`weight` if the canary's serving pods can carry it, else the largest that they can."""
        pods = self.serving_pods(new_rs)
        cap = self.weight_cap()
        if weight_supported(pods, self.replicas, weight, self.max_weight, cap=cap):
            return weight
        index = self.status.get("currentStepIndex")
        limit = len(self.steps) if index is None else min(index, len(self.steps))
        for step in reversed(self.steps[:limit]):
            w = step.set_weight
            if (
                w is not None
                and w < weight
                and weight_supported(pods, self.replicas, w, self.max_weight, cap=cap)
            ):
                return w
        return 0

    def step_weight(self, new_rs: ReplicaSetView) -> int:
        index = self.status.get("currentStepIndex")
        if index is None or index >= len(self.steps):
            wanted = self.max_weight
        else:
            wanted = 0
            for step in self.steps[: index + 1]:
                if step.set_weight is not None:
                    wanted = step.set_weight
        return self.supported_weight(new_rs, wanted)

    def plan_managed_routes(self, new_rs: ReplicaSetView) -> None:
        """Header and mirror routes of the steps up to now (never on a first revision)."""
        if not self.managed_routes or new_rs.revision <= 1:
            return
        index = self.status.get("currentStepIndex")
        if index is None:
            return
        # Only the last step naming a route decides it (a later step without `match` removes
        # it): replaying every step would add and then remove a route in each pass, a write
        # that wakes the next pass, which writes again (the route flaps).
        last: dict[tuple[str, str], Action] = {}
        for step in self.steps[: index + 1]:
            if step.set_header_route is not None:
                header = step.set_header_route.to_json()
                last.pop(("header", str(header.get("name"))), None)
                last[("header", str(header.get("name")))] = SetHeaderRoute(header)
            if step.set_mirror_route is not None:
                mirror = step.set_mirror_route.to_json()
                last.pop(("mirror", str(mirror.get("name"))), None)
                last[("mirror", str(mirror.get("name")))] = SetMirrorRoute(mirror)
        self.actions += last.values()

    # -- steps --------------------------------------------------------------------------------

    def at_targets(
        self, new_rs: ReplicaSetView, stable_rs: ReplicaSetView | None, targets: _Targets
    ) -> bool:
        """Argo's AtDesiredReplicaCountsForCanary: the sizes this step needs are in place."""
        if not new_rs.synced or new_rs.spec_replicas != targets.new:
            return False
        if new_rs.available < targets.new:
            return False
        if stable_rs is not None and stable_rs is not new_rs:
            if stable_rs.spec_replicas != targets.stable or not stable_rs.synced:
                return False
            if stable_rs.available < targets.stable:
                return False
        return True

    def progress(
        self,
        new_rs: ReplicaSetView,
        stable_rs: ReplicaSetView | None,
        targets: _Targets,
        desired_weight: int | None,
        fully_promoted: bool,
        promote_full: bool,
        initial: bool,
    ) -> bool:
        """Advance at most one step; promote to stable at the end. Returns fully_promoted."""
        if fully_promoted:
            if initial:
                self.emit(
                    "RolloutCompleted",
                    f"Rollout completed update to revision {new_rs.revision} "
                    f"({new_rs.pod_hash}): Initial deploy",
                )
            return True
        index = self.status.get("currentStepIndex")
        n = len(self.steps)
        if index is not None and index < n and not promote_full:
            self.run_step(index, new_rs, stable_rs, targets, desired_weight)
            return False
        # All steps done (or none, or a full promotion): promote once the canary can take it all.
        if new_rs.available < self.replicas or not self.at_targets(new_rs, stable_rs, targets):
            return False
        if desired_weight is not None and desired_weight != self.max_weight and not promote_full:
            return False
        reason = "Full promotion requested" if promote_full else f"Completed all {n} canary steps"
        self.status["stableRS"] = new_rs.pod_hash
        self.status.pop("promoteFull", None)
        if self.managed_routes:
            # Header and mirror routes live only while a canary runs: this plan ends it.
            self.actions = [
                a for a in self.actions if not isinstance(a, (SetHeaderRoute, SetMirrorRoute))
            ]
            self.actions.append(RemoveManagedRoutes())
        self.emit(
            "RolloutCompleted",
            f"Rollout completed update to revision {new_rs.revision} ({new_rs.pod_hash}): {reason}",
        )
        return True

    def run_step(
        self,
        index: int,
        new_rs: ReplicaSetView,
        stable_rs: ReplicaSetView | None,
        targets: _Targets,
        desired_weight: int | None,
    ) -> None:
        step = self.steps[index]
        n = len(self.steps)
        done = False
        if step.set_weight is not None:
            reached = desired_weight is None or desired_weight == step.set_weight
            done = reached and self.at_targets(new_rs, stable_rs, targets)
        elif step.pause is not None:
            done = self.run_pause(step)
        elif step.set_canary_scale is not None:
            done = self.at_targets(new_rs, stable_rs, targets)
        elif step.set_header_route is not None or step.set_mirror_route is not None:
            done = True  # the route was planned above, in this same plan
        elif step.analysis is not None:
            done = self.analysis_outcome.step_phase == "Successful"
        else:
            # experiment / plugin steps are not run yet: hold the rollout here
            # (a person decides) rather than skip a safety check silently.
            done = self.run_pause(step, unsupported=True)
        if done:
            self.status["currentStepIndex"] = index + 1
            if not self.status.get("pauseConditions"):
                # controllerPause means "we paused at this step": left over from a pause the
                # user skipped, it must not end the next pause step as if it were a resume.
                self.status["controllerPause"] = False
            self.emit(
                "RolloutStepCompleted",
                f"Rollout step {index + 1}/{n} completed ({step.describe()})",
            )

    def run_pause(self, step: CanaryStep, *, unsupported: bool = False) -> bool:
        pauses: list[JsonDict] = self.status.get("pauseConditions") or []
        mine = next((p for p in pauses if p.get("reason") == st.CANARY_PAUSE_STEP), None)
        if mine is None:
            if self.status.get("controllerPause"):
                # We paused here and someone removed the pause: that is a resume.
                self.status["controllerPause"] = False
                self.emit(st.ROLLOUT_RESUMED, "Rollout is resumed")
                self.resumed_recorded = True
                return True
            # Round up: the condition keeps whole seconds, and a pause must never be shorter.
            start = st.timestamp(self.now + dt.timedelta(microseconds=999_999))
            self.status["pauseConditions"] = [
                *pauses,
                {"reason": st.CANARY_PAUSE_STEP, "startTime": start},
            ]
            self.status["controllerPause"] = True
            self.emit(st.ROLLOUT_PAUSED, f"Rollout is paused ({st.CANARY_PAUSE_STEP})")
            if unsupported:
                self.emit(
                    "UnsupportedStep",
                    f"step {step.describe()} is not run by rolloutd yet; the rollout waits here "
                    "until it is promoted",
                    "Warning",
                )
            mine = self.status["pauseConditions"][-1]
        seconds = step.pause.seconds() if step.pause is not None else None
        if seconds is None:
            return False
        started = st.parse_time(mine.get("startTime")) or self.now
        ends = started + dt.timedelta(seconds=seconds)
        if self.now >= ends:
            rest = [p for p in pauses if p.get("reason") != st.CANARY_PAUSE_STEP]
            if rest:
                self.status["pauseConditions"] = rest
            else:
                self.status.pop("pauseConditions", None)
            self.status["controllerPause"] = False
            return True
        self.wake_at(ends)
        return False

    def enter_abort(self) -> None:
        if not self.status.get("abortedAt"):
            self.status["abortedAt"] = st.timestamp(self.now)
        self.status.pop("pauseConditions", None)
        self.status["controllerPause"] = False
        self.status["currentStepIndex"] = 0 if self.steps else None

    # -- history and status -------------------------------------------------------------------

    def compute_status(
        self,
        new_rs: ReplicaSetView,
        pod_hash: str,
        fully_promoted: bool,
        paused: bool,
        aborted: bool,
        retried: bool,
    ) -> None:
        s = self.status
        sets = self.snap.replica_sets
        s["replicas"] = sum(rs.replicas for rs in sets)
        s["updatedReplicas"] = new_rs.replicas
        s["readyReplicas"] = sum(rs.ready for rs in sets)
        s["availableReplicas"] = sum(rs.available for rs in sets)
        s["HPAReplicas"] = s["replicas"]
        s["selector"] = selector_string(self.spec.selector.to_json() if self.spec.selector else {})
        s["observedGeneration"] = self.generation
        s["currentPodHash"] = pod_hash
        if not self.steps:
            s.pop("currentStepIndex", None)
        conds = self.conditions()
        available = s["availableReplicas"] >= self.replicas
        pause_conditions = s.get("pauseConditions") or []
        is_paused = paused or bool(pause_conditions)
        self.set_available_and_paused(available=available, paused=is_paused)
        self.progressing_condition(new_rs, fully_promoted, paused, aborted, retried)
        steps_done = s.get("currentStepIndex") is None or s.get("currentStepIndex") == len(
            self.steps
        )
        healthy = (
            not is_paused
            and s["updatedReplicas"] == self.replicas
            and new_rs.available == self.replicas
            and steps_done
            and fully_promoted
            and s["replicas"] == self.replicas
        )
        self.set_healthy_and_completed(healthy=healthy, completed=fully_promoted)
        basic_old = (not self.routed) and s["replicas"] > s["updatedReplicas"]
        phase, message = st.phase_and_message(
            conditions=conds,
            spec_paused=paused,
            pause_conditions=pause_conditions,
            spec_replicas=self.replicas,
            updated_replicas=s["updatedReplicas"],
            available_replicas=new_rs.available,
            fully_promoted=fully_promoted,
            basic_canary_old_pods=basic_old,
            restarting=restart_pending(self.spec.restart_at, s.get("restartedAt")),
        )
        s["phase"] = phase
        s["message"] = message
        if not s.get("canary"):
            s.pop("canary", None)
        if not s.get("pauseConditions"):
            s.pop("pauseConditions", None)


def plan(snapshot: Snapshot, now: dt.datetime) -> Plan:
    """Decide what to do for one Rollout. Pure: no I/O, `now` is the only clock.

    A pass that finishes a step is followed at once by the pass its status write would have
    triggered, planned from that status and the same snapshot, so a promote moves traffic in
    one reconcile instead of two. Each pass completes at most one step. A crash must not leave
    the status behind the cluster in a way a restart would undo, so:

    - a finished pause is decided again, the same way, by any later pass (a promote or an
      elapsed duration is in the status and the clock), so its pass is simply dropped and the
      next one acts from the cluster as it is;
    - any other finished step (a weight already in place) depends on the cluster, so it chains
      only when its pass changes nothing, and it goes along as the plan's `checkpoint`, written
      before the next step acts.
    """
    result = _Planner(snapshot, now).run()
    canary = snapshot.rollout.spec.strategy.canary
    steps = (canary.steps or []) if canary else []
    checkpoint: Plan | None = None
    carried: list[Event] = []  # Events of dropped passes, recorded with the next write
    for _ in steps:
        finished = _finished_step(snapshot, result)
        if finished is None:
            break
        if steps[finished].pause is not None:
            carried += result.events
        elif all(_changes_nothing(snapshot, action) for action in result.actions):
            checkpoint = replace(result, actions=(), events=[*carried, *result.events])
            carried = []
        else:
            break
        status = RolloutStatus.model_validate(result.status)
        snapshot = replace(snapshot, rollout=snapshot.rollout.model_copy(update={"status": status}))
        result = _Planner(snapshot, now).run()
    # Healthy only once the Services and routers agree (see plan/claims.py).
    result = claims.holds(snapshot, result)
    if checkpoint is None and not carried:
        return result
    checkpoint = claims.holds(snapshot, checkpoint) if checkpoint is not None else None
    return replace(result, events=[*carried, *result.events], checkpoint=checkpoint)


def _finished_step(snapshot: Snapshot, result: Plan) -> int | None:
    """The step `result` finished, when it moved on by exactly one step of the same update
    (no new template, no new steps, no abort, not paused); else None."""
    if snapshot.rollout.spec.paused:
        return None
    before, after = snapshot.rollout.status, result.status
    index = before.current_step_index
    moved_on = (
        index is not None
        and after.get("currentStepIndex") == index + 1
        and after.get("currentPodHash") == before.current_pod_hash
        and after.get("currentStepHash") == before.current_step_hash
        and after.get("stableRS") == before.stable_rs
        and not after.get("abort")
        and not after.get("pauseConditions")
    )
    return index if moved_on else None


def _changes_nothing(snapshot: Snapshot, action: Action) -> bool:
    """A router call that asks for what the routers already hold (every pass of a
    traffic-routed rollout asks for the weight and the hashes again, to undo hand edits)."""
    if isinstance(action, SetWeight):
        return bool(snapshot.routers) and all(
            not r.errors and r.canary_weight == action.weight for r in snapshot.routers
        )
    if isinstance(action, UpdateHash):
        canary = snapshot.rollout.status.canary
        weights = canary.weights if canary else None
        return (
            weights is not None
            and weights.canary.pod_template_hash == action.canary_hash
            and weights.stable.pod_template_hash == action.stable_hash
        )
    return False
