"""The CLI on blue-green Rollouts, against Argo's own recorded objects and expected output.

The fixture `tests/golden/argo-bluegreen-paused.yaml` is Argo's `info/testdata/blue-green`; the
expected texts are the ones `TestGetBlueGreenRollout*` in Argo's `cmd/get/get_test.go` print
(the delay variants move revision 11's scale-down deadline and drop its hash label, as those
tests do). The write commands are checked for the exact patch bodies the Go plugin sends.
"""

from __future__ import annotations

import copy
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from rolloutd.cli import info as ri
from rolloutd.cli import patches
from rolloutd.cli.patches import Patches
from rolloutd.cli.render import list_row, render_rollout
from rolloutd.cli.timefmt import format_rfc3339, parse_time

GOLDEN = Path(__file__).resolve().parents[2] / "golden"


def objects() -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]], Any]:
    data = yaml.safe_load((GOLDEN / "argo-bluegreen-paused.yaml").read_text())
    objs = data["objects"]
    rollout = next(o for o in objs if o["kind"] == "Rollout")
    replica_sets = [o for o in objs if o["kind"] == "ReplicaSet"]
    pods = [o for o in objs if o["kind"] == "Pod"]
    return rollout, replica_sets, pods, parse_time(data["now"])


def expected(revision_11_info: str, green_tags: str) -> str:
    text = (GOLDEN / "argo-bluegreen-paused.txt").read_text()
    text = text.replace(
        "argoproj/rollouts-demo:green (preview)", f"argoproj/rollouts-demo:green{green_tags}"
    )
    return text.replace("7d   preview\n", f"7d   {revision_11_info}\n".replace("   \n", "\n"))


@pytest.mark.parametrize(
    ("offset", "info"),
    [
        (timedelta(hours=4) - timedelta(seconds=30), "delay:3h59m"),
        (-timedelta(hours=1), "delay:passed"),
    ],
)
def test_scale_down_delay_shows_in_the_info_column(offset: timedelta, info: str) -> None:
    """Argo's TestGetBlueGreenRolloutScaleDownDelay and ...DelayPassed."""
    rollout, replica_sets, pods, now = objects()
    preview = next(rs for rs in replica_sets if rs["metadata"]["name"].endswith("74b948fccb"))
    preview["metadata"]["annotations"]["scale-down-deadline"] = format_rfc3339(now + offset)
    del preview["metadata"]["labels"][ri.POD_HASH_LABEL]
    assert render_rollout(rollout, replica_sets, pods, now=now) == expected(info, "")


def test_header_has_no_canary_lines_and_tags_follow_the_selectors() -> None:
    rollout, replica_sets, pods, now = objects()
    info = ri.rollout_info(rollout, replica_sets, pods)
    assert info.strategy == "BlueGreen"
    by_revision = {rs.revision: rs.tags for rs in info.replica_sets}
    assert by_revision == {11: ["preview"], 10: ["stable", "active"], 8: []}
    text = render_rollout(rollout, replica_sets, pods, now=now)
    assert "Step:" not in text and "Weight" not in text


def test_after_the_switch_the_new_revision_is_active_and_never_also_preview() -> None:
    """During post-promotion analysis: old `stable`, new `active` (preview == active is hidden)."""
    rollout, replica_sets, pods, now = objects()
    rollout["status"]["blueGreen"] = {
        "activeSelector": "74b948fccb",
        "previewSelector": "74b948fccb",
    }
    rollout["status"]["pauseConditions"] = None
    rollout["status"]["controllerPause"] = False
    rollout["status"]["phase"] = "Progressing"
    rollout["status"]["message"] = "waiting for analysis to complete"
    info = ri.rollout_info(rollout, replica_sets, pods)
    assert {rs.revision: rs.tags for rs in info.replica_sets} == {
        11: ["active"],
        10: ["stable"],
        8: [],
    }
    text = render_rollout(rollout, replica_sets, pods, now=now)
    assert "Images:          argoproj/rollouts-demo:blue (stable)\n" in text
    assert "                 argoproj/rollouts-demo:green (active)\n" in text
    assert "Message:         waiting for analysis to complete\n" in text


def test_one_image_in_two_replica_sets_merges_its_tags_sorted() -> None:
    """Argo's mergeTags: a union, sorted alphabetically (`active, preview, stable`)."""
    rollout, replica_sets, pods, now = objects()
    for rs in replica_sets:
        for ctr in rs["spec"]["template"]["spec"]["containers"]:
            ctr["image"] = "argoproj/rollouts-demo:blue"
    text = render_rollout(rollout, replica_sets, pods, now=now)
    assert "Images:          argoproj/rollouts-demo:blue (active, preview, stable)\n" in text


def test_list_row_and_status_line() -> None:
    rollout, _, _, _ = objects()
    cells = [cell.strip() for cell in list_row(rollout)]
    assert cells == ["bluegreen-demo", "BlueGreen", "Paused", "-", "-", "6/6", "3", "3", "3"]
    assert ri.rollout_phase(rollout) == ("Paused", "BlueGreenPause")
    # Right after `promote` cleared the pause, before the controller saw it (Argo's IsUnpausing).
    rollout["status"]["pauseConditions"] = None
    assert ri.rollout_phase(rollout) == ("Progressing", "waiting for rollout to unpause")


def test_status_fallback_phases_for_blue_green() -> None:
    """Without status.phase (an old controller), the client computes Argo's blue-green phases."""
    rollout, _, _, _ = objects()
    st = rollout["status"]
    st.pop("pauseConditions")
    st["controllerPause"] = False
    assert ri.calculate_phase(rollout) == ("Progressing", "active service cutover pending")
    st["blueGreen"]["activeSelector"] = st["currentPodHash"]
    assert ri.calculate_phase(rollout) == (
        "Progressing",
        "waiting for post-promotion verification to complete",
    )
    st["stableRS"] = st["currentPodHash"]
    assert ri.calculate_phase(rollout) == ("Healthy", "")


class TestWrites:
    def test_promote_clears_the_blue_green_pause(self) -> None:
        rollout, _, _, _ = objects()
        assert patches.promote_patches(rollout) == Patches(
            status={"status": {"pauseConditions": None}}
        )

    def test_promote_during_pre_promotion_analysis_sends_nothing(self) -> None:
        rollout, _, _, _ = objects()
        rollout["status"].pop("pauseConditions")
        assert patches.promote_patches(rollout) == Patches()

    def test_promote_full_asks_for_the_full_promotion(self) -> None:
        rollout, _, _, _ = objects()
        assert patches.promote_patches(rollout, full=True) == Patches(
            status={"status": {"promoteFull": True}}
        )
        promoted = copy.deepcopy(rollout)
        promoted["status"]["stableRS"] = promoted["status"]["currentPodHash"]
        assert patches.promote_patches(promoted, full=True) == Patches()

    @pytest.mark.parametrize("flag", ["skip_current_step", "skip_all_steps"])
    def test_skipping_steps_is_refused(self, flag: str) -> None:
        rollout, _, _, _ = objects()
        with pytest.raises(patches.PatchError, match="Cannot skip steps of a bluegreen rollout"):
            patches.promote_patches(rollout, **{flag: True})

    def test_undo_restores_the_previous_revision(self) -> None:
        rollout, replica_sets, _, _ = objects()
        body = patches.undo_patch(rollout, replica_sets)
        assert body is not None and body[0]["op"] == "replace"
        assert body[0]["value"]["spec"]["containers"][0]["image"] == "argoproj/rollouts-demo:blue"
        assert ri.POD_HASH_LABEL not in body[0]["value"]["metadata"]["labels"]
        body = patches.undo_patch(rollout, replica_sets, to_revision=8)
        assert body is not None
        assert body[0]["value"]["spec"]["containers"][0]["image"] == "argoproj/rollouts-demo:red"
