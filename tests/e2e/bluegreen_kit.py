"""Blue-green end-to-end kit: manifests in the shape of Argo's e2e fixtures, and a switch monitor.

`manifests()` builds what Argo's `test/e2e` blue-green tests apply (an active Service, an
optional preview Service, a Rollout with `spec.strategy.blueGreen`), with kwok-friendly pods.
`SwitchMonitor` watches the namespace's Services and ReplicaSets with the controller's own
informers and checks, on every change of a Service's `rollouts-pod-template-hash` selector,
the blue-green traffic invariant: the active Service only ever switches to a ReplicaSet whose
pods are all available (as many as the Rollout asks for). It also records the sequence of
hashes each Service selected, so a test can check that nothing was skipped or reversed.
"""

from __future__ import annotations

import asyncio
import copy
from dataclasses import dataclass, field
from typing import Any

from rolloutd.kube.client import ApiError, KubeClient
from rolloutd.kube.informer import Informer
from rolloutd.kube.resources import PODS, REPLICA_SETS, ROLLOUTS, SERVICES
from tests.e2e.harness import POD_HASH, eventually

JsonDict = dict[str, Any]
REVISION = "rollout.argoproj.io/revision"
DEADLINE = "scale-down-deadline"
BLUE, GREEN, YELLOW, RED = (
    f"argoproj/rollouts-demo:{c}" for c in ("blue", "green", "yellow", "red")
)


def service(name: str, app: str) -> JsonDict:
    """Argo's e2e `newService`: port 80 to `http`, selecting `app: <app>`."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {
            "ports": [{"port": 80, "targetPort": "http", "protocol": "TCP", "name": "http"}],
            "selector": {"app": app},
        },
    }


def rollout(name: str, *, replicas: int, blue_green: JsonDict, **spec: Any) -> JsonDict:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "revisionHistoryLimit": 5,
            "strategy": {"blueGreen": copy.deepcopy(blue_green)},
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "containers": [
                        {
                            "name": name,
                            "image": BLUE,
                            "ports": [{"name": "http", "containerPort": 8080}],
                            "resources": {"requests": {"memory": "16Mi", "cpu": "1m"}},
                        }
                    ]
                },
            },
            **spec,
        },
    }


async def apply(
    kube: KubeClient, ns: str, name: str, *, replicas: int, preview: bool = True, **bg: Any
) -> JsonDict:
    """Create `<name>-active` (and `<name>-preview`) and the Rollout; returns the Rollout."""
    blue_green: JsonDict = {"activeService": f"{name}-active", **bg}
    await kube.create(SERVICES, service(f"{name}-active", name), namespace=ns)
    if preview:
        blue_green["previewService"] = f"{name}-preview"
        await kube.create(SERVICES, service(f"{name}-preview", name), namespace=ns)
    return await kube.create(
        ROLLOUTS, rollout(name, replicas=replicas, blue_green=blue_green), namespace=ns
    )


async def update_image(kube: KubeClient, ns: str, name: str, image: str) -> None:
    """Argo's `UpdateSpec`: a new pod template (here, a new image)."""
    ro = await kube.get(ROLLOUTS, name, namespace=ns)
    containers = ro["spec"]["template"]["spec"]["containers"]
    containers[0]["image"] = image
    await kube.patch(
        ROLLOUTS, name, {"spec": {"template": {"spec": {"containers": containers}}}}, namespace=ns
    )


async def patch_blue_green(kube: KubeClient, ns: str, name: str, fields: JsonDict) -> None:
    await kube.patch(ROLLOUTS, name, {"spec": {"strategy": {"blueGreen": fields}}}, namespace=ns)


async def wait_status(
    kube: KubeClient, ns: str, name: str, want: str, *, timeout: float = 60, message: str = ""
) -> JsonDict:
    """Argo's `WaitForRolloutStatus`: the phase, for the current generation (and message)."""
    got: JsonDict = {}

    async def check() -> bool:
        ro = await kube.get(ROLLOUTS, name, namespace=ns)
        st = ro.get("status") or {}
        ok = (
            st.get("phase") == want
            and str(st.get("observedGeneration")) == str(ro["metadata"]["generation"])
            and (not message or message in str(st.get("message") or ""))
        )
        if ok:
            got.clear()
            got.update(ro)
        return ok

    await eventually(check, f"{name} {want}" + (f" ({message})" if message else ""), timeout)
    return got


async def revisions(kube: KubeClient, ns: str, name: str) -> dict[int, JsonDict]:
    """revision -> {hash, spec, available, deadline} of the Rollout's ReplicaSets."""
    sets = (await kube.list(REPLICA_SETS, namespace=ns)).get("items") or []
    out: dict[int, JsonDict] = {}
    for rs in sets:
        meta = rs["metadata"]
        if (meta.get("labels") or {}).get("app") != name:
            continue
        out[int(meta["annotations"][REVISION])] = {
            "hash": meta["labels"].get(POD_HASH, ""),
            "spec": int(rs["spec"].get("replicas") or 0),
            "available": int((rs.get("status") or {}).get("availableReplicas") or 0),
            "deadline": (meta.get("annotations") or {}).get(DEADLINE),
        }
    return out


async def revision_pods(kube: KubeClient, ns: str, name: str) -> dict[int, int]:
    """Argo's `ExpectRevisionPodCount`: live (not terminating) pods per revision."""
    by_hash = {s["hash"]: rev for rev, s in (await revisions(kube, ns, name)).items()}
    pods = (await kube.list(PODS, namespace=ns)).get("items") or []
    counts = dict.fromkeys(by_hash.values(), 0)
    for pod in pods:
        meta = pod["metadata"]
        rev = by_hash.get((meta.get("labels") or {}).get(POD_HASH, ""))
        if rev is not None and not meta.get("deletionTimestamp"):
            counts[rev] += 1
    return counts


async def wait_revision_pods(
    kube: KubeClient, ns: str, name: str, want: dict[int, int], *, timeout: float = 60
) -> None:
    async def check() -> bool:
        got = await revision_pods(kube, ns, name)
        return all(got.get(rev, 0) == n for rev, n in want.items())

    await eventually(check, f"pods per revision {want}", timeout)


def replica_counts(ro: JsonDict) -> tuple[int, int, int, int, int]:
    """Argo's `ExpectReplicaCounts` order: desired, current, updated, ready, available."""
    st = ro.get("status") or {}
    return (
        int(ro["spec"].get("replicas", 1)),
        int(st.get("replicas") or 0),
        int(st.get("updatedReplicas") or 0),
        int(st.get("readyReplicas") or 0),
        int(st.get("availableReplicas") or 0),
    )


async def selectors(kube: KubeClient, ns: str, name: str) -> tuple[str, str]:
    """The hash the active and the preview Service select now ("" when none)."""
    out = []
    for role in ("active", "preview"):
        try:
            svc = await kube.get(SERVICES, f"{name}-{role}", namespace=ns)
        except ApiError as exc:
            if not exc.not_found:
                raise
            out.append("")  # a test without a preview Service
            continue
        out.append(str((svc["spec"].get("selector") or {}).get(POD_HASH, "")))
    return out[0], out[1]


@dataclass
class SwitchMonitor:
    """Checks every active switch against the target ReplicaSet's available pods.

    The monitor's two watches are separate streams, so a Service event may arrive before the
    ReplicaSet status that preceded it. Each switch is therefore judged against the ReplicaSet
    as the API server held it just before the switch: resourceVersions are the store's global
    revision, so "the last version of the ReplicaSet below the Service's resourceVersion" is
    exact. `check()` (also run on exit) turns the recorded switches into violations.
    """

    kube: KubeClient
    namespace: str
    name: str
    replicas: int
    active: list[str] = field(default_factory=list)
    """Hashes the active Service selected, in order (deduplicated)."""
    preview: list[str] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.svc = Informer(self.kube, SERVICES, namespace=self.namespace)
        self.rs = Informer(self.kube, REPLICA_SETS, namespace=self.namespace)
        self._tasks: list[asyncio.Task[None]] = []
        self._switches: list[tuple[int, str]] = []
        self._history: dict[str, list[tuple[int, int]]] = {}
        self._sizes: dict[str, list[tuple[int, int]]] = {}
        self.svc.add_handler(self._on_service)
        self.rs.add_handler(self._on_replica_set)

    async def __aenter__(self) -> SwitchMonitor:
        self._tasks.append(asyncio.create_task(self.rs.run()))
        self._tasks.append(asyncio.create_task(self.svc.run()))
        await asyncio.gather(self.rs.synced.wait(), self.svc.synced.wait())
        return self

    async def __aexit__(self, *exc: object) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self.check()

    def _on_replica_set(self, kind: str, obj: JsonDict, old: JsonDict | None) -> None:
        meta = obj["metadata"]
        pod_hash = (meta.get("labels") or {}).get(POD_HASH)
        if not pod_hash or kind == "DELETED":
            return
        available = int((obj.get("status") or {}).get("availableReplicas") or 0)
        version = int(meta["resourceVersion"])
        self._history.setdefault(pod_hash, []).append((version, available))
        size = int((obj.get("spec") or {}).get("replicas") or 0)
        self._sizes.setdefault(pod_hash, []).append((version, size))

    def _on_service(self, kind: str, obj: JsonDict, old: JsonDict | None) -> None:
        if kind == "DELETED":
            return
        pod_hash = str(((obj.get("spec") or {}).get("selector") or {}).get(POD_HASH, ""))
        svc_name = obj["metadata"]["name"]
        if svc_name == f"{self.name}-preview":
            if pod_hash and (not self.preview or self.preview[-1] != pod_hash):
                self.preview.append(pod_hash)
            return
        if svc_name != f"{self.name}-active" or not pod_hash:
            return
        if self.active and self.active[-1] == pod_hash:
            return
        self.active.append(pod_hash)
        self._switches.append((int(obj["metadata"]["resourceVersion"]), pod_hash))

    def check(self) -> list[str]:
        """Record a violation for each switch to a ReplicaSet that was not fully available, and
        for each moment the ReplicaSet the active Service selected was below full size or had
        pods that were not available, until the next switch (pods are never lost here)."""
        for i, (rv, pod_hash) in enumerate(self._switches):
            before = [a for v, a in sorted(self._history.get(pod_hash, [])) if v < rv]
            available = before[-1] if before else 0
            if available < self.replicas:
                self.violations.append(
                    f"active Service switched to {pod_hash} (resourceVersion {rv}) while that "
                    f"ReplicaSet had {available} available pods (the Rollout asks for "
                    f"{self.replicas})"
                )
            until = self._switches[i + 1][0] if i + 1 < len(self._switches) else None
            for kind, series in (("available", self._history), ("spec.replicas", self._sizes)):
                for v, n in sorted(series.get(pod_hash, [])):
                    if v > rv and (until is None or v < until) and n < self.replicas:
                        self.violations.append(
                            f"{pod_hash} had {kind}={n} at resourceVersion {v} while the active "
                            f"Service selected it (the Rollout asks for {self.replicas})"
                        )
        self._switches.clear()
        return self.violations
