"""The `rolloutd` command: the daemon (`run`), the dashboard, and commands other distributions add.

The development distribution (`rolloutd-dev`) adds `sandbox` and `demo` through the
`rolloutd.cli_commands` entry-point group: each entry point is a function that takes the
subparsers object and adds its own subcommand, as `daemon.add_parser` does. Without it those
two names still parse, and say in one line what to install.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from importlib import metadata

CLI_COMMANDS_GROUP = "rolloutd.cli_commands"
# Commands the development distribution provides; named here so a runtime-only install can say
# what is missing instead of argparse's "invalid choice".
DEV_COMMANDS = {
    "sandbox": "a real local Kubernetes cluster",
    "demo": "the canary demo on the sandbox",
}
DEV_HINT = "`rolloutd {name}` is in the development distribution: pip install rolloutd-dev"


def _version() -> str:
    try:
        return metadata.version("rolloutd")
    except metadata.PackageNotFoundError:  # running from a source tree that is not installed
        return "0.0.0+unknown"


def build_parser() -> argparse.ArgumentParser:
    # Subcommands import their modules lazily so `rolloutd sandbox status` stays fast.
    from rolloutd import daemon
    from rolloutd.dashboard import command as dashboard_command

    parser = argparse.ArgumentParser(
        prog="rolloutd",
        description="A progressive-delivery controller for Kubernetes (Argo Rollouts canary "
        "semantics, in Python).",
    )
    parser.add_argument("--version", action="version", version=f"rolloutd {_version()}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    daemon.add_parser(subparsers)
    dashboard_command.add_parser(subparsers)
    added = _add_plugin_commands(subparsers)
    for name, summary in DEV_COMMANDS.items():
        if name not in added:
            _add_missing_command(subparsers, name, summary)
    return parser


def _add_plugin_commands(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> set[str]:
    """Let every `rolloutd.cli_commands` entry point add its subcommand; return their names."""
    added: set[str] = set()
    for entry in metadata.entry_points(group=CLI_COMMANDS_GROUP):
        add_parser = entry.load()
        add_parser(subparsers)
        added.add(entry.name)
    return added


def _add_missing_command(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser], name: str, summary: str
) -> None:
    # No option prefix, so whatever follows (`up`, `--strategy bluegreen`, `-h`) is taken as
    # words and the handler, not an argparse usage error, answers.
    parser = subparsers.add_parser(
        name, help=f"{summary} (needs rolloutd-dev)", add_help=False, prefix_chars="\0"
    )
    parser.add_argument("rest", nargs="*", help=argparse.SUPPRESS)

    def missing(_: argparse.Namespace) -> int:
        print(f"error: {DEV_HINT.format(name=name)}", file=sys.stderr)
        return 2

    parser.set_defaults(handler=missing)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    code: int = args.handler(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
