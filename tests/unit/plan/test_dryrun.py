"""The dry run behind `kubectl argo rollouts plan`: the seed's canary and a blue-green Rollout,
planned from a live-looking world, step by step (pods, weights, pauses, promotions)."""

from __future__ import annotations

import copy

import pytest

from rolloutd.plan.dryrun import ASSUMPTIONS, DryRunError, World, dry_run
from tests.unit.plan import sim


def _world(cluster: sim.Cluster) -> World:
    return World(
        rollout=copy.deepcopy(cluster.rollout),
        replica_sets=copy.deepcopy(cluster.replica_sets),
        services=copy.deepcopy(cluster.services),
        router_weight=cluster.router_weight,
        now=cluster.now,
    )


def _healthy_seed() -> sim.Cluster:
    cluster = sim.Cluster.seed()
    cluster.settle()
    assert cluster.phase[0] == "Healthy"
    return cluster


def test_seed_image_change_walks_every_step() -> None:
    cluster = _healthy_seed()
    cluster.set_image(sim.YELLOW)
    before = copy.deepcopy(cluster.rollout)
    result = dry_run(_world(cluster))

    old, new = sim.rs_name(sim.BLUE), sim.rs_name(sim.YELLOW)
    assert [s.index for s in result.steps] == [0, 1, 2, 3, 4, 5, 6, 7, None]
    canary = [s.weights["canary"] for s in result.steps]
    assert canary == [20, 20, 40, 40, 60, 60, 80, 80, 0]
    assert [s.pods.get(new) for s in result.steps] == [1, 1, 2, 2, 3, 3, 4, 4, 5]
    assert all(s.pods.get(old) == 5 for s in result.steps[:-1])
    assert old not in result.steps[-1].pods
    assert result.steps[-1].services == {
        sim.CANARY_SVC: sim.hash_of(sim.YELLOW),
        sim.STABLE_SVC: sim.hash_of(sim.YELLOW),
    }
    # The two indefinite pauses wait for a person; the timed ones do not.
    assert [s.index for s in result.steps if s.waits_for_person] == [1, 3]
    assert result.promotions == 2
    assert result.steps[5].wait_seconds >= 30 and result.steps[7].wait_seconds >= 60
    assert result.expected_seconds >= 90
    assert result.final_phase == "Healthy"
    assert result.assumptions == ASSUMPTIONS
    # Pure: the cluster's objects were not touched.
    assert cluster.rollout == before


def test_seed_json_names_steps_and_weights() -> None:
    cluster = _healthy_seed()
    cluster.set_image(sim.GREEN)
    data = dry_run(_world(cluster)).to_json()
    assert data["strategy"] == "canary"
    assert data["steps"][0]["description"] == "setWeight: 20"
    assert data["steps"][1]["description"] == "pause (until promoted)"
    assert data["steps"][5]["description"] == "pause: 30"
    assert data["steps"][1]["waitsForPerson"] is True


def test_blue_green_previews_then_switches_after_promotion() -> None:
    cluster = sim.Cluster.blue_green()
    cluster.settle()
    cluster.set_image(sim.YELLOW)
    result = dry_run(_world(cluster))
    old, new = sim.hash_of(sim.BLUE), sim.hash_of(sim.YELLOW)
    services = [dict(s.services) for s in result.steps]
    assert services[0] == {sim.ACTIVE_SVC: old, sim.PREVIEW_SVC: new}
    assert result.steps[0].waits_for_person
    assert services[-1][sim.ACTIVE_SVC] == new
    assert result.steps[-1].pods == {sim.rs_name(sim.YELLOW): 3}
    assert result.promotions == 1
    assert result.strategy == "blueGreen"


def test_auto_promotion_needs_no_person() -> None:
    cluster = sim.Cluster.blue_green(blue_green={"autoPromotionEnabled": True})
    cluster.settle()
    cluster.set_image(sim.YELLOW)
    result = dry_run(_world(cluster))
    assert result.promotions == 0
    assert not any(s.waits_for_person for s in result.steps)
    assert result.steps[-1].services[sim.ACTIVE_SVC] == sim.hash_of(sim.YELLOW)


def test_invalid_change_is_an_error_naming_the_field() -> None:
    cluster = _healthy_seed()
    cluster.set_steps([{"setWeight": 150}])
    with pytest.raises(DryRunError, match="setWeight"):
        dry_run(_world(cluster))


ANALYSIS_TEMPLATE = {
    "apiVersion": "argoproj.io/v1alpha1",
    "kind": "AnalysisTemplate",
    "metadata": {"name": "ok", "namespace": sim.NAMESPACE},
    "spec": {
        "metrics": [
            {
                "name": "m",
                "provider": {
                    "job": {
                        "spec": {
                            "template": {
                                "spec": {
                                    "containers": [{"name": "c", "image": "busybox"}],
                                    "restartPolicy": "Never",
                                }
                            }
                        }
                    }
                },
            }
        ]
    },
}


def test_analysis_step_is_assumed_successful() -> None:
    body = sim.rollout(
        steps=[{"setWeight": 50}, {"analysis": {"templates": [{"templateName": "ok"}]}}]
    )
    world = World(
        rollout=body,
        services={n: sim.service(n) for n in (sim.STABLE_SVC, sim.CANARY_SVC)},
        router_weight=0,
        analysis_templates={(False, "ok"): ANALYSIS_TEMPLATE},
    )
    assert dry_run(world).final_phase == "Healthy"  # the first deployment skips the steps
    world.spec["template"]["spec"]["containers"][0]["image"] = sim.YELLOW
    world.rollout["metadata"]["generation"] += 1
    result = dry_run(world)
    assert [(s.index, s.analysis) for s in result.steps] == [(0, ()), (1, ("ok",)), (None, ())]
    assert result.steps[1].weights == {"stable": 50, "canary": 50}
    assert len(result.analyses) == 1 and result.promotions == 0
    assert result.final_phase == "Healthy"
