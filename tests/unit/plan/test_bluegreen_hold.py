"""A blueGreen Rollout is held until rolloutd implements the strategy (issue 21, point 5).

Before this, the planner fell back to a canary without steps: an image change cut all traffic
over at once with no preview, the opposite of what a blue-green Rollout with
`autoPromotionEnabled: false` asks. Now it is an invalid spec: no action, a condition, an event.
"""

from __future__ import annotations

from sim import Cluster, rollout

from rolloutd.model.rollout import BLUE_GREEN_UNSUPPORTED, RolloutSpec, unsupported_features
from rolloutd.plan import status as stat

BLUE_GREEN = {
    "blueGreen": {
        "activeService": "rollouts-demo-stable",
        "previewService": "rollouts-demo-canary",
        "autoPromotionEnabled": False,
    }
}


def blue_green_cluster() -> Cluster:
    cluster = Cluster.seed(routed=False)
    cluster.rollout = rollout(routed=False, spec={"strategy": BLUE_GREEN})
    return cluster


def test_a_blue_green_rollout_is_held_with_invalid_spec_and_no_action() -> None:
    cluster = blue_green_cluster()
    result = cluster.plan()
    assert result.actions == []
    assert result.status["phase"] == "Degraded"
    cond = next(c for c in result.status["conditions"] if c["type"] == stat.INVALID_SPEC)
    assert cond["status"] == "True"
    assert BLUE_GREEN_UNSUPPORTED in cond["message"]
    assert result.status["message"].startswith("InvalidSpec: ")
    warnings = [e for e in result.events if e.type == "Warning"]
    assert [e.reason for e in warnings] == [stat.INVALID_SPEC]
    assert "blueGreen strategy is not supported by rolloutd yet" in warnings[0].message


def test_the_hold_is_not_also_reported_as_an_unsupported_feature() -> None:
    spec = RolloutSpec.model_validate(rollout(routed=False, spec={"strategy": BLUE_GREEN})["spec"])
    assert unsupported_features(spec) == []


def test_routers_without_a_plugin_are_not_listed_as_unsupported_features() -> None:
    """`nginx` and friends are routers like any other: not installed means InvalidSpec (the
    registry's message), installed means acted on; never "accepted but not acted on"."""
    body = rollout(canary={"trafficRouting": {"nginx": {"stableIngress": "demo"}}})["spec"]
    assert unsupported_features(RolloutSpec.model_validate(body)) == []
