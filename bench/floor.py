"""The floor: the same promotions and updates, done by a script with no controller.

It makes only the writes a promotion needs, each as soon as it can: no cache to fill, no
queue, no planning, no verification. What it cannot avoid is what any controller pays too:
the API server's round trips, etcd, the watch that delivers the change, and (in 2b and 3)
the kube-controller-manager and kwok bringing pods up. Every rolloutd figure is reported as
a ratio to the floor's figure from the same run.

The floor's objects live in their own namespace, and its Rollouts carry an instance id that
no daemon serves, so nothing but this script writes to them. The promote request itself is
the one `kubectl argo rollouts promote` sends, and it is sent by the benchmark's client in
both cases; the floor counts only its own writes (a second client with an observer).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import time
from collections import Counter
from typing import Any

from bench import objects
from bench.cluster import VIRTUAL_SERVICES, Tracker, create_all, gather_limited
from bench.workloads import by_verb_resource, percentiles, status
from rolloutd.kube.client import KubeClient, Request
from rolloutd.kube.resources import REPLICA_SETS, ROLLOUTS, SERVICES

JsonDict = dict[str, Any]
UNSERVED = "bench-floor-unserved"
NEW_HASH = "f100r"
READ_VERBS = {"get", "list", "watch"}


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Floor:
    """Workload 4. `writer` is a client of its own, so its requests can be counted apart."""

    def __init__(self, kube: KubeClient, writer: KubeClient, namespace: str) -> None:
        self.kube = kube
        self.writer = writer
        self.ns = namespace
        self.writes: Counter[tuple[str, str]] = Counter()
        writer.observers.append(self._count)
        self.rollouts = Tracker(kube, ROLLOUTS, namespace)
        self.vss = Tracker(kube, VIRTUAL_SERVICES, namespace)
        self.rss = Tracker(kube, REPLICA_SETS, namespace)

    def _count(self, request: Request) -> None:
        if request.verb not in READ_VERBS:
            self.writes[(request.verb, request.resource)] += 1

    async def start(self) -> None:
        for tracker in (self.rollouts, self.vss, self.rss):
            await tracker.start()

    async def stop(self) -> None:
        for tracker in (self.rollouts, self.vss, self.rss):
            await tracker.stop()

    # -- the writes a controller must make -------------------------------------------------------

    async def _set_weight(self, name: str, weight: int) -> None:
        """JSON patch of the two weights, guarded by resourceVersion, as the Istio router does."""
        vs = self.vss.get(f"{name}-vsvc")
        assert vs is not None
        version = vs["metadata"]["resourceVersion"]
        ops = [
            {"op": "test", "path": "/metadata/resourceVersion", "value": version},
            {"op": "replace", "path": "/spec/http/0/route/0/weight", "value": 100 - weight},
            {"op": "replace", "path": "/spec/http/0/route/1/weight", "value": weight},
        ]
        written = await self.writer.patch(
            VIRTUAL_SERVICES, f"{name}-vsvc", ops, namespace=self.ns, patch_type="json"
        )
        # Kept like an informer would, so the next guard uses the version just written.
        self.vss.informer.remember(written)

    async def _status(self, name: str, body: JsonDict) -> None:
        await self.writer.patch(
            ROLLOUTS, name, {"status": body}, namespace=self.ns, subresource="status"
        )

    async def _scale(self, name: str, replicas: int) -> None:
        rs = f"{name}-{NEW_HASH}"
        await self.writer.patch(
            REPLICA_SETS, rs, {"spec": {"replicas": replicas}}, namespace=self.ns
        )
        await self.rss.wait_all(
            [rs], lambda o: (status(o).get("availableReplicas") or 0) >= replicas, 120
        )

    # -- latency (2a, 2b) ------------------------------------------------------------------------

    async def setup_latency(self, count: int) -> dict[objects.Profile, list[str]]:
        """Paused rollouts at weight 20: 'scaled' ones with 2 canary pods, 'plain' with 1."""
        groups: dict[objects.Profile, list[str]] = {
            "scaled": [f"fa{i:04d}" for i in range(count)],
            "plain": [f"fb{i:04d}" for i in range(count)],
        }
        items = []
        for profile, names in groups.items():
            for name in names:
                ro = objects.rollout(name, profile, UNSERVED)
                items.append((ROLLOUTS, ro))
                items.append((VIRTUAL_SERVICES, objects.virtual_service(name, 20)))
                replicas = objects.REPLICAS if profile == "scaled" else 1
                items.append((REPLICA_SETS, objects.replica_set(name, NEW_HASH, replicas)))
        await create_all(self.kube, self.ns, items)
        await asyncio.sleep(0.5)  # let the informers see what we created
        everything = groups["scaled"] + groups["plain"]
        # The paused state a controller would have written.
        paused = {
            "phase": "Paused",
            "pauseConditions": [{"reason": "CanaryPauseStep", "startTime": _now()}],
        }
        await gather_limited(
            [
                functools.partial(
                    self.kube.patch,
                    ROLLOUTS,
                    name,
                    {"status": {**paused, "currentStepIndex": objects.PAUSE_INDEX[profile]}},
                    namespace=self.ns,
                    subresource="status",
                )
                for profile, names in groups.items()
                for name in names
            ]
        )
        want = {
            f"{n}-{NEW_HASH}": (objects.REPLICAS if n in groups["scaled"] else 1)
            for n in everything
        }
        await self.rss.wait_all(
            want,
            lambda o: (status(o).get("availableReplicas") or 0) >= want[o["metadata"]["name"]],
            180 + count,
        )
        await self.rollouts.wait_all(
            everything, lambda o: bool(status(o).get("pauseConditions")), 60
        )
        await self.vss.wait_all([f"{n}-vsvc" for n in everything], lambda o: True, 60)
        return groups

    async def promote_one(self, name: str, profile: objects.Profile) -> float:
        vs_moved = self.vss.expect(
            [f"{name}-vsvc"], lambda o: objects.canary_weight(o) == objects.PROMOTED_WEIGHT
        )
        # The same request `kubectl argo rollouts promote` sends, from the benchmark's client.
        await self.kube.patch(
            ROLLOUTS,
            name,
            {"status": {"pauseConditions": None}},
            namespace=self.ns,
            subresource="status",
        )
        returned = time.monotonic()
        if profile == "plain":
            await self._scale(name, objects.REPLICAS)
        await self._set_weight(name, objects.PROMOTED_WEIGHT)
        index = objects.PAUSE_INDEX[profile] + 2
        await self._status(
            name,
            {
                "currentStepIndex": index,
                "pauseConditions": [{"reason": "CanaryPauseStep", "startTime": _now()}],
            },
        )
        moved_at = (await vs_moved.wait(60))[f"{name}-vsvc"]
        return moved_at - returned

    async def latency(self, names: list[str], profile: objects.Profile) -> JsonDict:
        before = Counter(self.writes)
        samples = [await self.promote_one(name, profile) for name in names]
        writes = self.writes - before
        return {
            "promotions": len(names),
            "latency_ms": {
                k: (v if k == "n" else round(1000 * v, 2)) for k, v in percentiles(samples).items()
            },
            "samples_ms": [round(1000 * s, 2) for s in samples],
            "writes_per_promotion": by_verb_resource(writes, len(names)),
            "writes_per_promotion_total": sum(writes.values()) / len(names),
        }

    # -- throughput (3) --------------------------------------------------------------------------

    async def setup_throughput(self, count: int) -> list[str]:
        names = [f"ft{i:04d}" for i in range(count)]
        items = []
        for name in names:
            items.append((ROLLOUTS, objects.rollout(name, "nopause", UNSERVED)))
            items.append((VIRTUAL_SERVICES, objects.virtual_service(name, 0)))
            items += [(SERVICES, svc) for svc in objects.services(name)]
        await create_all(self.kube, self.ns, items)
        await self.rollouts.wait_all(names, lambda o: True, 60)
        await self.vss.wait_all([f"{n}-vsvc" for n in names], lambda o: True, 60)
        return names

    async def _update_one(self, name: str) -> None:
        """Everything one rollout's update needs, in order, as soon as it may happen."""
        selector = {"spec": {"selector": {objects.HASH_LABEL: NEW_HASH}}}
        await self.writer.patch(SERVICES, f"{name}-canary", selector, namespace=self.ns)
        await self.writer.create(
            REPLICA_SETS, objects.replica_set(name, NEW_HASH, 0), namespace=self.ns
        )
        replicas = 0
        for index, step in enumerate(objects.STEPS["nopause"]):
            weight = int(step["setWeight"])
            needed = -(-weight * objects.REPLICAS // 100)  # ceil: pods that weight needs
            if needed > replicas:
                await self._scale(name, needed)
                replicas = needed
            await self._set_weight(name, weight)
            await self._status(name, {"currentStepIndex": index + 1, "phase": "Progressing"})
        if replicas < objects.REPLICAS:
            await self._scale(name, objects.REPLICAS)
        await self.writer.patch(SERVICES, f"{name}-stable", selector, namespace=self.ns)
        await self._set_weight(name, 0)
        ro = self.rollouts.get(name) or {}
        await self._status(
            name,
            {
                "phase": "Healthy",
                "stableRS": NEW_HASH,
                "currentPodHash": NEW_HASH,
                "observedGeneration": str(ro.get("metadata", {}).get("generation", "")),
            },
        )

    async def throughput(self, names: list[str]) -> JsonDict:
        done = self.rollouts.expect(
            names,
            lambda o: status(o).get("phase") == "Healthy" and status(o).get("stableRS") == NEW_HASH,
        )
        before = Counter(self.writes)
        started = time.monotonic()
        patch = [objects.image_patch(objects.IMAGE_NEW)]
        await gather_limited(
            [
                functools.partial(
                    self.kube.patch, ROLLOUTS, name, patch, namespace=self.ns, patch_type="json"
                )
                for name in names
            ]
        )
        await asyncio.gather(*(self._update_one(name) for name in names))
        times = await done.wait(300)
        finished = max(times.values())
        writes = self.writes - before
        steps = len(objects.STEPS["nopause"])
        return {
            "rollouts": len(names),
            "seconds": finished - started,
            "rollouts_per_second": len(names) / (finished - started),
            "writes_per_rollout": by_verb_resource(writes, len(names)),
            "writes_per_rollout_total": sum(writes.values()) / len(names),
            "writes_per_step": sum(writes.values()) / (len(names) * steps),
        }
