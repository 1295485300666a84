"""The metrics collector, fed from fake controller state: what each series says, and that a
deleted Rollout leaves nothing behind."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from rolloutd.controller.rollouts import ReconcileStats, RolloutView
from rolloutd.kube.client import Request
from rolloutd.kube.workqueue import WorkQueue
from rolloutd.metrics import MetricsCollector, exposition, new_registry

JsonDict = dict[str, Any]
VS = "VirtualService ns/vs, http route primary"


@dataclass
class FakeController:
    rollouts: list[RolloutView] = field(default_factory=list)
    stats: ReconcileStats = field(default_factory=ReconcileStats)
    queue: WorkQueue[tuple[str, str]] = field(default_factory=lambda: WorkQueue("rollouts"))
    broken: bool = False

    def views(self) -> Sequence[RolloutView]:
        if self.broken:
            raise RuntimeError("a router blew up")
        return self.rollouts


def rollout(
    name: str,
    namespace: str = "ns",
    *,
    routing: JsonDict | None = None,
    status: JsonDict | None = None,
    replicas: int | None = 5,
) -> JsonDict:
    canary: JsonDict = {"canaryService": "c", "stableService": "s", "steps": []}
    if routing is not None:
        canary["trafficRouting"] = routing
    spec: JsonDict = {"strategy": {"canary": canary}}
    if replicas is not None:
        spec["replicas"] = replicas
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
        "status": status or {},
    }


ISTIO = {"istio": {"virtualServices": [{"name": "vs", "routes": ["primary"]}]}}


def view(
    obj: JsonDict,
    desired: int | None = None,
    observed: dict[str, list[tuple[str, int]]] | None = None,
) -> RolloutView:
    return RolloutView(obj, desired, observed or {})


class Scrape:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

    def __call__(self, metric: str, /, **labels: str) -> float | None:
        return self.registry.get_sample_value(metric, labels)

    def series(self, name: str) -> list[dict[str, str]]:
        text = exposition(self.registry).decode()
        return [
            sample.labels
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if sample.name == name
        ]


@pytest.fixture
def controller() -> FakeController:
    return FakeController()


@pytest.fixture
def collector(controller: FakeController) -> MetricsCollector:
    c = MetricsCollector(identity="pod-a", version="9.9.9")
    c.controller = controller
    return c


@pytest.fixture
def scrape(collector: MetricsCollector) -> Scrape:
    return Scrape(new_registry(collector))


def test_weights_per_rollout_and_per_routing_object(
    controller: FakeController, scrape: Scrape
) -> None:
    controller.rollouts = [
        view(rollout("demo", routing=ISTIO), 20, {"istio": [(VS, 20), ("VirtualService ns/b", 20)]})
    ]
    assert scrape("rolloutd_traffic_weight_desired", namespace="ns", rollout="demo") == 20
    assert (
        scrape(
            "rolloutd_traffic_weight_actual",
            namespace="ns",
            rollout="demo",
            router="istio",
            object=VS,
        )
        == 20
    )
    assert len(scrape.series("rolloutd_traffic_weight_actual")) == 2
    assert scrape("rolloutd_traffic_weight_in_agreement", namespace="ns", rollout="demo") == 1


def test_one_object_off_the_desired_weight_is_disagreement(
    controller: FakeController, scrape: Scrape
) -> None:
    controller.rollouts = [
        view(rollout("demo", routing=ISTIO), 40, {"istio": [(VS, 40), ("VirtualService ns/b", 0)]})
    ]
    assert scrape("rolloutd_traffic_weight_in_agreement", namespace="ns", rollout="demo") == 0


def test_no_reading_at_all_is_not_agreement(controller: FakeController, scrape: Scrape) -> None:
    # The VirtualService is missing: nothing carries the weight the Rollout wants.
    controller.rollouts = [view(rollout("demo", routing=ISTIO), 20, {})]
    assert scrape("rolloutd_traffic_weight_in_agreement", namespace="ns", rollout="demo") == 0
    assert scrape.series("rolloutd_traffic_weight_actual") == []


def test_rollout_without_traffic_routing_has_info_but_no_weights(
    controller: FakeController, scrape: Scrape
) -> None:
    controller.rollouts = [view(rollout("basic"))]
    assert scrape.series("rolloutd_traffic_weight_desired") == []
    assert scrape.series("rolloutd_traffic_weight_in_agreement") == []
    assert scrape.series("rollout_info") == [
        {
            "namespace": "ns",
            "name": "basic",
            "strategy": "canary",
            "traffic_router": "",
            "phase": "Progressing",
        }
    ]


def test_standby_shows_the_weight_the_leader_recorded(
    controller: FakeController, scrape: Scrape
) -> None:
    # A standby never reconciles, so the planner's weight is unknown there; the status knows.
    status = {"canary": {"weights": {"canary": {"weight": 60}, "stable": {"weight": 40}}}}
    controller.rollouts = [view(rollout("demo", routing=ISTIO, status=status), None, {})]
    assert scrape("rolloutd_traffic_weight_desired", namespace="ns", rollout="demo") == 60


def test_deleted_rollout_leaves_no_series(controller: FakeController, scrape: Scrape) -> None:
    controller.rollouts = [
        view(rollout("a", routing=ISTIO), 20, {"istio": [(VS, 20)]}),
        view(rollout("b", routing=ISTIO), 40, {"istio": [(VS, 40)]}),
    ]
    controller.stats.corrections[("ns", "b", "istio")] = 3
    assert len(scrape.series("rollout_info")) == 2
    assert (
        scrape(
            "rolloutd_traffic_weight_corrections_total", namespace="ns", rollout="b", router="istio"
        )
        == 3
    )

    controller.rollouts = controller.rollouts[:1]
    names = {s.get("rollout") or s.get("name") for n in ALL_PER_ROLLOUT for s in scrape.series(n)}
    assert names == {"a"}


ALL_PER_ROLLOUT = (
    "rolloutd_traffic_weight_desired",
    "rolloutd_traffic_weight_actual",
    "rolloutd_traffic_weight_in_agreement",
    "rolloutd_traffic_weight_corrections_total",
    "rollout_info",
    "rollout_info_replicas_available",
    "rollout_info_replicas_unavailable",
    "rollout_info_replicas_desired",
    "rollout_info_replicas_updated",
    "rollout_events_total",
)


@pytest.mark.parametrize(
    ("conditions", "phase"),
    [
        ([], "Progressing"),
        ([{"type": "Progressing", "reason": "NewReplicaSetAvailable"}], "Completed"),
        ([{"type": "Progressing", "reason": "RolloutPaused"}], "Paused"),
        ([{"type": "Progressing", "reason": "ProgressDeadlineExceeded"}], "Timeout"),
        ([{"type": "Progressing", "reason": "RolloutAborted"}], "Abort"),
        ([{"type": "Progressing", "reason": "ReplicaSetCreateError"}], "Error"),
        ([{"type": "Progressing", "reason": "ReplicaSetUpdated"}], "Progressing"),
        (
            [
                {"type": "Progressing", "reason": "NewReplicaSetAvailable"},
                {"type": "InvalidSpec", "reason": "InvalidSpec"},
            ],
            "InvalidSpec",
        ),
    ],
)
def test_rollout_info_phase_is_argos(
    controller: FakeController, scrape: Scrape, conditions: list[JsonDict], phase: str
) -> None:
    controller.rollouts = [view(rollout("demo", routing=ISTIO, status={"conditions": conditions}))]
    [labels] = scrape.series("rollout_info")
    assert labels["phase"] == phase
    assert labels["traffic_router"] == "Istio"


@pytest.mark.parametrize(
    ("routing", "label"),
    [
        ({"smi": {"trafficSplitName": "x"}}, "SMI"),
        ({"plugins": {"argoproj-labs/openshift": {"routes": ["r"]}}}, ""),
        ({"nginx": {"stableIngress": "i"}}, "Nginx"),
    ],
)
def test_rollout_info_traffic_router_label(
    controller: FakeController, scrape: Scrape, routing: JsonDict, label: str
) -> None:
    controller.rollouts = [view(rollout("demo", routing=routing))]
    [labels] = scrape.series("rollout_info")
    assert labels["traffic_router"] == label


def test_replica_counts(controller: FakeController, scrape: Scrape) -> None:
    status = {"replicas": 7, "availableReplicas": 6, "updatedReplicas": 2}
    controller.rollouts = [
        view(rollout("demo", status=status)),
        view(rollout("one", replicas=None)),
    ]
    assert scrape("rollout_info_replicas_available", namespace="ns", name="demo") == 6
    assert scrape("rollout_info_replicas_unavailable", namespace="ns", name="demo") == 1
    assert scrape("rollout_info_replicas_desired", namespace="ns", name="demo") == 5
    assert scrape("rollout_info_replicas_updated", namespace="ns", name="demo") == 2
    # spec.replicas defaults to 1, as in Kubernetes.
    assert scrape("rollout_info_replicas_desired", namespace="ns", name="one") == 1


def test_reconcile_durations_are_drained_into_the_histogram_once(
    controller: FakeController, scrape: Scrape
) -> None:
    controller.stats.durations.extend([0.004, 0.2, 3.0])
    controller.stats.errors = 2
    assert scrape("rolloutd_reconcile_duration_seconds_count") == 3
    assert scrape("rolloutd_reconcile_duration_seconds_bucket", le="0.005") == 1
    assert scrape("rolloutd_reconcile_duration_seconds_bucket", le="+Inf") == 3
    assert controller.stats.durations == []
    controller.stats.durations.append(0.01)
    assert scrape("rolloutd_reconcile_duration_seconds_count") == 4
    assert scrape("rolloutd_reconcile_errors_total") == 2
    # The histogram has no per-object labels.
    assert {frozenset(s) for s in scrape.series("rolloutd_reconcile_duration_seconds_bucket")} == {
        frozenset({"le"})
    }


def test_work_queue_series(controller: FakeController, scrape: Scrape) -> None:
    queue = controller.queue
    queue.add(("ns", "a"))
    queue.add(("ns", "b"))
    queue.add_rate_limited(("ns", "c"))
    queue.stats.wait_seconds.extend([0.0005, 2.0])
    assert scrape("workqueue_depth", name="rollouts") == 2
    assert scrape("workqueue_adds_total", name="rollouts") == 2
    assert scrape("workqueue_retries_total", name="rollouts") == 1
    assert scrape("workqueue_queue_duration_seconds_count", name="rollouts") == 2
    assert scrape("workqueue_queue_duration_seconds_bucket", name="rollouts", le="0.001") == 1
    assert queue.stats.wait_seconds == []


def test_api_requests_by_verb_resource_and_code(
    collector: MetricsCollector, scrape: Scrape
) -> None:
    collector.observe_request(Request("patch", "rollouts/status", 200, "default", "web"))
    collector.observe_request(Request("patch", "rollouts/status", 200, "default", "web"))
    collector.observe_request(Request("get", "leases", 404, "default", "rolloutd"))
    collector.observe_request(Request("watch", "services", 0, "default"))
    assert (
        scrape("rolloutd_kube_requests_total", verb="patch", resource="rollouts/status", code="200")
        == 2
    )
    assert scrape("rolloutd_kube_requests_total", verb="get", resource="leases", code="404") == 1
    assert (
        scrape("rolloutd_kube_requests_total", verb="watch", resource="services", code="<error>")
        == 1
    )


def test_events_counted_per_rollout_and_forgotten_with_it(
    controller: FakeController, collector: MetricsCollector, scrape: Scrape
) -> None:
    controller.rollouts = [view(rollout("demo"))]
    collector.observe_event("ns", "demo", "Normal", "RolloutStepCompleted", "step 1")
    collector.observe_event("ns", "demo", "Normal", "RolloutStepCompleted", "step 2")
    labels = {"namespace": "ns", "name": "demo", "type": "Normal", "reason": "RolloutStepCompleted"}
    assert scrape("rollout_events_total", **labels) == 2
    controller.rollouts = []
    assert scrape.series("rollout_events_total") == []
    assert collector.events == {}


def test_leader_build_and_config_gauges(controller: FakeController) -> None:
    state = {"leader": False, "valid": True, "pending": False}
    collector = MetricsCollector(
        identity="pod-b",
        is_leader=lambda: state["leader"],
        config_valid=lambda: state["valid"],
        restart_pending=lambda: state["pending"],
        version="1.2.3",
    )
    collector.controller = controller
    scrape = Scrape(new_registry(collector))
    assert scrape("rolloutd_leader", identity="pod-b") == 0
    state.update(leader=True, valid=False, pending=True)
    assert scrape("rolloutd_leader", identity="pod-b") == 1
    assert scrape("rolloutd_config_valid") == 0
    assert scrape("rolloutd_config_restart_pending") == 1
    [build] = scrape.series("rolloutd_build_info")
    assert build["version"] == "1.2.3" and build["python"].count(".") == 2


def test_a_failing_cache_read_does_not_take_metrics_down(
    controller: FakeController, scrape: Scrape
) -> None:
    controller.broken = True
    controller.stats.errors = 1
    assert scrape.series("rollout_info") == []
    assert scrape("rolloutd_reconcile_errors_total") == 1
    assert scrape("rolloutd_leader", identity="pod-a") == 1


def test_registries_are_private() -> None:
    one = Scrape(new_registry(MetricsCollector(identity="one")))
    two = Scrape(new_registry(MetricsCollector(identity="two")))
    assert one("rolloutd_leader", identity="two") is None
    assert two("rolloutd_leader", identity="two") == 1


def test_exposition_is_valid_prometheus_text(controller: FakeController, scrape: Scrape) -> None:
    controller.rollouts = [view(rollout("demo", routing=ISTIO), 20, {"istio": [(VS, 20)]})]
    text = exposition(scrape.registry).decode()
    families = {f.name: f.type for f in text_string_to_metric_families(text)}
    assert families["rolloutd_traffic_weight_desired"] == "gauge"
    assert families["rolloutd_traffic_weight_corrections"] == "counter"
    assert families["rolloutd_reconcile_duration_seconds"] == "histogram"
    assert families["workqueue_queue_duration_seconds"] == "histogram"
    assert families["rolloutd_kube_requests"] == "counter"
    assert "process_resident_memory_bytes" in text


# -- Argo Rollouts' own names (controller/metrics/prommetrics.go) -------------------------------


def test_argo_reconcile_histogram_and_errors_per_rollout_end_with_the_rollout(
    controller: FakeController, scrape: Scrape
) -> None:
    controller.rollouts = [view(rollout("demo"))]
    controller.stats.per_rollout.observe(("ns", "demo"), 0.005, failed=False)
    controller.stats.per_rollout.observe(("ns", "demo"), 0.3, failed=True)
    controller.stats.per_rollout.observe(("ns", "gone"), 0.3, failed=False)
    labels = {"namespace": "ns", "name": "demo"}
    # Argo's five buckets, cumulative; the sum is kept.
    assert scrape("rollout_reconcile_bucket", **labels, le="0.01") == 1
    assert scrape("rollout_reconcile_bucket", **labels, le="0.25") == 1
    assert scrape("rollout_reconcile_bucket", **labels, le="0.5") == 2
    assert scrape("rollout_reconcile_bucket", **labels, le="+Inf") == 2
    assert scrape("rollout_reconcile_count", **labels) == 2
    assert scrape("rollout_reconcile_sum", **labels) == pytest.approx(0.305)
    assert scrape("rollout_reconcile_error_total", **labels) == 1
    # A Rollout the caches no longer hold has no series.
    assert scrape("rollout_reconcile_count", namespace="ns", name="gone") is None
    assert ("ns", "gone") not in controller.stats.per_rollout.by_key


def test_argo_deprecated_rollout_phase_has_one_series_per_phase(
    controller: FakeController, scrape: Scrape
) -> None:
    paused = {"conditions": [{"type": "Progressing", "reason": "RolloutPaused"}]}
    controller.rollouts = [view(rollout("demo", status=paused))]
    series = {
        s["phase"]: scrape("rollout_phase", **s)
        for s in scrape.series("rollout_phase")
        if s["name"] == "demo"
    }
    assert series == {
        "Completed": 0,
        "Progressing": 0,
        "Paused": 1,
        "Timeout": 0,
        "Error": 0,
        "Abort": 0,
    }
    assert scrape.series("rollout_phase")[0]["strategy"] == "canary"


def test_argo_request_counter_names_objects_as_argo_does(
    collector: MetricsCollector, scrape: Scrape
) -> None:
    collector.observe_request(Request("patch", "rollouts/status", 200, "ns", "demo"))
    collector.observe_request(Request("list", "rollouts", 200, "ns"))
    collector.observe_request(Request("create", "replicasets", 201, "ns", "demo-6d8f"))
    collector.observe_request(Request("create", "events", 201, "ns", "demo.17a"))
    metric = "controller_clientset_k8s_request_total"
    assert (
        scrape(
            metric, kind="rollouts", namespace="ns", name="demo", verb="Patch", status_code="200"
        )
        == 1
    )
    # Lists, ReplicaSets and Events are not named, as in Argo's client wrapper.
    assert scrape(
        metric, kind="rollouts", namespace="ns", name="N/A", verb="List", status_code="200"
    )
    assert scrape(
        metric, kind="replicasets", namespace="ns", name="N/A", verb="Create", status_code="201"
    )
    assert scrape(
        metric, kind="events", namespace="ns", name="N/A", verb="Create", status_code="201"
    )


def test_argo_request_counter_is_bounded(
    collector: MetricsCollector, scrape: Scrape, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("rolloutd.metrics.ARGO_REQUEST_SERIES", 2)
    for name in ("a", "b", "c", "d"):
        collector.observe_request(Request("get", "services", 200, "ns", name))
    names = sorted(s["name"] for s in scrape.series("controller_clientset_k8s_request_total"))
    assert names == ["N/A", "a", "b"]
    assert (
        scrape(
            "controller_clientset_k8s_request_total",
            kind="services",
            namespace="ns",
            name="N/A",
            verb="Get",
            status_code="200",
        )
        == 2
    )


def test_argo_controller_info_and_heap_gauge(scrape: Scrape) -> None:
    assert scrape("argo_rollouts_controller_info", version="9.9.9") == 1
    heap = scrape("go_memstats_heap_alloc_bytes")
    assert heap is not None and heap > 1_000_000
