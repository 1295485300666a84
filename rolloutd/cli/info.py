"""What the CLI knows about a Rollout, derived purely from the objects the API server returned.

The Go plugin turns a Rollout, its ReplicaSets, their Pods and the AnalysisRuns into a
"RolloutInfo" before printing anything; this module is that step. It takes plain JSON dicts
(exactly what `KubeClient` returns) and does no I/O and no clock reads, so `get`, `list` and
`status` share one reading of the objects and the golden tests can feed it recorded YAML.

The rules are the client-side ones of Argo Rollouts (see the behaviour reference, §2.2 and §4):
the phase shown is the controller's `status.phase`/`status.message` unless the controller has
not yet seen the latest spec, or a user has just cleared a pause it has not reacted to.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

JsonDict = dict[str, Any]

REVISION_ANNOTATION = "rollout.argoproj.io/revision"
POD_HASH_LABEL = "rollouts-pod-template-hash"
SCALE_DOWN_DEADLINE_ANNOTATION = "scale-down-deadline"
JOB_NAME_KEY = "job-name"

ICON_WAITING = "◷"
ICON_PROGRESSING = "◌"
ICON_WARNING = "⚠"
ICON_UNKNOWN = "?"
ICON_OK = "✔"
ICON_BAD = "✖"
ICON_PAUSED = "॥"
ICON_NEUTRAL = "•"

TAG_CANARY = "canary"
TAG_STABLE = "stable"
TAG_ACTIVE = "active"
TAG_PREVIEW = "preview"
TAG_PING = "ping"
TAG_PONG = "pong"

_ROLLOUT_ICONS = {
    "Progressing": ICON_PROGRESSING,
    "Error": ICON_WARNING,
    "InvalidSpec": ICON_WARNING,
    "Paused": ICON_PAUSED,
    "Healthy": ICON_OK,
    "Degraded": ICON_BAD,
    "Unknown": ICON_UNKNOWN,
    "ScaledDown": ICON_NEUTRAL,
}
_REPLICA_SET_ICONS = {
    "Progressing": ICON_PROGRESSING,
    "Healthy": ICON_OK,
    "ReplicaFailure": ICON_BAD,
    "ScaledDown": ICON_NEUTRAL,
}
_ANALYSIS_ICONS = {
    "Successful": ICON_OK,
    "Inconclusive": ICON_UNKNOWN,
    "Failed": ICON_BAD,
    "Error": ICON_WARNING,
    "Running": ICON_PROGRESSING,
    "Pending": ICON_WAITING,
}


def _dict(value: object) -> JsonDict:
    return value if isinstance(value, dict) else {}


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _int(value: object, default: int = 0) -> int:
    if isinstance(value, bool):
        return default
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            return default
    return default


def meta(obj: Mapping[str, Any]) -> JsonDict:
    return _dict(obj.get("metadata"))


def spec(obj: Mapping[str, Any]) -> JsonDict:
    return _dict(obj.get("spec"))


def status(obj: Mapping[str, Any]) -> JsonDict:
    return _dict(obj.get("status"))


def canary_strategy(ro: Mapping[str, Any]) -> JsonDict | None:
    strategy = _dict(spec(ro).get("strategy"))
    canary = strategy.get("canary")
    return canary if isinstance(canary, dict) else None


def blue_green_strategy(ro: Mapping[str, Any]) -> JsonDict | None:
    strategy = _dict(spec(ro).get("strategy"))
    blue_green = strategy.get("blueGreen")
    return blue_green if isinstance(blue_green, dict) else None


def canary_steps(ro: Mapping[str, Any]) -> list[JsonDict]:
    canary = canary_strategy(ro)
    if canary is None:
        return []
    return [_dict(step) for step in _list(canary.get("steps"))]


def desired_replicas(ro: Mapping[str, Any]) -> int:
    """spec.replicas, or 1 when it is unset (Argo's `GetReplicasOrDefault`)."""
    replicas = spec(ro).get("replicas")
    return _int(replicas, 1) if replicas is not None else 1


def current_step_index(ro: Mapping[str, Any]) -> int | None:
    """The step index the CLI works with: None without steps, 0 when status has none yet."""
    if not canary_steps(ro):
        return None
    return _int(status(ro).get("currentStepIndex"), 0)


def current_step(ro: Mapping[str, Any]) -> JsonDict | None:
    """The step now running, or None when there are no steps or all of them are done."""
    steps = canary_steps(ro)
    index = current_step_index(ro)
    if index is None or index >= len(steps) or index < 0:
        return None
    return steps[index]


def current_set_weight(ro: Mapping[str, Any]) -> int:
    """Argo's `GetCurrentSetWeight`: the last setWeight at or before the current step.

    0 while aborted, 100 once every step is done (or when there are none), 0 if no setWeight
    step has been reached yet.
    """
    if status(ro).get("abort"):
        return 0
    steps = canary_steps(ro)
    index = current_step_index(ro)
    if index is None or index >= len(steps) or index < 0:
        return 100
    for step in reversed(steps[: index + 1]):
        if "setWeight" in step and step["setWeight"] is not None:
            return _int(step["setWeight"])
    return 0


def _generation_observed(ro: Mapping[str, Any]) -> bool:
    observed = status(ro).get("observedGeneration")
    try:
        observed_generation = int(str(observed))
    except ValueError:
        # Before v0.10 this field held a hash, not a number; such rollouts count as observed.
        return True
    generation = _int(meta(ro).get("generation"), 0)
    return observed_generation >= generation


def rollout_phase(ro: Mapping[str, Any]) -> tuple[str, str]:
    """The phase and message a client shows (Argo's `GetRolloutPhase`)."""
    st = status(ro)
    if not _generation_observed(ro):
        return "Progressing", "waiting for rollout spec update to be observed"
    if st.get("controllerPause") and not _list(st.get("pauseConditions")):
        return "Progressing", "waiting for rollout to unpause"
    phase = st.get("phase")
    if isinstance(phase, str) and phase:
        message = st.get("message")
        return phase, message if isinstance(message, str) else ""
    return calculate_phase(ro)


def calculate_phase(ro: Mapping[str, Any]) -> tuple[str, str]:
    """The controller-side phase rules, used only when status.phase is empty (old controllers)."""
    st = status(ro)
    sp = spec(ro)
    for cond in _list(st.get("conditions")):
        cond = _dict(cond)
        if cond.get("type") == "InvalidSpec":
            return "Degraded", f"InvalidSpec: {cond.get('message', '')}"
        if cond.get("reason") in ("RolloutAborted", "ProgressDeadlineExceeded"):
            return "Degraded", f"{cond.get('reason')}: {cond.get('message', '')}"
    if sp.get("paused"):
        return "Paused", "manually paused"
    pause_conditions = _list(st.get("pauseConditions"))
    if pause_conditions:
        return "Paused", str(_dict(pause_conditions[0]).get("reason", ""))
    restart_at = sp.get("restartAt")
    if restart_at and restart_at != st.get("restartedAt"):
        return "Progressing", "rollout is restarting"
    updated = _int(st.get("updatedReplicas"))
    available = _int(st.get("availableReplicas"))
    replicas = _int(st.get("replicas"))
    if updated < desired_replicas(ro):
        return "Progressing", "more replicas need to be updated"
    if available < updated:
        return "Progressing", "updated replicas are still becoming available"
    current_hash = st.get("currentPodHash") or ""
    stable_rs = st.get("stableRS") or ""
    if blue_green_strategy(ro) is not None:
        active = _dict(st.get("blueGreen")).get("activeSelector") or ""
        if not active or active != current_hash:
            return "Progressing", "active service cutover pending"
        if not stable_rs or stable_rs != current_hash:
            return "Progressing", "waiting for post-promotion verification to complete"
    else:
        canary = canary_strategy(ro)
        if canary is not None:
            if canary.get("trafficRouting") is None and replicas > updated:
                return "Progressing", "old replicas are pending termination"
            if not stable_rs or stable_rs != current_hash:
                return "Progressing", "waiting for all steps to complete"
    return "Healthy", ""


def rollout_icon(phase: str) -> str:
    return _ROLLOUT_ICONS.get(phase, " ")


def analysis_icon(phase: str) -> str:
    return _ANALYSIS_ICONS.get(phase, " ")


def pod_icon(pod_status: str) -> str:
    """The icon for a kubectl-style pod status (`Running`, `ImagePullBackOff`, `Init:0/1`...)."""
    if pod_status.startswith("Init:"):
        return ICON_PROGRESSING
    if pod_status.startswith(("Signal:", "ExitCode:")):
        return ICON_BAD
    if pod_status.endswith("Error") or pod_status.startswith("Err"):
        return ICON_WARNING
    if pod_status in ("Pending", "Terminating", "ContainerCreating"):
        return ICON_PROGRESSING
    if pod_status in ("Running", "Completed"):
        return ICON_OK
    if pod_status in ("Failed", "InvalidImageName", "CrashLoopBackOff"):
        return ICON_BAD
    if pod_status in ("ImagePullBackOff", "RegistryUnavailable"):
        return ICON_WARNING
    if pod_status == "Unknown":
        return ICON_UNKNOWN
    return " "


@dataclass(frozen=True, slots=True)
class PodInfo:
    name: str
    created: str
    status: str
    icon: str
    ready: str
    restarts: int


@dataclass(slots=True)
class ReplicaSetInfo:
    name: str
    uid: str
    created: str
    revision: int
    status: str
    icon: str
    replicas: int
    available: int
    images: list[str]
    scale_down_deadline: str = ""
    stable: bool = False
    canary: bool = False
    active: bool = False
    preview: bool = False
    ping: bool = False
    pong: bool = False
    pods: list[PodInfo] = field(default_factory=list)

    @property
    def tags(self) -> list[str]:
        """Role tags in the order the tree's INFO column lists them."""
        tags: list[str] = []
        if self.stable:
            tags.append(TAG_STABLE)
        if self.canary:
            tags.append(TAG_CANARY)
        elif self.active:
            tags.append(TAG_ACTIVE)
        elif self.preview:
            tags.append(TAG_PREVIEW)
        if self.ping:
            tags.append(TAG_PING)
        if self.pong:
            tags.append(TAG_PONG)
        return tags


@dataclass(frozen=True, slots=True)
class JobInfo:
    name: str
    created: str
    status: str
    icon: str


@dataclass(frozen=True, slots=True)
class AnalysisRunInfo:
    name: str
    created: str
    revision: int
    status: str
    icon: str
    successful: int
    failed: int
    inconclusive: int
    error: int
    jobs: tuple[JobInfo, ...] = ()


@dataclass(frozen=True, slots=True)
class ImageInfo:
    image: str
    tags: tuple[str, ...]


@dataclass(slots=True)
class RolloutInfo:
    name: str
    namespace: str
    created: str
    phase: str
    message: str
    icon: str
    strategy: str
    step: str
    set_weight: str
    actual_weight: str
    desired: int
    current: int
    updated: int
    ready: int
    available: int
    replica_sets: list[ReplicaSetInfo]
    analysis_runs: list[AnalysisRunInfo]

    def images(self) -> list[ImageInfo]:
        """Distinct images of ReplicaSets that have pods, sorted, each with its roles.

        As in Argo's `Images`: an image seen once keeps its roles in the fixed order canary,
        stable, active, preview, ping, pong (so `(stable, active)`); one that several
        ReplicaSets run gets the union of their roles, sorted alphabetically.
        """
        merged: dict[str, tuple[str, ...]] = {}
        for rs in self.replica_sets:
            if rs.replicas <= 0:
                continue
            roles = tuple(
                tag
                for tag, on in (
                    (TAG_CANARY, rs.canary),
                    (TAG_STABLE, rs.stable),
                    (TAG_ACTIVE, rs.active),
                    (TAG_PREVIEW, rs.preview),
                    (TAG_PING, rs.ping),
                    (TAG_PONG, rs.pong),
                )
                if on
            )
            for image in rs.images:
                if image in merged:
                    merged[image] = tuple(sorted(set(merged[image]) | set(roles)))
                else:
                    merged[image] = roles
        return [ImageInfo(image, tags) for image, tags in sorted(merged.items())]

    def revisions(self) -> list[int]:
        revs = {rs.revision for rs in self.replica_sets}
        revs.update(run.revision for run in self.analysis_runs)
        return sorted(revs, reverse=True)


def _owned_by(obj: Mapping[str, Any], uids: Iterable[str]) -> str | None:
    wanted = set(uids)
    for ref in _list(meta(obj).get("ownerReferences")):
        uid = _dict(ref).get("uid")
        if uid in wanted:
            return str(uid)
    return None


def _revision(obj: Mapping[str, Any]) -> int:
    annotations = _dict(meta(obj).get("annotations"))
    return _int(annotations.get(REVISION_ANNOTATION), 0)


def replica_set_health(rs: Mapping[str, Any]) -> str:
    """`Healthy`, `Progressing`, `ScaledDown` or `ReplicaFailure`, as the tree shows it."""
    st = status(rs)
    replicas = spec(rs).get("replicas")
    if _int(meta(rs).get("generation"), 0) <= _int(st.get("observedGeneration"), 0):
        failure = next(
            (
                _dict(c)
                for c in _list(st.get("conditions"))
                if _dict(c).get("type") == "ReplicaFailure"
            ),
            None,
        )
        if failure is not None and failure.get("status") == "True":
            return "ReplicaFailure"
        if replicas is not None and _int(st.get("availableReplicas")) < _int(replicas):
            return "Progressing"
    else:
        return "Progressing"
    if replicas is not None and _int(replicas) == 0:
        return "ScaledDown"
    return "Healthy"


def pod_info(pod: Mapping[str, Any]) -> PodInfo:
    """A pod's status the way kubectl prints it, its ready count and restarts."""
    pod_spec = spec(pod)
    st = status(pod)
    init_specs = [_dict(c) for c in _list(pod_spec.get("initContainers"))]
    # Init containers with restartPolicy Always are sidecars: started-and-ready is fine.
    sidecars = {c.get("name") for c in init_specs if c.get("restartPolicy") == "Always"}
    total = len(_list(pod_spec.get("containers")))
    ready = 0
    restarts = 0
    reason = str(st.get("reason") or st.get("phase") or "")

    initializing = False
    for i, cstatus in enumerate(_dict(c) for c in _list(st.get("initContainerStatuses"))):
        restarts += _int(cstatus.get("restartCount"))
        state = _dict(cstatus.get("state"))
        terminated = state.get("terminated")
        waiting = state.get("waiting")
        if isinstance(terminated, dict) and _int(terminated.get("exitCode")) == 0:
            continue
        if isinstance(terminated, dict):
            if not terminated.get("reason"):
                signal = _int(terminated.get("signal"))
                reason = (
                    f"Init:Signal:{signal}"
                    if signal
                    else f"Init:ExitCode:{_int(terminated.get('exitCode'))}"
                )
            else:
                reason = f"Init:{terminated['reason']}"
            initializing = True
        elif cstatus.get("name") in sidecars and cstatus.get("started"):
            if cstatus.get("ready"):
                continue
        elif (
            isinstance(waiting, dict)
            and waiting.get("reason")
            and waiting.get("reason") != "PodInitializing"
        ):
            reason = f"Init:{waiting['reason']}"
            initializing = True
        else:
            reason = f"Init:{i}/{len(init_specs)}"
            initializing = True
        break

    if not initializing:
        restarts = 0
        has_running = False
        for cstatus in reversed([_dict(c) for c in _list(st.get("containerStatuses"))]):
            restarts += _int(cstatus.get("restartCount"))
            state = _dict(cstatus.get("state"))
            waiting = state.get("waiting")
            terminated = state.get("terminated")
            if isinstance(waiting, dict) and waiting.get("reason"):
                reason = str(waiting["reason"])
            elif isinstance(terminated, dict) and terminated.get("reason"):
                reason = str(terminated["reason"])
            elif isinstance(terminated, dict):
                signal = _int(terminated.get("signal"))
                reason = (
                    f"Signal:{signal}" if signal else f"ExitCode:{_int(terminated.get('exitCode'))}"
                )
            elif cstatus.get("ready") and isinstance(state.get("running"), dict):
                has_running = True
                ready += 1
        # A pod with one container still running is Running, even if another completed.
        if reason == "Completed" and has_running:
            reason = "Running"

    if meta(pod).get("deletionTimestamp"):
        reason = "Unknown" if st.get("reason") == "NodeLost" else "Terminating"

    return PodInfo(
        name=str(meta(pod).get("name", "")),
        created=str(meta(pod).get("creationTimestamp", "")),
        status=reason,
        icon=pod_icon(reason),
        ready=f"{ready}/{total}",
        restarts=restarts,
    )


def _replica_set_infos(
    ro: Mapping[str, Any],
    replica_sets: Sequence[Mapping[str, Any]],
    pods: Sequence[Mapping[str, Any]],
) -> list[ReplicaSetInfo]:
    ro_uid = str(meta(ro).get("uid", ""))
    st = status(ro)
    stable_hash = st.get("stableRS") or ""
    current_hash = st.get("currentPodHash") or ""
    canary = canary_strategy(ro)
    blue_green = blue_green_strategy(ro)
    ping_pong = canary is not None and isinstance(canary.get("pingPong"), dict)
    # Argo treats the stable side as "ping" unless status says it is "pong".
    stable_is_ping = _dict(st.get("canary")).get("stablePingPong") != "pong"
    bg_status = _dict(st.get("blueGreen"))

    infos: list[ReplicaSetInfo] = []
    for rs in replica_sets:
        if _owned_by(rs, [ro_uid]) is None:
            continue
        rs_meta = meta(rs)
        annotations = _dict(rs_meta.get("annotations"))
        labels = _dict(rs_meta.get("labels"))
        template_spec = spec(_dict(spec(rs).get("template")))
        health = replica_set_health(rs)
        info = ReplicaSetInfo(
            name=str(rs_meta.get("name", "")),
            uid=str(rs_meta.get("uid", "")),
            created=str(rs_meta.get("creationTimestamp", "")),
            revision=_revision(rs),
            status=health,
            icon=_REPLICA_SET_ICONS.get(health, " "),
            replicas=_int(status(rs).get("replicas")),
            available=_int(status(rs).get("availableReplicas")),
            images=[str(_dict(c).get("image", "")) for c in _list(template_spec.get("containers"))],
            scale_down_deadline=str(annotations.get(SCALE_DOWN_DEADLINE_ANNOTATION) or ""),
        )
        pod_hash = labels.get(POD_HASH_LABEL) or ""
        if canary is not None:
            if stable_hash == pod_hash:
                info.stable = True
                if ping_pong:
                    info.ping, info.pong = stable_is_ping, not stable_is_ping
            elif current_hash == pod_hash:
                info.canary = True
                if ping_pong:
                    info.ping, info.pong = not stable_is_ping, stable_is_ping
        if blue_green is not None:
            if stable_hash == pod_hash:
                info.stable = True
            if bg_status.get("activeSelector") == pod_hash:
                info.active = True
            elif bg_status.get("previewSelector") == pod_hash:
                info.preview = True
        infos.append(info)

    infos.sort(key=lambda r: (-r.revision, r.name))
    by_uid = {info.uid: info for info in infos}
    for pod in pods:
        owner = _owned_by(pod, by_uid)
        if owner is not None:
            by_uid[owner].pods.append(pod_info(pod))
    for info in infos:
        # Timestamps are RFC 3339 in UTC to the second, so they sort as strings.
        info.pods.sort(key=lambda p: (p.created, p.name))
    return infos


def _analysis_run_infos(
    ro: Mapping[str, Any], analysis_runs: Sequence[Mapping[str, Any]]
) -> list[AnalysisRunInfo]:
    ro_uid = str(meta(ro).get("uid", ""))
    infos: list[AnalysisRunInfo] = []
    for run in analysis_runs:
        if _owned_by(run, [ro_uid]) is None:
            continue
        st = status(run)
        counts = {"successful": 0, "failed": 0, "inconclusive": 0, "error": 0}
        jobs: list[JobInfo] = []
        for result in (_dict(r) for r in _list(st.get("metricResults"))):
            for key in counts:
                counts[key] += _int(result.get(key))
            for measurement in (_dict(m) for m in _list(result.get("measurements"))):
                job_name = _dict(measurement.get("metadata")).get(JOB_NAME_KEY)
                if job_name:
                    phase = str(measurement.get("phase") or "")
                    jobs.append(
                        JobInfo(
                            name=str(job_name),
                            created=str(measurement.get("startedAt") or ""),
                            status=phase,
                            icon=analysis_icon(phase),
                        )
                    )
        phase = str(st.get("phase") or "")
        infos.append(
            AnalysisRunInfo(
                name=str(meta(run).get("name", "")),
                created=str(meta(run).get("creationTimestamp", "")),
                revision=_revision(run),
                status=phase,
                icon=analysis_icon(phase),
                jobs=tuple(jobs),
                **counts,
            )
        )
    # Newest revision first; within one, oldest run first; name (descending) breaks ties.
    infos.sort(key=lambda r: r.name, reverse=True)
    infos.sort(key=lambda r: (-r.revision, r.created))
    return infos


def rollout_info(
    ro: Mapping[str, Any],
    replica_sets: Sequence[Mapping[str, Any]] = (),
    pods: Sequence[Mapping[str, Any]] = (),
    analysis_runs: Sequence[Mapping[str, Any]] = (),
) -> RolloutInfo:
    """Everything `get rollout` prints, from the Rollout and the objects around it."""
    st = status(ro)
    rs_infos = _replica_set_infos(ro, replica_sets, pods)
    phase, message = rollout_phase(ro)
    canary = canary_strategy(ro)
    strategy = ""
    step = set_weight = actual_weight = ""
    if canary is not None:
        strategy = "Canary"
        steps = canary_steps(ro)
        index = st.get("currentStepIndex")
        if index is not None and steps:
            step = f"{_int(index)}/{len(steps)}"
        set_weight = str(current_set_weight(ro))
        actual_weight = "0"
        available = _int(st.get("availableReplicas"))
        if current_step(ro) is None:
            actual_weight = "100"
        elif available > 0:
            if canary.get("trafficRouting") is None:
                # Basic canary: the share of available pods that run the canary.
                for rs in rs_infos:
                    if rs.canary:
                        actual_weight = str(rs.available * 100 // available)
            else:
                # With a router the controller records the weight it set; trust that.
                weights = _dict(_dict(st.get("canary")).get("weights"))
                canary_weight = _dict(weights.get("canary")).get("weight")
                actual_weight = (
                    str(_int(canary_weight)) if canary_weight is not None else set_weight
                )
    elif blue_green_strategy(ro) is not None:
        strategy = "BlueGreen"
    return RolloutInfo(
        name=str(meta(ro).get("name", "")),
        namespace=str(meta(ro).get("namespace", "")),
        created=str(meta(ro).get("creationTimestamp", "")),
        phase=phase,
        message=message,
        icon=rollout_icon(phase),
        strategy=strategy,
        step=step,
        set_weight=set_weight,
        actual_weight=actual_weight,
        desired=desired_replicas(ro),
        current=_int(st.get("replicas")),
        updated=_int(st.get("updatedReplicas")),
        ready=_int(st.get("readyReplicas")),
        available=_int(st.get("availableReplicas")),
        replica_sets=rs_infos,
        analysis_runs=_analysis_run_infos(ro, analysis_runs),
    )
