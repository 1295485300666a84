"""The Go helper that hashes templates with Argo Rollouts' own function, built once and cached.

`tests/parity/gohash` requires github.com/argoproj/argo-rollouts (its `utils/hash` package)
and k8s.io/api at the versions Argo 1.10 builds with; it is built through the Go module proxy
into ~/.cache/rolloutd/gohash/<hash of its go.sum and main.go>/, like the sandbox binaries, so
a second run pays nothing. Without Go the parity tests are skipped, saying so.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

GOHASH_SRC = Path(__file__).resolve().parent / "gohash"
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "rolloutd" / "gohash"


def _build() -> Path:
    go = shutil.which("go")
    if go is None:
        pytest.skip("`go` is not on PATH: the parity tests build Argo's hash function with Go")
    key = hashlib.sha256()
    for name in ("go.mod", "go.sum", "main.go"):
        key.update((GOHASH_SRC / name).read_bytes())
    binary = CACHE / key.hexdigest()[:16] / "gohash"
    if binary.exists():
        return binary
    binary.parent.mkdir(parents=True, exist_ok=True)
    print(
        f"building {GOHASH_SRC} with argo-rollouts' utils/hash through the Go module proxy "
        f"into {binary} (first time only; a few minutes on a cold module cache)...",
        file=sys.stderr,
        flush=True,
    )
    tmp = binary.with_suffix(".tmp")
    subprocess.run([go, "build", "-mod=readonly", "-o", str(tmp), "."], cwd=GOHASH_SRC, check=True)
    tmp.rename(binary)
    return binary


class ArgoHash:
    """Argo's hashes of many templates at once, through one process."""

    def __init__(self, binary: Path) -> None:
        self.binary = binary

    def __call__(self, templates: Iterable[tuple[Any, int | None]]) -> list[tuple[str, str]]:
        """(hash, encoded JSON) or ("error", message) for each (template, collisionCount)."""
        lines = [json.dumps({"template": t, "collisionCount": c}) for t, c in templates]
        done = subprocess.run(
            [str(self.binary)],
            input="".join(line + "\n" for line in lines).encode(),
            capture_output=True,
            check=True,
        )
        # Not splitlines(): Go writes U+0085 and U+2028 raw, and Python splits lines at them.
        out = done.stdout.decode().split("\n")[:-1]
        assert len(out) == len(lines), done.stderr.decode()
        return [tuple(line.split("\t", 1)) for line in out]  # type: ignore[misc]

    def steps(self, cases: Iterable[Any]) -> list[tuple[str, str]]:
        """Argo's (currentStepHash, encoded steps) or ("error", message) for each steps list."""
        # Not ASCII-escaped: a plugin's config is kept by Go as the bytes it was given.
        lines = [json.dumps({"steps": s}, ensure_ascii=False) for s in cases]
        done = subprocess.run(
            [str(self.binary)],
            input="".join(line + "\n" for line in lines).encode(),
            capture_output=True,
            check=True,
        )
        out = done.stdout.decode().split("\n")[:-1]
        assert len(out) == len(lines), done.stderr.decode()
        return [tuple(line.split("\t", 1)) for line in out]  # type: ignore[misc]


@pytest.fixture(scope="session")
def argo_hash() -> ArgoHash:
    return ArgoHash(_build())
