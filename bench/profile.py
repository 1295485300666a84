"""Sampling profiles of the daemon with py-spy, and a text summary of where its CPU goes.

`Profiler` attaches `py-spy record --format raw` to the running daemon (as root no ptrace
setup is needed) and stops it with SIGINT, which makes py-spy write what it has. The raw format
is one collapsed stack per line with a sample count, which `summarize` folds into the
functions with the most samples on top of the stack (self) and anywhere in it (inclusive).
Profiled runs are for finding costs only: py-spy pauses the process to sample it, so their
timings are not reported as benchmark figures.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^():]*)(?::\d+)?\)$")
# Leaves where a thread waits rather than works. py-spy's idle detection misses some of them
# on a loaded machine (a thread blocked in epoll or on the executor's queue still shows up).
IDLE_LEAVES = (
    "EpollSelector.select (selectors.py)",
    "_worker (concurrent/futures/thread.py)",
    "Condition.wait (threading.py)",
)
# Start-up: importing rolloutd and its dependencies, before the event loop runs.
STARTUP_FRAMES = (
    "build_parser (rolloutd/main.py)",
    "_find_and_load (<frozen importlib._bootstrap>)",
)


def py_spy() -> str:
    found = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(found).exists():
        raise RuntimeError("py-spy is not installed: uv sync --group bench")
    return found


class Profiler:
    def __init__(self, pid: int, path: Path, *, rate: int = 100) -> None:
        self.pid = pid
        self.path = path.with_suffix(".txt")
        self.rate = rate
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [
                py_spy(),
                "record",
                "-p",
                str(self.pid),
                "-o",
                str(self.path),
                "--format",
                "raw",
                "--rate",
                str(self.rate),
                "--function",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    async def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGINT)
        try:
            await asyncio.to_thread(self.proc.wait, 30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                await asyncio.to_thread(self.proc.wait, 5)


def _frames(stack: str) -> list[str]:
    out = []
    for raw in stack.split(";"):
        match = FRAME.match(raw)
        out.append(f"{match['func']} ({match['file']})" if match else raw)
    return out


def summarize(paths: list[Path], *, top: int = 25) -> dict[str, Any]:
    """Self and inclusive sample shares per function, over one or more raw profiles."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = idle = startup = 0
    for path in paths:
        if not path.exists():
            continue
        for line in path.read_text(errors="replace").splitlines():
            stack, _, count_text = line.rpartition(" ")
            if not stack or not count_text.isdigit():
                continue
            count = int(count_text)
            frames = _frames(stack)
            if frames[-1] in IDLE_LEAVES:
                idle += count
                continue
            if any(f in STARTUP_FRAMES for f in frames):
                startup += count
                continue
            total += count
            own[frames[-1]] += count
            for frame in set(frames):
                inclusive[frame] += count

    def share(counter: Counter[str]) -> list[dict[str, Any]]:
        return [
            {"function": f, "samples": c, "percent": round(100 * c / max(1, total), 1)}
            for f, c in counter.most_common(top)
        ]

    return {
        "samples": total,
        "idle_samples": idle,
        "startup_samples": startup,
        "self": share(own),
        "inclusive": share(inclusive),
    }


def main(argv: list[str]) -> int:
    """`python -m bench.profile FILE...`: print the summary of raw py-spy profiles."""
    summary = summarize([Path(a) for a in argv])
    print(
        f"{summary['samples']} samples of work (left out: {summary['idle_samples']} idle, "
        f"{summary['startup_samples']} start-up)"
    )
    for kind in ("self", "inclusive"):
        print(f"\n-- {kind} --")
        for row in summary[kind]:
            print(f"{row['percent']:5.1f}%  {row['function']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
