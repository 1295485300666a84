"""`rolloutd dashboard` and `kubectl argo rollouts dashboard`: serve the dashboard.

Flags are Argo's (`--port/-p` 3100, `--root-path` rollouts, kubeconfig flags, `-n`) plus
`--auth-mode` and `--address`. Local mode (`--auth-mode none`, the default) acts with the
kubeconfig's identity and listens on 127.0.0.1 only; anything else must authenticate its
callers, so a non-loopback `--address` without `--auth-mode token` is refused.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import os
import signal
import sys

LOOPBACK = "127.0.0.1"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    env = os.environ.get
    parser.add_argument(
        "-p",
        "--port",
        type=int,
        default=int(env("ROLLOUTD_DASHBOARD_PORT", "3100")),
        help="port to listen on (default: 3100)",
    )
    parser.add_argument(
        "--root-path",
        default=env("ROLLOUTD_DASHBOARD_ROOT_PATH", "rollouts"),
        help="path the dashboard is served under (default: rollouts)",
    )
    parser.add_argument(
        "--auth-mode",
        choices=("none", "token"),
        default=env("ROLLOUTD_DASHBOARD_AUTH_MODE", "none"),
        help="none: act as the kubeconfig's user, loopback only; token: every request needs "
        "a bearer token and is authorised as its user (TokenReview + SubjectAccessReview)",
    )
    parser.add_argument(
        "--address",
        default=env("ROLLOUTD_DASHBOARD_ADDRESS", LOOPBACK),
        help="address to listen on (default 127.0.0.1; others need --auth-mode token)",
    )


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`rolloutd dashboard`."""
    p = subparsers.add_parser(
        "dashboard", help="serve the web dashboard", description=__doc__.splitlines()[0]
    )
    p.add_argument("--kubeconfig", default=None, help="kubeconfig file")
    p.add_argument("--context", default=None, help="kubeconfig context")
    p.add_argument("-n", "--namespace", default=None, help="namespace (default: the context's)")
    add_arguments(p)
    p.set_defaults(handler=run)


def _check_address(address: str, auth_mode: str) -> str | None:
    try:
        loopback = address == "localhost" or ipaddress.ip_address(address).is_loopback
    except ValueError:
        return f"--address: not an IP address: {address!r}"
    if not loopback and auth_mode != "token":
        return f"--address {address}: serving beyond loopback needs --auth-mode token"
    return None


def run(args: argparse.Namespace) -> int:
    """`rolloutd dashboard`: serve until SIGINT/SIGTERM; returns the exit status."""
    problem = _check_address(args.address, args.auth_mode)
    if problem is None and not 0 < args.port < 65536:
        problem = f"--port: must be 1..65535, not {args.port}"
    if problem is not None:
        print(f"Error: {problem}", file=sys.stderr)
        return 1
    try:
        return asyncio.run(_serve(args))
    except KeyboardInterrupt:
        return 0


async def serve_from_cli(args: argparse.Namespace) -> int:
    """The `kubectl argo rollouts dashboard` handler (already inside the CLI's event loop)."""
    from rolloutd.cli.errors import CliError

    problem = _check_address(args.address, args.auth_mode)
    if problem is not None:
        raise CliError(problem)
    return await _serve(args)


async def _serve(args: argparse.Namespace) -> int:
    from aiohttp import web

    from rolloutd.cli.session import connect
    from rolloutd.dashboard.app import Config, build_app

    session = await connect(
        kubeconfig=getattr(args, "kubeconfig", None),
        context=getattr(args, "context", None),
        namespace=getattr(args, "namespace", None),
    )
    config = Config(namespace=session.namespace, root_path=args.root_path, auth_mode=args.auth_mode)
    app = build_app(session.kube, config)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    try:
        site = web.TCPSite(runner, args.address, args.port)
        await site.start()
        host = "localhost" if args.address == LOOPBACK else args.address
        print(
            f"rolloutd dashboard is now available at http://{host}:{args.port}{config.prefix}",
            flush=True,
        )
        await stop.wait()
    finally:
        await runner.cleanup()
        await session.close()
    return 0
