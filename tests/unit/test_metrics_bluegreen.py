"""The metrics of blue-green Rollouts: Argo's `rollout_info` figures at each stage of Argo's
recorded states, and the Service selectors (which revision takes production traffic)."""

from __future__ import annotations

from typing import Any

import pytest

from rolloutd.metrics import MetricsCollector, new_registry
from tests.unit.test_metrics_collector import FakeController, Scrape, view

JsonDict = dict[str, Any]


def blue_green(name: str, status: JsonDict, replicas: int = 2) -> JsonDict:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": name, "namespace": "ns"},
        "spec": {
            "replicas": replicas,
            "strategy": {"blueGreen": {"activeService": "a", "previewService": "p"}},
        },
        "status": status,
    }


def progressing(reason: str) -> list[JsonDict]:
    return [{"type": "Progressing", "status": "True", "reason": reason}]


# Argo's e2e TestBlueGreenPreviewReplicaCount, paused (2/3/1/2/2) and promoted (2/4/2/2/2).
PAUSED = {
    "replicas": 3,
    "updatedReplicas": 1,
    "readyReplicas": 2,
    "availableReplicas": 2,
    "currentPodHash": "new",
    "stableRS": "old",
    "blueGreen": {"activeSelector": "old", "previewSelector": "new"},
    "pauseConditions": [{"reason": "BlueGreenPause", "startTime": "2026-01-01T00:00:00Z"}],
    "conditions": progressing("RolloutPaused"),
}
PROMOTED = {
    "replicas": 4,
    "updatedReplicas": 2,
    "readyReplicas": 2,
    "availableReplicas": 2,
    "currentPodHash": "new",
    "stableRS": "new",
    "blueGreen": {"activeSelector": "new", "previewSelector": "new"},
    "conditions": progressing("NewReplicaSetAvailable"),
}
ABORTED = {
    **PAUSED,
    "abort": True,
    "pauseConditions": None,
    "conditions": progressing("RolloutAborted"),
}


@pytest.fixture
def controller() -> FakeController:
    return FakeController()


@pytest.fixture
def scrape(controller: FakeController) -> Scrape:
    collector = MetricsCollector(identity="pod-a", version="9.9.9")
    collector.controller = controller
    return Scrape(new_registry(collector))


@pytest.mark.parametrize(
    ("status", "phase", "counts", "on_current"),
    [
        (PAUSED, "Paused", (2, 1, 2, 1), 0),
        (PROMOTED, "Completed", (2, 2, 2, 2), 1),
        (ABORTED, "Abort", (2, 1, 2, 1), 0),
    ],
)
def test_rollout_info_and_replica_figures_at_each_stage(
    controller: FakeController,
    scrape: Scrape,
    status: JsonDict,
    phase: str,
    counts: tuple[int, int, int, int],
    on_current: int,
) -> None:
    controller.rollouts = [view(blue_green("bg", status))]
    [labels] = scrape.series("rollout_info")
    assert labels == {
        "namespace": "ns",
        "name": "bg",
        "strategy": "blueGreen",
        "traffic_router": "",
        "phase": phase,
    }
    got = tuple(
        scrape(f"rollout_info_replicas_{field}", namespace="ns", name="bg")
        for field in ("desired", "updated", "available", "unavailable")
    )
    assert got == counts
    assert (
        scrape("rolloutd_bluegreen_active_on_current", namespace="ns", rollout="bg") == on_current
    )
    # No canary weights for a blue-green Rollout: traffic moves by selector, all at once.
    assert scrape.series("rolloutd_traffic_weight_desired") == []


def test_selectors_per_role(controller: FakeController, scrape: Scrape) -> None:
    controller.rollouts = [view(blue_green("bg", PAUSED)), view(blue_green("first", {}))]
    assert sorted(
        (s["rollout"], s["role"], s["hash"])
        for s in scrape.series("rolloutd_bluegreen_service_selector")
    ) == [("bg", "active", "old"), ("bg", "preview", "new")]
    # Before the first switch there is no selector to report, and nothing is on current.
    assert scrape("rolloutd_bluegreen_active_on_current", namespace="ns", rollout="first") == 0


def test_a_deleted_blue_green_rollout_leaves_no_series(
    controller: FakeController, scrape: Scrape
) -> None:
    controller.rollouts = [view(blue_green("a", PAUSED)), view(blue_green("b", PROMOTED))]
    assert len(scrape.series("rolloutd_bluegreen_service_selector")) == 4
    controller.rollouts = controller.rollouts[:1]
    names = {
        s["rollout"]
        for n in ("rolloutd_bluegreen_service_selector", "rolloutd_bluegreen_active_on_current")
        for s in scrape.series(n)
    }
    assert names == {"a"}


def test_a_canary_rollout_has_no_blue_green_series(
    controller: FakeController, scrape: Scrape
) -> None:
    from tests.unit.test_metrics_collector import rollout

    controller.rollouts = [view(rollout("c", status={"blueGreen": {"activeSelector": "x"}}))]
    assert scrape.series("rolloutd_bluegreen_service_selector") == []
    assert scrape.series("rolloutd_bluegreen_active_on_current") == []
