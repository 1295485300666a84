"""Argo Rollouts' controller as a peer process: built from its Go module, run on a kubeconfig.

Nothing of Argo is copied into the project. `tools/argo-controller` is a consumer Go module
that requires github.com/argoproj/argo-rollouts at `ARGO_VERSION` (with the replace lines of
Argo's own go.mod, which a dependency's go.mod cannot pass on) and names Argo's command as a
`tool`; `go build` of `cmd/rollouts-controller` through the module proxy compiles Argo's own
`main`. The binary is cached in `~/.cache/rolloutd/argo-rollouts/<version>/` (next to the
sandbox binaries' cache), so only the first run pays the build (~9 min on 2 cores, cold).
Argo's CRDs are read from the module the Go tool downloaded (`go mod download -json` gives
its folder; `manifests/crds/`).

Used by `tests/e2e/test_argo_migration.py` (the migration both ways) and meant for `bench/`
(Argo side by side with rolloutd). Without Go, or when the build fails, `ArgoUnavailable`
says why; callers skip on it.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
CONSUMER = REPO / "tools" / "argo-controller"
ARGO_MODULE = "github.com/argoproj/argo-rollouts"
ARGO_VERSION = "v1.10.1"
"""v1.10.2 needs a newer Go than this machine's; v1.10.1 builds with Go 1.26."""
COMMAND = f"{ARGO_MODULE}/cmd/rollouts-controller"
Progress = Callable[[str], None]


class ArgoUnavailable(RuntimeError):
    """Argo's controller cannot be had here (no Go, or the build failed): the reason."""


def cache_dir() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "rolloutd" / "argo-rollouts" / ARGO_VERSION


def _go() -> str:
    go = shutil.which("go")
    if go is None:
        raise ArgoUnavailable(
            "`go` is not on PATH: Argo Rollouts' controller is built from its Go module"
        )
    return go


def _sources_key() -> str:
    """Which consumer module built the cached binary: a changed go.mod/go.sum rebuilds it."""
    digest = hashlib.sha256()
    for name in ("go.mod", "go.sum"):
        digest.update((CONSUMER / name).read_bytes())
    return digest.hexdigest()


def ensure_controller(progress: Progress) -> Path:
    """The path of Argo's `rollouts-controller`, built first if the cache lacks it."""
    binary = cache_dir() / "rollouts-controller"
    stamp = binary.with_name("sources.sha256")
    key = _sources_key()
    if binary.exists() and stamp.exists() and stamp.read_text().strip() == key:
        return binary
    go = _go()
    binary.parent.mkdir(parents=True, exist_ok=True)
    progress(
        f"building Argo Rollouts' controller ({ARGO_MODULE} {ARGO_VERSION}) from its Go "
        f"module, ~9 min on 2 cores, cached in {binary.parent}"
    )
    tmp = binary.with_suffix(".tmp")
    # -v names each package as it is compiled: a count of them is the progress shown.
    proc = subprocess.Popen(
        [go, "build", "-v", "-mod=readonly", "-trimpath", "-o", str(tmp), COMMAND],
        cwd=CONSUMER,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    compiled, other = 0, []
    for line in proc.stderr:
        if re.fullmatch(r"[\w.\-/~]+", line.strip()):
            compiled += 1
            if compiled % 200 == 0:
                progress(f"  {compiled} packages compiled")
        else:
            other.append(line.rstrip())
    if proc.wait() != 0:
        tmp.unlink(missing_ok=True)
        detail = "\n".join(other[-30:])
        raise ArgoUnavailable(f"building Argo Rollouts' controller failed:\n{detail}")
    tmp.rename(binary)
    stamp.write_text(key + "\n")
    progress(f"built {binary} ({compiled} packages)")
    return binary


@functools.cache
def module_dir() -> Path:
    """The folder of Argo's module as the Go tool downloaded it (read only)."""
    done = subprocess.run(
        [_go(), "mod", "download", "-json", f"{ARGO_MODULE}@{ARGO_VERSION}"],
        cwd=CONSUMER,
        capture_output=True,
        text=True,
    )
    info: dict[str, Any] = json.loads(done.stdout or "{}")
    if done.returncode != 0 or "Dir" not in info:
        raise ArgoUnavailable(
            f"go mod download {ARGO_MODULE}@{ARGO_VERSION} failed: "
            f"{info.get('Error') or done.stderr.strip()}"
        )
    return Path(info["Dir"])


def crd_documents() -> list[dict[str, Any]]:
    """Argo's CRDs (Rollout, AnalysisRun, AnalysisTemplate, ClusterAnalysisTemplate,
    Experiment), from `manifests/crds/` of the downloaded module."""
    docs: list[dict[str, Any]] = []
    for path in sorted((module_dir() / "manifests" / "crds").glob("*-crd.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    if not docs:
        raise ArgoUnavailable(f"no CRDs in {module_dir() / 'manifests' / 'crds'}")
    return docs


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def controller_args(
    binary: Path,
    *,
    kubeconfig: str,
    metrics_port: int,
    healthz_port: int,
    namespace: str | None = None,
    instance_id: str | None = None,
    qps: float | None = None,
    burst: int | None = None,
) -> list[str]:
    """`rollouts-controller`'s command line: leader election off, JSON logs at Argo's default
    level, namespaced to `namespace` if given; `qps`/`burst` left to Argo's defaults (40/80)
    unless given."""
    args = [
        str(binary),
        f"--kubeconfig={kubeconfig}",
        "--leader-elect=false",
        f"--metricsPort={metrics_port}",
        f"--healthzPort={healthz_port}",
        "--logformat=json",
        "--loglevel=info",
    ]
    if namespace:
        args += ["--namespaced", f"--namespace={namespace}"]
    if instance_id:
        args.append(f"--instance-id={instance_id}")
    if qps is not None:
        args.append(f"--qps={qps:g}")
    if burst is not None:
        args.append(f"--burst={burst}")
    return args


def controller_env(namespace: str | None) -> dict[str, str]:
    env = dict(os.environ)
    if namespace:
        # Where Argo looks for its notification ConfigMap/Secret (else `argo-rollouts`).
        env["POD_NAMESPACE"] = namespace
    return env


_RECONCILE = re.compile(r"^rollout_reconcile_count\{([^}]*)\} (\S+)$", re.M)
_LABEL = re.compile(r'(\w+)="([^"]*)"')


class ArgoController:
    """One `rollouts-controller` process: leader election off, its metrics and health on
    free ports (Argo listens on 0.0.0.0 for both; the ports are chosen free on loopback),
    namespaced to `namespace` if given, else cluster-wide."""

    def __init__(
        self, binary: Path, kubeconfig: str, log_path: Path, namespace: str | None = None
    ) -> None:
        self.binary = binary
        self.kubeconfig = kubeconfig
        self.log_path = log_path
        self.namespace = namespace
        self.metrics_port = _free_port()
        self.healthz_port = _free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        args = controller_args(
            self.binary,
            kubeconfig=self.kubeconfig,
            metrics_port=self.metrics_port,
            healthz_port=self.healthz_port,
            namespace=self.namespace,
        )
        with self.log_path.open("ab") as out:
            self.proc = subprocess.Popen(
                args, stdout=out, stderr=subprocess.STDOUT, env=controller_env(self.namespace)
            )

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> int | None:
        """SIGTERM (Argo shuts down its workers), SIGKILL after 15 s; the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode

    def reconciles(self) -> dict[tuple[str, str], int]:
        """Reconciles done so far, per (namespace, name), from Argo's `rollout_reconcile`
        histogram; empty while the metrics server is not up."""
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                text = response.read().decode()
        except OSError:
            return {}
        counts: dict[tuple[str, str], int] = {}
        for labels, value in _RECONCILE.findall(text):
            found = dict(_LABEL.findall(labels))
            counts[(found.get("namespace", ""), found.get("name", ""))] = int(float(value))
        return counts

    def status_patches(self) -> int:
        """Rollout status patches Argo logged (`Patched: ...`, `Patched conditions: ...`);
        a reconcile that finds the status as it would write it logs `Skipping patch`."""
        if not self.log_path.exists():
            return 0
        text = self.log_path.read_text(errors="replace")
        return len(re.findall(r'"msg":"Patched( conditions)?: ', text))

    def logs(self, lines: int = 40) -> str:
        if not self.log_path.exists():
            return ""
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join([f"--- {self.log_path.name} (last {lines} lines)", *text[-lines:]])
