"""Events recorded in the background keep their order per object, and repeats are still counted.

The fake client answers each request after a delay that shrinks with every call, so a later
send would overtake an earlier one if `record_soon` did not chain the sends of one object.
"""

from __future__ import annotations

import asyncio
from typing import Any

from rolloutd.kube.events import EventRecorder

JsonDict = dict[str, Any]


class SlowThenFast:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, Any]] = []
        self.delay = 0.05

    async def _wait(self) -> None:
        delay, self.delay = self.delay, max(0.0, self.delay - 0.02)
        await asyncio.sleep(delay)

    async def create(self, res: Any, body: JsonDict, **kw: Any) -> JsonDict:
        await self._wait()
        self.calls.append(("create", body["involvedObject"]["name"], body["reason"]))
        return body

    async def patch(self, res: Any, name: str, body: JsonDict, **kw: Any) -> JsonDict:
        await self._wait()
        self.calls.append(("patch", name.split(".")[0], body["count"]))
        return body


def rollout(name: str) -> JsonDict:
    return {"kind": "Rollout", "metadata": {"name": name, "namespace": "ns", "uid": f"u-{name}"}}


async def test_one_objects_events_go_out_in_order_and_repeats_are_counted() -> None:
    kube = SlowThenFast()
    recorder = EventRecorder(kube)  # type: ignore[arg-type]
    seen: list[str] = []
    recorder.observers.append(lambda ns, name, kind, reason, message: seen.append(reason))
    ro = rollout("a")
    recorder.record_soon(ro, "Normal", "First", "one")
    recorder.record_soon(ro, "Normal", "Second", "two")
    recorder.record_soon(ro, "Normal", "First", "one")  # the same Event again: a count patch
    assert kube.calls == []  # nothing was awaited by the caller
    await recorder.flush(timeout=5)
    assert kube.calls == [("create", "a", "First"), ("create", "a", "Second"), ("patch", "a", 2)]
    assert seen == ["First", "Second", "First"]


async def test_different_objects_do_not_wait_for_each_other() -> None:
    kube = SlowThenFast()
    recorder = EventRecorder(kube)  # type: ignore[arg-type]
    recorder.record_soon(rollout("slow"), "Normal", "Slow", "x")
    recorder.record_soon(rollout("fast"), "Normal", "Fast", "y")
    await recorder.flush(timeout=5)
    assert [c[1] for c in kube.calls] == ["fast", "slow"]
