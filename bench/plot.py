"""PNG plots from result files: latency percentiles against the floor, and RSS against N.

Several runs at the same N are folded into their median, as in the table. The Agg backend is
chosen before pyplot is imported: benchmarks run headless.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # after use(): the backend must be chosen first

JsonDict = dict[str, Any]
PERCENTILES = ("p50", "p90", "p99", "max")
RSS_BUDGET_MIB = 200


def _median(runs: Sequence[JsonDict], *path: str) -> float | None:
    values = []
    for run in runs:
        node: Any = run
        for part in path:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, int | float):
            values.append(float(node))
    return statistics.median(values) if values else None


def latency(runs: Sequence[JsonDict], path: Path) -> Path:
    """Grouped bars: p50/p90/p99/max of 2a and 2b, rolloutd next to the floor (log scale)."""
    n = max(r["settings"]["n"] for r in runs)
    chosen = [r for r in runs if r["settings"]["n"] == n]
    series = [
        ("2a rolloutd", "latency_a", "#1f77b4"),
        ("2a floor", "floor_latency_a", "#aec7e8"),
        ("2b rolloutd", "latency_b", "#d62728"),
        ("2b floor", "floor_latency_b", "#ff9896"),
    ]
    fig, ax = plt.subplots(figsize=(8, 4.5))
    width = 0.2
    for i, (label, key, colour) in enumerate(series):
        values = [_median(chosen, key, "latency_ms", p) or 0.0 for p in PERCENTILES]
        xs = [x + (i - 1.5) * width for x in range(len(PERCENTILES))]
        bars = ax.bar(xs, values, width, label=label, color=colour)
        ax.bar_label(bars, fmt="%.0f", fontsize=7, padding=1)
    ax.set_xticks(range(len(PERCENTILES)), PERCENTILES)
    ax.set_yscale("log")
    ax.set_ylabel("promote returned -> VirtualService seen (ms)")
    promotions = chosen[0]["settings"]["latency_n"]
    ax.set_title(
        f"Decision-to-traffic latency, {n} rollouts loaded, {promotions} promotions each "
        f"(median of {len(chosen)} run{'s' if len(chosen) > 1 else ''})",
        fontsize=10,
    )
    ax.legend(fontsize=8)
    ax.grid(axis="y", which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def rss(runs: Sequence[JsonDict], path: Path) -> Path:
    """Peak and steady RSS of the daemon against the number of rollouts, with the budget."""
    by_n: dict[int, list[JsonDict]] = defaultdict(list)
    for run in runs:
        by_n[run["settings"]["n"]].append(run)
    ns = sorted(by_n)
    # The run's peak: the first daemon's (load) or the second's (latency, throughput).
    peak = [
        statistics.median(
            max(r["load"]["rss_peak_mib"], (r.get("controller_end") or {}).get("rss_peak_mib", 0))
            for r in by_n[n]
        )
        for n in ns
    ]
    steady = [_median(by_n[n], "load", "rss_after_idle_mib") or 0.0 for n in ns]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.plot(ns, peak, "o-", label="peak (VmHWM)")
    ax.plot(ns, steady, "s-", label="steady, after idle (VmRSS)")
    ax.axhline(RSS_BUDGET_MIB, color="grey", linestyle="--", label="budget at 1,000 rollouts")
    for x, y in zip(ns, peak, strict=True):
        ax.annotate(f"{y:.0f}", (x, y), textcoords="offset points", xytext=(0, 6), fontsize=8)
    ax.set_xlabel("rollouts (each: 2 pods, 2 Services, 1 VirtualService)")
    ax.set_ylabel("daemon RSS (MiB)")
    ax.set_ylim(bottom=0)
    ax.set_title("rolloutd memory against N", fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def draw(runs: Sequence[JsonDict], out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    return [latency(runs, out / "latency.png"), rss(runs, out / "rss.png")]
