"""`rolloutd demo`: the seed's walkthrough, unattended, on the local sandbox.

It does what a person following the OpenShift GitOps chapter does, with the same commands:
bring up a cluster, apply the four manifests unchanged, start the controller, then use
`kubectl argo rollouts` to change the image and promote at each indefinite pause, showing
`get rollout` and the VirtualService weights at every stage. At the end it removes only what
it created (the namespace, the daemon, and the sandbox if it was not already running).

`--strategy bluegreen` walks a blue-green Rollout instead (`config/samples/bluegreen.yaml`):
the new version previewed beside the old one, promote, the old one's scale-down delay, then an
update that is aborted and undone; at each stage `get rollout` and which ReplicaSet each
Service selects.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rolloutd.manifests import config_dir
from rolloutd_dev.sandbox.binaries import SandboxError
from rolloutd_dev.sandbox.cluster import Sandbox

MANIFESTS = ("gateway", "services", "virtual-service", "rollout")
ROLLOUT = "rollouts-demo"
VS = "rollouts-demo-vsvc"
BLUE_GREEN_MANIFESTS = ("bluegreen",)
BLUE_GREEN_ROLLOUT = "rollout-bluegreen"
POD_HASH = "rollouts-pod-template-hash"


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "demo",
        help="walk through the seed's canary on the local sandbox",
        description="Bring up the sandbox, apply the seed's manifests, run the controller and "
        "walk the canary from blue to yellow, promoting at each pause (or, with --strategy "
        "bluegreen, a blue-green Rollout through preview, promote, abort and undo).",
    )
    p.add_argument(
        "--strategy",
        choices=("canary", "bluegreen"),
        default="canary",
        help="which walkthrough: the seed's canary (default) or a blue-green Rollout",
    )
    p.add_argument("--namespace", default="rolloutd-demo", help="namespace to run it in")
    p.add_argument(
        "--keep",
        action="store_true",
        help="leave the namespace, the daemon and the sandbox running at the end",
    )
    p.set_defaults(handler=run)


def _say(text: str) -> None:
    print(f"\n\033[1m==> {text}\033[0m" if sys.stdout.isatty() else f"\n==> {text}", flush=True)


class Demo:
    def __init__(self, namespace: str, kubeconfig: Path, rollout: str = ROLLOUT) -> None:
        self.namespace = namespace
        self.rollout = rollout
        self.env = {**os.environ, "KUBECONFIG": str(kubeconfig)}
        self.bin = Path(sys.executable).parent

    def tool(self, name: str, *args: str, check: bool = True, quiet: bool = False) -> str:
        """Run a CLI as the user would (kubectl, kubectl-argo-rollouts) and show its output."""
        path = self.bin / name
        cmd = [str(path) if path.exists() else name, *args]
        result = subprocess.run(cmd, env=self.env, capture_output=True, text=True)
        if not quiet:
            shown = " ".join(["kubectl" if name == "kubectl" else "kubectl argo rollouts", *args])
            print(f"$ {shown}")
            print((result.stdout + result.stderr).rstrip())
        if check and result.returncode != 0:
            raise RuntimeError(f"{name} {' '.join(args)} failed: {result.stderr.strip()}")
        return result.stdout

    def rollouts(self, *args: str, quiet: bool = False) -> str:
        return self.tool("kubectl-argo-rollouts", *args, "-n", self.namespace, quiet=quiet)

    def status(self) -> dict[str, Any]:
        out = self.tool(
            "kubectl",
            "get",
            "rollout",
            self.rollout,
            "-n",
            self.namespace,
            "-o",
            "json",
            quiet=True,
        )
        status: dict[str, Any] = json.loads(out).get("status") or {}
        return status

    def selectors(self) -> str:
        """Which ReplicaSet (pod-template hash) each Service of the blue-green Rollout selects."""
        lines = []
        for role in ("active", "preview"):
            name = f"{self.rollout}-{role}"
            out = self.tool(
                "kubectl", "get", "service", name, "-n", self.namespace, "-o", "json", quiet=True
            )
            selector = json.loads(out)["spec"].get("selector") or {}
            lines.append(f"  service {name}: {POD_HASH}={selector.get(POD_HASH, '(none)')}")
        return "\n".join(lines)

    def weights(self) -> str:
        out = self.tool(
            "kubectl",
            "get",
            "virtualservices.networking.istio.io",
            VS,
            "-n",
            self.namespace,
            "-o",
            "json",
            quiet=True,
        )
        spec = json.loads(out)["spec"]
        lines = []
        for kind in ("http", "tls"):
            for route in spec.get(kind) or []:
                label = route.get("name") or f"{kind} (port {route['match'][0].get('port')})"
                parts = ", ".join(
                    f"{d['destination']['host']}={d.get('weight', 0)}" for d in route["route"]
                )
                lines.append(f"  {kind} route {label}: {parts}")
        return "\n".join(lines)

    def wait_replica_sets_scaled_down(self, timeout: float) -> None:
        """Until only the stable ReplicaSet of the blue-green Rollout still asks for pods."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            out = self.tool(
                "kubectl", "get", "replicasets", "-n", self.namespace, "-l",
                f"app={self.rollout}", "-o", "json", quiet=True,
            )  # fmt: skip
            sizes = [int(rs["spec"].get("replicas") or 0) for rs in json.loads(out)["items"]]
            if sum(1 for n in sizes if n > 0) <= 1:
                return
            time.sleep(1)
        raise RuntimeError(f"timed out after {timeout:.0f}s waiting for the old ReplicaSet")

    def wait(self, what: str, check: Callable[[dict[str, Any]], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            status = self.status()
            if status.get("phase"):
                line = f"  ... {status['phase']} {status.get('message', '')}".rstrip()
                if self.rollout == ROLLOUT:
                    line += f", step {status.get('currentStepIndex', '-')}/8"
            else:
                line = "  ... waiting for the controller to pick the rollout up"
            if line != last:
                print(line, flush=True)
                last = line
            if check(status):
                return
            time.sleep(1)
        raise RuntimeError(f"timed out after {timeout:.0f}s waiting for {what}")


def run(args: argparse.Namespace) -> int:
    sandbox = Sandbox()
    was_up = sandbox.status().up
    _say("bringing up the local sandbox cluster (the first time builds it: about 10 minutes)")
    try:
        status = sandbox.up(lambda m: print(f"  sandbox: {m}", flush=True))
    except SandboxError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    blue_green = args.strategy == "bluegreen"
    demo = Demo(args.namespace, status.kubeconfig, BLUE_GREEN_ROLLOUT if blue_green else ROLLOUT)
    daemon: subprocess.Popen[bytes] | None = None
    created_namespace = False
    code = 1
    try:
        if demo.tool("kubectl", "get", "namespace", args.namespace, check=False, quiet=True):
            print(
                f"error: namespace {args.namespace} already exists; delete it or pass --namespace",
                file=sys.stderr,
            )
            return 1
        demo.tool("kubectl", "create", "namespace", args.namespace)
        created_namespace = True
        _say(
            "applying the blue-green sample, unchanged"
            if blue_green
            else "applying the seed's manifests, unchanged"
        )
        samples = config_dir("samples")
        for name in BLUE_GREEN_MANIFESTS if blue_green else MANIFESTS:
            demo.tool("kubectl", "apply", "-n", args.namespace, "-f", str(samples / f"{name}.yaml"))
        _say("starting the controller: rolloutd run")
        log_path = sandbox.logs / "rolloutd-demo.log"
        with log_path.open("wb") as log:
            daemon = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "rolloutd.main",
                    "run",
                    "--namespace",
                    args.namespace,
                    "--metrics-port",
                    "18090",
                    "--health-port",
                    "18080",
                    "--bind-address",
                    "127.0.0.1",
                    "--log-format",
                    "json",
                ],
                env=demo.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        print(f"  logs: {log_path}")
        (walk_blue_green if blue_green else walk)(demo)
        code = 0
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
    finally:
        if args.keep:
            print(
                f"\nleft running: namespace {args.namespace}, the daemon (pid "
                f"{daemon.pid if daemon else '-'}), the sandbox; "
                f"export KUBECONFIG={status.kubeconfig}"
            )
        else:
            _say("cleaning up what the demo started")
            if daemon is not None:
                daemon.terminate()
                daemon.wait(15)
            if created_namespace:
                demo.tool(
                    "kubectl", "delete", "namespace", args.namespace, "--wait=false", check=False
                )
            if not was_up:
                sandbox.down(lambda m: print(f"  sandbox: {m}", flush=True))
    return code


def walk(demo: Demo) -> None:
    _say("1. first deploy: straight to Healthy, 100% on stable")
    demo.wait("Healthy", lambda s: s.get("phase") == "Healthy" and bool(s.get("stableRS")), 120)
    demo.rollouts("get", "rollout", ROLLOUT)
    print(demo.weights())

    _say("2. new version: set image yellow -> 20% canary, paused at step 1/8")
    demo.rollouts("set", "image", ROLLOUT, "rollouts-demo=argoproj/rollouts-demo:yellow")
    demo.wait(
        "pause at step 1",
        lambda s: s.get("phase") == "Paused" and s.get("currentStepIndex") == 1,
        120,
    )
    demo.rollouts("get", "rollout", ROLLOUT)
    print(demo.weights())

    _say("3. promote -> 40% canary, paused at step 3/8")
    demo.rollouts("promote", ROLLOUT)
    demo.wait(
        "pause at step 3",
        lambda s: s.get("phase") == "Paused" and s.get("currentStepIndex") == 3,
        120,
    )
    demo.rollouts("get", "rollout", ROLLOUT)
    print(demo.weights())

    _say("4. promote -> 60% (30 s pause) -> 80% (60 s pause) -> 100%: about 95 seconds")
    demo.rollouts("promote", ROLLOUT)
    demo.wait(
        "Healthy on the new version",
        lambda s: (
            s.get("phase") == "Healthy"
            and s.get("stableRS") == s.get("currentPodHash")
            and s.get("currentStepIndex") == 8
        ),
        240,
    )
    demo.rollouts("get", "rollout", ROLLOUT)
    _say("5. the VirtualService at the end (the TLS route was never touched)")
    print(demo.weights())


def walk_blue_green(demo: Demo) -> None:
    ro = demo.rollout

    def settled(phase: str) -> Callable[[dict[str, Any]], bool]:
        return lambda s: s.get("phase") == phase and bool(s.get("currentPodHash"))

    _say("1. first deploy: revision 1 goes straight to stable; both Services select it")
    demo.wait(
        "Healthy",
        lambda s: (
            s.get("phase") == "Healthy"
            and bool(s.get("stableRS"))
            and (s.get("blueGreen") or {}).get("activeSelector") == s.get("stableRS")
        ),
        120,
    )
    demo.rollouts("get", "rollout", ro)
    print(demo.selectors())

    _say("2. new version: set image green -> revision 2 runs beside revision 1 at full size;")
    print("   the preview Service selects it, active stays on revision 1; paused for a person")
    demo.rollouts("set", "image", ro, "rollouts-demo=argoproj/rollouts-demo:green")
    demo.wait(
        "BlueGreenPause", lambda s: settled("Paused")(s) and bool(s.get("pauseConditions")), 120
    )
    demo.rollouts("get", "rollout", ro)
    print(demo.selectors())

    _say("3. promote -> the active Service switches to revision 2 (all its pods are available);")
    print("   revision 1 stays up for scaleDownDelaySeconds (10 s): see its delay:... in INFO")
    demo.rollouts("promote", ro)
    demo.wait(
        "Healthy on revision 2",
        lambda s: settled("Healthy")(s) and s.get("stableRS") == s.get("currentPodHash"),
        120,
    )
    demo.rollouts("get", "rollout", ro)
    print(demo.selectors())

    _say("4. after the delay revision 1 is scaled down (ScaledDown)")
    demo.wait_replica_sets_scaled_down(60)
    demo.rollouts("get", "rollout", ro)

    _say("5. another version, yellow, is previewed ... and aborted: active stays on revision 2,")
    print("   preview keeps showing the aborted revision 3, which is scaled down after 30 s")
    demo.rollouts("set", "image", ro, "rollouts-demo=argoproj/rollouts-demo:yellow")
    demo.wait(
        "BlueGreenPause", lambda s: settled("Paused")(s) and bool(s.get("pauseConditions")), 120
    )
    demo.rollouts("abort", ro)
    demo.wait("Degraded (aborted)", settled("Degraded"), 60)
    demo.rollouts("get", "rollout", ro)
    print(demo.selectors())

    _say("6. undo: the template goes back to the stable revision's -> Healthy, nothing switched")
    demo.rollouts("undo", ro)
    demo.wait(
        "Healthy on the stable revision",
        lambda s: settled("Healthy")(s) and s.get("stableRS") == s.get("currentPodHash"),
        120,
    )
    demo.rollouts("get", "rollout", ro)
    print(demo.selectors())
