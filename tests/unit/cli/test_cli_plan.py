"""`plan`'s pure parts: the change applied in memory (`-f` or `--image`) and the text it prints."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from rolloutd.cli import plan_cmd
from rolloutd.cli.errors import CliError
from rolloutd.plan.dryrun import World
from tests.unit.plan import sim


def _healthy() -> sim.Cluster:
    cluster = sim.Cluster.seed()
    cluster.settle()
    return cluster


def test_image_change_keeps_status_and_bumps_generation() -> None:
    live = _healthy().rollout
    changed = plan_cmd.changed_rollout(
        live, filename=None, image=f"{sim.NAME}=argoproj/rollouts-demo:green"
    )
    assert changed["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":green")
    assert changed["status"] == live["status"]
    assert changed["metadata"]["generation"] == live["metadata"]["generation"] + 1
    assert live["spec"]["template"]["spec"]["containers"][0]["image"] == sim.BLUE


def test_file_change_takes_the_named_rollouts_spec(tmp_path: Path) -> None:
    live = _healthy().rollout
    new = copy.deepcopy(live)
    new.pop("status")
    new["spec"]["strategy"]["canary"]["steps"] = [{"setWeight": 50}]
    other = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x"}}
    path = tmp_path / "new.yaml"
    path.write_text(yaml.safe_dump_all([other, new]))
    changed = plan_cmd.changed_rollout(live, filename=str(path), image=None)
    assert changed["spec"]["strategy"]["canary"]["steps"] == [{"setWeight": 50}]
    with pytest.raises(CliError, match="holds no Rollout"):
        only = tmp_path / "svc.yaml"
        only.write_text(yaml.safe_dump(other))
        plan_cmd.changed_rollout(live, filename=str(only), image=None)
    with pytest.raises(CliError, match="not both"):
        plan_cmd.changed_rollout(live, filename=str(path), image="a=b")


def test_text_names_steps_waits_and_assumptions() -> None:
    cluster = _healthy()
    cluster.set_image(sim.YELLOW)
    world = World(
        rollout=copy.deepcopy(cluster.rollout),
        replica_sets=copy.deepcopy(cluster.replica_sets),
        services=copy.deepcopy(cluster.services),
        router_weight=cluster.router_weight,
    )
    text = "\n".join(plan_cmd.render(plan_cmd.simulate(world), "text"))
    assert "Strategy:         Canary" in text
    assert "  - a person promotes at each indefinite pause" in text
    block = text.split("  [1] pause (until promoted)\n", 1)[1].split("  [2]", 1)[0]
    assert "weights:  stable=80%, canary=20%" in block
    assert "waits:    for a person to promote" in block
    assert "  [5] pause: 30" in text and "waits:    30s" in text
