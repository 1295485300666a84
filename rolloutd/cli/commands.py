"""The commands of `kubectl argo rollouts`, one coroutine each.

Each command reads what it needs, builds its writes with `rolloutd.cli.patches` (pure), sends
them through a `Session` (which turns API failures into `CliError`s) and prints the Go plugin's
message. Rendering lives in `rolloutd.cli.render`; the long-running views (`get --watch`,
`status`, `list --watch`) follow watches through `rolloutd.cli.watch`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import subprocess
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any, TextIO

import yaml

from rolloutd.cli import info as ri
from rolloutd.cli import patches, render
from rolloutd.cli.errors import CliError
from rolloutd.cli.session import Session, connect, label_selector
from rolloutd.cli.timefmt import format_rfc3339, parse_duration_string, parse_go_duration
from rolloutd.cli.watch import Caches, ObjectCache
from rolloutd.kube.resources import ANALYSIS_RUNS, PODS, REPLICA_SETS, ROLLOUTS, Resource

JsonDict = dict[str, Any]
EXPERIMENTS = Resource("argoproj.io", "v1alpha1", "experiments", "Experiment")

# A redraw at most this often, however fast events arrive (the Go plugin's anti-flicker gap).
REDRAW_MIN_INTERVAL = 0.2
# And at least this often, so ages and delays keep moving while nothing changes.
REDRAW_MAX_INTERVAL = 1.0
SET_IMAGE_ATTEMPTS = 5


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Context:
    """What a command runs with: its parsed arguments, its streams and its stop signal."""

    args: argparse.Namespace
    out: TextIO = field(default_factory=lambda: sys.stdout)
    err: TextIO = field(default_factory=lambda: sys.stderr)
    # Looked up when the Context is made, so tests can pin the module's clock.
    clock: Callable[[], datetime] = field(default_factory=lambda: _utcnow)
    environ: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    wakers: list[asyncio.Event] = field(default_factory=list)

    def interrupt(self) -> None:
        """Ctrl-C: ask long-running views to finish; wakes anything waiting on a change."""
        self.stop.set()
        for event in self.wakers:
            event.set()

    def print(self, text: str = "") -> None:
        self.out.write(text + "\n")
        self.out.flush()

    async def session(self) -> Session:
        return await connect(
            kubeconfig=getattr(self.args, "kubeconfig", None),
            context=getattr(self.args, "context", None),
            namespace=getattr(self.args, "namespace", None),
        )

    def color(self) -> bool:
        """Colour only for a terminal, and never with --no-color, NO_COLOR or TERM=dumb."""
        if getattr(self.args, "no_color", False) or "NO_COLOR" in self.environ:
            return False
        if self.environ.get("TERM") == "dumb":
            return False
        isatty = getattr(self.out, "isatty", None)
        return bool(isatty and isatty())


Command = Callable[[Context], Awaitable[int]]


async def _with_session(ctx: Context, body: Callable[[Session], Awaitable[int]]) -> int:
    session = await ctx.session()
    try:
        return await body(session)
    finally:
        await session.close()


async def _wait_for_change(events: list[asyncio.Event], timeout: float) -> None:
    """Return when any event is set or after `timeout` seconds."""
    waiters = [asyncio.create_task(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, timeout=max(timeout, 0.0), return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
        await asyncio.gather(*waiters, return_exceptions=True)


def _find(cache: ObjectCache, name: str) -> JsonDict | None:
    for obj in cache.objects():
        if (obj.get("metadata") or {}).get("name") == name:
            return obj
    return None


def _not_found(name: str) -> CliError:
    return CliError(f'{ROLLOUTS} "{name}" not found')


# -- get rollout ------------------------------------------------------------------------------


async def _experiments(session: Session) -> list[JsonDict]:
    """The namespace's Experiments; none when the type is not served or not allowed to us
    (they only add lines to the tree, so they must never break `get rollout`)."""
    from rolloutd.kube.client import ApiError

    try:
        return await session.list_items(EXPERIMENTS, missing_ok=True)
    except CliError as exc:
        if isinstance(exc.__cause__, ApiError) and exc.__cause__.status == 403:
            return []
        raise


async def get_rollout(ctx: Context) -> int:
    name: str = ctx.args.name

    async def body(session: Session) -> int:
        rollout = await session.get_rollout(name)
        selector = label_selector(ri.spec(rollout).get("selector"))
        if not ctx.args.watch:
            replica_sets, pods, runs, experiments = await asyncio.gather(
                session.list_items(REPLICA_SETS, selector=selector),
                session.list_items(PODS, selector=selector),
                session.list_items(ANALYSIS_RUNS, missing_ok=True),
                _experiments(session),
            )
            ctx.out.write(
                render.render_rollout(
                    rollout,
                    replica_sets,
                    pods,
                    runs,
                    now=ctx.clock(),
                    color=ctx.color(),
                    experiments=experiments,
                )
            )
            ctx.out.flush()
            return 0
        return await _watch_rollout(ctx, session, name, selector)

    return await _with_session(ctx, body)


async def _watch_rollout(ctx: Context, session: Session, name: str, selector: str) -> int:
    loop = asyncio.get_running_loop()
    caches = Caches()
    ctx.wakers.append(caches.wake)
    namespace = session.namespace
    rollouts = caches.add(session, ROLLOUTS, namespace=namespace)
    replica_sets = caches.add(session, REPLICA_SETS, namespace=namespace, selector=selector)
    pods = caches.add(session, PODS, namespace=namespace, selector=selector)
    runs = caches.add(session, ANALYSIS_RUNS, namespace=namespace, optional=True)
    # Experiments are extra: not served, or not allowed to this user, means none are shown.
    experiments = caches.add(
        session, EXPERIMENTS, namespace=namespace, optional=True, absent=(403, 404)
    )
    timeout = float(ctx.args.timeout_seconds or 0)
    deadline = loop.time() + timeout if timeout > 0 else None
    color = ctx.color()
    last_draw = float("-inf")
    try:
        await caches.start()
        while not ctx.stop.is_set():
            caches.raise_error()
            rollout = _find(rollouts, name)
            if rollout is None:
                raise _not_found(name)
            caches.wake.clear()
            text = render.render_rollout(
                rollout,
                replica_sets.objects(),
                pods.objects(),
                runs.objects(),
                now=ctx.clock(),
                color=color,
                experiments=experiments.objects(),
            )
            # One write per frame, clear and all, so the terminal never shows half a frame.
            ctx.out.write(render.CLEAR_SCREEN + text)
            ctx.out.flush()
            last_draw = loop.time()
            if deadline is not None and last_draw >= deadline:
                break
            wait = REDRAW_MAX_INTERVAL
            if deadline is not None:
                wait = min(wait, deadline - last_draw)
            await _wait_for_change([caches.wake, ctx.stop], wait)
            # Rate-limit: a burst of events becomes one frame per REDRAW_MIN_INTERVAL.
            gap = last_draw + REDRAW_MIN_INTERVAL - loop.time()
            if gap > 0 and not ctx.stop.is_set():
                await _wait_for_change([ctx.stop], gap)
    finally:
        await caches.stop()
    return 0


# -- status -----------------------------------------------------------------------------------


def _status_line(rollout: JsonDict) -> tuple[str, str, str]:
    phase, message = ri.rollout_phase(rollout)
    return phase, message, f"{phase} - {message}" if message else phase


def _degraded(message: str) -> CliError:
    return CliError(f"The rollout is in a degraded state with message: {message}")


async def status(ctx: Context) -> int:
    name: str = ctx.args.name
    timeout = float(ctx.args.timeout or 0)

    async def body(session: Session) -> int:
        rollout = await session.get_rollout(name)
        if not ctx.args.watch:
            phase, message, line = _status_line(rollout)
            ctx.print(phase if phase in ("Healthy", "Degraded") else f"{phase} - {message}")
            if phase == "Degraded":
                raise _degraded(message)
            return 0
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout if timeout > 0 else None
        caches = Caches()
        ctx.wakers.append(caches.wake)
        rollouts = caches.add(session, ROLLOUTS, namespace=session.namespace)
        previous = ""
        try:
            await caches.start()
            while not ctx.stop.is_set():
                caches.raise_error()
                current = _find(rollouts, name)
                if current is None:
                    raise _not_found(name)
                caches.wake.clear()
                phase, message, line = _status_line(current)
                if line != previous:
                    ctx.print(line)
                    previous = line
                if phase == "Healthy":
                    return 0
                if phase == "Degraded":
                    raise _degraded(message)
                wait = 3600.0
                if deadline is not None:
                    wait = deadline - loop.time()
                    if wait <= 0:
                        raise CliError("Rollout status watch exceeded timeout")
                await _wait_for_change([caches.wake, ctx.stop], wait)
        finally:
            await caches.stop()
        return 130

    return await _with_session(ctx, body)


# -- list rollouts ----------------------------------------------------------------------------


async def list_rollouts(ctx: Context) -> int:
    args = ctx.args

    def wanted(obj: JsonDict) -> bool:
        return not args.name or (obj.get("metadata") or {}).get("name") == args.name

    def stamp() -> str | None:
        return format_rfc3339(ctx.clock()) if args.timestamps else None

    async def body(session: Session) -> int:
        items = [
            obj
            for obj in await session.list_items(ROLLOUTS, all_namespaces=args.all_namespaces)
            if wanted(obj)
        ]
        if not items and not args.watch:
            ctx.err.write("No resources found.\n")
            return 0
        header = render.list_header(all_namespaces=args.all_namespaces, timestamps=args.timestamps)
        rows = [header] + [
            render.list_row(obj, all_namespaces=args.all_namespaces, timestamp=stamp())
            for obj in items
        ]
        for line in render.tabulate(rows):
            ctx.print(line)
        if not args.watch:
            return 0
        return await _watch_list(ctx, session, header, rows[1:])

    return await _with_session(ctx, body)


async def _watch_list(
    ctx: Context, session: Session, header: list[str], printed: list[list[str]]
) -> int:
    args = ctx.args
    caches = Caches()
    ctx.wakers.append(caches.wake)
    namespace = None if args.all_namespaces else session.namespace
    rollouts = caches.add(session, ROLLOUTS, namespace=namespace)

    def key(obj: JsonDict) -> tuple[str, str]:
        meta = obj.get("metadata") or {}
        return str(meta.get("namespace", "")), str(meta.get("name", ""))

    def row(obj: JsonDict, timestamp: str | None) -> list[str]:
        return render.list_row(obj, all_namespaces=args.all_namespaces, timestamp=timestamp)

    last: dict[tuple[str, str], list[str]] = {}
    try:
        await caches.start()
        for obj in rollouts.objects():
            last[key(obj)] = row(obj, None)
        while not ctx.stop.is_set():
            caches.raise_error()
            caches.wake.clear()
            for obj in rollouts.objects():
                if args.name and key(obj)[1] != args.name:
                    continue
                new = row(obj, None)
                if last.get(key(obj)) != new:
                    last[key(obj)] = new
                    stamped = row(obj, format_rfc3339(ctx.clock()) if args.timestamps else None)
                    # Align the new line with the table's header, as the first table was.
                    ctx.print(render.tabulate([header, stamped])[1])
            await _wait_for_change([caches.wake, ctx.stop], 3600.0)
    finally:
        await caches.stop()
    return 0


# -- writes -----------------------------------------------------------------------------------


async def _apply(session: Session, name: str, planned: patches.Patches) -> None:
    """Status patch first, then spec patch: the order the Go plugin uses."""
    if planned.status is not None:
        await session.patch_rollout(name, planned.status, status=True)
    if planned.spec is not None:
        await session.patch_rollout(name, planned.spec)


def _plan(build: Callable[[], patches.Patches]) -> patches.Patches:
    try:
        return build()
    except patches.PatchError as exc:
        raise CliError(str(exc)) from exc


async def promote(ctx: Context) -> int:
    args = ctx.args

    async def body(session: Session) -> int:
        rollout = await session.get_rollout(args.name)
        planned = _plan(
            lambda: patches.promote_patches(
                rollout,
                full=args.full,
                skip_current_step=args.skip_current_step,
                skip_all_steps=args.skip_all_steps,
            )
        )
        await _apply(session, args.name, planned)
        ctx.print(f"rollout '{args.name}' {'fully promoted' if args.full else 'promoted'}")
        return 0

    return await _with_session(ctx, body)


def _simple_patch(body: JsonDict, *, status: bool, done: str) -> Command:
    """A command that sends one fixed patch to each named Rollout (abort, retry, pause...)."""

    async def command(ctx: Context) -> int:
        async def run(session: Session) -> int:
            for name in ctx.args.names:
                result = await session.patch_rollout(name, body, status=status)
                shown = (result.get("metadata") or {}).get("name") or name
                ctx.print(f"rollout '{shown}' {done}")
            return 0

        return await _with_session(ctx, run)

    return command


abort = _simple_patch(patches.ABORT_PATCH, status=True, done="aborted")
retry_rollout = _simple_patch(patches.RETRY_PATCH, status=True, done="retried")
pause = _simple_patch(patches.PAUSE_PATCH, status=False, done="paused")
resume = _simple_patch(patches.UNPAUSE_PATCH, status=False, done="resumed")


async def set_image(ctx: Context) -> int:
    args = ctx.args
    try:
        container, image = patches.parse_image_spec(args.image)
    except patches.PatchError as exc:
        raise CliError(str(exc)) from exc

    async def body(session: Session) -> int:
        from rolloutd.kube.client import ApiError

        for attempt in range(SET_IMAGE_ATTEMPTS):
            rollout = await session.get_rollout(args.name)
            try:
                updated = patches.set_image(rollout, container, image)
            except patches.PatchError as exc:
                raise CliError(str(exc)) from exc
            try:
                await session.replace_rollout(args.name, updated)
            except CliError as exc:
                # Someone else wrote the Rollout between our read and write: read it again.
                conflict = isinstance(exc.__cause__, ApiError) and exc.__cause__.conflict
                if conflict and attempt < SET_IMAGE_ATTEMPTS - 1:
                    continue
                raise
            break
        ctx.print(f'rollout "{args.name}" image updated')
        return 0

    return await _with_session(ctx, body)


async def undo(ctx: Context) -> int:
    args = ctx.args

    async def body(session: Session) -> int:
        rollout = await session.get_rollout(args.name)
        selector = label_selector(ri.spec(rollout).get("selector"))
        replica_sets = await session.list_items(REPLICA_SETS, selector=selector)
        try:
            patch = patches.undo_patch(rollout, replica_sets, args.to_revision)
            target = patches.undo_target(rollout, replica_sets, args.to_revision)
        except patches.PatchError as exc:
            raise CliError(str(exc)) from exc
        revision = (ri.meta(target).get("annotations") or {}).get(ri.REVISION_ANNOTATION, "")
        if patch is None:
            ctx.print(f"skipped rollback (current template already matches revision {revision})")
            return 0
        await session.patch_rollout(args.name, patch, patch_type="json")
        ctx.print(f"rollout '{args.name}' undo")
        return 0

    return await _with_session(ctx, body)


async def restart(ctx: Context) -> int:
    args = ctx.args
    delay = 0.0
    if args.restart_in:
        try:
            delay = parse_duration_string(args.restart_in)
        except ValueError as exc:
            raise CliError(f'invalid --in "{args.restart_in}": {exc}') from exc

    async def body(session: Session) -> int:
        await session.get_rollout(args.name)
        result = await session.patch_rollout(args.name, patches.restart_patch(ctx.clock(), delay))
        shown = (result.get("metadata") or {}).get("name") or args.name
        ctx.print(f"rollout '{shown}' restarts in {args.restart_in or '0s'}")
        return 0

    return await _with_session(ctx, body)


# -- offline commands ---------------------------------------------------------------------------


def _is_rollout(doc: object) -> bool:
    if not isinstance(doc, dict):
        return False
    group = str(doc.get("apiVersion", "")).split("/")[0]
    return group == "argoproj.io" and doc.get("kind") == "Rollout"


async def lint(ctx: Context) -> int:
    path = Path(ctx.args.filename)
    try:
        text = path.read_text()
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        docs = [doc for doc in yaml.safe_load_all(text) if doc is not None]
    except yaml.YAMLError as exc:
        raise CliError(f"{path} is not valid YAML: {' '.join(str(exc).split())}") from exc
    try:
        from rolloutd.model.rollout import validate_rollout
    except ImportError as exc:  # pragma: no cover - only while rolloutd.model is incomplete
        raise CliError(f"lint is unavailable: {exc}") from exc
    errors: list[str] = []
    for doc in docs:
        if _is_rollout(doc):
            errors.extend(validate_rollout(doc))
    for error in errors:
        ctx.print(error)
    if errors:
        raise CliError(errors[0])
    return 0


def _git_info(root: Path) -> tuple[str, str, str]:
    """Commit, tree state and commit date of a source checkout, or `unknown`s."""
    unknown = ("unknown", "unknown", "unknown")
    if not (root / ".git").exists():
        return unknown
    try:
        head = subprocess.run(
            ["git", "-C", str(root), "log", "-1", "--format=%H %cI"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.split()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return unknown
    if len(head) != 2:
        return unknown
    return head[0], "dirty" if dirty else "clean", head[1]


def version_lines(short: bool) -> list[str]:
    try:
        version = metadata.version("rolloutd")
    except metadata.PackageNotFoundError:
        version = "0.0.0"
    commit, tree_state, build_date = _git_info(Path(__file__).resolve().parents[2])
    # Argo's shape: `v1.6.0+7eae71e`, the build's short commit after a `+`.
    suffix = f"+{commit[:7]}" if commit != "unknown" and "+" not in version else ""
    lines = [f"kubectl-argo-rollouts: v{version}{suffix}"]
    if short:
        return lines
    machine = platform.machine().lower()
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)
    lines += [
        f"  BuildDate: {build_date}",
        f"  GitCommit: {commit}",
        f"  GitTreeState: {tree_state}",
        f"  PythonVersion: {platform.python_version()}",
        f"  Compiler: {platform.python_implementation().lower()}",
        f"  Platform: {sys.platform}/{arch}",
    ]
    return lines


async def version(ctx: Context) -> int:
    for line in version_lines(ctx.args.short):
        ctx.print(line)
    return 0


def parse_timeout(text: str) -> float:
    """`status --timeout`: a Go duration (`5m`, `90s`, `0` for none)."""
    return parse_duration_string(text) if text.strip().isdigit() else parse_go_duration(text)
