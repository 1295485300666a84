"""Header and mirror routes as Argo's `TestIstioHostHeaderRoute` and `TestIstioHostMirrorRoute`
step through them (issue 21, cases 5 and 6), on the simulated cluster.

A route step without `match` removes that route. Every pass plans the routes of the steps so
far again (to undo hand edits and survive a restart), so the planner must ask for each route's
final state only: asking for "add" and then "remove" in one pass is two writes to the
VirtualService in every pass, each of which wakes the next pass - the flap of case 6.
"""

from __future__ import annotations

from typing import Any

from invariants import check_reconcile
from sim import YELLOW, Cluster

from rolloutd.plan.types import Plan, SetHeaderRoute, SetMirrorRoute

JsonDict = dict[str, Any]

HEADER_STEPS: list[JsonDict] = [
    {"setWeight": 20},
    {
        "setHeaderRoute": {
            "name": "set-header-1",
            "match": [{"headerName": "agent", "headerValue": {"regex": "firefox(.*)"}}],
        }
    },
    {"pause": {}},
    {
        "setHeaderRoute": {
            "name": "set-header-1",
            "match": [{"headerName": "agent", "headerValue": {"regex": "chrome(.*)"}}],
        }
    },
    {"pause": {}},
    {"setWeight": 40},
    {"setHeaderRoute": {"name": "set-header-1"}},
    {"pause": {}},
]

MIRROR_STEPS: list[JsonDict] = [
    {"setWeight": 20},
    {
        "setMirrorRoute": {
            "name": "mirror-route-1",
            "percentage": 100,
            "match": [{"path": {"prefix": "/"}}],
        }
    },
    {
        "setMirrorRoute": {
            "name": "mirror-route-2",
            "percentage": 80,
            "match": [{"path": {"prefix": "/"}, "method": {"exact": "GET"}}],
        }
    },
    {"pause": {}},
    {
        "setMirrorRoute": {
            "name": "mirror-route-1",
            "percentage": 100,
            "match": [{"path": {"prefix": "/rewrite"}}],
        }
    },
    {"pause": {}},
    {"setWeight": 40},
    {"setMirrorRoute": {"name": "mirror-route-1"}},
    {"pause": {}},
]


def routed(steps: list[JsonDict], names: list[str]) -> Cluster:
    c = Cluster.seed(
        checkers=[check_reconcile],
        steps=steps,
        canary={
            "trafficRouting": {
                "istio": {
                    "virtualServices": [{"name": "rollouts-demo-vsvc", "routes": ["primary"]}]
                },
                "managedRoutes": [{"name": n} for n in names],
            }
        },
    )
    c.settle()
    return c


def route_actions(result: Plan) -> list[SetHeaderRoute | SetMirrorRoute]:
    return [a for a in result.actions if isinstance(a, (SetHeaderRoute, SetMirrorRoute))]


def assert_one_request_per_route(c: Cluster) -> None:
    for rec in c.history:
        names = [str(a.step.get("name")) for a in route_actions(rec.plan)]
        assert len(names) == len(set(names)), f"a pass asks twice for a route: {names}"


def test_header_route_removed_by_a_step_without_match_stays_removed() -> None:
    c = routed(HEADER_STEPS, ["set-header-1"])
    c.set_image(YELLOW)
    c.settle()
    assert c.index == 2
    assert c.header_routes["set-header-1"]["match"][0]["headerValue"] == {"regex": "firefox(.*)"}
    c.promote()
    c.settle()
    assert c.index == 4
    assert c.header_routes["set-header-1"]["match"][0]["headerValue"] == {"regex": "chrome(.*)"}
    c.promote()
    c.settle()
    assert c.index == 7 and c.status_weights == (40, 60)
    assert c.header_routes == {}
    # Later passes at the pause still only ask for the removal, never for the route itself.
    start = len(c.history)
    c.advance(30)
    c.reconcile()
    c.reconcile()
    for rec in c.history[start:]:
        for action in route_actions(rec.plan):
            assert not action.step.get("match"), action
    assert c.header_routes == {}
    assert_one_request_per_route(c)


def test_mirror_route_removed_by_name_leaves_the_other_one() -> None:
    c = routed(MIRROR_STEPS, ["mirror-route-1", "mirror-route-2"])
    c.set_image(YELLOW)
    c.settle()
    assert c.index == 3
    assert set(c.mirror_routes) == {"mirror-route-1", "mirror-route-2"}
    c.promote()
    c.settle()
    assert c.index == 5
    assert c.mirror_routes["mirror-route-1"]["match"] == [{"path": {"prefix": "/rewrite"}}]
    c.promote()
    c.settle()
    assert c.index == 8 and c.status_weights == (40, 60)
    assert set(c.mirror_routes) == {"mirror-route-2"}
    c.reconcile()
    assert set(c.mirror_routes) == {"mirror-route-2"}
    assert_one_request_per_route(c)
    c.promote(full=True)
    c.settle()
    assert c.mirror_routes == {}
