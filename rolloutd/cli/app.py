"""`kubectl-argo-rollouts` (and `rollouts`): the command line, argument parsing and exit codes.

Installed as `kubectl-argo-rollouts` on PATH, kubectl finds it as the plugin `kubectl argo
rollouts`, so the seed's `oc argo rollouts get rollout rollouts-demo --watch -n ns` works
unchanged. The command tree, flags, messages and exit codes are those of the Go plugin:

    get rollout|ro|rollouts NAME [-w] [--no-color] [--timeout-seconds N]
    set image NAME CONTAINER=IMAGE        promote NAME [--full]
    abort NAME...   retry rollout NAME...  pause NAME...   resume NAME...
    undo NAME [--to-revision N]           restart NAME [--in 30s]
    status NAME [--watch=true|false] [--timeout 5m]
    list rollouts [-A] [--name N] [-w]    lint -f FILE    version [--short]
    get experiment NAME [-w]              list experiments [-A]
    create -f FILE... [-w]                terminate analysisrun|experiment NAME...
    plan NAME [-f FILE | --image C=IMAGE] [-o json]       completion bash|zsh|fish

kubectl's connection flags (`--kubeconfig`, `--context`, `-n/--namespace`) are accepted before
or after the subcommand. Every failure is one `Error: ...` line on stderr and exit status 1.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import signal
import sys
from collections.abc import Sequence
from importlib import metadata
from typing import NoReturn, TextIO

from rolloutd.cli import commands, completion
from rolloutd.cli.errors import CliError
from rolloutd.cli.examples import add_examples as _add_examples


class UsageError(Exception):
    """Bad command-line arguments: reported like any other error, with a pointer to --help."""

    def __init__(self, message: str, prog: str) -> None:
        super().__init__(message)
        self.message = message
        self.prog = prog


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message, self.prog)


def _package_version() -> str:
    try:
        return metadata.version("rolloutd")
    except metadata.PackageNotFoundError:  # a source tree that is not installed
        return "0.0.0"


def _connection_flags(parser: argparse.ArgumentParser, *, top: bool) -> None:
    # On subcommands the defaults are SUPPRESS, so a flag given before the subcommand is not
    # overwritten by the subcommand's own (absent) copy of it.
    default = None if top else argparse.SUPPRESS
    group = parser.add_argument_group("kubectl connection flags")
    group.add_argument("--kubeconfig", default=default, help="path to the kubeconfig file")
    group.add_argument("--context", default=default, help="the kubeconfig context to use")
    group.add_argument(
        "-n", "--namespace", default=default, help="the namespace (default: the context's)"
    )


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"invalid integer {text!r}") from exc
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative: {text}")
    return value


def _timeout(text: str) -> float:
    try:
        return commands.parse_timeout(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def build_parser(prog: str = "kubectl argo rollouts") -> argparse.ArgumentParser:
    parser = _Parser(
        prog=prog,
        description="Manage Argo Rollouts (served by rolloutd): promote, abort, watch and "
        "inspect progressive deliveries.",
    )
    _connection_flags(parser, top=True)
    # kubectl plugins answer --version too, in `version --short`'s shape; the package version
    # only, so building the parser does not run git for the build's commit.
    parser.add_argument(
        "--version",
        action="version",
        version=f"kubectl-argo-rollouts: v{_package_version()}",
        help="print the plugin's version and exit",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    def command(
        parent: argparse._SubParsersAction[_Parser],
        name: str,
        help_text: str,
        handler: commands.Command | None,
        aliases: Sequence[str] = (),
        interruptible: bool = False,
    ) -> _Parser:
        p = parent.add_parser(name, help=help_text, description=help_text, aliases=list(aliases))
        _connection_flags(p, top=False)
        p.set_defaults(handler=handler, interruptible=interruptible)
        return p

    get = command(sub, "get", "Get details about rollouts", None)
    get_sub = get.add_subparsers(dest="get_kind", metavar="KIND", required=True)
    p = command(
        get_sub,
        "rollout",
        "Get details about a rollout",
        commands.get_rollout,
        aliases=("ro", "rollouts"),
        interruptible=True,
    )
    p.add_argument("name", metavar="ROLLOUT_NAME")
    p.add_argument("-w", "--watch", action="store_true", help="watch live updates to the rollout")
    p.add_argument("--no-color", action="store_true", help="do not colorize output")
    p.add_argument(
        "--timeout-seconds",
        type=_positive_int,
        default=0,
        metavar="N",
        help="stop watching after N seconds (0: never)",
    )

    p = command(
        get_sub,
        "experiment",
        "Get details about an Experiment",
        _objects("get_experiment"),
        aliases=("exp", "experiments"),
        interruptible=True,
    )
    p.add_argument("name", metavar="EXPERIMENT_NAME")
    p.add_argument(
        "-w", "--watch", action="store_true", help="watch live updates to the experiment"
    )
    p.add_argument("--no-color", action="store_true", help="do not colorize output")
    p.add_argument(
        "--timeout-seconds",
        type=_positive_int,
        default=0,
        metavar="N",
        help="stop watching after N seconds (0: never)",
    )

    set_ = command(sub, "set", "Update various values on resources", None)
    set_sub = set_.add_subparsers(dest="set_kind", metavar="KIND", required=True)
    p = command(set_sub, "image", "Update the image of a rollout", commands.set_image)
    p.add_argument("name", metavar="ROLLOUT_NAME")
    p.add_argument("image", metavar="CONTAINER=IMAGE")

    p = command(sub, "promote", "Promote a rollout", commands.promote)
    p.add_argument("name", metavar="ROLLOUT_NAME")
    p.add_argument(
        "--full",
        action="store_true",
        help="perform a full promotion, skipping analysis, pauses, and steps",
    )
    p.add_argument("-c", "--skip-current-step", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("-a", "--skip-all-steps", action="store_true", help=argparse.SUPPRESS)

    p = command(sub, "abort", "Abort a rollout", commands.abort)
    p.add_argument("names", metavar="ROLLOUT_NAME", nargs="+")

    retry = command(sub, "retry", "Retry a rollout", None)
    retry_sub = retry.add_subparsers(dest="retry_kind", metavar="KIND", required=True)
    p = command(
        retry_sub,
        "rollout",
        "Retry an aborted rollout",
        commands.retry_rollout,
        aliases=("ro", "rollouts"),
    )
    p.add_argument("names", metavar="ROLLOUT_NAME", nargs="+")

    p = command(sub, "pause", "Pause a rollout", commands.pause)
    p.add_argument("names", metavar="ROLLOUT_NAME", nargs="+")

    p = command(sub, "resume", "Resume a paused rollout", commands.resume)
    p.add_argument("names", metavar="ROLLOUT_NAME", nargs="+")

    p = command(sub, "undo", "Undo a rollout", commands.undo)
    p.add_argument("name", metavar="ROLLOUT_NAME")
    p.add_argument(
        "--to-revision",
        type=_positive_int,
        default=0,
        metavar="N",
        help="the revision to roll back to (default: the previous one)",
    )

    p = command(sub, "restart", "Restart the pods of a rollout", commands.restart)
    p.add_argument("name", metavar="ROLLOUT_NAME")
    p.add_argument(
        "-i",
        "--in",
        dest="restart_in",
        default="",
        metavar="DURATION",
        help="amount of time before a restart (e.g. 30s, 5m, 1h)",
    )

    p = command(sub, "status", "Show the status of a rollout", commands.status, interruptible=True)
    p.add_argument("name", metavar="ROLLOUT_NAME")
    p.add_argument(
        "-w",
        "--watch",
        dest="watch",
        action="store_true",
        default=True,
        help="watch the status until it is Healthy or Degraded (default; --watch=false: once)",
    )
    p.add_argument("--no-watch", dest="watch", action="store_false", help=argparse.SUPPRESS)
    p.add_argument(
        "-t",
        "--timeout",
        type=_timeout,
        default=0.0,
        metavar="DURATION",
        help="give up watching after this long (e.g. 1s, 2m, 3h; 0: wait forever)",
    )

    list_ = command(sub, "list", "List rollouts", None)
    list_sub = list_.add_subparsers(dest="list_kind", metavar="KIND", required=True)
    p = command(
        list_sub,
        "rollouts",
        "List rollouts",
        commands.list_rollouts,
        aliases=("ro", "rollout"),
        interruptible=True,
    )
    p.add_argument("--name", default="", help="only show the rollout with this name")
    p.add_argument("-A", "--all-namespaces", action="store_true", help="include all namespaces")
    p.add_argument("-w", "--watch", action="store_true", help="watch for changes")
    p.add_argument("--timestamps", action="store_true", help="print timestamps on updates")

    p = command(
        list_sub,
        "experiments",
        "List experiments",
        _objects("list_experiments"),
        aliases=("exp",),
    )
    p.add_argument("-A", "--all-namespaces", action="store_true", help="include all namespaces")

    p = command(sub, "dashboard", "Start UI dashboard", _dashboard)
    from rolloutd.dashboard.command import add_arguments as dashboard_arguments

    dashboard_arguments(p)

    p = command(sub, "lint", "Lint and validate a Rollout", commands.lint)
    p.add_argument("-f", "--filename", required=True, metavar="FILE", help="file to lint")

    p = command(sub, "version", "Print version", commands.version)
    p.add_argument("--short", action="store_true", help="print just the version number")

    p = command(
        sub,
        "plan",
        "Show what a change to a rollout will do, step by step, without changing anything",
        _plan,
    )
    p.add_argument("name", metavar="ROLLOUT_NAME")
    change = p.add_mutually_exclusive_group()
    change.add_argument(
        "-f",
        "--filename",
        default=None,
        metavar="FILE",
        help="the new Rollout manifest (- for stdin)",
    )
    change.add_argument(
        "--image", default=None, metavar="CONTAINER=IMAGE", help="plan an image update"
    )
    p.add_argument("-o", "--output", choices=("text", "json"), default="text", help="output format")

    p = command(
        sub,
        "create",
        "Create a Rollout, Experiment, AnalysisTemplate, ClusterAnalysisTemplate, or "
        "AnalysisRun resource",
        _objects("create"),
        interruptible=True,
    )
    p.add_argument(
        "-f",
        "--filename",
        action="append",
        required=True,
        metavar="FILE",
        help="files to use to create the resource (- for stdin; repeatable)",
    )
    p.add_argument(
        "-w",
        "--watch",
        action="store_true",
        help="watch live updates to the resource after creating",
    )
    p.add_argument("--no-color", action="store_true", help="do not colorize output")

    terminate = command(sub, "terminate", "Terminate an AnalysisRun or Experiment", None)
    terminate_sub = terminate.add_subparsers(dest="terminate_kind", metavar="KIND", required=True)
    p = command(
        terminate_sub,
        "analysisrun",
        "Terminate an AnalysisRun",
        _objects("terminate_analysisrun"),
        aliases=("ar", "analysisruns"),
    )
    p.add_argument("names", metavar="ANALYSISRUN_NAME", nargs="+")
    p = command(
        terminate_sub,
        "experiment",
        "Terminate an experiment",
        _objects("terminate_experiment"),
        aliases=("exp", "experiments"),
    )
    p.add_argument("names", metavar="EXPERIMENT_NAME", nargs="+")

    p = command(sub, "completion", "Generate completion script", _completion)
    p.add_argument("shell", choices=completion.SHELLS, metavar="SHELL", help="bash, zsh or fish")
    _add_examples(parser)
    return parser


def _objects(name: str) -> commands.Command:
    """A command of `rolloutd.cli.objects_cmd`, imported when it runs."""

    async def run(ctx: commands.Context) -> int:
        from rolloutd.cli import objects_cmd

        handler: commands.Command = getattr(objects_cmd, name)
        return await handler(ctx)

    return run


async def _plan(ctx: commands.Context) -> int:
    """`plan`: imported here so other commands do not load the planner."""
    from rolloutd.cli import plan_cmd

    return await plan_cmd.plan(ctx)


async def _completion(ctx: commands.Context) -> int:
    """`completion bash|zsh|fish`: a script generated from this very parser."""
    ctx.out.write(completion.script(build_parser(), ctx.args.shell))
    ctx.out.flush()
    return 0


async def _dashboard(ctx: commands.Context) -> int:
    """`dashboard`: the web UI (rolloutd.dashboard), served until Ctrl-C."""
    from rolloutd.dashboard.command import serve_from_cli

    return await serve_from_cli(ctx.args)


_BOOL_ASSIGNMENT = re.compile(r"^(--?[A-Za-z][\w-]*)=(true|false|t|f|1|0)$", re.IGNORECASE)
# Flags whose default is true, so `=false` has to be spelled as their negative form.
_NEGATABLE = {"--watch": "--no-watch", "-w": "--no-watch"}


def normalise_argv(argv: Sequence[str]) -> list[str]:
    """Accept Go-style `--flag=true|false` for boolean flags (e.g. `status --watch=false`)."""
    out: list[str] = []
    for position, token in enumerate(argv):
        if token == "--":
            out.extend(argv[position:])
            break
        match = _BOOL_ASSIGNMENT.match(token)
        if match is None:
            out.append(token)
            continue
        flag, value = match.group(1), match.group(2).lower()
        if value in ("true", "t", "1"):
            out.append(flag)
        elif flag in _NEGATABLE:
            out.append(_NEGATABLE[flag])
        # `--some-flag=false` for a flag that defaults to false: nothing to do.
    return out


def _prog_name(argv0: str) -> str:
    base = os.path.basename(argv0)
    # Run by kubectl as a plugin, speak as the plugin: `kubectl argo rollouts ...`.
    if base.startswith("kubectl-argo-rollouts"):
        return "kubectl argo rollouts"
    return base or "rollouts"


async def _run(handler: commands.Command, ctx: commands.Context, interruptible: bool) -> int:
    loop = asyncio.get_running_loop()
    if interruptible:
        # Long-running views end cleanly on Ctrl-C: stop watching, close the client, exit 0.
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signal.SIGINT, ctx.interrupt)
    try:
        return await handler(ctx)
    finally:
        if interruptible:
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(signal.SIGINT)


def run(
    argv: Sequence[str],
    *,
    out: TextIO | None = None,
    err: TextIO | None = None,
    prog: str = "kubectl argo rollouts",
) -> int:
    """Parse `argv`, run the command, report errors; returns the exit status."""
    out = out or sys.stdout
    err = err or sys.stderr
    parser = build_parser(prog)
    try:
        args = parser.parse_args(normalise_argv(argv))
    except UsageError as exc:
        err.write(f"Error: {exc.message}\nSee '{exc.prog} --help' for usage.\n")
        return 1
    except SystemExit as exc:  # --help
        return exc.code if isinstance(exc.code, int) else 0
    handler: commands.Command | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(out)
        return 0
    ctx = commands.Context(args=args, out=out, err=err)
    try:
        return asyncio.run(_run(handler, ctx, bool(getattr(args, "interruptible", False))))
    except CliError as exc:
        out.flush()
        err.write(f"Error: {exc.message}\n")
        return exc.code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `... | head`: the reader left; nothing more to say.
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - keep interpreter exit quiet
        return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Console-script entry point (`kubectl-argo-rollouts`, `rollouts`)."""
    for stream in (sys.stdout, sys.stderr):
        # Icons are not ASCII; never die on a terminal that cannot show them.
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            with contextlib.suppress(ValueError, OSError):
                reconfigure(errors="replace")
    args = list(sys.argv[1:] if argv is None else argv)
    return run(args, prog=_prog_name(sys.argv[0] if argv is None else "kubectl-argo-rollouts"))


if __name__ == "__main__":
    sys.exit(main())
