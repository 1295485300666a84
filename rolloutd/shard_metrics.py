"""Per-replica sharding metrics (docs/scale-out.md), served beside the others on /metrics.

- `rolloutd_shards_held`: shard Leases this replica holds with a fresh renewal (may write).
- `rolloutd_rollouts_owned`: cached Rollouts whose shard is among those.
- `rolloutd_shard_handovers_total`: shards gained plus shards given up or lost.
- `rolloutd_shard_members`: live replicas this one counts in the assignment.
- `rolloutd_writes_total{namespace,name}`: write requests (create, update, patch, delete) made
  on behalf of each Rollout by this replica, its AnalysisRuns and Experiments included. Only
  exported with sharding on, where it is what shows that a Rollout had one writer at a time;
  the series count is bounded by the Rollouts this replica ever worked on.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric

from rolloutd.kube.informer import object_key
from rolloutd.kube.shards import ShardManager


class ShardCollector:
    def __init__(self, manager: ShardManager, rollouts: Any) -> None:
        self.manager = manager
        self.rollouts = rollouts

    def describe(self) -> Iterable[Metric]:
        return []

    def collect(self) -> Iterable[Metric]:
        manager = self.manager
        yield GaugeMetricFamily(
            "rolloutd_shards_held",
            "Shard Leases this replica holds with a fresh renewal",
            value=manager.held_fresh(),
        )
        owned = sum(1 for obj in self.rollouts.items() if manager.owns(object_key(obj)))
        yield GaugeMetricFamily(
            "rolloutd_rollouts_owned", "Rollouts in the shards this replica holds", value=owned
        )
        yield CounterMetricFamily(
            "rolloutd_shard_handovers",
            "Shards this replica gained, gave up or lost",
            value=manager.handovers,
        )
        yield GaugeMetricFamily(
            "rolloutd_shard_members",
            "Live replicas in the shard assignment",
            value=len(manager.members),
        )
        writes = CounterMetricFamily(
            "rolloutd_writes",
            "Write requests made on behalf of a Rollout by this replica",
            labels=["namespace", "name"],
        )
        for (namespace, name), count in sorted(manager.writes.items()):
            writes.add_metric([namespace, name], count)
        yield writes
