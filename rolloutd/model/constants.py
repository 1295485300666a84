"""The one home of the label and annotation names rolloutd shares with Argo Rollouts.

Every name here is Argo's, spelled as Argo spells it (`pkg/apis/rollouts/v1alpha1`), because
ReplicaSets, Services and AnalysisRuns written by one controller are read by the other.
"""

from __future__ import annotations

POD_HASH_LABEL = "rollouts-pod-template-hash"
"""On ReplicaSets, their selector and pod template, and Services' selectors."""
REVISION_ANNOTATION = "rollout.argoproj.io/revision"
REVISION_HISTORY_ANNOTATION = "rollout.argoproj.io/revision-history"
DESIRED_REPLICAS_ANNOTATION = "rollout.argoproj.io/desired-replicas"
SCALE_DOWN_DEADLINE_ANNOTATION = "scale-down-deadline"
MANAGED_BY_ANNOTATION = "argo-rollouts.argoproj.io/managed-by-rollouts"
EPHEMERAL_METADATA_ANNOTATION = "rollout.argoproj.io/ephemeral-metadata"
ROLLOUT_TYPE_LABEL = "rollout-type"
"""On AnalysisRuns: Step, Background, PrePromotion or PostPromotion."""
STEP_INDEX_LABEL = "step-index"
