"""Manifests and reads for the parity scenarios, in the shape of Argo's e2e fixtures.

Argo's fixtures (`test/e2e/fixtures/`) wait for a phase, count a revision's pods, read the
Services' selectors and the VirtualService; these are the same reads on the sandbox. Every
Rollout here is small (a few kwok pods) and has its own name, app label and Services, so several
scenarios can share one namespace and one daemon.
"""

from __future__ import annotations

import asyncio
import copy
from typing import Any

from rolloutd.kube.client import KubeClient
from rolloutd.kube.informer import Informer
from rolloutd.kube.resources import PODS, REPLICA_SETS, ROLLOUTS, SERVICES
from tests.e2e.harness import POD_HASH, VIRTUAL_SERVICES, eventually, get_rollout
from tests.e2e.harness import wait_phase as harness_wait_phase

JsonDict = dict[str, Any]
IMAGE = "nginx:1.19-alpine"
REVISION = "rollout.argoproj.io/revision"
SCALE_DOWN_DEADLINE = "scale-down-deadline"
UNSCHEDULABLE = {"rolloutd.test/no-such-node": "true"}
"""A nodeSelector no kwok node matches: pods of that template stay Pending (on kwok a pod that
never gets Ready stands in for a broken image or a failing readiness probe)."""


def rollout(
    name: str,
    *,
    replicas: int | None = 1,
    steps: list[Any] | None = None,
    canary: JsonDict | None = None,
    spec: JsonDict | None = None,
) -> JsonDict:
    """A canary Rollout with one container, its app label = its name; `steps=None`: none."""
    strategy: JsonDict = {"steps": copy.deepcopy(steps)} if steps is not None else {}
    strategy.update(copy.deepcopy(canary or {}))
    body: JsonDict = {
        "replicas": replicas,
        "revisionHistoryLimit": 3,
        "selector": {"matchLabels": {"app": name}},
        "template": {
            "metadata": {"labels": {"app": name}},
            "spec": {
                "containers": [
                    {
                        "name": name,
                        "image": IMAGE,
                        "resources": {"requests": {"memory": "16Mi", "cpu": "1m"}},
                    }
                ]
            },
        },
        "strategy": {"canary": strategy},
    }
    if replicas is None:
        del body["replicas"]
    body.update(copy.deepcopy(spec or {}))
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": name},
        "spec": body,
    }


def service(name: str, app: str) -> JsonDict:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {
            "selector": {"app": app},
            "ports": [{"port": 80, "targetPort": 80, "protocol": "TCP", "name": "http"}],
        },
    }


def istio_routing(name: str, *, tls: bool = False) -> JsonDict:
    """`canaryService`, `stableService` and an Istio host-split VirtualService `<name>-vsvc`."""
    vs: JsonDict = {"name": f"{name}-vsvc", "routes": ["primary"]}
    if tls:
        vs["tlsRoutes"] = [{"port": 443, "sniHosts": [f"{name}.example.com"]}]
    return {
        "canaryService": f"{name}-canary",
        "stableService": f"{name}-stable",
        "trafficRouting": {"istio": {"virtualService": vs}},
    }


def virtual_service(name: str, *, tls: bool = False, http: bool = True) -> JsonDict:
    def route() -> list[JsonDict]:
        return [
            {"destination": {"host": f"{name}-stable"}, "weight": 100},
            {"destination": {"host": f"{name}-canary"}, "weight": 0},
        ]

    spec: JsonDict = {"hosts": [f"{name}.example.com"]}
    if http:
        spec["http"] = [{"name": "primary", "route": route()}]
    if tls:
        spec["tls"] = [
            {"match": [{"port": 443, "sniHosts": [f"{name}.example.com"]}], "route": route()}
        ]
    return {
        "apiVersion": "networking.istio.io/v1alpha3",
        "kind": "VirtualService",
        "metadata": {"name": f"{name}-vsvc"},
        "spec": spec,
    }


async def create_istio(
    kube: KubeClient, ns: str, ro: JsonDict, *, tls: bool = False, http: bool = True
) -> None:
    """The Rollout with its two Services and its VirtualService (created first)."""
    name = ro["metadata"]["name"]
    for svc in (f"{name}-stable", f"{name}-canary"):
        await kube.create(SERVICES, service(svc, name), namespace=ns)
    vs = virtual_service(name, tls=tls, http=http)
    await kube.create(VIRTUAL_SERVICES, vs, namespace=ns)
    await kube.create(ROLLOUTS, ro, namespace=ns)


async def patch_spec(kube: KubeClient, ns: str, name: str, spec: JsonDict) -> None:
    await kube.patch(ROLLOUTS, name, {"spec": spec}, namespace=ns)


async def update_template(kube: KubeClient, ns: str, name: str, rev: str, **extra: Any) -> None:
    """Argo's `UpdateSpec()`: a new pod template (here a template annotation `rev`)."""
    template: JsonDict = {"metadata": {"annotations": {"rev": rev}}}
    if extra:
        template["spec"] = extra
    await patch_spec(kube, ns, name, {"template": template})


async def scale(kube: KubeClient, ns: str, name: str, replicas: int) -> None:
    await patch_spec(kube, ns, name, {"replicas": replicas})


async def replica_sets(kube: KubeClient, ns: str, name: str) -> list[JsonDict]:
    items = (await kube.list(REPLICA_SETS, namespace=ns, label_selector=f"app={name}"))["items"]
    return list(items)


async def rs_by_revision(kube: KubeClient, ns: str, name: str, revision: int) -> JsonDict:
    for rs in await replica_sets(kube, ns, name):
        if (rs["metadata"].get("annotations") or {}).get(REVISION) == str(revision):
            return rs
    raise AssertionError(f"Rollout {name}: no ReplicaSet of revision {revision}")


async def pods_by_hash(kube: KubeClient, ns: str, name: str) -> dict[str, int]:
    """Pods that are not being deleted, per pod-template hash."""
    items = (await kube.list(PODS, namespace=ns, label_selector=f"app={name}"))["items"]
    counts: dict[str, int] = {}
    for pod in items:
        if pod["metadata"].get("deletionTimestamp"):
            continue
        pod_hash = (pod["metadata"].get("labels") or {}).get(POD_HASH, "")
        counts[pod_hash] = counts.get(pod_hash, 0) + 1
    return counts


async def canary_stable_pods(kube: KubeClient, ns: str, name: str) -> tuple[int, int]:
    """Argo's `ExpectCanaryStablePodCount`: pods of `currentPodHash` and of `stableRS`."""
    ro = await get_rollout(kube, ns, name)
    status = ro.get("status") or {}
    counts = await pods_by_hash(kube, ns, name)
    return counts.get(status.get("currentPodHash", ""), 0), counts.get(
        status.get("stableRS", ""), 0
    )


async def expect_pods(
    kube: KubeClient, ns: str, name: str, want: tuple[int, int], timeout: float = 30
) -> None:
    """Wait for the (canary, stable) pod counts (pods come and go a moment after a scale)."""
    seen: list[tuple[int, int]] = []

    async def check() -> bool:
        seen.append(await canary_stable_pods(kube, ns, name))
        return seen[-1] == want

    try:
        await eventually(check, f"{name}: (canary, stable) pods {want}", timeout)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; last seen {seen[-1] if seen else None}") from None


async def expect_revision_pods(
    kube: KubeClient, ns: str, name: str, revision: int, want: int, timeout: float = 30
) -> None:
    """Argo's `ExpectRevisionPodCount`."""
    seen: list[int] = []

    async def check() -> bool:
        rs = await rs_by_revision(kube, ns, name, revision)
        counts = await pods_by_hash(kube, ns, name)
        seen.append(counts.get(rs["metadata"]["labels"][POD_HASH], 0))
        return seen[-1] == want

    try:
        await eventually(check, f"{name}: {want} pods of revision {revision}", timeout)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; last seen {seen[-1] if seen else None}") from None


async def selector_hash(kube: KubeClient, ns: str, service_name: str) -> str | None:
    svc = await kube.get(SERVICES, service_name, namespace=ns)
    value = ((svc.get("spec") or {}).get("selector") or {}).get(POD_HASH)
    return str(value) if value is not None else None


def condition(ro: JsonDict, kind: str) -> JsonDict | None:
    conds = (ro.get("status") or {}).get("conditions") or []
    return next((c for c in conds if c.get("type") == kind), None)


class PhaseWatch:
    """Every (phase, message) a Rollout's status shows, from a watch (no change is missed)."""

    def __init__(self, kube: KubeClient, ns: str, name: str) -> None:
        self.name = name
        self.seen: list[tuple[str, str]] = []
        self.writes = 0
        self.informer = Informer(kube, ROLLOUTS, namespace=ns)
        self.informer.add_handler(self._on_rollout)
        self._task: asyncio.Task[None] | None = None

    def _on_rollout(self, kind: str, obj: JsonDict, old: JsonDict | None) -> None:
        if obj["metadata"]["name"] != self.name or kind == "DELETED":
            return
        self.writes += 1
        status = obj.get("status") or {}
        now = (str(status.get("phase", "")), str(status.get("message", "")))
        if not self.seen or self.seen[-1] != now:
            self.seen.append(now)

    @property
    def phases(self) -> list[str]:
        return [p for p, _ in self.seen]

    async def __aenter__(self) -> PhaseWatch:
        self._task = asyncio.create_task(self.informer.run())
        await self.informer.synced.wait()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


async def wait_phase(
    kube: KubeClient,
    ns: str,
    want: str,
    *,
    name: str,
    step: int | None = None,
    timeout: float = 60,
) -> JsonDict:
    """The harness's `wait_phase`, and the Rollout's status in the message when it times out."""
    try:
        return await harness_wait_phase(kube, ns, want, step=step, timeout=timeout, name=name)
    except AssertionError as exc:
        status = (await get_rollout(kube, ns, name)).get("status") or {}
        keep = ("phase", "message", "currentStepIndex", "stableRS", "currentPodHash", "canary")
        shown = {k: status.get(k) for k in keep}
        pods = await pods_by_hash(kube, ns, name)
        raise AssertionError(f"{name}: {exc}; status {shown}; pods by hash {pods}") from None


async def wait_settled(kube: KubeClient, ns: str, name: str, timeout: float = 60) -> JsonDict:
    """Wait for a phase other than Progressing (so a refused spec fails fast, with its message)."""
    result: JsonDict = {}

    async def check() -> bool:
        ro = await get_rollout(kube, ns, name)
        status = ro.get("status") or {}
        done = str(status.get("observedGeneration")) == str(ro["metadata"]["generation"]) and (
            status.get("phase") in ("Healthy", "Paused", "Degraded")
        )
        if done:
            result.update(ro)
        return done

    await eventually(check, f"{name}: a settled phase", timeout)
    return result
