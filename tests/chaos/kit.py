"""What the chaos tests share: the daemon process, a Rollout step tracker next to the e2e
traffic monitor, one canary revision driven to the end with its invariants checked, counters
for the report."""

from __future__ import annotations

import asyncio
import copy
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rolloutd.kube.client import KubeClient
from rolloutd.kube.informer import Informer
from rolloutd.kube.resources import ROLLOUTS, SERVICES
from tests.e2e.harness import (
    GATEWAYS,
    POD_HASH,
    VIRTUAL_SERVICES,
    Monitor,
    eventually,
    is_subsequence,
    route_weights,
    sample,
)

JsonDict = dict[str, Any]
WEIGHTS = [20, 40, 60, 80]
FAST_STEPS: list[JsonDict] = [
    step for w in WEIGHTS for step in ({"setWeight": w}, {"pause": {"duration": "1s"}})
]
"""Short timed pauses only: a revision finishes on its own, with no promotion needed."""
COLOURS = ["yellow", "green", "red", "purple", "orange", "blue"]


@dataclass
class Tally:
    """Counts for the suite's report (printed at the end of each test)."""

    kills: int = 0
    revisions: int = 0
    stalls: int = 0
    notes: list[str] = field(default_factory=list)

    def line(self, name: str) -> str:
        return f"chaos[{name}]: kills survived={self.kills} revisions={self.revisions} " + (
            f"stalls={self.stalls} " + " ".join(self.notes)
        )


class Steps:
    """Records (pod hash, step index) of a Rollout's status, in the order they were seen."""

    def __init__(self, kube: KubeClient, namespace: str, name: str = "rollouts-demo") -> None:
        self.name = name
        self.seen: list[tuple[str, int]] = []
        self.informer = Informer(kube, ROLLOUTS, namespace=namespace)
        self.informer.add_handler(self._on)
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Steps:
        self._task = asyncio.create_task(self.informer.run())
        await self.informer.synced.wait()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def _on(self, kind: str, obj: JsonDict, old: JsonDict | None) -> None:
        if obj["metadata"]["name"] != self.name or kind == "DELETED":
            return
        status = obj.get("status") or {}
        entry = (str(status.get("currentPodHash")), int(status.get("currentStepIndex") or 0))
        if not self.seen or self.seen[-1] != entry:
            self.seen.append(entry)

    def reversed_steps(self) -> list[str]:
        """Any step index that went down within one pod hash (a reversed step)."""
        last: dict[str, int] = {}
        problems = []
        for pod_hash, index in self.seen:
            if index < last.get(pod_hash, 0):
                problems.append(f"{pod_hash}: step {last[pod_hash]} -> {index}")
            last[pod_hash] = index
        return problems


async def apply_fast_seed(kube: KubeClient, namespace: str, replicas: int = 5) -> None:
    """The seed's Gateway, Services, VirtualService and a Rollout with FAST_STEPS."""
    await apply_routing(kube, namespace)
    rollout = copy.deepcopy(sample("rollout")[0])
    canary = rollout["spec"]["strategy"]["canary"]
    canary["steps"] = FAST_STEPS
    canary["scaleDownDelaySeconds"] = 1
    rollout["spec"]["replicas"] = replicas
    await kube.create(ROLLOUTS, rollout, namespace=namespace)


async def apply_routing(kube: KubeClient, namespace: str) -> None:
    for doc in sample("gateway"):
        await kube.create(GATEWAYS, doc, namespace=namespace)
    for doc in sample("services"):
        await kube.create(SERVICES, doc, namespace=namespace)
    for doc in sample("virtual-service"):
        await kube.create(VIRTUAL_SERVICES, doc, namespace=namespace)


async def set_image(kube: KubeClient, namespace: str, image: str) -> None:
    ro = await kube.get(ROLLOUTS, "rollouts-demo", namespace=namespace)
    containers = ro["spec"]["template"]["spec"]["containers"]
    containers[0]["image"] = image
    body = {"spec": {"template": {"spec": {"containers": containers}}}}
    await kube.patch(ROLLOUTS, "rollouts-demo", body, namespace=namespace)


async def healthy(kube: KubeClient, namespace: str, image: str | None = None) -> bool:
    """Healthy at the last step, observed, stable == current, and (if given) on `image`."""
    ro = await kube.get(ROLLOUTS, "rollouts-demo", namespace=namespace)
    status = ro.get("status") or {}
    spec_image = ro["spec"]["template"]["spec"]["containers"][0]["image"]
    return bool(
        status.get("phase") == "Healthy"
        and str(status.get("observedGeneration")) == str(ro["metadata"]["generation"])
        and status.get("currentStepIndex") == len(ro["spec"]["strategy"]["canary"]["steps"])
        and status.get("stableRS") == status.get("currentPodHash")
        and (image is None or spec_image == image)
    )


async def settled(kube: KubeClient, namespace: str) -> bool:
    """The cluster agrees with a finished rollout: weight 0, both Services on the stable hash."""
    ro = await kube.get(ROLLOUTS, "rollouts-demo", namespace=namespace)
    stable = (ro.get("status") or {}).get("stableRS")
    vs = await kube.get(VIRTUAL_SERVICES, "rollouts-demo-vsvc", namespace=namespace)
    if route_weights(vs).get("rollouts-demo-canary", 0) != 0:
        return False
    for svc in ("rollouts-demo-stable", "rollouts-demo-canary"):
        obj = await kube.get(SERVICES, svc, namespace=namespace)
        if (obj["spec"].get("selector") or {}).get(POD_HASH) != stable:
            return False
    return True


async def finish_revision(
    kube: KubeClient,
    namespace: str,
    monitor: Monitor,
    steps: Steps,
    tally: Tally,
    *,
    image: str,
    since: int,
    timeout: float = 120,
    logs: Callable[[], str] = lambda: "",
    weights: list[int] = WEIGHTS,
    resets: tuple[int, ...] = (),
) -> None:
    """Wait for the revision on `image` to finish, then check what the monitors saw from
    index `since` of the monitor's weights: every setWeight in order, weights only rising
    until the promotion returns them to 0, no reversed step, no violation. `resets`: indices
    of the monitor's weights where the test itself put a 0 back (a recreated router object);
    weights must rise within each stretch between them."""

    async def done() -> bool:
        return await healthy(kube, namespace, image) and await settled(kube, namespace)

    try:
        await eventually(done, f"the revision on {image} to finish", timeout=timeout)
    except AssertionError:
        tally.stalls += 1
        raise AssertionError(
            f"stalled on {image}: weights {monitor.weights[since:]}, steps {steps.seen[-8:]}\n"
            + logs()
        ) from None
    tally.revisions += 1
    seen = monitor.weights[since:]
    assert is_subsequence([*weights, 100], seen), (image, seen)
    bounds = [since, *resets, len(monitor.weights) - 1]
    for start, end in itertools.pairwise(bounds):
        stretch = monitor.weights[start:end]
        rising = stretch[1:] if stretch and stretch[0] == 0 else stretch
        assert rising == sorted(rising), (image, seen, resets)
    assert seen[-1] == 0, (image, seen)
    assert monitor.violations == [], monitor.violations
    assert steps.reversed_steps() == [], steps.seen
