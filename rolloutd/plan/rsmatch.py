"""Finding the Rollout's current ReplicaSet when no hash label names it, as Argo does.

Argo's `FindNewReplicaSet` (`utils/replicaset/replicaset.go`) looks for the ReplicaSet whose
`rollouts-pod-template-hash` is the template's hash; failing that (a ReplicaSet made by another
version of the hash function: an older Argo, k8s.io/api writing `"creationTimestamp":null`,
an older rolloutd), it compares the templates themselves (`PodTemplateEqualIgnoreHash`): the
desired template with Kubernetes' pod defaults applied against each ReplicaSet's template,
oldest first, semantically, ignoring the hash label, the canary/stable metadata Argo injected
(recorded in the `rollout.argoproj.io/ephemeral-metadata` annotation), an injected
anti-affinity term and the deprecated `serviceAccount`. That way a change of hashing never
redeploys. The defaults come from the API server (the controller does a dry-run create of a
PodTemplate); this module only compares.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from typing import Any

from rolloutd.model.constants import EPHEMERAL_METADATA_ANNOTATION
from rolloutd.plan.hashing import TemplateEncodingError, go_json
from rolloutd.plan.types import POD_HASH_LABEL, ReplicaSetView


def find_by_template(
    defaulted: dict[str, Any],
    replica_sets: Sequence[ReplicaSetView],
    anti_affinity: dict[str, Any] | None = None,
) -> ReplicaSetView | None:
    """The oldest ReplicaSet whose template equals `defaulted` (the desired template with the
    API server's pod defaults), as PodTemplateEqualIgnoreHash decides; None if there is none.

    `anti_affinity` is `spec.strategy.canary.antiAffinity` (which kind of term Argo injects).
    """
    try:
        desired = _semantic(defaulted)
    except TemplateEncodingError:
        return None
    for rs in sorted(replica_sets, key=lambda r: (r.created, r.name)):
        live = _without_injected(rs, anti_affinity)
        try:
            if _semantic(live) == desired:
                return rs
        except TemplateEncodingError:
            continue
    return None


def _without_injected(rs: ReplicaSetView, anti_affinity: dict[str, Any] | None) -> dict[str, Any]:
    template = copy.deepcopy(dict(rs.template))
    meta = template.get("metadata") or {}
    try:
        injected = json.loads(rs.annotations.get(EPHEMERAL_METADATA_ANNOTATION) or "{}")
    except ValueError:
        injected = {}
    if isinstance(injected, dict):
        for kind in ("labels", "annotations"):
            present = meta.get(kind) or {}
            for key in injected.get(kind) or {}:
                present.pop(key, None)
    if anti_affinity:
        _remove_injected_anti_affinity(template.get("spec") or {}, anti_affinity)
    return template


def _remove_injected_anti_affinity(spec: dict[str, Any], strategy: dict[str, Any]) -> None:
    """Drop the first term selecting on the hash label, from the list Argo injects into."""
    affinity = spec.get("affinity") or {}
    anti = affinity.get("podAntiAffinity") or {}
    preferred = strategy.get("preferredDuringSchedulingIgnoredDuringExecution") is not None
    if preferred:
        field = "preferredDuringSchedulingIgnoredDuringExecution"
        terms = anti.get(field) or []
        selects = [(t.get("podAffinityTerm") or {}).get("labelSelector") for t in terms]
    else:
        field = "requiredDuringSchedulingIgnoredDuringExecution"
        terms = anti.get(field) or []
        selects = [t.get("labelSelector") for t in terms]
    for i, selector in enumerate(selects):
        if any(
            e.get("key") == POD_HASH_LABEL for e in (selector or {}).get("matchExpressions") or []
        ):
            del terms[i]
            break
    else:
        return
    if not terms:
        anti.pop(field, None)
    if not anti.get("requiredDuringSchedulingIgnoredDuringExecution") and not anti.get(
        "preferredDuringSchedulingIgnoredDuringExecution"
    ):
        affinity.pop("podAntiAffinity", None)
    if not any(affinity.get(k) for k in ("podAntiAffinity", "podAffinity", "nodeAffinity")):
        spec.pop("affinity", None)


def _semantic(template: dict[str, Any]) -> Any:
    """The template as Go's typed value, for apimachinery's semantic equality: what Go would
    decode (unknown fields dropped, quantities canonical), nil equal to empty, and the hash
    label and `serviceAccount` left out."""
    typed = json.loads(go_json(template))
    labels = (typed.get("metadata") or {}).get("labels") or {}
    labels.pop(POD_HASH_LABEL, None)
    (typed.get("spec") or {}).pop("serviceAccount", None)
    return _prune(typed)


def _prune(value: Any) -> Any:
    # Semantic.DeepEqual treats a nil and an empty slice or map alike.
    if isinstance(value, dict):
        out = {k: _prune(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v not in (None, {}, [])}
    if isinstance(value, list):
        return [_prune(v) for v in value]
    return value
