"""The human table: each figure, the floor's figure, their ratio, and the target it is held to.

`rows` reads one run's results (the JSON `bench run` writes); `median_rows` takes several runs
and reports the median of each figure, which is what BENCHMARKS.md quotes. A target is only
shown as met or missed; nothing here raises, because benchmarks report and never assert.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

JsonDict = dict[str, Any]


@dataclass(frozen=True)
class Row:
    name: str
    unit: str
    value: float | None
    floor: float | None = None
    target: str = ""
    met: bool | None = None

    @property
    def ratio(self) -> float | None:
        if self.value is None or not self.floor:
            return None
        return self.value / self.floor


def _get(data: JsonDict, path: str) -> float | None:
    node: Any = data
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return float(node) if isinstance(node, int | float) else None


@dataclass(frozen=True)
class Spec:
    """Where a row's value (and floor) is in the results, and the target it is held to."""

    name: str
    unit: str
    path: str
    floor: str | None = None
    target: str = ""
    check: Callable[[float, float | None, JsonDict], bool] | None = None


def _lt(limit: float) -> Callable[[float, float | None, JsonDict], bool]:
    return lambda v, f, r: v < limit


def _le(limit: float) -> Callable[[float, float | None, JsonDict], bool]:
    return lambda v, f, r: v <= limit


def _within(factor: float) -> Callable[[float, float | None, JsonDict], bool]:
    return lambda v, f, r: f is not None and f > 0 and v <= factor * f


def _rss_target(v: float, f: float | None, r: JsonDict) -> bool:
    # The brief's budget is for 1,000 rollouts; scale it for smaller N only to say "on track".
    return v < 200


SPECS: list[Spec] = [
    Spec("load: daemon start -> caches synced", "s", "load.ready_seconds"),
    Spec("load: start -> every rollout reconciled once", "s", "load.all_reconciled_once_seconds"),
    Spec("load: start -> every rollout Healthy", "s", "load.all_healthy_seconds"),
    Spec("load: daemon start-up CPU", "s", "load.startup_cpu_seconds"),
    Spec("load: writes per rollout (cold)", "", "load.load_writes_per_rollout"),
    Spec(
        "load: CPU per reconcile (cold)",
        "ms",
        "load.load_cpu_ms_per_reconcile",
        None,
        "< 2",
        _lt(2),
    ),
    Spec("RSS peak", "MiB", "load.rss_peak_mib", None, "< 200 @1000", _rss_target),
    Spec("RSS steady (idle)", "MiB", "load.rss_after_idle_mib", None, "< 200 @1000", _rss_target),
    Spec("idle: CPU", "% core", "load.idle_cpu_percent", None, "< 2", _lt(2)),
    Spec("idle: non-watch API reads", "", "load.idle_non_watch_reads", None, "0", _le(0)),
    Spec("idle: reconciles", "", "load.idle_reconciles"),
    Spec("warm restart: start -> all reconciled", "s", "load.warm_restart.all_reconciled_seconds"),
    Spec(
        "warm restart: CPU per reconcile",
        "ms",
        "load.warm_restart.cpu_ms_per_reconcile",
        None,
        "< 2",
        _lt(2),
    ),
    Spec(
        "warm restart: writes (nothing changed)",
        "",
        "load.warm_restart.writes_total",
        None,
        "0",
        _le(0),
    ),
    Spec(
        "latency 2a (weight only) p50",
        "ms",
        "latency_a.latency_ms.p50",
        "floor_latency_a.latency_ms.p50",
    ),
    Spec(
        "latency 2a (weight only) p90",
        "ms",
        "latency_a.latency_ms.p90",
        "floor_latency_a.latency_ms.p90",
    ),
    Spec(
        "latency 2a (weight only) p99",
        "ms",
        "latency_a.latency_ms.p99",
        "floor_latency_a.latency_ms.p99",
        "<= 2x floor",
        _within(2),
    ),
    Spec(
        "latency 2a (weight only) max",
        "ms",
        "latency_a.latency_ms.max",
        "floor_latency_a.latency_ms.max",
    ),
    Spec("latency 2a: promote -> watch delivery p50", "ms", "latency_a.watch_delivery_ms.p50"),
    Spec("latency 2a: promote -> step advanced p50", "ms", "latency_a.step_advanced_ms.p50"),
    Spec(
        "latency 2a: CPU per reconcile", "ms", "latency_a.cpu_ms_per_reconcile", None, "< 2", _lt(2)
    ),
    Spec(
        "latency 2a: writes per promotion",
        "",
        "latency_a.writes_per_promotion_total",
        "floor_latency_a.writes_per_promotion_total",
    ),
    Spec(
        "latency 2b (scale up) p50",
        "ms",
        "latency_b.latency_ms.p50",
        "floor_latency_b.latency_ms.p50",
    ),
    Spec(
        "latency 2b (scale up) p90",
        "ms",
        "latency_b.latency_ms.p90",
        "floor_latency_b.latency_ms.p90",
    ),
    Spec(
        "latency 2b (scale up) p99",
        "ms",
        "latency_b.latency_ms.p99",
        "floor_latency_b.latency_ms.p99",
        "<= 2x floor",
        _within(2),
    ),
    Spec(
        "latency 2b (scale up) max",
        "ms",
        "latency_b.latency_ms.max",
        "floor_latency_b.latency_ms.max",
    ),
    Spec("latency 2b: promote -> step advanced p50", "ms", "latency_b.step_advanced_ms.p50"),
    Spec(
        "latency 2b: CPU per reconcile", "ms", "latency_b.cpu_ms_per_reconcile", None, "< 2", _lt(2)
    ),
    Spec(
        "latency 2b: writes per promotion",
        "",
        "latency_b.writes_per_promotion_total",
        "floor_latency_b.writes_per_promotion_total",
    ),
    Spec(
        "throughput: image change -> all Healthy",
        "s",
        "throughput.seconds",
        "floor_throughput.seconds",
    ),
    Spec(
        "throughput: rollouts/s",
        "/s",
        "throughput.rollouts_per_second",
        "floor_throughput.rollouts_per_second",
    ),
    Spec(
        "throughput: CPU per reconcile",
        "ms",
        "throughput.cpu_ms_per_reconcile",
        None,
        "< 2",
        _lt(2),
    ),
    Spec("throughput: reconciles per rollout", "", "throughput.reconciles_per_rollout"),
    Spec(
        "throughput: writes per rollout",
        "",
        "throughput.writes_per_rollout_total",
        "floor_throughput.writes_per_rollout_total",
    ),
    Spec(
        "throughput: writes per setWeight step",
        "",
        "throughput.writes_per_step",
        "floor_throughput.writes_per_step",
        "<= 3",
        _le(3),
    ),
    Spec(
        "throughput: writes per step, without Events",
        "",
        "throughput.writes_per_step_without_events",
        "floor_throughput.writes_per_step",
        "<= 3",
        _le(3),
    ),
]


def rows(results: JsonDict) -> list[Row]:
    out = []
    for spec in SPECS:
        value = _get(results, spec.path)
        floor = _get(results, spec.floor) if spec.floor else None
        met = spec.check(value, floor, results) if spec.check and value is not None else None
        out.append(Row(spec.name, spec.unit, value, floor, spec.target, met))
    return out


def median_rows(runs: Sequence[JsonDict]) -> list[Row]:
    """Per figure, the median over runs (of the value and of the floor, each on its own)."""
    out = []
    for spec in SPECS:
        values = [v for r in runs if (v := _get(r, spec.path)) is not None]
        floors = [f for r in runs if spec.floor and (f := _get(r, spec.floor)) is not None]
        value = statistics.median(values) if values else None
        floor = statistics.median(floors) if floors else None
        met = spec.check(value, floor, runs[0]) if spec.check and value is not None else None
        out.append(Row(spec.name, spec.unit, value, floor, spec.target, met))
    return out


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def table(table_rows: Sequence[Row], *, markdown: bool = False) -> str:
    header = ["figure", "unit", "rolloutd", "floor", "ratio", "target", "met"]
    body = []
    for row in table_rows:
        met = "" if row.met is None else ("yes" if row.met else "NO")
        ratio = f"{row.ratio:.2f}x" if row.ratio is not None else "-"
        body.append([row.name, row.unit, _fmt(row.value), _fmt(row.floor), ratio, row.target, met])
    return _render(header, body, markdown=markdown)


def _render(header: list[str], body: list[list[str]], *, markdown: bool) -> str:
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(cells) + " |" for cells in body]
        return "\n".join(lines)
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    for cells in body:
        lines.append("  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)))
    return "\n".join(lines)


# -- side by side with a peer ----------------------------------------------------------------

PEERS = ("argo", "argo_matched")
"""The peer runs `bench run --peer argo` records under `peers`: Argo Rollouts at its default
QPS/burst (40/80), and unthrottled (rolloutd has no client-side rate limit)."""


@dataclass(frozen=True)
class PeerRow:
    name: str
    unit: str
    value: float | None
    peers: tuple[float | None, ...]

    def ratio(self, index: int) -> float | None:
        peer = self.peers[index]
        if self.value is None or not peer:
            return None
        return self.value / peer


def _median(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def peer_rows(runs: Sequence[JsonDict]) -> list[PeerRow]:
    """Per figure: rolloutd's median and each peer's median over the runs that have it."""
    out = []
    for spec in SPECS:
        value = _median([_get(r, spec.path) for r in runs])
        peers = tuple(
            _median([_get(r.get("peers") or {}, f"{peer}.{spec.path}") for r in runs])
            for peer in PEERS
        )
        out.append(PeerRow(spec.name, spec.unit, value, peers))
    return out


def peer_table(table_rows: Sequence[PeerRow], *, markdown: bool = False) -> str:
    """rolloutd, Argo at default QPS, the ratio, Argo unthrottled, the ratio (< 1: rolloutd
    needs less: time, CPU, memory, requests; for rollouts/s, > 1 is better)."""
    header = ["figure", "unit", "rolloutd", "Argo", "ratio", "Argo unthrottled", "ratio"]
    body = []
    for row in table_rows:
        cells = [row.name, row.unit, _fmt(row.value)]
        for index, peer in enumerate(row.peers):
            ratio = row.ratio(index)
            cells += [_fmt(peer), f"{ratio:.2f}x" if ratio is not None else "-"]
        body.append(cells)
    return _render(header, body, markdown=markdown)
