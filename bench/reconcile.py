"""The controller alone, in-process, against an in-memory API server: CPU per reconcile.

The sandbox runs figures are end to end and share two cores with etcd, the API server and
other engineers' tests, so a 10% change in the controller's own cost drowns in the noise.
This harness keeps only the controller: a real `RolloutController` (caches, planner,
actuator, the Istio router, the event recorder) whose `KubeClient` is a fake that applies
merge and JSON patches to dicts, answers like the API server does (resourceVersion, uid,
generation), and brings a ReplicaSet's pods "up" at once, as kwok would. The informers are
fed the way a watch would feed them. Nothing waits: a plan's requeue is taken at once.

    uv run --group bench python -m bench.reconcile [--n 1000] [--profile FILE]

It reports CPU seconds per reconcile (process time) and writes per reconcile in three phases:
`load` (fresh rollouts to Healthy), `warm` (one reconcile of every Healthy rollout: the
restart and resync case, where nothing may be written) and `update` (an image change of every
rollout through its four weight steps to Healthy).
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import cProfile
import datetime as dt
import itertools
import json
import time
import uuid
from collections import Counter
from typing import Any

from bench import objects
from bench.cluster import VIRTUAL_SERVICES
from rolloutd.controller.rollouts import RolloutController
from rolloutd.kube.client import ApiError
from rolloutd.kube.resources import REPLICA_SETS, ROLLOUTS, SERVICES, Resource
from rolloutd.traffic.registry import RouterRegistry

JsonDict = dict[str, Any]
NS = "bench"


def merge(target: JsonDict, patch: JsonDict) -> JsonDict:
    """RFC 7386: null deletes, objects merge, everything else replaces."""
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)
    return target


def _walk(obj: Any, pointer: str) -> tuple[Any, str]:
    tokens = [t.replace("~1", "/").replace("~0", "~") for t in pointer.split("/")[1:]]
    for token in tokens[:-1]:
        obj = obj[int(token)] if isinstance(obj, list) else obj[token]
    return obj, tokens[-1]


def json_patch(target: JsonDict, ops: list[JsonDict]) -> JsonDict:
    """RFC 6902, the operations routers send (test, add, replace, remove)."""
    for op in ops:
        parent, last = _walk(target, op["path"])
        index: Any = int(last) if isinstance(parent, list) and last != "-" else last
        if op["op"] == "test":
            if parent[index] != op["value"]:
                raise ApiError(422, "Invalid", "test operation failed")
        elif op["op"] == "remove":
            del parent[index]
        elif op["op"] == "add" and isinstance(parent, list):
            parent.insert(len(parent) if last == "-" else index, copy.deepcopy(op["value"]))
        else:
            parent[index] = copy.deepcopy(op["value"])
    return target


class FakeApi:
    """What the controller's KubeClient is asked to do, applied to dicts; every write counted."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], JsonDict] = {}
        self.rv = itertools.count(1000)
        self.writes: Counter[tuple[str, str]] = Counter()
        self.observers: list[Any] = []
        self.controller: RolloutController | None = None

    def _stamp(self, obj: JsonDict, *, spec_changed: bool) -> JsonDict:
        meta = obj.setdefault("metadata", {})
        meta["resourceVersion"] = str(next(self.rv))
        if spec_changed:
            meta["generation"] = int(meta.get("generation", 0)) + 1
        if obj.get("kind") == "ReplicaSet":
            # kwok's part: pods are up as soon as they are asked for.
            n = int((obj.get("spec") or {}).get("replicas") or 0)
            obj["status"] = {
                "replicas": n,
                "readyReplicas": n,
                "availableReplicas": n,
                "fullyLabeledReplicas": n,
                "observedGeneration": meta["generation"],
            }
        return obj

    def _feed(self, res: Resource, obj: JsonDict) -> None:
        """The watch event the API server would send; informers take only newer versions."""
        assert self.controller is not None
        informer = self.controller.informers.get(res)
        if informer is not None:
            informer.remember(copy.deepcopy(obj))

    def seed(self, res: Resource, body: JsonDict) -> JsonDict:
        obj = copy.deepcopy(body)
        obj["metadata"].update(namespace=NS, uid=str(uuid.uuid4()), generation=1)
        self._stamp(obj, spec_changed=False)
        self.objects[(res.plural, obj["metadata"]["name"])] = obj
        return obj

    async def create(
        self, res: Resource, body: JsonDict, *, namespace: str | None = None
    ) -> JsonDict:
        self.writes[("create", res.plural)] += 1
        if res.plural == "events":
            return body
        key = (res.plural, body["metadata"]["name"])
        if key in self.objects:
            raise ApiError(409, "AlreadyExists", "exists")
        obj = self.seed(res, body)
        self._feed(res, obj)
        return copy.deepcopy(obj)

    async def get(self, res: Resource, name: str, **kw: Any) -> JsonDict:
        return copy.deepcopy(self.objects[(res.plural, name)])

    async def patch(
        self,
        res: Resource,
        name: str,
        body: Any,
        *,
        namespace: str | None = None,
        patch_type: str = "merge",
        subresource: str = "",
        force: bool | None = None,
    ) -> JsonDict:
        self.writes[("patch", res.plural + (f"/{subresource}" if subresource else ""))] += 1
        if res.plural == "events":
            return {}
        obj = self.objects[(res.plural, name)]
        before = copy.deepcopy(obj.get("spec"))
        if patch_type == "json":
            json_patch(obj, body)
        else:
            merge(obj, body)
        self._stamp(obj, spec_changed=obj.get("spec") != before)
        self._feed(res, obj)
        return copy.deepcopy(obj)

    async def delete(self, res: Resource, name: str, **kw: Any) -> JsonDict:
        self.writes[("delete", res.plural)] += 1
        self.objects.pop((res.plural, name), None)
        return {}

    def user_patch(self, res: Resource, name: str, ops: list[JsonDict]) -> None:
        """A change made by someone else (the benchmark): not counted as the controller's."""
        obj = self.objects[(res.plural, name)]
        before = copy.deepcopy(obj.get("spec"))
        json_patch(obj, ops)
        self._stamp(obj, spec_changed=obj.get("spec") != before)
        self._feed(res, obj)


async def drive(ctrl: RolloutController, api: FakeApi, keys: list[tuple[str, str]]) -> JsonDict:
    """Reconcile until the queue is empty (requeues taken at once); CPU and writes."""
    queue = ctrl.queue
    for key in keys:
        queue.add(key)
    api.writes.clear()
    reconciles = 0
    cpu = 0.0
    while len(queue):
        key = await queue.get()
        started = time.process_time()
        requeue = await ctrl.reconcile(key)
        cpu += time.process_time() - started
        reconciles += 1
        queue.done(key)
        # Requeues that only wait for time (deadlines, scale-down delays) are not taken: a
        # rollout that is Healthy and asks to be woken later is done for this phase.
        if requeue is not None and not _healthy(api, key[1]):
            queue.add(key)
        if reconciles > 50 * len(keys):
            raise RuntimeError("no convergence")
    writes = dict(api.writes)
    return {
        "reconciles": reconciles,
        "cpu_ms_per_reconcile": round(1000 * cpu / max(1, reconciles), 3),
        "writes_per_reconcile": round(sum(writes.values()) / max(1, reconciles), 3),
        "writes": {f"{v} {r}": c for (v, r), c in sorted(writes.items())},
    }


def _healthy(api: FakeApi, name: str) -> bool:
    st = api.objects[("rollouts", name)].get("status") or {}
    return st.get("phase") == "Healthy" and st.get("stableRS") == st.get("currentPodHash")


async def run(n: int) -> JsonDict:
    api = FakeApi()
    registry = RouterRegistry()
    ctrl = RolloutController(
        api,  # type: ignore[arg-type]
        registry,
        namespace=NS,
        enabled_routers=["istio"],
        instance_id="bench",
        clock=lambda: dt.datetime.now(dt.UTC),
    )
    api.controller = ctrl
    names = [objects.rollout_name(i) for i in range(n)]
    for name in names:
        for svc in objects.services(name):
            api._feed(SERVICES, api.seed(SERVICES, svc))
        api._feed(VIRTUAL_SERVICES, api.seed(VIRTUAL_SERVICES, objects.virtual_service(name)))
        api._feed(ROLLOUTS, api.seed(ROLLOUTS, objects.rollout(name, "nopause", "bench")))
    for inf in ctrl.informers.values():
        inf.synced.set()
    keys = [(NS, name) for name in names]
    out = {"n": n, "load": await drive(ctrl, api, keys)}
    out["warm"] = await drive(ctrl, api, keys)
    for name in names:
        api.user_patch(ROLLOUTS, name, [objects.image_patch(objects.IMAGE_NEW)])
    out["update"] = await drive(ctrl, api, keys)
    out["healthy"] = sum(_healthy(api, name) for name in names)
    out["replica_sets"] = sum(1 for res, _ in api.objects if res == REPLICA_SETS.plural)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.reconcile")
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--profile", default=None, help="write a cProfile dump here")
    args = parser.parse_args()
    if args.profile:
        profiler = cProfile.Profile()
        result = profiler.runcall(asyncio.run, run(args.n))
        profiler.dump_stats(args.profile)
    else:
        result = asyncio.run(run(args.n))
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
