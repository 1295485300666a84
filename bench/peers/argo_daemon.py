"""Argo Rollouts' controller as the controller under test: the bench's view of the peer.

The same workloads run against it as against `rolloutd run` (`bench.workloads.ControllerRun`
takes either), so every figure is measured the same way: CPU and RSS from /proc, and what the
controller did from its own /metrics, read in Argo's names:

- API requests: `controller_clientset_k8s_request_total{kind,verb,status_code}`. Argo counts
  them in a client-go transport wrapper, which names the resource by its URL path (`rollouts`,
  `replicasets`, ...) and the verb in Go's case (`Patch`, `List`, ...); a watch is a GET and is
  counted as `List`, so Argo's "reads" include its watches. The Event recorder has a client of
  its own that the wrapper does not see: Argo's Events are not in its write counts.
- reconciles: `rollout_reconcile_count` summed over rollouts.
- queue depth: `workqueue_depth` summed over Argo's queues.

Argo has no readiness endpoint that waits for its caches: its `/healthz` answers once the
health server is up, so "ready" means something weaker for Argo than for rolloutd; the
figures that matter (every rollout reconciled, every rollout Healthy) are read from the API.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import yaml
from prometheus_client.parser import text_string_to_metric_families

from bench.daemon import ControllerProcess, Scrape
from bench.peers.argo import controller_args, controller_env
from rolloutd.kube.client import KubeClient
from rolloutd.manifests import config_dir
from rolloutd_dev.sandbox.cluster import apply_crd

DEFAULT_QPS = 40.0
DEFAULT_BURST = 80
"""Argo's own defaults (`--qps`, `--burst`)."""


def parse_argo_metrics(text: str, at: float) -> Scrape:
    requests: Counter[tuple[str, str, str]] = Counter()
    reconciles = reconcile_seconds = depth = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = sample.labels
            if sample.name == "controller_clientset_k8s_request_total":
                verb = labels.get("verb", "").lower()
                resource = labels.get("kind", "").lower()
                requests[(verb, resource, labels.get("status_code", ""))] += int(sample.value)
            elif sample.name == "rollout_reconcile_count":
                reconciles += sample.value
            elif sample.name == "rollout_reconcile_sum":
                reconcile_seconds += sample.value
            elif sample.name == "workqueue_depth":
                depth += sample.value
    return Scrape(at, requests, reconciles, reconcile_seconds, depth)


class ArgoDaemon(ControllerProcess):
    """`rollouts-controller --namespaced --namespace NS --instance-id ID` as a child process."""

    name = "argo-rollouts"
    ready_path = "/healthz"

    def __init__(
        self,
        *,
        binary: Path,
        kubeconfig: str,
        namespace: str,
        instance_id: str,
        log_path: Path,
        qps: float = DEFAULT_QPS,
        burst: int = DEFAULT_BURST,
    ) -> None:
        super().__init__(
            kubeconfig=kubeconfig, namespace=namespace, instance_id=instance_id, log_path=log_path
        )
        self.binary = binary
        self.qps = qps
        self.burst = burst

    def command(self) -> list[str]:
        return controller_args(
            self.binary,
            kubeconfig=self.kubeconfig,
            metrics_port=self.metrics_port,
            healthz_port=self.health_port,
            namespace=self.namespace,
            instance_id=self.instance_id,
            qps=self.qps,
            burst=self.burst,
        )

    def environment(self) -> dict[str, str]:
        return controller_env(self.namespace)

    def parse(self, text: str, at: float) -> Scrape:
        return parse_argo_metrics(text, at)


async def apply_crds(kube: KubeClient, docs: list[dict[str, Any]]) -> None:
    """Server-side apply over the CRDs in place (a delete would delete every Rollout): the two
    controllers share the group and kinds, so swapping CRDs is all a switch takes."""
    for doc in docs:
        await apply_crd(kube, doc)


def rolloutd_crds() -> list[dict[str, Any]]:
    """rolloutd's own CRDs, as `config/crd` ships them."""
    docs: list[dict[str, Any]] = []
    for path in sorted(config_dir("crd").glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return docs
