"""Argo's `RolloutInfo` JSON, built from the one model `get rollout` uses.

`rolloutd.cli.info.rollout_info` computes phase, icons, step, weights, ReplicaSet roles, pod
statuses and analysis counts; this module only lays that out in the field names of Argo's
`pkg/apiclient/rollout/rollout.proto` (as grpc-gateway writes them: camelCase, int64 as
strings where the proto says so) and adds the raw pieces the page needs (objectMeta, steps,
containers, analysis specAndStatus). Pure: plain dicts in, plain dicts out.

What Argo does not have lives under one extra key, `rolloutd`, so Argo's own clients ignore
it: the weight each traffic destination should carry against what rolloutd last set and read
back, the pause conditions, and the current step index.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rolloutd.cli import info as ri

JsonDict = dict[str, Any]

# Fields of metadata a page may show; managedFields and the last-applied copy are noise.
_META_KEYS = (
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "labels",
    "annotations",
    "ownerReferences",
    "deletionTimestamp",
)
_DROPPED_ANNOTATIONS = ("kubectl.kubernetes.io/last-applied-configuration",)


def object_meta(obj: Mapping[str, Any]) -> JsonDict:
    meta = ri.meta(obj)
    out = {k: meta[k] for k in _META_KEYS if k in meta}
    annotations = out.get("annotations")
    if isinstance(annotations, dict):
        out["annotations"] = {k: v for k, v in annotations.items() if k not in _DROPPED_ANNOTATIONS}
    if "generation" in out:
        out["generation"] = str(out["generation"])
    return out


def _by_uid(objs: Sequence[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    return {str(ri.meta(o).get("uid", "")): o for o in objs}


def _containers(pod_spec: Mapping[str, Any], key: str) -> list[JsonDict]:
    items = pod_spec.get(key)
    return [
        {"name": str(c.get("name", "")), "image": str(c.get("image", ""))}
        for c in (items if isinstance(items, list) else [])
        if isinstance(c, dict)
    ]


def _weights(ro: Mapping[str, Any], set_weight: str) -> JsonDict:
    """Desired against actual weight per destination, and whether rolloutd read it back."""
    canary = ri.canary_strategy(ro) or {}
    routing = canary.get("trafficRouting")
    routers = sorted(
        k for k, v in (routing.items() if isinstance(routing, dict) else []) if v is not None
    )
    plugins = routing.get("plugins") if isinstance(routing, dict) else None
    if isinstance(plugins, dict):
        routers = [r for r in routers if r != "plugins"] + sorted(plugins)
    weights = ri.status(ro).get("canary", {}) if isinstance(ri.status(ro), dict) else {}
    weights = weights.get("weights") if isinstance(weights, dict) else None
    desired_canary = int(set_weight) if set_weight.isdigit() else 0
    destinations: list[JsonDict] = []
    verified: bool | None = None
    if isinstance(weights, dict):
        raw_verified = weights.get("verified")
        verified = raw_verified if isinstance(raw_verified, bool) else None
        for role in ("canary", "stable"):
            dest = weights.get(role)
            if not isinstance(dest, dict):
                continue
            desired = desired_canary if role == "canary" else 100 - desired_canary
            destinations.append(
                {
                    "role": role,
                    "serviceName": str(dest.get("serviceName", "")),
                    "podTemplateHash": str(dest.get("podTemplateHash", "")),
                    "desired": desired,
                    "actual": int(dest.get("weight") or 0),
                }
            )
        for dest in weights.get("additional") or []:
            if isinstance(dest, dict):
                weight = int(dest.get("weight") or 0)
                destinations.append(
                    {
                        "role": "additional",
                        "serviceName": str(dest.get("serviceName", "")),
                        "podTemplateHash": str(dest.get("podTemplateHash", "")),
                        "desired": weight,
                        "actual": weight,
                    }
                )
    return {"routers": routers, "destinations": destinations, "verified": verified}


def rollout_info_json(
    ro: Mapping[str, Any],
    replica_sets: Sequence[Mapping[str, Any]] = (),
    pods: Sequence[Mapping[str, Any]] = (),
    analysis_runs: Sequence[Mapping[str, Any]] = (),
    *,
    full: bool = True,
) -> JsonDict:
    """Argo's `RolloutInfo`; `full=False` is the list's shallow form (no analysis runs)."""
    info = ri.rollout_info(ro, replica_sets, pods, analysis_runs if full else ())
    sp, st = ri.spec(ro), ri.status(ro)
    template = sp.get("template")
    pod_spec = ri.spec(template if isinstance(template, dict) else {})
    rs_raw, pod_raw, run_raw = _by_uid(replica_sets), _by_uid(pods), _by_uid(analysis_runs)
    pods_by_name = {str(ri.meta(p).get("name", "")): p for p in pod_raw.values()}
    runs_by_name = {str(ri.meta(r).get("name", "")): r for r in run_raw.values()}

    replica_set_infos: list[JsonDict] = []
    for rs in info.replica_sets:
        raw = rs_raw.get(rs.uid, {})
        template = ri.spec(ri.spec(raw).get("template") or {})
        labels = ri.meta(raw).get("labels") or {}
        replica_set_infos.append(
            {
                "objectMeta": object_meta(raw),
                "status": rs.status,
                "icon": rs.icon,
                "revision": rs.revision,
                "stable": rs.stable,
                "canary": rs.canary,
                "active": rs.active,
                "preview": rs.preview,
                "ping": rs.ping,
                "pong": rs.pong,
                "replicas": rs.replicas,
                "available": rs.available,
                "template": str(labels.get(ri.POD_HASH_LABEL, "")),
                "scaleDownDeadline": rs.scale_down_deadline,
                "images": rs.images,
                "initContainerImages": [
                    c["image"] for c in _containers(template, "initContainers")
                ],
                "pods": [
                    {
                        "objectMeta": object_meta(pods_by_name.get(p.name, {})),
                        "status": p.status,
                        "icon": p.icon,
                        "ready": p.ready,
                        "restarts": p.restarts,
                    }
                    for p in rs.pods
                ],
            }
        )

    analysis_run_infos: list[JsonDict] = []
    for run in info.analysis_runs:
        raw = runs_by_name.get(run.name, {})
        analysis_run_infos.append(
            {
                "objectMeta": object_meta(raw),
                "revision": run.revision,
                "status": run.status,
                "icon": run.icon,
                "successful": run.successful,
                "failed": run.failed,
                "inconclusive": run.inconclusive,
                "error": run.error,
                "jobs": [
                    {"objectMeta": {"name": j.name}, "status": j.status, "icon": j.icon}
                    for j in run.jobs
                ],
                "nonJobInfo": [],
                "metrics": [],
                "specAndStatus": {"spec": ri.spec(raw), "status": ri.status(raw)},
            }
        )

    restarted = st.get("restartedAt")
    return {
        "objectMeta": object_meta(ro),
        "status": info.phase,
        "message": info.message,
        "icon": info.icon,
        "strategy": info.strategy,
        "step": info.step,
        "setWeight": info.set_weight,
        "actualWeight": info.actual_weight,
        "ready": info.ready,
        "current": info.current,
        "desired": info.desired,
        "updated": info.updated,
        "available": info.available,
        "restartedAt": str(restarted) if restarted else "Never",
        "generation": str(ri.meta(ro).get("generation", "")),
        "replicaSets": replica_set_infos,
        "experiments": [],
        "analysisRuns": analysis_run_infos,
        "containers": _containers(pod_spec, "containers"),
        "initContainers": _containers(pod_spec, "initContainers"),
        "steps": ri.canary_steps(ro),
        "rolloutd": {
            "currentStepIndex": ri.current_step_index(ro),
            "pauseConditions": st.get("pauseConditions") or [],
            "aborted": bool(st.get("abort")),
            "weights": _weights(ro, info.set_weight),
        },
    }
