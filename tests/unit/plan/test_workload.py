"""The pure rules of `spec.workloadRef` (rolloutd/plan/workload.py): resolution of the template
and selector, Argo's messages, the observed generation, and what the Deployment is scaled to."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rolloutd.model.rollout import parse_rollout, validate_rollout, validate_spec
from rolloutd.plan.workload import (
    Resolved,
    deployment_replicas,
    resolve,
    template_is_empty,
    with_observed_generation,
    workload_ref,
)

JsonDict = dict[str, Any]
TEMPLATE: JsonDict = {
    "metadata": {"labels": {"app": "web"}},
    "spec": {"containers": [{"name": "app", "image": "blue"}]},
}


def rollout(**spec: Any) -> JsonDict:
    ref = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": "web", "namespace": "ns"},
        "spec": {"replicas": 3, "workloadRef": ref, "strategy": {"canary": {}}, **spec},
    }


def deployment(generation: int = 4) -> JsonDict:
    return {
        "metadata": {"name": "web", "namespace": "ns", "generation": generation},
        "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": TEMPLATE},
    }


def resolved(obj: JsonDict, workload: JsonDict | None) -> Resolved | list[str]:
    ref = workload_ref(obj)
    assert ref is not None
    return resolve(obj, ref, workload)


def test_the_template_and_selector_come_from_the_deployment() -> None:
    obj = rollout()
    result = resolved(obj, deployment())
    assert isinstance(result, Resolved)
    assert result.obj["spec"]["template"] == TEMPLATE
    assert result.obj["spec"]["selector"] == {"matchLabels": {"app": "web"}}
    assert result.generation == "4"
    # Only the copy given to the planner has them (Argo never writes them back).
    assert "template" not in obj["spec"] and "selector" not in obj["spec"]
    # What the planner validates: the resolved template and selector, found consistent.
    assert validate_spec(parse_rollout(result.obj).spec) == []


def test_the_rollouts_own_selector_wins() -> None:
    own = {"matchLabels": {"app": "web", "tier": "x"}}
    result = resolved(rollout(selector=own), deployment())
    assert isinstance(result, Resolved)
    assert result.obj["spec"]["selector"] == own


def test_a_pod_template_gives_its_template_but_no_selector() -> None:
    ref = {"apiVersion": "v1", "kind": "PodTemplate", "name": "web"}
    obj = rollout(workloadRef=ref, selector={"matchLabels": {"app": "web"}})
    result = resolved(obj, {"metadata": {"name": "web", "generation": 1}, "template": TEMPLATE})
    assert isinstance(result, Resolved)
    assert result.obj["spec"]["template"] == TEMPLATE


def test_a_missing_deployment_is_argos_not_found() -> None:
    assert resolved(rollout(), None) == ['spec.workloadRef: deployments.apps "web" not found']


def test_template_and_workload_ref_together_are_refused() -> None:
    message = "spec.template: template must be empty for workload reference rollout"
    assert resolved(rollout(template=TEMPLATE), deployment()) == [message]
    # The same rule for a manifest linted alone (kubectl argo rollouts lint).
    assert message in validate_rollout(rollout(template=TEMPLATE))


def test_a_template_without_labels_or_annotations_counts_as_empty() -> None:
    # Argo's EmptyTemplate: only labels and annotations make a template "set".
    assert template_is_empty(None)
    assert template_is_empty({"spec": {"containers": []}})
    assert template_is_empty({"metadata": {"labels": {}}})
    assert not template_is_empty({"metadata": {"annotations": {"a": "b"}}})


@pytest.mark.parametrize(
    "ref",
    [
        {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "web"},
        {"apiVersion": "extensions/v1beta1", "kind": "Deployment", "name": "web"},
        {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "scaleDown": "sometimes"},
        {"apiVersion": "apps/v1", "kind": "Deployment"},
        "web",
    ],
)
def test_malformed_references_are_left_to_the_models_validation(ref: object) -> None:
    obj = rollout(workloadRef=ref)
    assert workload_ref(obj) is None
    if isinstance(ref, dict):
        assert any(e.startswith("spec.workloadRef.") for e in validate_rollout(obj))


def test_observed_generation_is_set_and_cleared() -> None:
    assert with_observed_generation({"phase": "Healthy"}, "3") == {
        "phase": "Healthy",
        "workloadObservedGeneration": "3",
    }
    status = {"phase": "Healthy", "workloadObservedGeneration": "3"}
    assert with_observed_generation(status, "3") is status  # unchanged: no write
    assert with_observed_generation(status, None) == {"phase": "Healthy"}


@pytest.mark.parametrize("mode", ["", "never"])
def test_never_leaves_the_deployment_alone(mode: str) -> None:
    for phase in ("Progressing", "Healthy"):
        assert (
            deployment_replicas(scale_down=mode, revision=1, phase=phase, replicas=3, available=3)
            is None
        )


def test_onsuccess_scales_to_zero_once_healthy_is_written() -> None:
    kw: dict[str, Any] = {"scale_down": "onsuccess", "revision": 1, "replicas": 3}
    assert deployment_replicas(phase="Progressing", available=3, **kw) is None
    assert deployment_replicas(phase="Healthy", available=3, **kw) == 0


def test_progressively_follows_the_available_pods() -> None:
    kw: dict[str, Any] = {"scale_down": "progressively", "revision": 1, "replicas": 5}
    assert deployment_replicas(phase="Progressing", available=0, **kw) is None
    assert deployment_replicas(phase="Progressing", available=2, **kw) == 3
    assert deployment_replicas(phase="Progressing", available=7, **kw) == 0
    assert deployment_replicas(phase="Healthy", available=5, **kw) == 0


@pytest.mark.parametrize("mode", ["onsuccess", "progressively"])
def test_only_the_first_revision_scales(mode: str) -> None:
    # Argo's one-time migration: revision 2+ come from the Deployment's own template edits.
    for revision in (0, 2, 7):
        assert (
            deployment_replicas(
                scale_down=mode, revision=revision, phase="Healthy", replicas=3, available=3
            )
            is None
        )


@given(
    replicas=st.integers(0, 50),
    available=st.integers(0, 60),
    mode=st.sampled_from(["onsuccess", "progressively"]),
    phase=st.sampled_from(["Progressing", "Paused", "Degraded"]),
)
def test_never_fewer_available_than_wanted(
    replicas: int, available: int, mode: str, phase: str
) -> None:
    """Before Healthy, the Deployment keeps at least the pods the Rollout does not yet have
    available (None: it keeps what it has, which was at least that before)."""
    target = deployment_replicas(
        scale_down=mode, revision=1, phase=phase, replicas=replicas, available=available
    )
    if target is not None:
        assert target >= 0
        assert target + available >= replicas
