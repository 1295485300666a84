"""What both strategies' planners share: the plan being built, ReplicaSets, history, conditions.

`PlannerBase` holds one pass's state (the snapshot, `now`, the actions, Events and wake-ups so
far, the status being computed) and the rules that do not depend on the strategy: an invalid
spec, creating and scaling ReplicaSets with Argo's events and annotations, the revision history
limit, the Progressing condition and the progress deadline. `canary.py` and `bluegreen.py`
subclass it and add only their own rules.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from rolloutd.model.rollout import (
    DEFAULT_PROGRESS_DEADLINE_SECONDS,
    DEFAULT_REPLICAS,
    DEFAULT_REVISION_HISTORY_LIMIT,
    template_labels,
    unsupported_features,
)
from rolloutd.plan import metadata as ephemeral
from rolloutd.plan import status as st
from rolloutd.plan.hashing import pod_template_hash
from rolloutd.plan.rsmatch import find_by_template
from rolloutd.plan.types import (
    DESIRED_REPLICAS_ANNOTATION,
    EPHEMERAL_METADATA_ANNOTATION,
    MANAGED_BY_ANNOTATION,
    POD_HASH_LABEL,
    REVISION_ANNOTATION,
    REVISION_HISTORY_ANNOTATION,
    SCALE_DOWN_DEADLINE_ANNOTATION,
    Action,
    AnnotateReplicaSet,
    AnnotateRollout,
    CreateReplicaSet,
    DeleteReplicaSet,
    Event,
    JsonDict,
    Plan,
    ReplicaSetView,
    ScaleReplicaSet,
    Snapshot,
)

INVALID_SPEC_REQUEUE = dt.timedelta(seconds=20)


class AnalysisPass(Protocol):
    """What both strategies' analysis planners return (plan/analysis.py)."""

    @property
    def actions(self) -> Sequence[Action]: ...
    @property
    def abort_reason(self) -> str | None: ...
    @property
    def inconclusive(self) -> bool: ...


@dataclass
class PlannerBase:
    snap: Snapshot
    now: dt.datetime
    actions: list[Action] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    wakeups: list[dt.datetime] = field(default_factory=list)

    abort_detail: str | None = None
    created_rs: bool = False
    resumed_recorded: bool = False
    renumbered: dict[str, int] = field(default_factory=dict)
    """ReplicaSets this plan gives a new revision number (a reused template)."""
    revision: int = 0
    """The new ReplicaSet's revision (set by `settle_revision`)."""

    def __post_init__(self) -> None:
        r = self.snap.rollout
        self.spec = r.spec
        self.old_status: JsonDict = r.status.to_json()
        self.status: JsonDict = r.status.to_json()
        self.replicas = DEFAULT_REPLICAS if self.spec.replicas is None else self.spec.replicas
        self.generation = str(r.metadata.get("generation", ""))
        self.name = self.snap.name

    # -- what each strategy says ------------------------------------------------------------

    def role_metadata(self, pod_hash: str) -> ephemeral.Wanted | None:
        """The pod metadata of a ReplicaSet created now (its role's block)."""
        raise NotImplementedError

    def waits_indefinitely(self) -> bool:
        """The rollout waits for something that has no deadline (not a lack of progress)."""
        return False

    # -- small helpers ------------------------------------------------------------------------

    def emit(self, reason: str, message: str, kind: str = "Normal") -> None:
        self.events.append(Event(reason=reason, message=message, type=kind))

    def wake_at(self, when: dt.datetime) -> None:
        self.wakeups.append(when)

    def conditions(self) -> list[JsonDict]:
        conds: list[JsonDict] = self.status.setdefault("conditions", [])
        return conds

    # -- validation ---------------------------------------------------------------------------

    def take_analysis(
        self, outcome: AnalysisPass, into: JsonDict, statuses: dict[str, JsonDict | None]
    ) -> None:
        """Adopt one pass of the analysis planner: its actions, the run statuses it reports
        under `into` (None removes one), and Argo's pause when a run was inconclusive."""
        self.actions += outcome.actions
        for key, value in statuses.items():
            if value is None:
                into.pop(key, None)
            else:
                into[key] = value
        if not outcome.inconclusive or outcome.abort_reason is not None:
            return
        pauses: list[JsonDict] = self.status.get("pauseConditions") or []
        if any(p.get("reason") == st.INCONCLUSIVE_ANALYSIS for p in pauses):
            return
        self.status["pauseConditions"] = [
            *pauses,
            {"reason": st.INCONCLUSIVE_ANALYSIS, "startTime": st.timestamp(self.now)},
        ]
        self.status["controllerPause"] = True
        self.emit(st.ROLLOUT_PAUSED, f"Rollout is paused ({st.INCONCLUSIVE_ANALYSIS})")

    def service_errors(
        self, root: str, named: list[tuple[str, str | None]], *, argo_invalid: bool = False
    ) -> list[str]:
        """The Services the spec names (field, name): they exist, no other Rollout manages
        them, and every selector key but the pod hash matches the pod template's labels.
        `argo_invalid`: a missing Service in Argo's blue-green form (`Invalid value: ...`)."""
        errors: list[str] = []
        labels = template_labels(self.spec)  # {} for a bad type: validate_spec reports it
        for field_name, svc_name in named:
            if not svc_name:
                continue
            path = f"{root}.{field_name}"
            svc = self.snap.services.get(svc_name)
            if svc is None and argo_invalid:
                errors.append(
                    f'{path}: Invalid value: "{svc_name}": service "{svc_name}" not found'
                )
                continue
            if svc is None:
                errors.append(f'{path}: services "{svc_name}" not found')
                continue
            owner = svc.annotations.get(MANAGED_BY_ANNOTATION)
            if owner and owner != self.name:
                errors.append(f'{path}: Service "{svc_name}" is managed by another Rollout')
            for key, value in svc.selector.items():
                if key != POD_HASH_LABEL and labels.get(key) != value:
                    errors.append(
                        f'{path}: Service "{svc_name}" has unmatch label "{key}" in rollout'
                    )
        return errors

    def invalid(self, errors: list[str]) -> Plan:
        message = f'The Rollout "{self.name}" is invalid: ' + "; ".join(errors)
        conds = self.conditions()
        old = st.find(conds, st.INVALID_SPEC)
        if old is None or old.get("message") != message:
            self.emit(st.INVALID_SPEC, message, "Warning")
        st.set_condition(conds, st.INVALID_SPEC, "True", st.INVALID_SPEC, message, self.now)
        self.status["phase"] = "Degraded"
        self.status["message"] = f"{st.INVALID_SPEC}: {message}"
        self.status["observedGeneration"] = self.generation
        return Plan(
            actions=[], status=self.status, events=self.events, requeue_after=INVALID_SPEC_REQUEUE
        )

    def warn_unsupported(self) -> None:
        """Once per generation: fields accepted but not acted on, as a Warning Event."""
        if self.status.get("observedGeneration") == self.generation:
            return
        for feature in unsupported_features(self.spec):
            self.emit(
                "UnsupportedFeature",
                f"{feature} is accepted but not acted on by rolloutd yet",
                "Warning",
            )

    # -- ReplicaSets ----------------------------------------------------------------------------

    def find_new_rs(self, anti_affinity: JsonDict | None) -> tuple[str, ReplicaSetView | None]:
        """The pod hash of spec.template and its ReplicaSet, if one exists: by hash, or (made
        under another hash function) by its template, keeping its hash as Argo does.
        Raises TemplateEncodingError for a template Argo could not hash either."""
        template = self.spec.template or {}
        pod_hash = pod_template_hash(template, self.status.get("collisionCount"))
        by_hash = {rs.pod_hash: rs for rs in self.snap.replica_sets}
        new_rs = by_hash.get(pod_hash)
        if new_rs is None and self.snap.defaulted_template is not None:
            new_rs = find_by_template(
                self.snap.defaulted_template, self.snap.replica_sets, anti_affinity
            )
            pod_hash = new_rs.pod_hash if new_rs is not None else pod_hash
        return pod_hash, new_rs

    def settle_revision(
        self, pod_hash: str, new_rs: ReplicaSetView | None, size: Callable[[ReplicaSetView], int]
    ) -> ReplicaSetView:
        """Create the new ReplicaSet (of `size(virtual)` pods) when there is none, or give an
        older one the newest revision (going back to an older template, as Argo does); then
        the Rollout's revision annotation. Returns the new ReplicaSet (virtual if created)."""
        max_revision = max((rs.revision for rs in self.snap.replica_sets), default=0)
        revision = max_revision + 1 if new_rs is None else new_rs.revision
        if new_rs is None:
            new_rs = virtual_rs(f"{self.name}-{pod_hash}", pod_hash, revision)
            self.create_replica_set(pod_hash, revision, size(new_rs))
            self.created_rs = True
        elif new_rs.revision < max_revision:
            history = new_rs.annotations.get(REVISION_HISTORY_ANNOTATION)
            previous = f"{history},{new_rs.revision}" if history else str(new_rs.revision)
            revision = max_revision + 1
            self.renumbered[new_rs.name] = revision
            self.actions.append(
                AnnotateReplicaSet(
                    new_rs.name,
                    {REVISION_ANNOTATION: str(revision), REVISION_HISTORY_ANNOTATION: previous},
                )
            )
        annotations = self.snap.rollout.metadata.get("annotations") or {}
        if annotations.get(REVISION_ANNOTATION) != str(revision):
            self.actions.append(AnnotateRollout({REVISION_ANNOTATION: str(revision)}))
        self.revision = revision
        return new_rs

    def create_replica_set(self, pod_hash: str, revision: int, replicas: int) -> None:
        r = self.snap.rollout
        template = with_hash_label(self.spec.template or {}, pod_hash)
        selector = self.spec.selector.to_json() if self.spec.selector else {}
        match_labels = dict(selector.get("matchLabels") or {})
        match_labels[POD_HASH_LABEL] = pod_hash
        selector["matchLabels"] = match_labels
        annotations = {
            k: v
            for k, v in (r.metadata.get("annotations") or {}).items()
            if k
            not in (
                "kubectl.kubernetes.io/last-applied-configuration",
                REVISION_ANNOTATION,
                REVISION_HISTORY_ANNOTATION,
                DESIRED_REPLICAS_ANNOTATION,
            )
            and not k.startswith("notified.notifications.argoproj.io")
        }
        annotations[REVISION_ANNOTATION] = str(revision)
        annotations[DESIRED_REPLICAS_ANNOTATION] = str(self.replicas)
        role = self.role_metadata(pod_hash)
        if role is not None:
            annotations[EPHEMERAL_METADATA_ANNOTATION] = ephemeral.record(role) or ""
        name = f"{self.name}-{pod_hash}"
        body = {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": name,
                "namespace": self.snap.namespace,
                "labels": dict(template.get("metadata", {}).get("labels") or {}),
                "annotations": annotations,
                "ownerReferences": [
                    {
                        "apiVersion": "argoproj.io/v1alpha1",
                        "kind": "Rollout",
                        "name": self.name,
                        "uid": r.metadata.get("uid", ""),
                        "controller": True,
                        "blockOwnerDeletion": True,
                    }
                ],
            },
            "spec": {
                "replicas": replicas,
                "minReadySeconds": self.spec.min_ready_seconds or 0,
                "selector": selector,
                "template": ephemeral.inject(template, role),
            },
        }
        self.actions.append(CreateReplicaSet(body))
        self.emit("NewReplicaSetCreated", f"Created ReplicaSet {name} (revision {revision})")
        if revision > 1:
            self.emit(
                "RolloutNotCompleted",
                f"Rollout not completed, started update to revision {revision} ({pod_hash})",
            )
        if replicas:
            self.emit(
                "ScalingReplicaSet",
                f"Scaled up ReplicaSet {name} (revision {revision}) from 0 to {replicas}",
            )
        st.set_condition(
            self.conditions(),
            st.PROGRESSING,
            "True",
            st.NEW_RS_CREATED,
            f'Created new replica set "{name}"',
            self.now,
            touch=True,
        )

    def scale_to(
        self, rs: ReplicaSetView, replicas: int, extra: dict[str, str | None] | None = None
    ) -> None:
        if rs.spec_replicas == replicas and not extra:
            return
        annotations: dict[str, str | None] = {DESIRED_REPLICAS_ANNOTATION: str(self.replicas)}
        annotations.update(extra or {})
        self.actions.append(ScaleReplicaSet(rs.name, replicas, annotations))
        if rs.spec_replicas != replicas:
            direction = "up" if replicas > rs.spec_replicas else "down"
            self.emit(
                "ScalingReplicaSet",
                f"Scaled {direction} ReplicaSet {rs.name} "
                f"(revision {self.renumbered.get(rs.name, rs.revision)}) "
                f"from {rs.spec_replicas} to {replicas}",
            )

    def cleanup_history(self, new_rs: ReplicaSetView, stable_rs: ReplicaSetView | None) -> None:
        limit = self.spec.revision_history_limit
        if limit is None:
            limit = DEFAULT_REVISION_HISTORY_LIMIT
        old = [
            rs
            for rs in self.snap.replica_sets
            if rs is not new_rs
            and rs is not stable_rs
            and rs.spec_replicas == 0
            and rs.replicas == 0
        ]
        old.sort(key=lambda rs: rs.revision)
        for rs in old[: max(0, len(old) - limit)]:
            self.actions.append(DeleteReplicaSet(rs.name))

    # -- conditions ---------------------------------------------------------------------------

    def set_available_and_paused(self, *, available: bool, paused: bool) -> None:
        """The Available and Paused conditions, Argo's reasons and messages."""
        conds = self.conditions()
        st.set_condition(
            conds,
            st.AVAILABLE,
            "True" if available else "False",
            "AvailableReason",
            "Rollout has minimum availability"
            if available
            else "Rollout does not have minimum availability",
            self.now,
        )
        st.set_condition(
            conds,
            st.PAUSED,
            "True" if paused else "False",
            st.ROLLOUT_PAUSED,
            "Rollout is paused",
            self.now,
        )

    def set_healthy_and_completed(self, *, healthy: bool, completed: bool) -> None:
        """The Healthy and Completed conditions, Argo's reasons and messages."""
        conds = self.conditions()
        st.set_condition(
            conds,
            st.HEALTHY,
            "True" if healthy else "False",
            "RolloutHealthy",
            "Rollout is healthy" if healthy else "Rollout is not healthy",
            self.now,
        )
        st.set_condition(
            conds,
            st.COMPLETED,
            "True" if completed else "False",
            "RolloutCompleted",
            "RolloutCompleted",
            self.now,
        )

    # -- the Progressing condition and the deadline -------------------------------------------

    def progressing_condition(
        self,
        new_rs: ReplicaSetView,
        fully_promoted: bool,
        paused: bool,
        aborted: bool,
        retried: bool,
    ) -> None:
        conds = self.conditions()
        old = st.find(conds, st.PROGRESSING) or {}
        old_reason = old.get("reason")
        rs_name = new_rs.name
        revision = new_rs.revision
        if aborted:
            message = f"Rollout aborted update to revision {revision}"
            if self.abort_detail:
                message += f": {self.abort_detail}"
            elif old_reason == st.ROLLOUT_ABORTED:
                message = str(old.get("message") or message)  # keep the reason it was aborted
            if old_reason != st.ROLLOUT_ABORTED:
                self.emit(st.ROLLOUT_ABORTED, message, "Warning")
            st.set_condition(conds, st.PROGRESSING, "False", st.ROLLOUT_ABORTED, message, self.now)
            return
        step_paused = bool(self.status.get("pauseConditions"))
        if paused or step_paused:
            # Argo reports any pause (manual or a pause step) as Progressing/RolloutPaused;
            # the pause step's own event was already recorded where it started.
            if old_reason != st.ROLLOUT_PAUSED and paused:
                self.emit(st.ROLLOUT_PAUSED, "Rollout is paused")
            st.set_condition(
                conds, st.PROGRESSING, "Unknown", st.ROLLOUT_PAUSED, "Rollout is paused", self.now
            )
            return
        if self.created_rs:
            return  # create_replica_set set NewReplicaSetCreated, with the new name
        if retried:
            st.set_condition(
                conds,
                st.PROGRESSING,
                "Unknown",
                st.ROLLOUT_RETRY,
                "Retrying Rollout after abort",
                self.now,
            )
            return
        if old_reason == st.ROLLOUT_PAUSED:
            if not self.resumed_recorded:
                # A manual resume; a pause step's resume was recorded by the step itself.
                self.emit(st.ROLLOUT_RESUMED, "Rollout is resumed")
            st.set_condition(
                conds,
                st.PROGRESSING,
                "Unknown",
                st.ROLLOUT_RESUMED,
                "Rollout is resumed",
                self.now,
            )
            return
        s = self.status
        complete = (
            fully_promoted
            and new_rs.available >= self.replicas
            and s["updatedReplicas"] == self.replicas
        )
        if complete:
            st.set_condition(
                conds,
                st.PROGRESSING,
                "True",
                st.NEW_RS_AVAILABLE,
                f'ReplicaSet "{rs_name}" has successfully progressed.',
                self.now,
            )
            return
        fresh_start = old_reason in (st.ROLLOUT_RETRY, st.ROLLOUT_RESUMED, st.NEW_RS_AVAILABLE)
        if self.made_progress() or not old or fresh_start:
            st.set_condition(
                conds,
                st.PROGRESSING,
                "True",
                st.RS_UPDATED,
                f'ReplicaSet "{rs_name}" is progressing.',
                self.now,
                touch=True,
            )
            return
        # (A creation is progress too: its condition's lastUpdateTime starts the deadline.)
        self.check_deadline(rs_name)

    def made_progress(self) -> bool:
        o, s = self.old_status, self.status
        return (
            o.get("updatedReplicas") != s.get("updatedReplicas")
            or (s.get("readyReplicas") or 0) > (o.get("readyReplicas") or 0)
            or (s.get("availableReplicas") or 0) > (o.get("availableReplicas") or 0)
            or (s.get("replicas") or 0) < (o.get("replicas") or 0)
            or o.get("stableRS") != s.get("stableRS")
            or o.get("currentStepIndex") != s.get("currentStepIndex")
            or o.get("currentStepHash") != s.get("currentStepHash")
        )

    def check_deadline(self, rs_name: str) -> None:
        conds = self.conditions()
        cond = st.find(conds, st.PROGRESSING)
        if cond is None or cond.get("reason") == st.DEADLINE_EXCEEDED:
            return
        if self.status.get("pauseConditions") or self.waits_indefinitely():
            return
        # Waiting for an older ReplicaSet's scale-down is not a lack of progress (Argo's
        # isWaitingForReplicaSetScaleDown looks at ReplicaSets other than the new and stable).
        special = {self.status.get("currentPodHash"), self.status.get("stableRS")}
        if any(
            SCALE_DOWN_DEADLINE_ANNOTATION in rs.annotations and rs.pod_hash not in special
            for rs in self.snap.replica_sets
        ):
            return
        seconds = self.spec.progress_deadline_seconds
        if seconds is None:
            seconds = DEFAULT_PROGRESS_DEADLINE_SECONDS
        last = st.parse_time(cond.get("lastUpdateTime")) or self.now
        deadline = last + dt.timedelta(seconds=seconds)
        if self.now >= deadline:
            st.set_condition(
                conds,
                st.PROGRESSING,
                "False",
                st.DEADLINE_EXCEEDED,
                f'ReplicaSet "{rs_name}" has timed out progressing.',
                self.now,
            )
            self.emit(
                st.DEADLINE_EXCEEDED,
                f'ReplicaSet "{rs_name}" has timed out progressing.',
                "Warning",
            )
            if self.spec.progress_deadline_abort:
                self.status["abort"] = True
        else:
            self.wake_at(deadline)

    def requeue_after(self) -> dt.timedelta | None:
        if not self.wakeups:
            return None
        soonest = min(self.wakeups)
        return max(soonest - self.now, dt.timedelta(0))


def drop_deadline(rs: ReplicaSetView) -> dict[str, str | None] | None:
    """Annotations that cancel a pending scale-down of a ReplicaSet that serves again."""
    if SCALE_DOWN_DEADLINE_ANNOTATION in rs.annotations:
        return {SCALE_DOWN_DEADLINE_ANNOTATION: None}
    return None


def with_hash_label(template: dict[str, Any], pod_hash: str) -> dict[str, Any]:
    meta = dict(template.get("metadata") or {})
    labels = dict(meta.get("labels") or {})
    labels[POD_HASH_LABEL] = pod_hash
    meta["labels"] = labels
    return {**template, "metadata": meta}


def virtual_rs(name: str, pod_hash: str, revision: int) -> ReplicaSetView:
    """Stands for a ReplicaSet this plan creates: no pods yet."""
    return ReplicaSetView(
        name=name,
        pod_hash=pod_hash,
        revision=revision,
        spec_replicas=0,
        replicas=0,
        ready=0,
        available=0,
        observed_generation=0,
        generation=0,
        created="",
        annotations={},
        template={},
    )


def selector_string(selector: JsonDict) -> str:
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or []:
        values = ",".join(expr.get("values") or [])
        op = str(expr.get("operator", "")).lower()
        if op == "in":
            parts.append(f"{expr['key']} in ({values})")
        elif op == "notin":
            parts.append(f"{expr['key']} notin ({values})")
        elif op == "exists":
            parts.append(str(expr["key"]))
        elif op == "doesnotexist":
            parts.append(f"!{expr['key']}")
    return ",".join(parts)
