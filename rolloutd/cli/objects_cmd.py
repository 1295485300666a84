"""`create -f FILE`, `terminate analysisrun|experiment NAME...` and `list experiments`.

The Go plugin's commands for the other argoproj.io kinds: `create` posts Rollouts,
Experiments, AnalysisTemplates, ClusterAnalysisTemplates and AnalysisRuns from a file (or
stdin) and can then watch a Rollout; `terminate` sets `spec.terminate: true` with a merge
patch; `list experiments` prints Argo's NAME/STATUS/DURATION/REMAINING/AGE table.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import sys
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from rolloutd.cli import render
from rolloutd.cli.errors import CliError
from rolloutd.cli.session import Session
from rolloutd.cli.timefmt import age, human_duration, parse_go_duration, parse_time
from rolloutd.kube.resources import (
    ANALYSIS_RUNS,
    ANALYSIS_TEMPLATES,
    CLUSTER_ANALYSIS_TEMPLATES,
    ROLLOUTS,
    Resource,
)

JsonDict = dict[str, Any]

EXPERIMENTS = Resource("argoproj.io", "v1alpha1", "experiments", "Experiment")
TERMINATE_PATCH: JsonDict = {"spec": {"terminate": True}}
# kind -> (resource, the singular name `create` prints, as the Go plugin has them)
CREATABLE: dict[str, tuple[Resource, str]] = {
    "Rollout": (ROLLOUTS, "rollout"),
    "Experiment": (EXPERIMENTS, "experiment"),
    "AnalysisTemplate": (ANALYSIS_TEMPLATES, "analysistemplate"),
    "ClusterAnalysisTemplate": (CLUSTER_ANALYSIS_TEMPLATES, "analysistemplate"),
    "AnalysisRun": (ANALYSIS_RUNS, "analysisrun"),
}
COMPLETED = frozenset({"Successful", "Failed", "Error", "Inconclusive"})


def read_manifest(filename: str, stdin: Any = None) -> JsonDict:
    """The one object in FILE (`-`: stdin), YAML or JSON, checked to be a kind we create."""
    try:
        text = (stdin or sys.stdin).read() if filename == "-" else Path(filename).read_text()
    except OSError as exc:
        raise CliError(f"open {filename}: {exc.strerror or exc}") from exc
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        raise CliError(f"{filename} is not valid YAML: {' '.join(str(exc).split())}") from exc
    if len(docs) != 1 or not isinstance(docs[0], dict):
        raise CliError(f"{filename}: expected exactly one object, found {len(docs)}")
    obj: JsonDict = docs[0]
    group = str(obj.get("apiVersion", "")).split("/")[0]
    kind = str(obj.get("kind", ""))
    if group != "argoproj.io" or kind not in CREATABLE:
        raise CliError(f"creates of {group}/{kind} unsupported")
    if not isinstance(obj.get("metadata"), dict) or not (
        obj["metadata"].get("name") or obj["metadata"].get("generateName")
    ):
        raise CliError(f"{filename}: {kind} has no metadata.name")
    return obj


async def create_objects(
    session: Session, filenames: list[str], stdin: Any = None
) -> list[tuple[str, JsonDict]]:
    """Create each file's object; returns (kind, created object) in order. Every file is
    read and checked before anything is created, so bad input changes nothing."""
    objects = [read_manifest(f, stdin) for f in filenames]
    created: list[tuple[str, JsonDict]] = []
    for obj in objects:
        kind = str(obj["kind"])
        resource, _ = CREATABLE[kind]
        namespace = session.namespace if resource.namespaced else None
        if resource.namespaced:
            obj["metadata"].setdefault("namespace", session.namespace)
        name = obj["metadata"].get("name")
        result = await session.call(
            functools.partial(session.kube.create, resource, obj, namespace=namespace),
            verb="create",
            resource=resource,
            name=name,
        )
        created.append((kind, result))
    return created


def created_line(kind: str, obj: Mapping[str, Any]) -> str:
    singular = CREATABLE[kind][1]
    return f"{singular}.argoproj.io/{(obj.get('metadata') or {}).get('name', '')} created"


async def terminate(session: Session, resource: Resource, names: list[str]) -> list[str]:
    """Merge-patch `spec.terminate: true` onto each object; returns the names patched."""
    done: list[str] = []
    for name in names:
        result = await session.call(
            functools.partial(
                session.kube.patch,
                resource,
                name,
                TERMINATE_PATCH,
                namespace=session.namespace,
                patch_type="merge",
            ),
            verb="patch",
            resource=resource,
            name=name,
        )
        done.append(str((result.get("metadata") or {}).get("name") or name))
    return done


def _remaining(exp: Mapping[str, Any], total: float, now: datetime) -> str:
    status = exp.get("status") or {}
    if status.get("phase") in COMPLETED:
        return "-"
    available = parse_time(status.get("availableAt"))
    if available is None:
        return "-"
    left = total - (now - available).total_seconds()
    return human_duration(left) if left > 0 else "-"


def experiment_row(exp: Mapping[str, Any], now: datetime, *, all_namespaces: bool) -> list[str]:
    meta = exp.get("metadata") or {}
    spec = exp.get("spec") or {}
    status = exp.get("status") or {}
    duration, remaining = "-", "-"
    if spec.get("duration"):
        try:
            total = parse_go_duration(str(spec["duration"]))
        except ValueError:
            total = None
        if total is not None:
            duration = human_duration(total)
            remaining = _remaining(exp, total, now)
    row = [
        str(meta.get("name", "")),
        str(status.get("phase", "")),
        duration,
        remaining,
        age(meta.get("creationTimestamp"), now),
    ]
    return [str(meta.get("namespace", "")), *row] if all_namespaces else row


def render_experiments(
    experiments: list[JsonDict], now: datetime, *, all_namespaces: bool
) -> list[str]:
    header = ["NAME", "STATUS", "DURATION", "REMAINING", "AGE"]
    if all_namespaces:
        header = ["NAMESPACE", *header]
    ordered = sorted(
        experiments,
        key=lambda e: (
            (e.get("metadata") or {}).get("namespace", ""),
            (e.get("metadata") or {}).get("name", ""),
        ),
    )
    rows = [header, *(experiment_row(e, now, all_namespaces=all_namespaces) for e in ordered)]
    return render.tabulate(rows)


# -- the commands (ctx: rolloutd.cli.commands.Context) -------------------------------------------


async def create(ctx: Any) -> int:
    args = ctx.args
    if len(args.filename) > 1 and args.watch:
        raise CliError("Cannot watch multiple resources")
    # Read and check every file before connecting: bad input changes nothing.
    for filename in args.filename:
        if filename != "-":
            read_manifest(filename)
    session: Session = await ctx.session()
    try:
        created = await create_objects(session, args.filename)
    finally:
        await session.close()
    for kind, obj in created:
        ctx.print(created_line(kind, obj))
    if args.watch:
        kind, obj = created[0]
        if kind != "Rollout":
            raise CliError("Can only watch resources of type Rollout")
        from rolloutd.cli import commands

        ctx.args.name = (obj.get("metadata") or {}).get("name")
        ctx.args.timeout_seconds = getattr(args, "timeout_seconds", 0)
        return await commands.get_rollout(ctx)
    return 0


def _terminate_command(resource: Resource, label: str) -> Any:
    async def command(ctx: Any) -> int:
        session: Session = await ctx.session()
        try:
            names = await terminate(session, resource, ctx.args.names)
        finally:
            await session.close()
        for name in names:
            ctx.print(f"{label} '{name}' terminated")
        return 0

    return command


terminate_analysisrun = _terminate_command(ANALYSIS_RUNS, "analysisRun")
terminate_experiment = _terminate_command(EXPERIMENTS, "experiment")


async def list_experiments(ctx: Any) -> int:
    args = ctx.args
    session: Session = await ctx.session()
    try:
        items = await session.list_items(EXPERIMENTS, all_namespaces=args.all_namespaces)
    finally:
        await session.close()
    if not items:
        ctx.err.write("No resources found.\n")
        return 0
    if getattr(args, "output", "") == "json":
        ctx.print(json.dumps(items, indent=2))
        return 0
    for line in render_experiments(items, ctx.clock(), all_namespaces=args.all_namespaces):
        ctx.print(line)
    return 0


# -- get experiment ---------------------------------------------------------------------------


def experiment_lines(
    exp: Mapping[str, Any],
    replica_sets: list[JsonDict],
    pods: list[JsonDict],
    runs: list[JsonDict],
    now: datetime,
    *,
    color: bool = False,
) -> list[str]:
    """Argo's `get experiment`: a header, then the tree of its ReplicaSets, pods and runs."""
    from rolloutd.cli import info as ri

    paint = render.Painter(color)
    meta = exp.get("metadata") or {}
    status = exp.get("status") or {}
    phase = str(status.get("phase") or "")
    icon = ri.analysis_icon(phase)
    # The experiment owns its ReplicaSets and runs as a Rollout does: the same readers apply.
    sets = ri._replica_set_infos(exp, replica_sets, pods)
    analysis = ri._analysis_run_infos(exp, runs)

    def line(label: str, value: object) -> str:
        return f"{label:<17}{value}".rstrip(" ")

    out = [
        line("Name:", meta.get("name", "")),
        line("Namespace:", meta.get("namespace", "")),
        line("Status:", f"{paint(icon)} {phase}"),
    ]
    if status.get("message"):
        out.append(line("Message:", status["message"]))
    images = sorted({image for rs in sets if rs.replicas > 0 for image in rs.images})
    for i, image in enumerate(images):
        out.append(line("Images:" if i == 0 else "", image))
    out.append("")
    rows: list[list[str]] = [["NAME", "KIND", "STATUS", "AGE", "INFO"]]
    rows.extend(render.experiment_rows(exp, sets, analysis, "", "", now, paint))
    out.extend(render.tabulate(rows))
    return out


async def _experiment_view(ctx: Any, session: Session, name: str) -> str:
    from rolloutd.kube.resources import PODS, REPLICA_SETS

    exp = await session.call(
        functools.partial(session.kube.get, EXPERIMENTS, name, namespace=session.namespace),
        verb="get",
        resource=EXPERIMENTS,
        name=name,
    )
    replica_sets = await session.list_items(REPLICA_SETS)
    pods = await session.list_items(PODS)
    runs = await session.list_items(ANALYSIS_RUNS, missing_ok=True)
    lines = experiment_lines(exp, replica_sets, pods, runs, ctx.clock(), color=ctx.color())
    return "\n".join(lines) + "\n"


async def get_experiment(ctx: Any) -> int:
    """`get experiment NAME [-w]`: once, or redrawn every second until Ctrl-C / the timeout."""
    session: Session = await ctx.session()
    try:
        if not ctx.args.watch:
            ctx.out.write(await _experiment_view(ctx, session, ctx.args.name))
            ctx.out.flush()
            return 0
        limit = float(getattr(ctx.args, "timeout_seconds", 0) or 0)
        loop = asyncio.get_running_loop()
        started = loop.time()
        while not ctx.stop.is_set():
            ctx.out.write(render.CLEAR_SCREEN + await _experiment_view(ctx, session, ctx.args.name))
            ctx.out.flush()
            if limit and loop.time() - started >= limit:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(ctx.stop.wait(), timeout=1.0)
        return 0
    finally:
        await session.close()
