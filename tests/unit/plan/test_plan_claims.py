"""A written status never says Healthy while a router's weight or a Service's selector
disagrees, whatever crash or exception stops a plan's actions half way.

Before (bug 3 of issue 11): the pass that promoted wrote Healthy with the new stableRS while
the stable Service still selected the old pods and the router held the canary's weight; the
next pass was to switch them, and when it failed on every retry (an OverflowError in
`scale_down_old`, before any action) the status said Healthy for good over 80/20 traffic.

The simulator's `reconcile(crash_after=n)` is a crash or an exception in `apply` after n
actions: the actions before it took effect, the status was not written (a checkpoint before
the actions was). Every prefix of every plan is tried, at every pass of the updates below,
and at random in the state machine.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import initialize, rule
from sim import CANARY_SVC, STABLE_SVC, YELLOW, Cluster, Reconcile
from test_plan_properties import RolloutMachine, rollout_setups

JsonDict = dict[str, Any]


def claims_hold(c: Cluster) -> None:
    """Healthy (as written) means the traffic is where Healthy says it is."""
    if c.phase[0] != "Healthy":
        return
    stable = c.status.get("stableRS")
    if c.is_routed():
        assert c.router_weight == 0, f"Healthy with {c.router_weight}% on the canary"
    for name in (STABLE_SVC, CANARY_SVC):
        if name in c.services:
            assert c.selector_hash(name) == stable, (
                f"Healthy while Service {name} selects {c.selector_hash(name)}, not {stable}"
            )


def _check(c: Cluster, rec: Reconcile) -> None:
    claims_hold(c)


def _every_prefix(c: Cluster) -> int:
    """Fork at this pass and stop its plan after each number of actions, then fail every
    retry before any action: the status written by then must hold. Returns the plans tried."""
    actions = len(list(c.plan().actions))
    for n in range(actions + 1):
        crashed = c.fork(checkers=[])
        crashed.reconcile(crash_after=n)
        claims_hold(crashed)
        crashed.kubelet()
        crashed.reconcile(crash_after=0)  # the next pass fails on every retry
        claims_hold(crashed)
    return actions + 1


SCENARIOS = [
    pytest.param({}, id="seed"),
    pytest.param({"scaleDownDelaySeconds": 2**31 - 1}, id="longest-scale-down-delay"),
    pytest.param({"scaleDownDelaySeconds": 0}, id="no-scale-down-delay"),
]


@pytest.mark.parametrize("canary", SCENARIOS)
@pytest.mark.parametrize("full", [True, False])
def test_no_crash_point_leaves_a_false_healthy(canary: JsonDict, full: bool) -> None:
    c = Cluster.seed(canary=canary, checkers=[_check])
    c.settle()
    c.set_image(YELLOW)
    tried = 0
    for _ in range(60):
        tried += _every_prefix(c)
        c.reconcile()
        c.kubelet()
        if c.status.get("pauseConditions") or c.spec.get("paused"):
            c.promote(full=full)
        c.advance(61)
        if c.phase[0] == "Healthy" and c.status.get("stableRS") == c.current_hash:
            break
    assert c.phase[0] == "Healthy" and c.status["stableRS"] == c.current_hash
    assert c.router_weight == 0
    assert tried > 20


def test_the_promoting_pass_says_progressing_until_traffic_moves() -> None:
    """The exact sequence of bug 3: set image, promote --full, the switch pass never lands."""
    c = Cluster.seed(canary={"scaleDownDelaySeconds": 2**31 - 1})
    c.settle()
    old = c.status["stableRS"]
    c.set_image(YELLOW)
    c.reconcile()
    c.kubelet()
    c.promote(full=True)
    for _ in range(10):
        c.reconcile()
        c.kubelet()
        if c.status.get("stableRS") != old:
            break
    assert c.status["stableRS"] == c.current_hash  # promoted in the status...
    assert c.selector_hash(STABLE_SVC) == old  # ...but the switch is the next pass's
    assert c.phase[0] == "Progressing"
    assert "waiting for traffic to move to the stable ReplicaSet" in c.phase[1]
    healthy = c.condition("Healthy")
    assert healthy is not None and healthy["status"] == "False"
    c.reconcile()  # the switch lands
    assert c.selector_hash(STABLE_SVC) == c.current_hash and c.router_weight == 0
    assert c.phase == ("Healthy", "")


class ClaimsMachine(RolloutMachine):
    """The property tests' random histories (crashes mid-plan included), checking after
    every reconcile and every crash that a written Healthy holds."""

    @initialize(setup=rollout_setups(), image=st.sampled_from([None, YELLOW]))
    def first_deploy(self, setup: JsonDict, image: str | None) -> None:
        super().first_deploy(copy.deepcopy(setup), image)
        self.c.checkers.append(_check)

    @rule(actions=st.integers(0, 6))
    def crash_mid_plan(self, actions: int) -> None:
        super().crash_mid_plan(actions)
        claims_hold(self.c)


ClaimsMachine.TestCase.settings = settings(
    max_examples=40,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestClaimsMachine = ClaimsMachine.TestCase
