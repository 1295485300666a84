"""`canaryMetadata` and `stableMetadata`: labels and annotations that follow a pod's role.

As in Argo Rollouts (`rollout/ephemeralmetadata.go`), the canary's ReplicaSet carries
`canaryMetadata` in its pod template and on its running pods, the stable's carries
`stableMetadata`, and every other ReplicaSet carries neither. The metadata is not part of the
pod-template hash, so changing it relabels pods in place: no new ReplicaSet, no restart.

What was injected is recorded on the ReplicaSet in Argo's annotation
(`rollout.argoproj.io/ephemeral-metadata`, the same JSON), so a later change removes exactly
the keys rolloutd put there and nothing another controller added, and a ReplicaSet Argo
labelled is taken over as it is.

Pods are not in the controller's caches. Instead of listing them in every pass (Argo does),
the annotation is the commit point: the planner asks for a `SyncPodMetadata` only when a
ReplicaSet's template or recorded metadata differs from what its role wants, and the actuator
then writes the template, then the pods, and records the annotation last. A crash in between
leaves the old record, so the next pass does the rest; pods the ReplicaSet creates meanwhile
are born from the updated template. When nothing differs, nothing is read or written.

Where we differ from Argo: when both blocks are removed from the spec, Argo stops looking and
leaves the labels on the pods; rolloutd removes what it recorded.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from rolloutd.model.rollout import PodMetadata
from rolloutd.plan.types import (
    EPHEMERAL_METADATA_ANNOTATION,
    JsonDict,
    ReplicaSetView,
    SyncPodMetadata,
)

Wanted = Mapping[str, Mapping[str, str]]
"""`{"labels": {...}, "annotations": {...}}`, both keys always present."""

KINDS = ("labels", "annotations")


def wanted(meta: PodMetadata | None) -> Wanted | None:
    """The spec's block as plain maps (None: no block, nothing to inject)."""
    if meta is None:
        return None
    return {"labels": dict(meta.labels or {}), "annotations": dict(meta.annotations or {})}


def recorded(annotations: Mapping[str, str]) -> Wanted | None:
    """What a ReplicaSet's annotation says was injected (None: nothing, or unreadable)."""
    text = annotations.get(EPHEMERAL_METADATA_ANNOTATION)
    if not text:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    result: dict[str, dict[str, str]] = {}
    for kind in KINDS:
        values = data.get(kind) or {}
        result[kind] = (
            {str(k): str(v) for k, v in values.items()} if isinstance(values, dict) else {}
        )
    return result


def record(meta: Wanted | None) -> str | None:
    """The annotation value for `meta`, in Argo's shape (empty maps left out)."""
    if meta is None:
        return None
    # Go's encoding: struct fields in order (labels, annotations), map keys sorted.
    body = {kind: dict(sorted(meta[kind].items())) for kind in KINDS if meta[kind]}
    return json.dumps(body, separators=(",", ":"))


def changes(
    current: Mapping[str, Any], previous: Wanted | None, desired: Wanted | None
) -> dict[str, dict[str, str | None]]:
    """Merge-patch maps (None removes) that take an object's `metadata` (`current`) from what
    `previous` injected to what `desired` wants; keys rolloutd did not inject are kept.
    Only kinds with a change are present; `{}` means nothing differs."""
    result: dict[str, dict[str, str | None]] = {}
    for kind in KINDS:
        have: Mapping[str, str] = current.get(kind) or {}
        want = dict(desired[kind]) if desired else {}
        patch: dict[str, str | None] = {k: v for k, v in want.items() if have.get(k) != v}
        for key in (previous or {}).get(kind, {}):
            if key not in want and key in have:
                patch[key] = None
        if patch:
            result[kind] = patch
    return result


def inject(template: JsonDict, desired: Wanted | None) -> JsonDict:
    """A pod template with `desired` applied (for a ReplicaSet being created)."""
    if desired is None:
        return template
    meta = dict(template.get("metadata") or {})
    for kind in KINDS:
        if desired[kind]:
            meta[kind] = {**(meta.get(kind) or {}), **desired[kind]}
    return {**template, "metadata": meta}


def sync_actions(
    *,
    canary: PodMetadata | None,
    stable: PodMetadata | None,
    new_rs: ReplicaSetView,
    stable_rs: ReplicaSetView | None,
    others: Sequence[ReplicaSetView],
    fully_promoted: bool,
    created: bool = False,
) -> list[SyncPodMetadata]:
    """One action per ReplicaSet whose template or record differs from what its role wants:
    the new ReplicaSet is the canary until it is promoted, then the stable (`created`: this
    plan creates it, with its metadata already in the body)."""
    roles: list[tuple[ReplicaSetView, Wanted | None]] = []
    if not created:
        promoted = fully_promoted or stable_rs is None or stable_rs is new_rs
        roles.append((new_rs, wanted(stable if promoted else canary)))
    if stable_rs is not None and stable_rs is not new_rs and not fully_promoted:
        roles.append((stable_rs, wanted(stable)))
    roles += [(rs, None) for rs in others]
    actions: list[SyncPodMetadata] = []
    for rs, desired in roles:
        previous = recorded(rs.annotations)
        if previous is None and desired is None:
            continue  # nothing injected, nothing wanted: not ours to touch
        template_meta = rs.template.get("metadata") or {}
        diff = changes(template_meta, previous, desired)
        if not diff and previous == desired:
            continue
        actions.append(
            SyncPodMetadata(
                name=rs.name,
                pod_hash=rs.pod_hash,
                template=diff,
                previous=previous,
                desired=desired,
                record=record(desired),
                has_pods=rs.replicas > 0 or rs.spec_replicas > 0,
            )
        )
    return actions
