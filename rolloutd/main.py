"""The `rolloutd` command: the daemon (`run`), the local cluster (`sandbox`), the demo."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from importlib import metadata


def _version() -> str:
    try:
        return metadata.version("rolloutd")
    except metadata.PackageNotFoundError:  # running from a source tree that is not installed
        return "0.0.0+unknown"


def build_parser() -> argparse.ArgumentParser:
    # Subcommands import their modules lazily so `rolloutd sandbox status` stays fast.
    from rolloutd import daemon, demo
    from rolloutd.dashboard import command as dashboard_command
    from rolloutd.sandbox import command as sandbox_command

    parser = argparse.ArgumentParser(
        prog="rolloutd",
        description="A progressive-delivery controller for Kubernetes (Argo Rollouts canary "
        "semantics, in Python).",
    )
    parser.add_argument("--version", action="version", version=f"rolloutd {_version()}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    daemon.add_parser(subparsers)
    sandbox_command.add_parser(subparsers)
    demo.add_parser(subparsers)
    dashboard_command.add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    code: int = args.handler(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
