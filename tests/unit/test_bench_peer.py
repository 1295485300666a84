"""The bench's reading of Argo Rollouts' metrics and its side-by-side table (pure code).

The sample is shaped as Argo v1.10's `/metrics` prints it: requests counted per resource and
Go-cased verb by its client-go transport wrapper, reconciles in the `rollout_reconcile`
histogram, client-go's work queues in `workqueue_depth`.
"""

from __future__ import annotations

import pytest

from bench import report
from bench.peers.argo_daemon import parse_argo_metrics


def _request(kind: str, name: str, code: int, verb: str, count: int) -> str:
    labels = f'kind="{kind}",name="{name}",namespace="b",status_code="{code}",verb="{verb}"'
    return f"controller_clientset_k8s_request_total{{{labels}}} {count}\n"


ARGO_METRICS = (
    "# HELP controller_clientset_k8s_request_total Number of kubernetes requests executed\n"
    "# TYPE controller_clientset_k8s_request_total counter\n"
    + _request("rollouts", "r0001", 200, "Patch", 3)
    + _request("rollouts", "r0002", 200, "Patch", 2)
    + _request("replicasets", "N/A", 201, "Create", 2)
    + _request("rollouts", "N/A", 200, "List", 1)
    + """\
# HELP rollout_reconcile Rollout reconciliation performance.
# TYPE rollout_reconcile histogram
rollout_reconcile_bucket{name="r0001",namespace="b",le="+Inf"} 4
rollout_reconcile_sum{name="r0001",namespace="b"} 0.25
rollout_reconcile_count{name="r0001",namespace="b"} 4
rollout_reconcile_bucket{name="r0002",namespace="b",le="+Inf"} 3
rollout_reconcile_sum{name="r0002",namespace="b"} 0.5
rollout_reconcile_count{name="r0002",namespace="b"} 3
# HELP workqueue_depth Current depth of workqueue
# TYPE workqueue_depth gauge
workqueue_depth{name="rollouts"} 2
workqueue_depth{name="services"} 1
"""
)


def test_argo_metrics_read_as_the_bench_counts_rolloutd() -> None:
    scrape = parse_argo_metrics(ARGO_METRICS, at=1.0)
    assert scrape.reconciles == 7
    assert scrape.reconcile_seconds == pytest.approx(0.75)
    assert scrape.queue_depth == 3
    empty = parse_argo_metrics("", at=0.0)
    # Patches of two objects add up per (verb, resource); a List is a read.
    assert scrape.writes_since(empty) == {("patch", "rollouts"): 5, ("create", "replicasets"): 2}
    assert scrape.reads_since(empty) == {("list", "rollouts"): 1}


def _run(value: float, argo: float | None, matched: float | None) -> dict[str, object]:
    peers: dict[str, object] = {}
    if argo is not None:
        peers["argo"] = {"latency_a": {"latency_ms": {"p50": argo}}}
    if matched is not None:
        peers["argo_matched"] = {"latency_a": {"latency_ms": {"p50": matched}}}
    return {"latency_a": {"latency_ms": {"p50": value}}, "peers": peers}


def test_peer_rows_take_medians_per_controller_and_their_ratios() -> None:
    runs = [_run(10, 20, 40), _run(30, 40, None), _run(20, 60, 20)]
    row = next(r for r in report.peer_rows(runs) if r.name == "latency 2a (weight only) p50")
    assert row.value == 20
    assert row.peers == (40, 30)
    assert row.ratio(0) == pytest.approx(0.5)
    assert row.ratio(1) == pytest.approx(20 / 30)
    missing = next(r for r in report.peer_rows(runs) if r.name == "RSS peak")
    assert missing.value is None and missing.ratio(0) is None
    text = report.peer_table(report.peer_rows(runs), markdown=True)
    assert "| latency 2a (weight only) p50 | ms | 20.0 | 40.0 | 0.50x | 30.0 | 0.67x |" in text
