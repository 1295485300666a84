"""The pure AnalysisRun builder the Rollout planner uses (rolloutd.analysis.build)."""

from __future__ import annotations

from typing import Any

import pytest

from rolloutd.analysis.build import (
    AnalysisSpecError,
    build_analysis_run,
    resolve_field_path,
    rollout_run_status,
    run_phase_outcome,
    template_references,
)
from rolloutd.analysis.spec import prepare_run

JsonDict = dict[str, Any]

ROLLOUT: JsonDict = {
    "apiVersion": "argoproj.io/v1alpha1",
    "kind": "Rollout",
    "metadata": {
        "name": "guestbook",
        "namespace": "shop",
        "uid": "ro-uid",
        "labels": {"team": "a"},
        "annotations": {"owner": "alice"},
    },
    "spec": {
        "selector": {"matchLabels": {"app": "guestbook"}},
        "template": {"metadata": {"labels": {"app": "guestbook", "version": "v2"}}},
        "strategy": {"canary": {"steps": [{"setWeight": 20}, {"analysis": {}}]}},
    },
}


def template(name: str, *, cluster: bool = False, **spec: Any) -> JsonDict:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "ClusterAnalysisTemplate" if cluster else "AnalysisTemplate",
        "metadata": {"name": name},
        "spec": spec,
    }


SUCCESS_RATE = template(
    "success-rate",
    args=[{"name": "service-name"}, {"name": "threshold", "value": "0.95"}],
    metrics=[
        {
            "name": "success-rate",
            "successCondition": "result[0] >= {{args.threshold}}",
            "provider": {"prometheus": {"query": 'rate(x{svc="{{args.service-name}}"}[5m])'}},
        }
    ],
)


def build(**overrides: Any) -> JsonDict:
    kwargs: dict[str, Any] = {
        "rollout": ROLLOUT,
        "templates": [SUCCESS_RATE],
        "rollout_analysis": {
            "templates": [{"templateName": "success-rate"}],
            "args": [{"name": "service-name", "value": "guestbook-svc"}],
        },
        "kind": "Step",
        "step_index": 1,
        "pod_hash": "6f646bf7b7",
        "revision": 2,
        "stable_hash": "5d4c7b8f9",
    }
    kwargs.update(overrides)
    return build_analysis_run(**kwargs)


def test_step_run_name_labels_owner_and_args() -> None:
    run = build()
    meta = run["metadata"]
    assert meta["name"] == "guestbook-6f646bf7b7-2-1"
    assert meta["namespace"] == "shop"
    assert meta["labels"] == {
        "rollouts-pod-template-hash": "6f646bf7b7",
        "rollout-type": "Step",
        "step-index": "1",
        "app": "guestbook",
    }
    assert meta["annotations"] == {"rollout.argoproj.io/revision": "2"}
    assert meta["ownerReferences"] == [
        {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Rollout",
            "name": "guestbook",
            "uid": "ro-uid",
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    assert run["spec"]["args"] == [
        {"name": "service-name", "value": "guestbook-svc"},
        {"name": "threshold", "value": "0.95"},
    ]
    # The run is valid for the analysis controller as it stands.
    [metric] = prepare_run(run["spec"]).metrics
    assert metric.metric.success_condition == "result[0] >= 0.95"


def test_background_and_blue_green_names() -> None:
    assert build(kind="Background", step_index=None)["metadata"]["name"] == "guestbook-6f646bf7b7-2"
    background = build(kind="Background", step_index=None)
    assert "step-index" not in background["metadata"]["labels"]
    assert background["metadata"]["labels"]["rollout-type"] == "Background"
    assert build(kind="PrePromotion", step_index=None)["metadata"]["name"].endswith("-2-pre")
    assert build(kind="PostPromotion", step_index=None)["metadata"]["name"].endswith("-2-post")


def test_rollout_value_overrides_template_default_and_extra_args_are_ignored() -> None:
    run = build(
        rollout_analysis={
            "templates": [{"templateName": "success-rate"}],
            "args": [
                {"name": "service-name", "value": "svc"},
                {"name": "threshold", "value": ""},
                {"name": "unused", "value": "x"},
            ],
        }
    )
    assert run["spec"]["args"] == [
        {"name": "service-name", "value": "svc"},
        {"name": "threshold", "value": ""},
    ]


def test_pod_template_hash_and_field_refs_are_resolved() -> None:
    tmpl = template(
        "t",
        args=[{"name": n} for n in ("latest", "stable", "name", "version", "team", "owner")],
        metrics=[{"name": "m", "provider": {"web": {"url": "http://x"}}}],
    )
    run = build(
        templates=[tmpl],
        rollout_analysis={
            "templates": [{"templateName": "t"}],
            "args": [
                {"name": "latest", "valueFrom": {"podTemplateHashValue": "Latest"}},
                {"name": "stable", "valueFrom": {"podTemplateHashValue": "Stable"}},
                {"name": "name", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                {
                    "name": "version",
                    "valueFrom": {
                        "fieldRef": {"fieldPath": "spec.template.metadata.labels.version"}
                    },
                },
                {
                    "name": "team",
                    "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['team']"}},
                },
                {
                    "name": "owner",
                    "valueFrom": {"fieldRef": {"fieldPath": "metadata.annotations['owner']"}},
                },
            ],
        },
    )
    assert {a["name"]: a["value"] for a in run["spec"]["args"]} == {
        "latest": "6f646bf7b7",
        "stable": "5d4c7b8f9",
        "name": "guestbook",
        "version": "v2",
        "team": "a",
        "owner": "alice",
    }


def test_field_path_errors_use_argos_wording() -> None:
    with pytest.raises(ValueError, match=r"invalid path spec\.nope in rollout"):
        resolve_field_path(ROLLOUT, "spec.nope")
    with pytest.raises(ValueError, match="must terminate in a primitive value"):
        resolve_field_path(ROLLOUT, "spec.selector")
    with pytest.raises(ValueError, match="index 5 out of range"):
        resolve_field_path(ROLLOUT, "spec.strategy.canary.steps[5].setWeight")
    assert resolve_field_path(ROLLOUT, "spec.strategy.canary.steps[0].setWeight") == "20"


def test_missing_required_arg_names_it() -> None:
    with pytest.raises(AnalysisSpecError) as info:
        build(rollout_analysis={"templates": [{"templateName": "success-rate"}]})
    assert (info.value.path, info.value.message) == ("args", "args.service-name was not resolved")
    assert str(info.value) == "args: args.service-name was not resolved"


def test_missing_template_names_the_reference() -> None:
    with pytest.raises(AnalysisSpecError) as info:
        build(
            rollout_analysis={
                "templates": [
                    {"templateName": "success-rate"},
                    {"templateName": "latency", "clusterScope": True},
                ]
            }
        )
    assert str(info.value) == "templates[1]: ClusterAnalysisTemplate 'latency' not found"


def test_cluster_templates_come_after_namespaced_ones_and_nested_are_followed() -> None:
    nested = template("base", metrics=[{"name": "base", "provider": {"web": {"url": "http://b"}}}])
    outer = template(
        "outer",
        cluster=True,
        templates=[{"templateName": "base"}],
        metrics=[{"name": "outer", "provider": {"web": {"url": "http://o"}}}],
    )
    analysis = {"templates": [{"templateName": "outer", "clusterScope": True}]}
    assert template_references(analysis, [outer]) == [(True, "outer"), (False, "base")]
    run = build(templates=[outer, nested], rollout_analysis=analysis)
    assert [m["name"] for m in run["spec"]["metrics"]] == ["base", "outer"]
    with pytest.raises(AnalysisSpecError, match="AnalysisTemplate 'base' not found"):
        build(templates=[outer], rollout_analysis=analysis)


def test_duplicate_metrics_and_conflicting_args_are_errors() -> None:
    twin = template("twin", metrics=SUCCESS_RATE["spec"]["metrics"])
    analysis = {
        "templates": [{"templateName": "success-rate"}, {"templateName": "twin"}],
        "args": [{"name": "service-name", "value": "s"}],
    }
    with pytest.raises(AnalysisSpecError, match="two metrics have the same name 'success-rate'"):
        build(templates=[SUCCESS_RATE, twin], rollout_analysis=analysis)
    other = template(
        "other",
        args=[{"name": "threshold", "value": "0.5"}],
        metrics=[{"name": "x", "provider": {"web": {"url": "http://x"}}}],
    )
    with pytest.raises(AnalysisSpecError, match="`threshold` specified multiple times"):
        build(
            templates=[SUCCESS_RATE, other],
            rollout_analysis={
                **analysis,
                "templates": [{"templateName": "success-rate"}, {"templateName": "other"}],
            },
        )


def test_dry_run_and_retention_rules_rollout_first() -> None:
    tmpl = template(
        "t",
        metrics=[{"name": "m", "provider": {"web": {"url": "http://x"}}}],
        dryRun=[{"metricName": "other"}],
        measurementRetention=[{"metricName": "m", "limit": 3}],
    )
    run = build(
        templates=[tmpl],
        rollout_analysis={"templates": [{"templateName": "t"}], "dryRun": [{"metricName": "m"}]},
    )
    assert run["spec"]["dryRun"] == [{"metricName": "m"}, {"metricName": "other"}]
    assert run["spec"]["measurementRetention"] == [{"metricName": "m", "limit": 3}]
    with pytest.raises(
        AnalysisSpecError, match="two Dry-Run metric rules have the same name 'other'"
    ):
        build(
            templates=[tmpl],
            rollout_analysis={
                "templates": [{"templateName": "t"}],
                "dryRun": [{"metricName": "other"}],
            },
        )


def test_step_analysis_must_terminate_but_background_may_run_forever() -> None:
    forever = template(
        "forever",
        args=[{"name": "count", "value": "0"}],
        metrics=[
            {
                "name": "m",
                "interval": "1m",
                "count": "{{args.count}}",
                "provider": {"web": {"url": "http://x"}},
            }
        ],
    )
    analysis = {"templates": [{"templateName": "forever"}]}
    with pytest.raises(AnalysisSpecError, match="has metric m which runs indefinitely"):
        build(templates=[forever], rollout_analysis=analysis)
    assert build(templates=[forever], rollout_analysis=analysis, kind="Background", step_index=None)


def test_metadata_and_instance_id_labels() -> None:
    rollout = {
        **ROLLOUT,
        "metadata": {
            **ROLLOUT["metadata"],
            "labels": {"argo-rollouts.argoproj.io/controller-instance-id": "blue"},
        },
    }
    run = build(
        rollout=rollout,
        rollout_analysis={
            "templates": [{"templateName": "success-rate"}],
            "args": [{"name": "service-name", "value": "s"}],
            "analysisRunMetadata": {"labels": {"x": "1"}, "annotations": {"y": "2"}},
        },
    )
    labels = run["metadata"]["labels"]
    assert labels["argo-rollouts.argoproj.io/controller-instance-id"] == "blue"
    assert labels["x"] == "1"
    assert run["metadata"]["annotations"] == {"rollout.argoproj.io/revision": "2", "y": "2"}


def test_outcome_and_rollout_status() -> None:
    run = build()
    assert run_phase_outcome(run) == "Pending"
    run["status"] = {"phase": "Failed", "message": 'Metric "m" assessed Failed'}
    assert run_phase_outcome(run) == "Failed"
    assert rollout_run_status(run) == {
        "name": "guestbook-6f646bf7b7-2-1",
        "status": "Failed",
        "message": 'Metric "m" assessed Failed',
    }
