"""A planner that raises is reported on the Rollout, backs off, and recovers, on the sandbox.

No known input makes the planner raise any more (each became an InvalidSpec), so the fault is
injected: the real controller, the real API server and informers, and a `plan` that raises
OverflowError (what `scaleDownDelaySeconds: 9223372036854775807` did in `scale_down_old`).
Before, that was a log line every retry and nothing on the Rollout.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from typing import Any

import pytest

from rolloutd.controller import rollouts as controller_module
from rolloutd.controller.rollouts import RolloutController
from rolloutd.kube.client import KubeClient
from rolloutd.kube.resources import EVENTS, ROLLOUTS
from rolloutd.plan.canary import plan as real_plan
from rolloutd.plan.types import Plan, Snapshot
from rolloutd.traffic.registry import RouterRegistry
from tests.e2e.harness import eventually, get_rollout
from tests.e2e.test_malformed_rollouts import basic

pytestmark = pytest.mark.sandbox


class Faulty:
    """`plan`, raising while `broken` is set."""

    def __init__(self) -> None:
        self.broken = True
        self.calls = 0

    def __call__(self, snapshot: Snapshot, now: dt.datetime) -> Plan:
        self.calls += 1
        if self.broken:
            raise OverflowError("date value out of range")
        return real_plan(snapshot, now)


async def test_a_raising_planner_becomes_a_condition_an_event_and_a_growing_backoff(
    kube: KubeClient, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ns = namespace
    faulty = Faulty()
    monkeypatch.setattr(controller_module, "plan", faulty)
    controller = RolloutController(kube, RouterRegistry(), namespace=ns, workers=1)
    task = asyncio.create_task(controller.run())
    try:
        await kube.create(ROLLOUTS, basic("crashing"), namespace=ns)
        key = (ns, "crashing")

        async def reported() -> bool:
            ro = await get_rollout(kube, ns, "crashing")
            conds = (ro.get("status") or {}).get("conditions") or []
            return any(c["type"] == "ReconcileError" for c in conds)

        await eventually(reported, "a ReconcileError condition", timeout=30)
        ro = await get_rollout(kube, ns, "crashing")
        cond = next(c for c in ro["status"]["conditions"] if c["type"] == "ReconcileError")
        assert cond["message"] == "planning failed: OverflowError: date value out of range"
        assert ro["status"]["phase"] == "Degraded"
        # Nothing else is claimed: no stableRS, no replica counts, from a plan that never was.
        assert "stableRS" not in ro["status"] and "replicas" not in ro["status"]

        async def backing_off() -> bool:
            return controller.queue.failures(key) >= 6

        await eventually(backing_off, "six failed retries in a row", timeout=30)
        # Retries grow apart: six failures are 5+10+...+160 ms of backoff, and the condition
        # was written once (the same failure again changes nothing in the status).
        ro_again = await get_rollout(kube, ns, "crashing")
        assert ro_again["metadata"]["resourceVersion"] == ro["metadata"]["resourceVersion"]

        async def warned() -> bool:
            events = (await kube.list(EVENTS, namespace=ns))["items"]
            return any(
                e["involvedObject"].get("name") == "crashing"
                and e["type"] == "Warning"
                and e["reason"] == "ReconcileError"
                and "OverflowError" in e["message"]
                for e in events
            )

        await eventually(warned, "a ReconcileError Warning Event", timeout=30)

        # The planner works again: the next retry (at most 10 s away) clears the condition.
        faulty.broken = False

        async def recovered() -> bool:
            status: dict[str, Any] = (await get_rollout(kube, ns, "crashing")).get("status") or {}
            kinds = [c["type"] for c in status.get("conditions") or []]
            return status.get("phase") == "Healthy" and "ReconcileError" not in kinds

        await eventually(recovered, "Healthy without ReconcileError", timeout=60)
        assert controller.queue.failures(key) == 0
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
