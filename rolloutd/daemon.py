"""`rolloutd run`: the controller process.

Start-up order: logging, one API client, the ConfigMap (the controller-wide configuration),
the routers it enables, the caches, then the workers. SIGTERM and SIGINT stop it gracefully:
workers finish the reconcile they are in, watches close, the client closes.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from typing import Any

import structlog

from rolloutd import logs

log = structlog.get_logger("rolloutd.daemon")


RUN_EXAMPLES = """Examples:
  # Run against the current kubeconfig context, every namespace
  rolloutd run

  # Only one namespace, JSON logs with Argo's keys
  rolloutd run --namespace demo --log-format json --log-keys argo

  # Two replicas behind a leader Lease in the controller's namespace
  rolloutd run --leader-elect --config-namespace rolloutd --identity $POD_NAME

  # Only Rollouts labelled for this instance, metrics on another port
  rolloutd run --instance-id blue --metrics-port 9090
"""


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    env = os.environ.get
    p = subparsers.add_parser(
        "run",
        help="run the controller",
        description="Reconcile argoproj.io/v1alpha1 Rollouts with Argo Rollouts' semantics.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=RUN_EXAMPLES,
    )
    p.add_argument(
        "--kubeconfig",
        default=env("KUBECONFIG"),
        help="kubeconfig file (default: $KUBECONFIG, ~/.kube/config, then in-cluster)",
    )
    p.add_argument("--context", default=None, help="kubeconfig context")
    p.add_argument(
        "--namespace",
        default=env("ROLLOUTD_WATCH_NAMESPACE") or None,
        help=(
            "only watch this namespace (default: all); cluster-scoped ClusterAnalysisTemplates "
            "are then not read, as by Argo's --namespaced controller"
        ),
    )
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        help="concurrent reconciles (default: the ConfigMap's workers, else 10)",
    )
    p.add_argument(
        "--metrics-port",
        type=int,
        default=int(env("ROLLOUTD_METRICS_PORT", "8090")),
        help="port of the Prometheus /metrics server (default: $ROLLOUTD_METRICS_PORT or 8090)",
    )
    p.add_argument(
        "--health-port",
        type=int,
        default=int(env("ROLLOUTD_HEALTH_PORT", "8080")),
        help="port of the /healthz and /readyz server (default: $ROLLOUTD_HEALTH_PORT or 8080)",
    )
    p.add_argument(
        "--bind-address",
        default=env("ROLLOUTD_BIND_ADDRESS", "0.0.0.0"),
        help="address the metrics and health servers listen on",
    )
    p.add_argument(
        "--config-map",
        default=env("ROLLOUTD_CONFIG_MAP", "rolloutd-config"),
        help="name of the ConfigMap with the controller configuration",
    )
    p.add_argument(
        "--config-namespace",
        default=env("POD_NAMESPACE"),
        help="namespace of that ConfigMap and of the leader Lease "
        "(default: $POD_NAMESPACE, else the kubeconfig's namespace)",
    )
    p.add_argument(
        "--leader-elect",
        action=argparse.BooleanOptionalAction,
        default=env("ROLLOUTD_LEADER_ELECT", "false").lower() == "true",
        help="use a Lease so only one replica writes",
    )
    p.add_argument(
        "--lease-name", default="rolloutd-controller-lock", help="name of the leader Lease"
    )
    p.add_argument(
        "--lease-duration",
        type=float,
        default=15.0,
        help="seconds a leader's Lease is valid without renewal (default: 15)",
    )
    p.add_argument(
        "--renew-deadline",
        type=float,
        default=10.0,
        help="seconds the leader keeps trying to renew before it stops writing (default: 10)",
    )
    p.add_argument(
        "--retry-period",
        type=float,
        default=2.0,
        help="seconds between attempts to take or renew the Lease (default: 2)",
    )
    p.add_argument(
        "--identity",
        default=env("POD_NAME") or None,
        help="this replica's name in the Lease (default: $POD_NAME or hostname-pid)",
    )
    # -- sharding (docs/scale-out.md): every replica works on its share of the Rollouts --
    p.add_argument(
        "--shards",
        type=int,
        default=int(env("ROLLOUTD_SHARDS", "0")),
        help="split the Rollouts into this many shards shared by all replicas through Leases "
        "(default: 0, off; the ConfigMap's shards applies when the flag is not given)",
    )
    p.add_argument(
        "--shard-by",
        choices=("name", "namespace"),
        default=env("ROLLOUTD_SHARD_BY", "name"),
        help="hash namespace/name (default) or only the namespace into a shard",
    )
    p.add_argument(
        "--shard-renew",
        type=float,
        default=2.0,
        help="seconds between renewals of the member and shard Leases (default: 2)",
    )
    p.add_argument(
        "--shard-safety-margin",
        type=float,
        default=None,
        help="a shard is written only while its last renewal is younger than "
        "--lease-duration minus this (default: a third of the lease duration)",
    )
    p.add_argument(
        "--instance-id",
        default=env("ROLLOUTD_INSTANCE_ID") or None,
        help="only reconcile Rollouts labelled argo-rollouts.argoproj.io/"
        "controller-instance-id=<id> (default: only those without the label)",
    )
    p.add_argument(
        "--log-level",
        default=env("ROLLOUTD_LOG_LEVEL", "info"),
        help="debug, info, warning or error (default: $ROLLOUTD_LOG_LEVEL or info)",
    )
    p.add_argument(
        "--log-format",
        choices=("auto", "json", "console", "text"),
        default=env("ROLLOUTD_LOG_FORMAT", "auto"),
        help="log line format (auto: console on a terminal, else json)",
    )
    p.add_argument(
        "--log-keys",
        choices=logs.KEYS,
        default=env("ROLLOUTD_LOG_KEYS", "rolloutd"),
        help="JSON log keys: rolloutd's (event, timestamp) or argo's (msg, time), for log "
        "queries written for Argo Rollouts' controller",
    )
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    try:
        logs.configure(args.log_level, args.log_format, args.log_keys)
    except ValueError as exc:
        flag = "--log-keys" if "log keys" in str(exc) else "--log-level"
        print(f"error: {flag}: {exc}", file=sys.stderr)
        return 2
    try:
        return asyncio.run(_main(args))
    except KeyboardInterrupt:
        return 0


async def _main(args: argparse.Namespace) -> int:
    from rolloutd.runtime import Runtime, StartupError

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        runtime = await Runtime.start(_options(args))
    except StartupError as exc:
        log.error("cannot start", error=str(exc))
        return 1
    try:
        return await runtime.serve(stop)
    finally:
        await runtime.close()


def _options(args: argparse.Namespace) -> dict[str, Any]:
    return {k: v for k, v in vars(args).items() if k != "handler"}
