"""The client-side reading of a Rollout: phase, step, weights, ReplicaSet and Pod states."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from rolloutd.cli import info as ri
from rolloutd.cli.render import render_list, render_rollout, tabulate

STEPS: list[dict[str, Any]] = [
    {"setWeight": 20},
    {"pause": {}},
    {"setWeight": 40},
    {"pause": {}},
    {"setWeight": 60},
    {"pause": {"duration": 30}},
    {"setWeight": 80},
    {"pause": {"duration": 60}},
]
NOW = datetime(2025, 6, 1, 12, 0, 0, tzinfo=UTC)


def rollout(
    status: dict[str, Any] | None = None, *, generation: int = 2, **spec: Any
) -> dict[str, Any]:
    base_spec: dict[str, Any] = {
        "replicas": 5,
        "strategy": {
            "canary": {
                "steps": copy.deepcopy(STEPS),
                "trafficRouting": {"istio": {"virtualServices": [{"name": "vs"}]}},
            }
        },
    }
    base_spec.update(spec)
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {
            "name": "demo",
            "namespace": "ns",
            "uid": "ro-uid",
            "generation": generation,
            "creationTimestamp": "2025-06-01T11:50:00Z",
        },
        "spec": base_spec,
        "status": {"observedGeneration": str(generation), **(status or {})},
    }


class TestPhase:
    def test_controller_phase_and_message_are_shown(self) -> None:
        ro = rollout({"phase": "Paused", "message": "CanaryPauseStep", "pauseConditions": [{}]})
        assert ri.rollout_phase(ro) == ("Paused", "CanaryPauseStep")

    def test_unobserved_generation_is_progressing(self) -> None:
        ro = rollout({"phase": "Healthy"})
        ro["metadata"]["generation"] = 3
        assert ri.rollout_phase(ro) == (
            "Progressing",
            "waiting for rollout spec update to be observed",
        )

    def test_cleared_pause_not_yet_seen_is_progressing(self) -> None:
        ro = rollout({"phase": "Paused", "controllerPause": True, "pauseConditions": None})
        assert ri.rollout_phase(ro) == ("Progressing", "waiting for rollout to unpause")

    def test_pre_v010_hash_observed_generation_counts_as_observed(self) -> None:
        ro = rollout({"phase": "Healthy"})
        ro["status"]["observedGeneration"] = "7d8f9c6b5"
        assert ri.rollout_phase(ro) == ("Healthy", "")

    @pytest.mark.parametrize(
        ("status", "spec", "expected"),
        [
            (
                {"conditions": [{"type": "InvalidSpec", "message": "bad"}]},
                {},
                ("Degraded", "InvalidSpec: bad"),
            ),
            (
                {
                    "conditions": [
                        {"type": "Progressing", "reason": "RolloutAborted", "message": "m"}
                    ]
                },
                {},
                ("Degraded", "RolloutAborted: m"),
            ),
            ({}, {"paused": True}, ("Paused", "manually paused")),
            (
                {"pauseConditions": [{"reason": "CanaryPauseStep"}]},
                {},
                ("Paused", "CanaryPauseStep"),
            ),
            (
                {"updatedReplicas": 1},
                {},
                ("Progressing", "more replicas need to be updated"),
            ),
            (
                {"updatedReplicas": 5, "availableReplicas": 4},
                {},
                ("Progressing", "updated replicas are still becoming available"),
            ),
            (
                {
                    "updatedReplicas": 5,
                    "availableReplicas": 5,
                    "stableRS": "a",
                    "currentPodHash": "b",
                },
                {},
                ("Progressing", "waiting for all steps to complete"),
            ),
            (
                {
                    "updatedReplicas": 5,
                    "availableReplicas": 5,
                    "stableRS": "a",
                    "currentPodHash": "a",
                },
                {},
                ("Healthy", ""),
            ),
        ],
    )
    def test_fallback_rules_without_controller_phase(
        self, status: dict[str, Any], spec: dict[str, Any], expected: tuple[str, str]
    ) -> None:
        assert ri.rollout_phase(rollout(status, **spec)) == expected


class TestWeights:
    @pytest.mark.parametrize(
        ("index", "abort", "weight"),
        [
            (None, False, 20),
            (0, False, 20),
            (1, False, 20),
            (3, False, 40),
            (8, False, 100),
            (3, True, 0),
        ],
    )
    def test_set_weight(self, index: int | None, abort: bool, weight: int) -> None:
        status: dict[str, Any] = {"abort": abort}
        if index is not None:
            status["currentStepIndex"] = index
        assert ri.current_set_weight(rollout(status)) == weight

    def test_set_weight_without_steps_is_100(self) -> None:
        ro = rollout()
        ro["spec"]["strategy"]["canary"]["steps"] = []
        assert ri.current_set_weight(ro) == 100

    def test_set_weight_before_any_set_weight_step_is_0(self) -> None:
        ro = rollout({"currentStepIndex": 0})
        ro["spec"]["strategy"]["canary"]["steps"] = [{"pause": {}}, {"setWeight": 50}]
        assert ri.current_set_weight(ro) == 0

    def test_actual_weight_comes_from_status_weights_with_a_router(self) -> None:
        ro = rollout(
            {
                "currentStepIndex": 1,
                "availableReplicas": 6,
                "canary": {"weights": {"canary": {"weight": 0}}},
            }
        )
        info = ri.rollout_info(ro)
        assert (info.set_weight, info.actual_weight) == ("20", "0")

    def test_actual_weight_falls_back_to_set_weight(self) -> None:
        info = ri.rollout_info(rollout({"currentStepIndex": 1, "availableReplicas": 6}))
        assert info.actual_weight == "20"

    def test_actual_weight_is_0_without_available_pods_and_100_after_steps(self) -> None:
        assert ri.rollout_info(rollout({"currentStepIndex": 1})).actual_weight == "0"
        assert ri.rollout_info(rollout({"currentStepIndex": 8})).actual_weight == "100"

    def test_basic_canary_actual_weight_is_the_share_of_available_pods(self) -> None:
        ro = rollout(
            {
                "currentStepIndex": 1,
                "availableReplicas": 5,
                "currentPodHash": "new",
                "stableRS": "old",
            }
        )
        del ro["spec"]["strategy"]["canary"]["trafficRouting"]
        canary_rs = replica_set("new", 2, replicas=1)
        assert ri.rollout_info(ro, [canary_rs]).actual_weight == "20"

    def test_step_is_blank_without_an_index(self) -> None:
        assert ri.rollout_info(rollout()).step == ""
        assert ri.rollout_info(rollout({"currentStepIndex": 3})).step == "3/8"


def replica_set(
    pod_hash: str,
    revision: int,
    *,
    replicas: int = 1,
    available: int | None = None,
    generation: int = 1,
    observed: int = 1,
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    return {
        "kind": "ReplicaSet",
        "metadata": {
            "name": f"demo-{pod_hash}",
            "uid": f"rs-{pod_hash}",
            "generation": generation,
            "creationTimestamp": "2025-06-01T11:58:00Z",
            "labels": {ri.POD_HASH_LABEL: pod_hash},
            "annotations": {ri.REVISION_ANNOTATION: str(revision), **(annotations or {})},
            "ownerReferences": [{"uid": "ro-uid", "controller": True}],
        },
        "spec": {
            "replicas": replicas,
            "template": {"spec": {"containers": [{"name": "c", "image": f"img:{pod_hash}"}]}},
        },
        "status": {
            "replicas": replicas,
            "availableReplicas": replicas if available is None else available,
            "observedGeneration": observed,
        },
    }


class TestReplicaSets:
    @pytest.mark.parametrize(
        ("kwargs", "health"),
        [
            ({}, "Healthy"),
            ({"available": 0}, "Progressing"),
            ({"generation": 2, "observed": 1}, "Progressing"),
            ({"replicas": 0}, "ScaledDown"),
        ],
    )
    def test_health(self, kwargs: dict[str, Any], health: str) -> None:
        assert ri.replica_set_health(replica_set("a", 1, **kwargs)) == health

    def test_replica_failure(self) -> None:
        rs = replica_set("a", 1)
        rs["status"]["conditions"] = [{"type": "ReplicaFailure", "status": "True"}]
        assert ri.replica_set_health(rs) == "ReplicaFailure"

    def test_roles_images_and_delay(self) -> None:
        ro = rollout({"stableRS": "old", "currentPodHash": "new", "currentStepIndex": 1})
        sets = [
            replica_set("old", 1, replicas=5),
            replica_set("new", 2),
            replica_set(
                "older", 0, replicas=0, annotations={"scale-down-deadline": "2025-06-01T12:00:25Z"}
            ),
            {**replica_set("foreign", 9), "metadata": {"name": "x", "ownerReferences": []}},
        ]
        info = ri.rollout_info(ro, sets)
        assert [(rs.name, rs.tags) for rs in info.replica_sets] == [
            ("demo-new", ["canary"]),
            ("demo-old", ["stable"]),
            ("demo-older", []),
        ]
        assert [(i.image, i.tags) for i in info.images()] == [
            ("img:new", ("canary",)),
            ("img:old", ("stable",)),
        ]
        text = render_rollout(ro, sets, now=NOW)
        assert "└──⧉ demo-older  ReplicaSet  • ScaledDown   2m   delay:25s" in text


def pod(name: str, status: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "creationTimestamp": "2025-06-01T11:59:00Z", **extra},
        "spec": {"containers": [{"name": "c"}]},
        "status": status,
    }


class TestPods:
    def test_running_and_ready(self) -> None:
        p = pod(
            "p",
            {
                "phase": "Running",
                "containerStatuses": [{"ready": True, "state": {"running": {}}, "restartCount": 2}],
            },
        )
        info = ri.pod_info(p)
        assert (info.status, info.icon, info.ready, info.restarts) == ("Running", "✔", "1/1", 2)

    def test_waiting_reason_wins(self) -> None:
        p = pod(
            "p",
            {
                "phase": "Pending",
                "containerStatuses": [{"state": {"waiting": {"reason": "ImagePullBackOff"}}}],
            },
        )
        assert (ri.pod_info(p).status, ri.pod_info(p).icon) == ("ImagePullBackOff", "⚠")

    def test_init_containers(self) -> None:
        p = pod("p", {"phase": "Pending", "initContainerStatuses": [{"state": {}}]})
        p["spec"]["initContainers"] = [{"name": "init"}]
        assert (ri.pod_info(p).status, ri.pod_info(p).icon) == ("Init:0/1", "◌")

    def test_terminating(self) -> None:
        p = pod("p", {"phase": "Running"}, deletionTimestamp="2025-06-01T12:00:00Z")
        assert ri.pod_info(p).status == "Terminating"

    @pytest.mark.parametrize(
        ("status", "icon"),
        [
            ("CrashLoopBackOff", "✖"),
            ("ErrImagePull", "⚠"),
            ("ContainerCreating", "◌"),
            ("ExitCode:1", "✖"),
            ("Unknown", "?"),
            ("Weird", " "),
        ],
    )
    def test_icons(self, status: str, icon: str) -> None:
        assert ri.pod_icon(status) == icon


def test_analysis_runs_show_under_their_revision_with_counts() -> None:
    ro = rollout({"stableRS": "old", "currentPodHash": "new", "currentStepIndex": 1})
    run = {
        "metadata": {
            "name": "demo-new-2-1",
            "creationTimestamp": "2025-06-01T11:59:30Z",
            "annotations": {ri.REVISION_ANNOTATION: "2"},
            "ownerReferences": [{"uid": "ro-uid"}],
        },
        "status": {
            "phase": "Running",
            "metricResults": [
                {
                    "successful": 4,
                    "failed": 1,
                    "measurements": [
                        {
                            "phase": "Successful",
                            "startedAt": "2025-06-01T11:59:40Z",
                            "metadata": {"job-name": "job-1"},
                        }
                    ],
                },
            ],
        },
    }
    text = render_rollout(ro, [replica_set("new", 2)], [], [run], now=NOW)
    assert "   └──α demo-new-2-1  AnalysisRun  ◌ Running      30s  ✔ 4,✖ 1" in text
    assert "      └──⊞ job-1      Job          ✔ Successful   20s" in text


def test_tabulate_blocks_and_colour() -> None:
    lines = tabulate([["a", "bb", ""], ["ccc", "\x1b[32md\x1b[0m", "x"]])
    assert lines == ["a    bb", "ccc  \x1b[32md\x1b[0m   x"]


def test_colour_only_when_asked() -> None:
    ro = rollout({"phase": "Healthy", "stableRS": "a", "currentPodHash": "a"})
    plain = render_rollout(ro, [replica_set("a", 1)], now=NOW)
    coloured = render_rollout(ro, [replica_set("a", 1)], now=NOW, color=True)
    assert "\x1b[" not in plain
    assert "\x1b[32m✔\x1b[0m Healthy" in coloured
    assert "\x1b[32mstable\x1b[0m" in coloured


def test_list_table() -> None:
    ro = rollout(
        {
            "phase": "Paused",
            "currentStepIndex": 1,
            "readyReplicas": 6,
            "replicas": 6,
            "updatedReplicas": 1,
            "availableReplicas": 6,
        }
    )
    assert render_list([ro]).splitlines() == [
        "NAME        STRATEGY   STATUS        STEP  SET-WEIGHT  READY  DESIRED  UP-TO-DATE  "
        "AVAILABLE",
        "demo        Canary     Paused        1/8   20          6/6    5        1           6",
    ]
    assert render_list([ro], all_namespaces=True).splitlines()[1].startswith("ns         demo ")
