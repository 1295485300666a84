"""`kubectl argo rollouts plan NAME [-f new.yaml | --image CONTAINER=IMAGE] [-o json]`.

Reads the Rollout and what it owns (ReplicaSets, the Services it names, its AnalysisRuns and
the templates they come from), applies the change in memory, and prints what the controller
would do with it, step by step, from the same pure planner (`rolloutd.plan.dryrun`). Nothing
is written to the cluster.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from rolloutd.cli import info as ri
from rolloutd.cli import patches
from rolloutd.cli.errors import CliError
from rolloutd.cli.session import Session, label_selector
from rolloutd.kube.resources import (
    ANALYSIS_RUNS,
    ANALYSIS_TEMPLATES,
    CLUSTER_ANALYSIS_TEMPLATES,
    REPLICA_SETS,
    SERVICES,
)
from rolloutd.plan.dryrun import DryRun, DryRunError, World, dry_run

JsonDict = dict[str, Any]


def changed_rollout(rollout: JsonDict, *, filename: str | None, image: str | None) -> JsonDict:
    """The Rollout as it would be after the change: its spec from `filename`, or a new image.

    The status and metadata stay those of the live object, so the planner starts from where
    the cluster is now."""
    if filename and image:
        raise CliError("plan takes either -f/--filename or --image, not both")
    changed = copy.deepcopy(rollout)
    if filename:
        changed["spec"] = _spec_from_file(filename, str(ri.meta(rollout).get("name", "")))
    elif image:
        try:
            container, new_image = patches.parse_image_spec(image)
            changed = patches.set_image(changed, container, new_image)
        except patches.PatchError as exc:
            raise CliError(str(exc)) from exc
    if changed.get("spec") != rollout.get("spec"):
        meta = changed.setdefault("metadata", {})
        meta["generation"] = int(meta.get("generation") or 1) + 1
    return changed


def _spec_from_file(filename: str, name: str) -> JsonDict:
    try:
        text = Path(filename).read_text() if filename != "-" else _stdin()
    except OSError as exc:
        raise CliError(f"cannot read {filename}: {exc.strerror or exc}") from exc
    try:
        docs = [d for d in yaml.safe_load_all(text) if isinstance(d, dict)]
    except yaml.YAMLError as exc:
        raise CliError(f"{filename} is not valid YAML: {' '.join(str(exc).split())}") from exc
    rollouts = [d for d in docs if d.get("kind") == "Rollout"]
    named = [d for d in rollouts if (d.get("metadata") or {}).get("name") == name]
    chosen = named or rollouts
    if not chosen:
        raise CliError(f"{filename} holds no Rollout")
    spec = chosen[0].get("spec")
    if not isinstance(spec, dict):
        raise CliError(f"{filename}: Rollout {name!r} has no spec")
    return spec


def _stdin() -> str:
    import sys

    return sys.stdin.read()


def _router_weight(rollout: Mapping[str, Any]) -> int | None:
    weights = (ri.status(rollout).get("canary") or {}).get("weights") or {}
    canary = weights.get("canary") or {}
    value = canary.get("weight")
    return int(value) if isinstance(value, int) else 0


async def read_world(session: Session, rollout: JsonDict, now: dt.datetime) -> World:
    """What the controller's caches would hold for this Rollout (read once, nothing written)."""
    selector = label_selector(ri.spec(rollout).get("selector"))
    replica_sets = await session.list_items(REPLICA_SETS, selector=selector)
    uid = ri.meta(rollout).get("uid")
    owned = [
        rs
        for rs in replica_sets
        if any(ref.get("uid") == uid for ref in ri.meta(rs).get("ownerReferences") or [])
    ]
    services = {str(ri.meta(s).get("name")): s for s in await session.list_items(SERVICES)}
    runs = [
        run
        for run in await session.list_items(ANALYSIS_RUNS, missing_ok=True)
        if any(ref.get("uid") == uid for ref in ri.meta(run).get("ownerReferences") or [])
    ]
    templates: dict[tuple[bool, str], JsonDict] = {}
    for t in await session.list_items(ANALYSIS_TEMPLATES, missing_ok=True):
        templates[(False, str(ri.meta(t).get("name")))] = t
    for t in await session.list_items(CLUSTER_ANALYSIS_TEMPLATES, missing_ok=True):
        templates[(True, str(ri.meta(t).get("name")))] = t
    return World(
        rollout=rollout,
        replica_sets={str(ri.meta(rs).get("name")): rs for rs in owned},
        services=services,
        analysis_runs={str(ri.meta(r).get("name")): r for r in runs},
        analysis_templates=templates,
        router_weight=_router_weight(rollout),
        now=now,
    )


def simulate(world: World) -> DryRun:
    try:
        return dry_run(world)
    except DryRunError as exc:
        raise CliError(f"cannot plan this change: {exc}") from exc


def _duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"


def render_text(result: DryRun) -> list[str]:
    """The plan, one block per step, in the style of `get rollout`."""
    lines = [
        f"Name:             {result.rollout}",
        f"Strategy:         {'BlueGreen' if result.strategy == 'blueGreen' else 'Canary'}",
        f"Expected time:    {_duration(result.expected_seconds)} "
        f"(plus the time people take to promote)",
        f"Promotions:       {result.promotions}",
        f"Ends:             {result.final_phase or 'unknown'}",
        "Assumptions:",
        *(f"  - {a}" for a in result.assumptions),
        "",
        "Steps:",
    ]
    for number, step in enumerate(result.steps, start=1):
        head = f"{step.index}" if step.index is not None else "-"
        lines.append(
            f"  [{head}] {step.description}"
            if result.strategy == "canary"
            else f"  {number}. {step.description}"
        )
        pods = ", ".join(f"{name}={count}" for name, count in step.pods.items()) or "none"
        lines.append(f"      pods:     {pods}")
        if step.weights:
            weights = ", ".join(f"{dest}={w}%" for dest, w in step.weights.items())
            lines.append(f"      weights:  {weights}")
        if step.services:
            services = ", ".join(f"{n}->{h or '*'}" for n, h in step.services.items())
            lines.append(f"      services: {services}")
        if step.analysis:
            lines.append(f"      analysis: {', '.join(step.analysis)} (assumed Successful)")
        if step.waits_for_person:
            lines.append("      waits:    for a person to promote")
        elif step.wait_seconds:
            lines.append(f"      waits:    {_duration(step.wait_seconds)}")
    return lines


def render(result: DryRun, output: str) -> list[str]:
    if output == "json":
        return [json.dumps(result.to_json(), indent=2)]
    return render_text(result)


async def plan(ctx: Any) -> int:
    """The `plan` command (ctx: rolloutd.cli.commands.Context)."""
    args = ctx.args
    session: Session = await ctx.session()
    try:
        live = await session.get_rollout(args.name)
        changed = changed_rollout(live, filename=args.filename, image=args.image)
        world = await read_world(session, changed, ctx.clock())
    finally:
        await session.close()
    for line in render(simulate(world), args.output):
        ctx.print(line)
    return 0
