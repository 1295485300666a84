"""Where the sandbox's binaries live, and how they get built the first time.

The control plane is compiled from public Go modules by `build-binaries.sh` and cached by
version outside any checkout, so every clone and every CI run on a machine shares one build.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

K8S_VERSION = "v1.35.4"
ETCD_VERSION = "v3.6.16"
KWOK_VERSION = "v0.7.0"
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
_BUILD_SCRIPT = Path(__file__).with_name("build-binaries.sh")


class SandboxError(Exception):
    """Something about the sandbox went wrong; the message says what to do next."""


def cache_dir() -> Path:
    root = os.environ.get("ROLLOUTD_SANDBOX_CACHE")
    base = Path(root) if root else Path.home() / ".cache" / "rolloutd" / "sandbox"
    return base / K8S_VERSION


def missing_binaries(folder: Path | None = None) -> list[str]:
    folder = folder or cache_dir()
    return [c for c in COMPONENTS if not os.access(folder / c, os.X_OK)]


def tail(path: Path, lines: int = 25) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return f"(no log at {path})"
    return "\n".join(text[-lines:])


def ensure_binaries(progress: Callable[[str], None]) -> Path:
    """Return the folder holding every component, building what is missing first."""
    folder = cache_dir()
    missing = missing_binaries(folder)
    if not missing:
        return folder
    if shutil.which("go") is None:
        raise SandboxError(
            "the sandbox compiles Kubernetes from public Go modules, but no `go` is on PATH; "
            "install Go 1.25 or newer (e.g. from https://go.dev/dl or your package manager) "
            "and run the command again"
        )
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / "build.log"
    progress(
        f"building the sandbox's control plane ({', '.join(missing)}) from source into {folder}"
    )
    progress(
        f"this happens once per machine and takes about 10-20 minutes on 2 cores; full log: {log}"
    )
    started = time.monotonic()
    with log.open("w") as out:
        proc = subprocess.Popen(
            [
                "bash",
                str(_BUILD_SCRIPT),
                str(folder),
                K8S_VERSION,
                ETCD_VERSION,
                KWOK_VERSION,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert proc.stdout is not None
        for line in proc.stdout:
            out.write(line)
            out.flush()
            if line.startswith("==> "):
                elapsed = int(time.monotonic() - started)
                progress(f"[{elapsed // 60}m{elapsed % 60:02d}s] {line[4:].rstrip()}")
        code = proc.wait()
    if code != 0 or missing_binaries(folder):
        raise SandboxError(
            f"building the sandbox binaries failed (exit {code}); last lines of {log}:\n"
            f"{tail(log)}\n"
            "fix the cause above (network to the Go module proxy, disk space) and run again"
        )
    progress(f"built in {int(time.monotonic() - started)}s")
    return folder


if __name__ == "__main__":  # pragma: no cover - used by .ci/run to prebuild
    ensure_binaries(lambda m: print(m, file=sys.stderr, flush=True))
