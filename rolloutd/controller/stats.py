"""Per-object reconcile figures in the shape of Argo Rollouts' `*_reconcile` histograms.

Argo exports `rollout_reconcile` and `analysis_run_reconcile` as histograms per namespace and
name, with its own five buckets, and `*_reconcile_error` counters beside them; users' Grafana
dashboards and alerts query those names. A prometheus_client Histogram child per object costs
kilobytes; these counts cost a few dozen bytes, which matters at ten thousand Rollouts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from prometheus_client.metrics_core import CounterMetricFamily, HistogramMetricFamily, Metric

Key = tuple[str, str]

ARGO_RECONCILE_BUCKETS = (0.01, 0.15, 0.25, 0.5, 1.0)
"""Argo's buckets for every `*_reconcile` histogram (controller/metrics/prommetrics.go)."""


@dataclass(slots=True)
class _Counts:
    buckets: list[int]
    count: int = 0
    total: float = 0.0
    errors: int = 0


@dataclass
class ObjectTimings:
    """Reconcile durations and failures per (namespace, name)."""

    by_key: dict[Key, _Counts] = field(default_factory=dict)

    def observe(self, key: Key, seconds: float, *, failed: bool) -> None:
        counts = self.by_key.get(key)
        if counts is None:
            counts = self.by_key[key] = _Counts([0] * len(ARGO_RECONCILE_BUCKETS))
        counts.count += 1
        counts.total += seconds
        counts.errors += failed
        for i, bound in enumerate(ARGO_RECONCILE_BUCKETS):
            if seconds <= bound:
                counts.buckets[i] += 1

    def forget_missing(self, live: set[Key]) -> None:
        """Drop deleted objects, so their series end with them (a re-created one restarts)."""
        for key in [k for k in self.by_key if k not in live]:
            del self.by_key[key]

    def families(self, prefix: str, what: str) -> Iterable[Metric]:
        """`<prefix>_reconcile` and `<prefix>_reconcile_error`, labelled as Argo labels them."""
        histogram = HistogramMetricFamily(
            f"{prefix}_reconcile",
            f"{what} reconciliation performance (Argo Rollouts' metric).",
            labels=["namespace", "name"],
        )
        errors = CounterMetricFamily(
            f"{prefix}_reconcile_error",
            f"Errors occurring during the {what.lower()} reconcile (Argo Rollouts' metric).",
            labels=["namespace", "name"],
        )
        for (namespace, name), counts in sorted(self.by_key.items()):
            cumulative = [
                (repr(bound), float(n))
                for bound, n in zip(ARGO_RECONCILE_BUCKETS, counts.buckets, strict=True)
            ]
            histogram.add_metric(
                [namespace, name], [*cumulative, ("+Inf", float(counts.count))], counts.total
            )
            errors.add_metric([namespace, name], counts.errors)
        return [histogram, errors]
