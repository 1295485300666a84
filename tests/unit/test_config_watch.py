"""Applying ConfigMap versions: what changes live, what waits for a restart, and that a bad
version is reported and changes nothing."""

from __future__ import annotations

from typing import Any, cast

import pytest

from rolloutd.config import Config, parse_config_map
from rolloutd.config_watch import ConfigWatcher
from rolloutd.kube.client import KubeClient
from rolloutd.kube.events import EventRecorder

JsonDict = dict[str, Any]
NO_KUBE = cast(KubeClient, None)  # apply() never talks to the API; events go to the fake


class Recorded(EventRecorder):
    def __init__(self) -> None:
        super().__init__(NO_KUBE)
        self.recorded: list[tuple[str, str, str, str]] = []

    async def record(
        self, involved: dict[str, Any], event_type: str, reason: str, message: str
    ) -> None:
        self.recorded.append((involved["metadata"]["name"], event_type, reason, message))


def config_map(text: str) -> JsonDict:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "rolloutd-config", "namespace": "rolloutd"},
        "data": {"config.yaml": text},
    }


GOOD = """
logLevel: info
workers: 10
routers:
  istio: {enabled: true, apiVersion: v1alpha3}
"""


class World:
    def __init__(self, initial: JsonDict | None = None, *, leader: bool = True, **kw: Any):
        self.levels: list[str] = []
        self.events = Recorded()
        self.leader = leader
        started = parse_config_map(initial)
        self.watcher = ConfigWatcher(
            NO_KUBE,
            namespace="rolloutd",
            name="rolloutd-config",
            started=started,
            initial=initial,
            events=self.events,
            may_record=lambda: self.leader,
            set_level=self.levels.append,
            **kw,
        )


async def test_log_level_applies_at_once() -> None:
    world = World(config_map(GOOD))
    await world.watcher.apply(config_map(GOOD.replace("logLevel: info", "logLevel: debug")))
    assert world.levels == ["debug"]
    assert world.watcher.active.log_level == "debug"
    assert world.watcher.valid and not world.watcher.restart_pending


async def test_unchanged_data_is_a_no_op() -> None:
    world = World(config_map(GOOD))
    await world.watcher.apply(config_map(GOOD))
    assert world.levels == [] and world.events.recorded == []


@pytest.mark.parametrize(
    ("edit", "fields"),
    [
        (lambda t: t.replace("workers: 10", "workers: 4"), ["workers"]),
        (lambda t: t.replace("v1alpha3", "v1beta1"), ["routers"]),
        (lambda t: t + "  smi: {enabled: true}\n", ["routers"]),
        (lambda t: t.replace("workers: 10", "workers: 2").replace("true", "false"),
         ["workers", "routers"]),
    ],
)  # fmt: skip
async def test_workers_and_routers_wait_for_a_restart(edit: Any, fields: list[str]) -> None:
    world = World(config_map(GOOD))
    await world.watcher.apply(config_map(edit(GOOD)))
    assert world.watcher.pending_restart == fields
    assert world.watcher.restart_pending
    assert world.watcher.detail()["restartPending"] == fields
    # What runs is still what started.
    assert world.watcher.active == world.watcher.started
    # Putting it back clears the flag.
    await world.watcher.apply(config_map(GOOD))
    assert world.watcher.pending_restart == []


async def test_workers_given_on_the_command_line_need_no_restart() -> None:
    world = World(config_map(GOOD), workers_pinned=True)
    await world.watcher.apply(config_map(GOOD.replace("workers: 10", "workers: 3")))
    assert world.watcher.pending_restart == []


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("logLevel: [", "data.config.yaml: not valid YAML"),
        ("workers: 0", "data.config.yaml.workers"),
        ("logLevel: loud", "data.config.yaml.logLevel"),
        ("- a list", "must be a mapping"),
        ("wrkers: 4", "data.config.yaml.wrkers"),
    ],
)
async def test_a_bad_config_is_reported_and_changes_nothing(text: str, error: str) -> None:
    world = World(config_map(GOOD))
    await world.watcher.apply(config_map(GOOD.replace("logLevel: info", "logLevel: debug")))
    before = world.watcher.active

    await world.watcher.apply(config_map(text))
    assert not world.watcher.valid
    assert any(error in e for e in world.watcher.errors), world.watcher.errors
    assert world.watcher.active == before  # the last good configuration stays in force
    assert world.levels == ["debug"]
    [(name, kind, reason, message)] = world.events.recorded
    assert (name, kind, reason) == ("rolloutd-config", "Warning", "InvalidConfig")
    assert error in message
    detail = world.watcher.detail()
    assert detail["valid"] is False and detail["errors"] == world.watcher.errors

    # Fixing it clears the error and applies the fixed version.
    await world.watcher.apply(config_map(GOOD.replace("logLevel: info", "logLevel: warn")))
    assert world.watcher.valid and world.watcher.errors == []
    assert world.levels == ["debug", "warn"]


async def test_only_the_leader_records_the_event_and_a_new_leader_catches_up() -> None:
    world = World(config_map(GOOD), leader=False)
    await world.watcher.apply(config_map("workers: -1"))
    assert not world.watcher.valid
    assert world.events.recorded == []
    world.leader = True
    await world.watcher.on_leading()
    assert [r[2] for r in world.events.recorded] == ["InvalidConfig"]


async def test_a_bad_config_at_start_is_known_from_the_start() -> None:
    bad = config_map("workers: lots")
    world = World(None)
    watcher = ConfigWatcher(
        NO_KUBE,
        namespace="rolloutd",
        name="rolloutd-config",
        started=Config(),
        initial=bad,
        initial_errors=["data.config.yaml.workers: not an integer"],
        events=world.events,
    )
    assert not watcher.valid
    await watcher.on_leading()
    assert len(world.events.recorded) == 1
    # The informer's first ADDED delivers the same object: not reported twice.
    await watcher.apply(bad)
    assert len(world.events.recorded) == 1


async def test_a_deleted_config_map_means_the_defaults() -> None:
    world = World(config_map(GOOD.replace("logLevel: info", "logLevel: error")))
    await world.watcher.apply(None)
    assert world.levels == ["info"]
    assert world.watcher.valid
    # The defaults enable every installed router, unlike the one that started: restart.
    assert world.watcher.pending_restart == ["routers"]
