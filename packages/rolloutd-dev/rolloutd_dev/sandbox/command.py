"""`rolloutd sandbox up|down|status`: the local cluster, from the command line."""

from __future__ import annotations

import argparse
import sys

from rolloutd.kube.client import ApiError, ClusterUnreachable
from rolloutd_dev.sandbox.binaries import SandboxError
from rolloutd_dev.sandbox.cluster import COMPONENTS, Sandbox


def _progress(message: str) -> None:
    print(f"sandbox: {message}", file=sys.stderr, flush=True)


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "sandbox",
        help="a real local Kubernetes cluster (etcd, kube-apiserver, kwok nodes)",
        description="Run a real local Kubernetes cluster built from source, no Docker needed. "
        "The first `up` compiles it (about 10-20 minutes); later starts take seconds.",
    )
    actions = parser.add_subparsers(dest="sandbox_command", required=True, metavar="COMMAND")
    actions.add_parser("up", help="start the sandbox (idempotent); prints its KUBECONFIG")
    actions.add_parser("down", help="stop every sandbox process and drop the cluster's data")
    actions.add_parser("status", help="show which components run and where the files are")
    restart = actions.add_parser(
        "restart",
        help="stop one component and start it again with the same flags and data (its new pid "
        "is recorded, so `down` stops it)",
    )
    restart.add_argument("component", choices=COMPONENTS)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    sandbox = Sandbox()
    try:
        if args.sandbox_command == "up":
            status = sandbox.up(_progress)
            print(f"kubeconfig: {status.kubeconfig}")
            print(f"export KUBECONFIG={status.kubeconfig}")
            return 0
        if args.sandbox_command == "restart":
            sandbox.restart(args.component, _progress)
            return 0
        if args.sandbox_command == "down":
            sandbox.down(_progress)
            return 0
        status = sandbox.status()
        print(f"home:       {status.home}")
        print(f"server:     {status.server}")
        print(f"kubeconfig: {status.kubeconfig}")
        print(f"api ready:  {'yes' if status.api_ready else 'no'}")
        for component in status.components:
            state = f"running (pid {component.pid})" if component.running else "stopped"
            print(f"  {component.name:<25}{state}")
        return 0 if status.up else 1
    except SandboxError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except (ApiError, ClusterUnreachable) as exc:
        print(
            f"error: the sandbox's API server refused a bootstrap step: {exc}; "
            f"component logs are in {sandbox.logs}",
            file=sys.stderr,
        )
        return 1
