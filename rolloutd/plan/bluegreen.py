"""The blue-green planner: one pure function from a Snapshot and `now` to a Plan.

It follows Argo Rollouts' `rolloutBlueGreen` (reference: `argo-bluegreen-dashboard-notifications.md`
part A). The new version runs beside the old one at full size (or `previewReplicaCount`);
the preview Service follows the newest ReplicaSet at once, and the active Service switches all
at once when the new ReplicaSet is saturated, the `BlueGreenPause` is over and pre-promotion
analysis has passed. The new ReplicaSet becomes stable once the active Service has been read
back on it and post-promotion analysis has passed; the previous one then waits out
`scaleDownDelaySeconds` at full size before it goes to zero.

rolloutd's guarantees on top of Argo's:

- the active Service never selects a ReplicaSet that lacks any of its pods (saturated: every
  pod available), and an abort sends it back only to a stable ReplicaSet with available pods;
- a switch counts as done (stable promoted, delays started) only when the Service read back
  from the cluster shows it, never because this plan asked for it;
- nothing is written at rest: every action is asked for only when the cluster differs.

Reading order: `plan()` at the bottom drives `_BlueGreen.run()`, which reads top to bottom.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass

from rolloutd.model.rollout import (
    DEFAULT_ABORT_SCALE_DOWN_DELAY_SECONDS,
    DEFAULT_SCALE_DOWN_DELAY_SECONDS,
    BlueGreenStrategy,
    validate_spec,
)
from rolloutd.plan import claims
from rolloutd.plan import metadata as ephemeral
from rolloutd.plan import status as st
from rolloutd.plan.analysis import PromotionOutcome, plan_promotion_analysis
from rolloutd.plan.analysis import blocks as analysis_blocks
from rolloutd.plan.analysis import spec_errors as analysis_spec_errors
from rolloutd.plan.base import PlannerBase, drop_deadline
from rolloutd.plan.hashing import TemplateEncodingError
from rolloutd.plan.restart import restart_pending
from rolloutd.plan.types import (
    DESIRED_REPLICAS_ANNOTATION,
    POD_HASH_LABEL,
    SCALE_DOWN_DEADLINE_ANNOTATION,
    AnnotateReplicaSet,
    DeleteReplicaSet,
    JsonDict,
    Plan,
    ReplicaSetView,
    Snapshot,
    SwitchService,
)

BLUE_GREEN_PAUSE = "BlueGreenPause"
CUTOVER_PENDING = "active service cutover pending"
WAITING_FOR_ANALYSIS = "waiting for analysis to complete"


@dataclass
class _BlueGreen(PlannerBase):
    def __post_init__(self) -> None:
        super().__post_init__()
        self.bg: BlueGreenStrategy = self.spec.strategy.blue_green or BlueGreenStrategy()
        seconds = self.bg.auto_promotion_seconds or 0
        # Argo's needsBlueGreenControllerPause: a person promotes (autoPromotionEnabled: false,
        # which ignores autoPromotionSeconds), or the controller does after some seconds.
        self.manual = self.bg.auto_promotion_enabled is False
        self.auto_seconds = 0 if self.manual else seconds
        self.needs_pause = self.manual or self.auto_seconds > 0
        self.bg_status: JsonDict = self.status.setdefault("blueGreen", {})

    # -- what the strategy says --------------------------------------------------------------

    def role_metadata(self, pod_hash: str) -> ephemeral.Wanted | None:
        """A ReplicaSet created now is the active one only on a first deploy."""
        active = self.service_hash(self.bg.active_service)
        if not active or active == pod_hash:
            return ephemeral.wanted(self.bg.active_metadata)
        return ephemeral.wanted(self.bg.preview_metadata)

    def service_hash(self, name: str | None) -> str:
        """The pod hash a Service selects, as read back from the cluster ('' for none)."""
        svc = self.snap.services.get(name) if name else None
        return svc.selector.get(POD_HASH_LABEL, "") if svc is not None else ""

    def pause_condition(self, reason: str) -> JsonDict | None:
        pauses: list[JsonDict] = self.status.get("pauseConditions") or []
        return next((p for p in pauses if p.get("reason") == reason), None)

    def remove_pause(self, reason: str) -> None:
        rest = [p for p in self.status.get("pauseConditions") or [] if p.get("reason") != reason]
        if rest:
            self.status["pauseConditions"] = rest
        else:
            self.status.pop("pauseConditions", None)

    # -- validation ---------------------------------------------------------------------------

    def spec_errors(self) -> list[str]:
        errors = validate_spec(self.spec, name=self.name)
        if analysis_blocks(self.spec):
            errors += analysis_spec_errors(
                self.snap.raw or {"metadata": self.snap.rollout.metadata},
                self.spec,
                self.snap.analysis_templates,
            )
        if self.bg.active_service and self.bg.active_service != self.bg.preview_service:
            errors += self.service_errors(
                "spec.strategy.blueGreen",
                [
                    ("activeService", self.bg.active_service),
                    ("previewService", self.bg.preview_service),
                ],
                argo_invalid=True,
            )
        return errors

    # -- the planner --------------------------------------------------------------------------

    def run(self) -> Plan:
        errors = self.spec_errors()
        if errors:
            return self.invalid(errors)
        st.remove_condition(self.conditions(), st.INVALID_SPEC)
        self.warn_unsupported()
        try:
            pod_hash, new_rs = self.find_new_rs(self.bg.anti_affinity)
        except TemplateEncodingError as err:
            return self.invalid([str(err)])
        by_hash = {rs.pod_hash: rs for rs in self.snap.replica_sets}
        active_hash = self.service_hash(self.bg.active_service)
        preview_hash = self.service_hash(self.bg.preview_service)

        stable_hash = self.status.get("stableRS") or ""
        if not stable_hash and self.snap.replica_sets:
            stable_hash = self.adopt_stable(pod_hash, active_hash)
        initial = not stable_hash
        self.reset_for_new_template(pod_hash)

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
            # A retry runs the analysis again: forget the runs that failed.
            self.bg_status.pop("prePromotionAnalysisRunStatus", None)
            self.bg_status.pop("postPromotionAnalysisRunStatus", None)
            self.emit(st.ROLLOUT_RETRY, "Retrying Rollout after abort")
        if aborted:
            self.enter_abort()
        promote_full = bool(self.status.get("promoteFull"))
        if promote_full and fully_promoted:
            self.status.pop("promoteFull", None)
            promote_full = False
        if promote_full:
            self.remove_pause(BLUE_GREEN_PAUSE)
            self.status["controllerPause"] = False
        if initial:
            # First deploy: nothing to preview, so the new ReplicaSet is stable at once.
            self.status["stableRS"] = pod_hash
            stable_hash = pod_hash
            fully_promoted = True
        stable_rs = by_hash.get(stable_hash)
        active_rs = by_hash.get(active_hash)
        self.checkpoint = bool(self.bg_status.get("scaleUpPreviewCheckPoint"))
        if self.bg.preview_replica_count is None:
            self.checkpoint = False

        # Back to a ReplicaSet still inside its scale-down delay: no pause, no analysis (an
        # aborted preview waiting out its own delay is no rollback: a retry clears it).
        fast_rollback = (
            new_rs is not None
            and not aborted
            and not retried
            and not fully_promoted
            and SCALE_DOWN_DEADLINE_ANNOTATION in new_rs.annotations
        )
        full_size = (
            self.bg.preview_replica_count is None
            or active_rs is None
            or active_hash == pod_hash
            or promote_full
            or fully_promoted
            or fast_rollback
            or (self.checkpoint and not self.spec.paused and not self.status.get("pauseConditions"))
        )
        target = self.replicas if full_size else int(self.bg.preview_replica_count or 0)
        new_rs = self.settle_revision(pod_hash, new_rs, lambda _: target)
        if initial:
            self.emit(
                "RolloutCompleted",
                f"Rollout completed update to revision {self.revision} ({pod_hash}): "
                "Initial deploy",
            )

        ready = new_rs.synced and new_rs.spec_replicas == target and new_rs.available >= target
        saturated = (
            new_rs.synced
            and new_rs.spec_replicas == self.replicas
            and new_rs.available >= self.replicas
            and new_rs.annotations.get(DESIRED_REPLICAS_ANNOTATION, str(self.replicas))
            == str(self.replicas)
        )
        halted = bool(self.spec.paused) or (
            self.pause_condition(st.INCONCLUSIVE_ANALYSIS) is not None
        )

        # Analysis: pre-promotion before the pause and the switch, post-promotion after it.
        update = not (initial or fully_promoted or aborted or promote_full or fast_rollback)
        outcome = self.analysis(
            pod_hash,
            stable_hash,
            active=update,
            start_pre=update and bool(active_hash) and active_hash != pod_hash and ready,
            start_post=update and active_hash == pod_hash and saturated,
        )
        if outcome.abort_reason is not None:
            self.status["abort"] = True
            self.enter_abort()
            aborted = True
            self.abort_detail = outcome.abort_reason
        pre_done = self.bg.pre_promotion_analysis is None or outcome.pre_phase == "Successful"
        halted = halted or self.pause_condition(st.INCONCLUSIVE_ANALYSIS) is not None

        # Sizes: the stable keeps full capacity until it stops being stable.
        if stable_rs is not None and stable_rs is not new_rs:
            self.scale_to(stable_rs, self.replicas, drop_deadline(stable_rs))
        if aborted:
            self.scale_down_aborted(new_rs, stable_rs, active_hash)
        elif not self.spec.paused and not self.created_rs:
            # It serves again (a retry) or is active now: its scale-down is called off.
            extra = drop_deadline(new_rs) if retried or active_hash == pod_hash else None
            self.scale_to(new_rs, target, extra)

        # The preview Service follows the newest ReplicaSet, pods ready or not (Argo).
        preview_after = preview_hash
        if self.bg.preview_service and not halted and preview_hash != pod_hash:
            self.switch(self.bg.preview_service, preview_hash, pod_hash)
            preview_after = pod_hash

        fast_tracked = (
            promote_full or fast_rollback or fully_promoted or not active_hash
        ) or active_hash == pod_hash
        pause_done = self.pause(
            ready=ready,
            aborted=aborted,
            halted=halted,
            fast_tracked=fast_tracked,
            pre_done=pre_done,
        )
        if (
            self.bg.preview_replica_count is not None
            and not self.checkpoint
            and pre_done
            and pause_done
            and not fast_tracked
            and new_rs.available >= self.bg.preview_replica_count
        ):
            self.checkpoint = True  # a latch: the preview may grow to full size now

        # The active Service: to the new ReplicaSet when it may take everything, back to
        # stable on an abort.
        active_after = active_hash
        if not halted:
            wanted = active_hash
            if aborted:
                if stable_rs is not None and min(stable_rs.available, stable_rs.spec_replicas):
                    wanted = stable_hash
            elif saturated and (fast_tracked or (pause_done and pre_done)):
                wanted = pod_hash
            if wanted and wanted != active_hash and self.bg.active_service:
                self.switch(self.bg.active_service, active_hash, wanted)
                active_after = wanted

        # Promotion: only once the cluster shows the switch (the Service as read back).
        if (
            not aborted
            and not self.spec.paused
            and not fully_promoted
            and active_hash == pod_hash
            and saturated
        ):
            post_done = (
                self.bg.post_promotion_analysis is None
                or promote_full
                or fast_rollback
                or outcome.post_phase == "Successful"
            )
            if post_done:
                reason = "Completed blue-green update"
                if promote_full:
                    reason = "Full promotion requested"
                elif fast_rollback:
                    reason = "Fast rollback"
                self.status["stableRS"] = pod_hash
                self.status.pop("promoteFull", None)
                self.status.pop("pauseConditions", None)
                self.status["controllerPause"] = False
                self.checkpoint = False
                fully_promoted = True
                self.emit(
                    "RolloutCompleted",
                    f"Rollout completed update to revision {self.revision} ({pod_hash}): {reason}",
                )
                stable_rs = new_rs
        if active_hash == pod_hash:
            self.checkpoint = False  # the preview is the active one: nothing left to latch

        if not (self.spec.paused or halted):
            self.scale_down_old(new_rs, stable_rs, {active_hash, preview_hash, active_after})
        self.cleanup_history(new_rs, stable_rs)
        self.sync_metadata(new_rs, by_hash.get(active_after), active_after == pod_hash)
        self.compute_status(
            new_rs,
            by_hash.get(active_after) if active_after != pod_hash else new_rs,
            pod_hash,
            active_after,
            preview_after,
            fully_promoted,
            aborted,
            retried,
        )
        return Plan(
            actions=self.actions,
            status=self.status,
            events=self.events,
            requeue_after=self.requeue_after(),
        )

    def adopt_stable(self, pod_hash: str, active_hash: str) -> str:
        """A Rollout that owns ReplicaSets but has no stableRS (its status was lost): what
        the active Service selects is stable, else the newest other ReplicaSet with pods, so a
        new template is still previewed instead of promoted as an "initial deploy"."""
        hashes = {rs.pod_hash for rs in self.snap.replica_sets}
        if active_hash in hashes:
            stable = active_hash
        else:
            others = [
                rs for rs in self.snap.replica_sets if rs.pod_hash != pod_hash and rs.spec_replicas
            ]
            stable = max(others, key=lambda rs: rs.revision).pod_hash if others else pod_hash
        self.status["stableRS"] = stable
        self.status["currentPodHash"] = pod_hash
        return stable

    def reset_for_new_template(self, pod_hash: str) -> None:
        """Argo's resetRolloutStatus: a new template starts a fresh update (even an aborted one)."""
        changed = self.status.get("currentPodHash") not in (None, pod_hash)
        self.status["currentPodHash"] = pod_hash
        if not changed:
            return
        for key in ("pauseConditions", "abort", "abortedAt", "promoteFull"):
            self.status.pop(key, None)
        self.status["controllerPause"] = False
        for key in (
            "scaleUpPreviewCheckPoint",
            "prePromotionAnalysisRunStatus",
            "postPromotionAnalysisRunStatus",
        ):
            self.bg_status.pop(key, None)

    def enter_abort(self) -> None:
        if not self.status.get("abortedAt"):
            self.status["abortedAt"] = st.timestamp(self.now)
        self.status.pop("pauseConditions", None)
        self.status["controllerPause"] = False

    # -- analysis -------------------------------------------------------------------------------

    def analysis(
        self, pod_hash: str, stable_hash: str, *, active: bool, start_pre: bool, start_post: bool
    ) -> PromotionOutcome:
        if not self.snap.analysis_runs and not analysis_blocks(self.spec):
            return PromotionOutcome(actions=[])
        recorded: list[str | None] = []
        for key in ("prePromotionAnalysisRunStatus", "postPromotionAnalysisRunStatus"):
            run = self.bg_status.get(key) or {}
            if run.get("status") == "Inconclusive" and not self.pause_condition(
                st.INCONCLUSIVE_ANALYSIS
            ):
                # Promoted past an inconclusive run: it runs again (Argo's needsNewAnalysisRun).
                run = {}
                self.status["controllerPause"] = False
            recorded.append(run.get("name"))
        runs = functools.partial(
            plan_promotion_analysis,
            rollout=self.snap.raw,
            spec=self.spec,
            runs=self.snap.analysis_runs,
            templates=self.snap.analysis_templates,
            pod_hash=pod_hash,
            stable_hash=stable_hash or None,
            revision=self.revision or 1,
            recorded=(recorded[0], recorded[1]),
        )
        outcome = runs(start_pre=start_pre, start_post=start_post, active=active)
        if outcome.abort_reason is not None:
            # Stop everything else that still runs; keep what was read.
            outcome.actions = runs(start_pre=False, start_post=False, active=False).actions
        self.take_analysis(
            outcome,
            self.bg_status,
            {
                "prePromotionAnalysisRunStatus": outcome.pre_status,
                "postPromotionAnalysisRunStatus": outcome.post_status,
            },
        )
        return outcome

    # -- the pause --------------------------------------------------------------------------------

    def pause(
        self, *, ready: bool, aborted: bool, halted: bool, fast_tracked: bool, pre_done: bool
    ) -> bool:
        """Argo's reconcileBlueGreenPause; returns whether the pause is over (or not needed)."""
        if not self.needs_pause or fast_tracked or self.checkpoint:
            if self.pause_condition(BLUE_GREEN_PAUSE) is not None:
                self.remove_pause(BLUE_GREEN_PAUSE)
            return True
        if aborted or halted or not ready or not pre_done:
            return False  # pre-promotion analysis passes before the pause starts (Argo #990)
        cond = self.pause_condition(BLUE_GREEN_PAUSE)
        if cond is None:
            if self.status.get("controllerPause"):
                return True  # we paused and someone removed the pause: promoted
            # Round up: the condition keeps whole seconds, and a pause must never be shorter.
            start = st.timestamp(self.now + dt.timedelta(microseconds=999_999))
            pauses = self.status.get("pauseConditions") or []
            self.status["pauseConditions"] = [
                *pauses,
                {"reason": BLUE_GREEN_PAUSE, "startTime": start},
            ]
            self.status["controllerPause"] = True
            self.emit(st.ROLLOUT_PAUSED, f"Rollout is paused ({BLUE_GREEN_PAUSE})")
            cond = self.status["pauseConditions"][-1]
        if self.auto_seconds > 0:
            started = st.parse_time(cond.get("startTime")) or self.now
            ends = started + dt.timedelta(seconds=self.auto_seconds)
            if self.now >= ends:
                self.remove_pause(BLUE_GREEN_PAUSE)
                return True
            self.wake_at(ends)
        return False

    # -- Services and ReplicaSets -------------------------------------------------------------

    def switch(self, service: str, old: str, new: str) -> None:
        self.actions.append(SwitchService(service, new))
        self.emit(
            "SwitchService",
            f"Switched selector for service '{service}' from '{old}' to '{new}'",
        )

    def scale_down_aborted(
        self, new_rs: ReplicaSetView, stable_rs: ReplicaSetView | None, active_hash: str
    ) -> None:
        """An aborted preview goes to zero `abortScaleDownDelaySeconds` after the stable can
        take everything again and the active Service is back on it (0: it stays up)."""
        if stable_rs is None or stable_rs is new_rs or new_rs.spec_replicas == 0:
            return
        delay = self.bg.abort_scale_down_delay_seconds
        if delay is None:
            delay = DEFAULT_ABORT_SCALE_DOWN_DELAY_SECONDS
        if delay == 0 or active_hash == new_rs.pod_hash:
            return
        if stable_rs.available < self.replicas:
            return
        self.delay_then_scale_down(new_rs, delay)

    def delay_then_scale_down(self, rs: ReplicaSetView, delay: int) -> None:
        deadline = st.parse_time(rs.annotations.get(SCALE_DOWN_DEADLINE_ANNOTATION))
        if deadline is None and delay > 0:
            deadline = self.now + dt.timedelta(seconds=delay)
            stamp = st.timestamp(deadline)
            self.actions.append(
                AnnotateReplicaSet(rs.name, {SCALE_DOWN_DEADLINE_ANNOTATION: stamp})
            )
            self.wake_at(deadline)
            return
        if deadline is not None and deadline > self.now:
            self.wake_at(deadline)
            return
        self.scale_to(rs, 0, {SCALE_DOWN_DEADLINE_ANNOTATION: None})

    def scale_down_old(
        self, new_rs: ReplicaSetView, stable_rs: ReplicaSetView | None, referenced: set[str]
    ) -> None:
        """ReplicaSets no Service selects wait out scaleDownDelaySeconds at their size (the
        newest scaleDownDelayRevisionLimit of them), then go to zero (Argo's
        scaleDownOldReplicaSetsForBlueGreen)."""
        delay = self.bg.scale_down_delay_seconds
        if delay is None:
            delay = DEFAULT_SCALE_DOWN_DELAY_SECONDS
        limit = self.bg.scale_down_delay_revision_limit
        delayed = 0
        for rs in sorted(self.snap.replica_sets, key=lambda r: -r.revision):
            if rs is new_rs or rs is stable_rs or rs.pod_hash in referenced:
                continue
            if rs.spec_replicas == 0:
                if SCALE_DOWN_DEADLINE_ANNOTATION in rs.annotations:
                    self.actions.append(
                        AnnotateReplicaSet(rs.name, {SCALE_DOWN_DEADLINE_ANNOTATION: None})
                    )
                continue
            waits = delay > 0 or SCALE_DOWN_DEADLINE_ANNOTATION in rs.annotations
            if waits:
                delayed += 1
            if limit is not None and waits and delayed > limit:
                self.scale_to(rs, 0, {SCALE_DOWN_DEADLINE_ANNOTATION: None})
                continue
            self.delay_then_scale_down(rs, delay)

    def sync_metadata(
        self, new_rs: ReplicaSetView, active_rs: ReplicaSetView | None, new_is_active: bool
    ) -> None:
        """activeMetadata on the pods the active Service selects, previewMetadata on the new
        ReplicaSet's until then, neither on any other."""
        deleted = {a.name for a in self.actions if isinstance(a, DeleteReplicaSet)}
        others = [
            rs
            for rs in self.snap.replica_sets
            if rs is not new_rs and rs is not active_rs and rs.name not in deleted
        ]
        if new_is_active and active_rs is not None and active_rs is not new_rs:
            others.append(active_rs)
        self.actions += ephemeral.sync_actions(
            canary=self.bg.preview_metadata,
            stable=self.bg.active_metadata,
            new_rs=new_rs,
            stable_rs=None if new_is_active else active_rs,
            others=others,
            fully_promoted=new_is_active,
            created=self.created_rs,
        )

    # -- status -------------------------------------------------------------------------------

    def compute_status(
        self,
        new_rs: ReplicaSetView,
        active_rs: ReplicaSetView | None,
        pod_hash: str,
        active_after: str,
        preview_after: str,
        fully_promoted: bool,
        aborted: bool,
        retried: bool,
    ) -> None:
        s = self.status
        sets = self.snap.replica_sets
        serving = active_rs if active_rs is not None else new_rs
        s["replicas"] = sum(rs.replicas for rs in sets)
        s["updatedReplicas"] = new_rs.replicas
        s["readyReplicas"] = serving.ready
        s["availableReplicas"] = serving.available
        s["HPAReplicas"] = serving.replicas if active_rs is not None else s["replicas"]
        selector = dict((self.spec.selector.match_labels if self.spec.selector else None) or {})
        if active_rs is not None:
            selector[POD_HASH_LABEL] = active_rs.pod_hash
        s["selector"] = ",".join(f"{k}={v}" for k, v in sorted(selector.items()))
        s["observedGeneration"] = self.generation
        s["currentPodHash"] = pod_hash
        s.pop("currentStepIndex", None)
        s.pop("currentStepHash", None)
        s.pop("canary", None)
        bg = self.bg_status
        bg["activeSelector"] = active_after
        bg["previewSelector"] = preview_after if self.bg.preview_service else ""
        if self.checkpoint:
            bg["scaleUpPreviewCheckPoint"] = True
        else:
            bg.pop("scaleUpPreviewCheckPoint", None)
        for key in ("activeSelector", "previewSelector"):
            if not bg.get(key):
                bg.pop(key, None)
        conds = self.conditions()
        available = (
            active_rs is not None
            and active_rs.available >= self.replicas
            and active_after == active_rs.pod_hash
        )
        pause_conditions = s.get("pauseConditions") or []
        paused = bool(self.spec.paused)
        is_paused = paused or bool(pause_conditions)
        self.set_available_and_paused(available=available, paused=is_paused)
        self.progressing_condition(new_rs, fully_promoted, paused, aborted, retried)
        healthy = (
            not is_paused
            and s["updatedReplicas"] == self.replicas
            and new_rs.available >= self.replicas
            and fully_promoted
            and active_after == pod_hash
        )
        self.set_healthy_and_completed(healthy=healthy, completed=fully_promoted)
        phase, message = st.phase_and_message(
            conditions=conds,
            spec_paused=paused,
            pause_conditions=pause_conditions,
            spec_replicas=self.replicas,
            updated_replicas=s["updatedReplicas"],
            available_replicas=s["availableReplicas"],
            fully_promoted=True,
            basic_canary_old_pods=False,
            restarting=restart_pending(self.spec.restart_at, s.get("restartedAt")),
        )
        if phase == "Healthy" and active_after != pod_hash:
            phase, message = "Progressing", CUTOVER_PENDING
        elif phase == "Healthy" and not fully_promoted:
            phase, message = "Progressing", WAITING_FOR_ANALYSIS
        s["phase"] = phase
        s["message"] = message
        if not s.get("pauseConditions"):
            s.pop("pauseConditions", None)
        if not bg:
            s.pop("blueGreen", None)


def plan(snapshot: Snapshot, now: dt.datetime) -> Plan:
    """Decide what to do for one blue-green Rollout. Pure: no I/O, `now` is the only clock."""
    result = _BlueGreen(snapshot, now).run()
    # Healthy only once both Services select the stable pods (see plan/claims.py).
    return claims.holds(snapshot, result)
