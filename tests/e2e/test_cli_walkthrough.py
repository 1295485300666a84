"""The seed's walkthrough driven only by command lines, as a user types them.

`kubectl apply` for the manifests, then `kubectl argo rollouts` (found by kubectl's plugin
discovery) for everything else. At each of the seed's three stages, `get rollout` is compared
with the recorded output (tests/golden), ages, hashes and pod-name suffixes normalised.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path

from rolloutd_dev.sandbox.cluster import Status
from tests.e2e.harness import SAMPLES, Daemon

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
BIN = Path(sys.executable).parent
_AGE = re.compile(r"^(\d+[smhdy])+$")


def normalise(text: str, namespace: str) -> list[str]:
    text = text.replace(namespace, "<ns>").replace("argo-rollouts", "<ns>")
    hashes: dict[str, str] = {}

    def rename(match: re.Match[str]) -> str:
        return "rollouts-demo-" + hashes.setdefault(match.group(1), f"<rs{len(hashes) + 1}>")

    text = re.sub(r"rollouts-demo-([a-z0-9]{8,10})\b", rename, text)
    text = re.sub(r"(<rs\d>)-[a-z0-9]{5}\b", r"\1-<pod>", text)
    return ["<age>" if _AGE.match(tok) else tok for tok in text.split()]


async def cli(env: dict[str, str], *args: str) -> str:
    proc = await asyncio.create_subprocess_exec(
        str(BIN / "kubectl"),
        *args,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    out, _ = await proc.communicate()
    text = out.decode()
    assert proc.returncode == 0, f"kubectl {' '.join(args)} failed:\n{text}"
    return text


async def wait_status(env: dict[str, str], ns: str, want: str, timeout: float = 150) -> None:
    # `status` watches until Healthy (exit 0); for a pause we poll `status --watch=false`.
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        out = await cli(
            env, "argo", "rollouts", "status", "rollouts-demo", "-n", ns, "--watch=false"
        )
        if out.strip() == want:
            return
        if loop.time() > deadline:
            raise AssertionError(f"status stayed {out.strip()!r}, wanted {want!r}")
        await asyncio.sleep(0.5)


async def test_walkthrough_with_cli_only(sandbox: Status, namespace: str, daemon: Daemon) -> None:
    env = {
        **os.environ,
        "KUBECONFIG": str(sandbox.kubeconfig),
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    ns = namespace
    assert "kubectl-argo-rollouts" in await cli(env, "argo", "rollouts", "version")
    for name in ("gateway", "services", "virtual-service", "rollout"):
        await cli(env, "apply", "-n", ns, "-f", str(SAMPLES / f"{name}.yaml"))

    await cli(env, "argo", "rollouts", "status", "rollouts-demo", "-n", ns, "--timeout", "120s")
    got = await cli(env, "argo", "rollouts", "get", "rollout", "rollouts-demo", "-n", ns)
    assert normalise(got, ns) == normalise((GOLDEN / "seed-healthy.txt").read_text(), ns)

    await cli(
        env,
        "argo",
        "rollouts",
        "set",
        "image",
        "rollouts-demo",
        "rollouts-demo=argoproj/rollouts-demo:yellow",
        "-n",
        ns,
    )
    await wait_status(env, ns, "Paused - CanaryPauseStep")
    got = await cli(env, "argo", "rollouts", "get", "rollout", "rollouts-demo", "-n", ns)
    assert normalise(got, ns) == normalise((GOLDEN / "paused-step1-6pods.txt").read_text(), ns)

    await cli(env, "argo", "rollouts", "promote", "rollouts-demo", "-n", ns)
    await asyncio.sleep(1)
    await wait_status(env, ns, "Paused - CanaryPauseStep")
    got = await cli(env, "argo", "rollouts", "get", "rollout", "rollouts-demo", "-n", ns)
    assert "Step:          3/8" in got
    assert normalise(got, ns) == normalise((GOLDEN / "paused-step3-7pods.txt").read_text(), ns)

    await cli(env, "argo", "rollouts", "promote", "rollouts-demo", "-n", ns)
    await asyncio.sleep(1)
    await cli(env, "argo", "rollouts", "status", "rollouts-demo", "-n", ns, "--timeout", "180s")
    got = await cli(env, "argo", "rollouts", "get", "rollout", "rollouts-demo", "-n", ns)
    assert "Status:          ✔ Healthy" in got
    assert "argoproj/rollouts-demo:yellow (stable)" in got
    vs = await cli(
        env,
        "get",
        "virtualservices.networking.istio.io",
        "rollouts-demo-vsvc",
        "-n",
        ns,
        "-o",
        "jsonpath={.spec.http[0].route[*].weight}",
    )
    assert vs.split() == ["100", "0"]
