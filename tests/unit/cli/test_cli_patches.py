"""The exact bodies each command sends (behaviour reference §3.11-3.16)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from rolloutd.cli import patches
from rolloutd.cli.patches import PatchError, Patches

STEPS = [{"setWeight": 20}, {"pause": {}}, {"setWeight": 40}, {"pause": {}}]


def canary(status: dict[str, Any] | None = None, paused: bool = False) -> dict[str, Any]:
    return {
        "metadata": {"name": "demo", "uid": "ro-uid"},
        "spec": {
            "paused": paused,
            "strategy": {"canary": {"steps": copy.deepcopy(STEPS)}},
            "template": {
                "metadata": {"labels": {"app": "demo"}},
                "spec": {
                    "initContainers": [{"name": "init", "image": "busybox:1"}],
                    "containers": [
                        {"name": "app", "image": "demo:blue"},
                        {"name": "sidecar", "image": "proxy:1"},
                    ],
                },
            },
        },
        "status": status or {},
    }


class TestPromote:
    def test_paused_step_clears_pause_conditions(self) -> None:
        ro = canary(
            {
                "currentStepIndex": 1,
                "pauseConditions": [{"reason": "CanaryPauseStep"}],
                "controllerPause": True,
            }
        )
        assert patches.promote_patches(ro) == Patches(status={"status": {"pauseConditions": None}})

    def test_manual_pause_is_cleared_with_a_spec_patch_too(self) -> None:
        ro = canary(
            {"currentStepIndex": 1, "pauseConditions": [{"reason": "CanaryPauseStep"}]}, paused=True
        )
        assert patches.promote_patches(ro) == Patches(
            status={"status": {"pauseConditions": None}}, spec={"spec": {"paused": False}}
        )

    def test_running_step_is_skipped(self) -> None:
        ro = canary({"currentStepIndex": 2})
        assert patches.promote_patches(ro) == Patches(
            status={"status": {"pauseConditions": None, "currentStepIndex": 3}}
        )

    def test_step_index_defaults_to_0_and_is_capped(self) -> None:
        assert patches.promote_patches(canary()).status == {
            "status": {"pauseConditions": None, "currentStepIndex": 1}
        }
        assert patches.promote_patches(canary({"currentStepIndex": 4})).status == {
            "status": {"pauseConditions": None, "currentStepIndex": 4}
        }

    def test_inconclusive_step_analysis_moves_on_and_drops_controller_pause(self) -> None:
        ro = canary(
            {
                "currentStepIndex": 2,
                "controllerPause": True,
                "pauseConditions": [{"reason": "InconclusiveAnalysisRun"}],
                "canary": {"currentStepAnalysisRunStatus": {"status": "Inconclusive"}},
            }
        )
        assert patches.promote_patches(ro) == Patches(
            status={
                "status": {"pauseConditions": None, "controllerPause": False, "currentStepIndex": 3}
            }
        )

    def test_blue_green_only_unpauses(self) -> None:
        ro = {
            "spec": {"paused": True, "strategy": {"blueGreen": {"activeService": "a"}}},
            "status": {},
        }
        assert patches.promote_patches(ro) == Patches(spec={"spec": {"paused": False}})

    def test_full(self) -> None:
        ro = canary({"currentPodHash": "new", "stableRS": "old"}, paused=True)
        assert patches.promote_patches(ro, full=True) == Patches(
            status={"status": {"promoteFull": True}}, spec={"spec": {"paused": False}}
        )

    def test_full_on_a_promoted_rollout_sends_nothing(self) -> None:
        ro = canary({"currentPodHash": "a", "stableRS": "a"})
        assert patches.promote_patches(ro, full=True) == Patches()

    def test_deprecated_skip_flags(self) -> None:
        ro = canary({"currentStepIndex": 1})
        assert patches.promote_patches(ro, skip_current_step=True).status == {
            "status": {"currentStepIndex": 2}
        }
        assert patches.promote_patches(ro, skip_all_steps=True).status == {
            "status": {"currentStepIndex": 4}
        }
        with pytest.raises(PatchError, match="at the same time"):
            patches.promote_patches(ro, skip_current_step=True, skip_all_steps=True)
        no_steps = canary()
        no_steps["spec"]["strategy"]["canary"]["steps"] = []
        with pytest.raises(PatchError, match="without steps"):
            patches.promote_patches(no_steps, skip_all_steps=True)


def test_fixed_patches() -> None:
    assert patches.ABORT_PATCH == {"status": {"abort": True}}
    assert patches.RETRY_PATCH == {"status": {"abort": False}}
    assert patches.PAUSE_PATCH == {"spec": {"paused": True}}
    assert patches.UNPAUSE_PATCH == {"spec": {"paused": False}}


def test_restart_patch() -> None:
    now = datetime(2025, 6, 1, 12, 0, 0, 500, tzinfo=UTC)
    assert patches.restart_patch(now) == {"spec": {"restartAt": "2025-06-01T12:00:00Z"}}
    assert patches.restart_patch(now, 30) == {"spec": {"restartAt": "2025-06-01T12:00:30Z"}}


class TestSetImage:
    @pytest.mark.parametrize("text", ["demo", "a=b=c", "=img", "c="])
    def test_bad_spec(self, text: str) -> None:
        with pytest.raises(PatchError, match="expected CONTAINER=IMAGE"):
            patches.parse_image_spec(text)

    def test_named_container(self) -> None:
        ro = canary()
        updated = patches.set_image(ro, "app", "demo:yellow")
        images = [c["image"] for c in updated["spec"]["template"]["spec"]["containers"]]
        assert images == ["demo:yellow", "proxy:1"]
        assert ro["spec"]["template"]["spec"]["containers"][0]["image"] == "demo:blue"

    def test_star_sets_all_containers_including_init(self) -> None:
        updated = patches.set_image(canary(), "*", "x:2")
        pod_spec = updated["spec"]["template"]["spec"]
        assert {c["image"] for c in pod_spec["containers"] + pod_spec["initContainers"]} == {"x:2"}

    def test_unknown_container(self) -> None:
        with pytest.raises(PatchError, match='unable to find container named "nope"'):
            patches.set_image(canary(), "nope", "x:2")


def rs(revision: int, image: str, *, owner: str = "ro-uid") -> dict[str, Any]:
    return {
        "metadata": {
            "name": f"demo-{revision}",
            "annotations": {"rollout.argoproj.io/revision": str(revision)},
            "ownerReferences": [{"uid": owner, "controller": True}],
        },
        "spec": {
            "template": {
                "metadata": {
                    "labels": {"app": "demo", "rollouts-pod-template-hash": f"h{revision}"}
                },
                "spec": {
                    "initContainers": [{"name": "init", "image": "busybox:1"}],
                    "containers": [
                        {"name": "app", "image": image, "imagePullPolicy": "IfNotPresent"},
                        {"name": "sidecar", "image": "proxy:1"},
                    ],
                    "dnsPolicy": "ClusterFirst",
                },
            }
        },
    }


class TestUndo:
    def test_previous_revision_is_restored_without_its_hash_label(self) -> None:
        sets = [rs(3, "demo:blue"), rs(2, "demo:green"), rs(1, "demo:red"), rs(9, "x", owner="z")]
        patch = patches.undo_patch(canary(), sets)
        assert patch is not None and len(patch) == 1
        assert patch[0]["op"] == "replace" and patch[0]["path"] == "/spec/template"
        template = patch[0]["value"]
        assert template["metadata"]["labels"] == {"app": "demo"}
        assert template["spec"]["containers"][0]["image"] == "demo:green"

    def test_to_revision(self) -> None:
        sets = [rs(3, "demo:blue"), rs(2, "demo:green"), rs(1, "demo:red")]
        patch = patches.undo_patch(canary(), sets, to_revision=1)
        assert patch is not None
        assert patch[0]["value"]["spec"]["containers"][0]["image"] == "demo:red"
        with pytest.raises(PatchError, match="unable to find specified revision 7"):
            patches.undo_patch(canary(), sets, to_revision=7)

    def test_matching_template_is_skipped_despite_server_defaults(self) -> None:
        sets = [rs(3, "demo:green"), rs(2, "demo:blue")]
        assert patches.undo_patch(canary(), sets) is None

    def test_workload_ref_is_refused(self) -> None:
        ro = canary()
        ro["spec"]["workloadRef"] = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "d"}
        with pytest.raises(PatchError, match="roll back the Deployment 'd'"):
            patches.undo_patch(ro, [rs(2, "demo:green"), rs(1, "demo:red")])

    def test_single_revision(self) -> None:
        with pytest.raises(PatchError, match='no revision found for rollout "demo"'):
            patches.undo_patch(canary(), [rs(1, "demo:blue")])


@pytest.mark.parametrize(
    ("left", "right", "expected"),
    [
        ({}, {"a": 1}, True),
        ({"a": None}, {"a": 1}, True),
        ({"a": 1}, {"a": 1, "b": 2}, True),
        ({"a": 0}, {"a": 1}, False),
        ({"a": [1]}, {"a": [1, 2]}, False),
        ({"a": [{"x": 1}]}, {"a": [{"x": 1, "y": 2}]}, True),
        ({"a": "x"}, {"a": "y"}, False),
    ],
)
def test_is_derivative(left: Any, right: Any, expected: bool) -> None:
    assert patches.is_derivative(left, right) is expected
