"""What the planner reads (a Snapshot of one Rollout's world) and what it returns (a Plan).

Everything here is plain data. The snapshot is built by the controller from its caches; the
plan is executed by the controller in order, stopping at the first failure, and the status
patch goes last. So a plan's status is only written when every action before it succeeded,
and a crash at any point leaves the cluster in a state the next plan starts from.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rolloutd.model.constants import (
    DESIRED_REPLICAS_ANNOTATION,
    EPHEMERAL_METADATA_ANNOTATION,
    MANAGED_BY_ANNOTATION,
    POD_HASH_LABEL,
    REVISION_ANNOTATION,
    REVISION_HISTORY_ANNOTATION,
    SCALE_DOWN_DEADLINE_ANNOTATION,
)
from rolloutd.model.rollout import Rollout

JsonDict = dict[str, Any]

__all__ = [  # the names live in rolloutd.model.constants; re-exported for the planner
    "DESIRED_REPLICAS_ANNOTATION",
    "EPHEMERAL_METADATA_ANNOTATION",
    "MANAGED_BY_ANNOTATION",
    "POD_HASH_LABEL",
    "REVISION_ANNOTATION",
    "REVISION_HISTORY_ANNOTATION",
    "SCALE_DOWN_DEADLINE_ANNOTATION",
]


@dataclass(frozen=True, slots=True)
class ReplicaSetView:
    """The parts of a ReplicaSet the planner needs, read once from its dict."""

    name: str
    pod_hash: str
    revision: int
    spec_replicas: int
    replicas: int
    ready: int
    available: int
    observed_generation: int
    generation: int
    created: str
    annotations: Mapping[str, str]
    template: JsonDict

    @classmethod
    def from_dict(cls, obj: JsonDict) -> ReplicaSetView:
        meta = obj.get("metadata") or {}
        labels = meta.get("labels") or {}
        annotations = meta.get("annotations") or {}
        status = obj.get("status") or {}
        spec = obj.get("spec") or {}
        try:
            revision = int(annotations.get(REVISION_ANNOTATION, "0"))
        except ValueError:
            revision = 0
        return cls(
            name=meta.get("name", ""),
            pod_hash=labels.get(POD_HASH_LABEL, ""),
            revision=revision,
            spec_replicas=int(spec.get("replicas", 1)),
            replicas=int(status.get("replicas") or 0),
            ready=int(status.get("readyReplicas") or 0),
            available=int(status.get("availableReplicas") or 0),
            observed_generation=int(status.get("observedGeneration") or 0),
            generation=int(meta.get("generation") or 0),
            created=meta.get("creationTimestamp") or "",
            annotations=annotations,
            template=spec.get("template") or {},
        )

    @property
    def synced(self) -> bool:
        """The ReplicaSet controller has seen the latest spec (its status counts are current)."""
        return self.observed_generation >= self.generation


@dataclass(frozen=True, slots=True)
class ServiceView:
    name: str
    selector: Mapping[str, str]
    annotations: Mapping[str, str]

    @classmethod
    def from_dict(cls, obj: JsonDict) -> ServiceView:
        meta = obj.get("metadata") or {}
        return cls(
            name=meta.get("name", ""),
            selector=(obj.get("spec") or {}).get("selector") or {},
            annotations=meta.get("annotations") or {},
        )


@dataclass(frozen=True, slots=True)
class RouterState:
    """What the controller learned from one router before planning (from caches, no I/O)."""

    name: str
    errors: Sequence[str] = ()
    """Validation problems, each naming its field; any of them makes the spec invalid."""
    canary_weight: int | None = None
    """The canary weight the routing objects hold now (None when they disagree or are unread)."""


@dataclass(frozen=True)
class Snapshot:
    """One Rollout and everything it owns or names, as the caches hold them now."""

    rollout: Rollout
    replica_sets: Sequence[ReplicaSetView]
    services: Mapping[str, ServiceView | None]
    """Every Service the spec names, None when it does not exist."""
    routers: Sequence[RouterState] = ()
    unknown_routers: Sequence[str] = ()
    """Problems resolving routers (not installed, incompatible): each is an invalid spec."""
    raw: JsonDict = field(default_factory=dict)
    """The Rollout as the API server sent it (AnalysisRuns copy fields from it)."""
    analysis_runs: Sequence[JsonDict] = ()
    """AnalysisRuns this Rollout owns."""
    analysis_templates: Mapping[tuple[bool, str], JsonDict] = field(default_factory=dict)
    """(cluster scoped?, name) -> AnalysisTemplate / ClusterAnalysisTemplate in reach."""
    defaulted_template: JsonDict | None = None
    """spec.template with the API server's pod defaults, when no ReplicaSet has its hash
    (then the template itself finds the ReplicaSet, see plan/rsmatch.py); None: not read."""

    @property
    def name(self) -> str:
        return str(self.rollout.metadata.get("name", ""))

    @property
    def namespace(self) -> str:
        return str(self.rollout.metadata.get("namespace", ""))


# -- actions -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CreateReplicaSet:
    body: JsonDict


@dataclass(frozen=True, slots=True)
class ScaleReplicaSet:
    name: str
    replicas: int
    annotations: Mapping[str, str | None] = field(default_factory=dict)
    """Annotations to set (None removes) in the same write."""


@dataclass(frozen=True, slots=True)
class AnnotateReplicaSet:
    name: str
    annotations: Mapping[str, str | None]


@dataclass(frozen=True, slots=True)
class DeleteReplicaSet:
    name: str


@dataclass(frozen=True, slots=True)
class SyncPodMetadata:
    """Bring a ReplicaSet's pod template and running pods to the canary or stable metadata
    (`rolloutd.plan.metadata`): template first, then the pods, then the record."""

    name: str
    pod_hash: str
    template: Mapping[str, Mapping[str, str | None]]
    """Merge-patch maps for the template's `labels` / `annotations` (None removes)."""
    previous: Mapping[str, Mapping[str, str]] | None
    """What the ReplicaSet's record says was injected (keys to remove from pods)."""
    desired: Mapping[str, Mapping[str, str]] | None
    record: str | None
    """The new value of the record annotation (None removes it)."""
    has_pods: bool


@dataclass(frozen=True, slots=True)
class SwitchService:
    """Point a Service's pod-hash selector at `pod_hash`; annotate it as managed by us."""

    service: str
    pod_hash: str


@dataclass(frozen=True, slots=True)
class SetWeight:
    weight: int


@dataclass(frozen=True, slots=True)
class UpdateHash:
    canary_hash: str | None
    stable_hash: str | None


@dataclass(frozen=True, slots=True)
class SetHeaderRoute:
    step: JsonDict
    """The step's `setHeaderRoute` block as written in the spec."""


@dataclass(frozen=True, slots=True)
class SetMirrorRoute:
    step: JsonDict


@dataclass(frozen=True, slots=True)
class RemoveManagedRoutes:
    pass


@dataclass(frozen=True, slots=True)
class AnnotateRollout:
    annotations: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class CreateAnalysisRun:
    body: JsonDict


@dataclass(frozen=True, slots=True)
class TerminateAnalysisRun:
    name: str


@dataclass(frozen=True, slots=True)
class DeleteAnalysisRun:
    name: str


@dataclass(frozen=True, slots=True)
class Event:
    reason: str
    message: str
    type: str = "Normal"


Action = (
    CreateReplicaSet
    | ScaleReplicaSet
    | AnnotateReplicaSet
    | DeleteReplicaSet
    | SyncPodMetadata
    | SwitchService
    | SetWeight
    | UpdateHash
    | SetHeaderRoute
    | SetMirrorRoute
    | RemoveManagedRoutes
    | AnnotateRollout
    | CreateAnalysisRun
    | TerminateAnalysisRun
    | DeleteAnalysisRun
)


@dataclass(frozen=True)
class Plan:
    actions: Sequence[Action]
    status: JsonDict
    """The complete new status; the controller patches only what differs."""
    events: Sequence[Event] = ()
    """Recorded after the status patch succeeds, so a retried plan does not repeat them."""
    requeue_after: dt.timedelta | None = None
    desired_weight: int | None = None
    """The canary weight the routers should carry after this plan (None: no routing)."""
    checkpoint: Plan | None = None
    """A finished step to record first: its status is written (and its Events recorded)
    before any of this plan's actions, so the cluster never gets ahead of the status."""
