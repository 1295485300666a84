"""Inputs the schema would let through (or that a permissive CRD stores) never crash the
planner: each is an InvalidSpec naming the field, with no action, and `lint` says the same.

Before, `maxSurge: "abc"` raised ValueError while the planner was being built, a 400-digit
pause duration raised OverflowError, `template.spec: "x"` and `labels: [app]` raised
AttributeError, and the ReplicaSets the API server refuses (duplicate container names, no
image, a selector that misses the labels) were planned and written, over and over.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
from sim import YELLOW, Cluster, rollout

from rolloutd.model.rollout import (
    MAX_DURATION_SECONDS,
    MAX_ROLLOUT_NAME,
    parse_duration,
    validate_rollout,
)

JsonDict = dict[str, Any]
INT64_MAX = 2**63 - 1


def _canary(**fields: Any) -> Callable[[JsonDict], None]:
    def edit(body: JsonDict) -> None:
        body["spec"]["strategy"]["canary"].update(fields)

    return edit


def _pause(duration: Any) -> Callable[[JsonDict], None]:
    def edit(body: JsonDict) -> None:
        body["spec"]["strategy"]["canary"]["steps"][1] = {"pause": {"duration": duration}}

    return edit


def _template(change: Callable[[JsonDict], None]) -> Callable[[JsonDict], None]:
    def edit(body: JsonDict) -> None:
        change(body["spec"]["template"])

    return edit


def _second_container(template: JsonDict) -> None:
    containers = template["spec"]["containers"]
    containers.append(copy.deepcopy(containers[0]))


def _no_image(template: JsonDict) -> None:
    del template["spec"]["containers"][0]["image"]


def _expressions(body: JsonDict) -> None:
    body["spec"]["selector"] = {
        "matchExpressions": [{"key": "app", "operator": "In", "values": ["someone-else"]}]
    }


def _long_name(body: JsonDict) -> None:
    body["metadata"]["name"] = "r" * (MAX_ROLLOUT_NAME + 1)


# Each case: what is wrong, and the field the message must start with.
PLANNABLE = [
    ("maxSurge abc", _canary(maxSurge="abc"), "spec.strategy.canary.maxSurge: "),
    ("maxUnavailable abc", _canary(maxUnavailable="abc"), "spec.strategy.canary.maxUnavailable: "),
    ("maxSurge -3", _canary(maxSurge=-3), "spec.strategy.canary.maxSurge: "),
    ("maxSurge -3%", _canary(maxSurge="-3%"), "spec.strategy.canary.maxSurge: "),
    ("maxUnavailable 150%", _canary(maxUnavailable="150%"), "spec.strategy.canary.maxUnavailable"),
    ("400-digit pause", _pause("1" * 400 + "s"), "spec.strategy.canary.steps[1].pause.duration: "),
    ("400-digit int pause", _pause("9" * 400), "spec.strategy.canary.steps[1].pause.duration: "),
    ("int64 pause", _pause(INT64_MAX), "spec.strategy.canary.steps[1].pause.duration: "),
    ("pause over the cap", _pause("596524h"), "spec.strategy.canary.steps[1].pause.duration: "),
    ("template.spec x", _template(lambda t: t.update(spec="x")), "spec.template.spec: "),
    (
        "labels a list",
        _template(lambda t: t["metadata"].update(labels=["app"])),
        "spec.template.metadata.labels: ",
    ),
    (
        "metadata a string",
        _template(lambda t: t.update(metadata="x")),
        "spec.template.metadata: ",
    ),
    (
        "containers a string",
        _template(lambda t: t["spec"].update(containers="demo")),
        "spec.template.spec.containers: ",
    ),
    (
        "duplicate container names",
        _template(_second_container),
        "spec.template.spec.containers[1].name: Duplicate value",
    ),
    ("container without image", _template(_no_image), "spec.template.spec.containers[0].image: "),
    ("matchExpressions miss the labels", _expressions, "spec.selector: "),
    ("a name too long for the ReplicaSet", _long_name, "metadata.name: "),
    (
        "annotations over 256 KiB",
        _template(lambda t: t["metadata"].update(annotations={"big": "x" * 300_000})),
        "spec.template.metadata.annotations: Too long",
    ),
    ("restartAt not a time", lambda b: b["spec"].update(restartAt="x" * 1000), "spec.restartAt: "),
    (
        "a hostile step plugin name",
        lambda b: b["spec"]["strategy"]["canary"]["steps"].insert(
            0, {"plugin": {"name": "a\u202e; rm -rf /"}}
        ),
        "spec.strategy.canary.steps[0].plugin.name: ",
    ),
    (
        "workloadRef apiVersion garbage",
        lambda b: b["spec"].update(
            workloadRef={"apiVersion": "<x>", "kind": "Deployment", "name": "demo"}
        ),
        "spec.workloadRef.apiVersion: ",
    ),
    (
        "workloadRef kind garbage",
        lambda b: b["spec"].update(workloadRef={"apiVersion": "apps/v1", "kind": "K" * 300}),
        "spec.workloadRef.kind: ",
    ),
    (
        "canaryMetadata annotation key",
        _canary(canaryMetadata={"annotations": {"not a key!": "v"}}),
        "spec.strategy.canary.canaryMetadata.annotations: ",
    ),
    (
        "stableMetadata label value",
        _canary(stableMetadata={"labels": {"role": "<stable>"}}),
        "spec.strategy.canary.stableMetadata.labels.role: ",
    ),
]

# Out of the int32 range: refused by the CRD's schema; in lint (and a controller under a
# permissive CRD) the model refuses them, naming the field.
UNPARSEABLE = [
    ("int64 scaleDownDelaySeconds", _canary(scaleDownDelaySeconds=INT64_MAX), "scaleDownDelay"),
    (
        "int64 progressDeadlineSeconds",
        lambda b: b["spec"].update(progressDeadlineSeconds=INT64_MAX),
        "spec.progressDeadlineSeconds: ",
    ),
    ("negative replicas", lambda b: b["spec"].update(replicas=-1), "spec.replicas: "),
    (
        "int64 setWeight",
        lambda b: b["spec"]["strategy"]["canary"]["steps"][0].update(setWeight=INT64_MAX),
        "spec.strategy.canary.steps[0].setWeight: ",
    ),
]


def _bad(edit: Callable[[JsonDict], None]) -> JsonDict:
    body = rollout()
    edit(body)
    return body


@pytest.mark.parametrize(
    ("edit", "field"),
    [c[1:] for c in PLANNABLE + UNPARSEABLE],
    ids=[c[0] for c in PLANNABLE + UNPARSEABLE],
)
def test_validation_names_the_field(edit: Callable[[JsonDict], None], field: str) -> None:
    errors = validate_rollout(_bad(edit))
    assert any(
        field in e and e.index(field) in (0, len("spec.strategy.canary.")) for e in errors
    ), errors
    assert all(len(e) < 400 for e in errors), errors  # hostile input stays out of messages


@pytest.mark.parametrize(
    ("edit", "field"), [c[1:] for c in PLANNABLE], ids=[c[0] for c in PLANNABLE]
)
def test_a_new_rollout_with_it_is_invalid_and_nothing_is_written(
    edit: Callable[[JsonDict], None], field: str
) -> None:
    c = Cluster.seed()
    edit(c.rollout)
    result = c.reconcile()
    assert list(result.actions) == []
    assert c.replica_sets == {}
    assert c.phase[0] == "Degraded"
    assert field in c.phase[1]
    invalid = c.condition("InvalidSpec")
    assert invalid is not None and invalid["status"] == "True"
    assert [e.reason for e in c.events] == ["InvalidSpec"]


@pytest.mark.parametrize(
    ("edit", "field"), [c[1:] for c in PLANNABLE], ids=[c[0] for c in PLANNABLE]
)
def test_an_update_with_it_is_invalid_and_the_cluster_stays(
    edit: Callable[[JsonDict], None], field: str
) -> None:
    c = Cluster.seed()
    c.settle()
    assert c.phase[0] == "Healthy"
    c.set_image(YELLOW)
    edit(c.rollout)
    before = c.world()
    c.reconcile()
    assert c.world() == before
    assert c.phase[0] == "Degraded" and field in c.phase[1]


def test_durations_are_exact_and_capped() -> None:
    assert parse_duration("1h30m") == 5400
    assert parse_duration("1.5s") == 1
    assert parse_duration("1" * 400 + "s") == MAX_DURATION_SECONDS + 1
    assert parse_duration("0.0000000000000000000001h") == 0
    assert parse_duration("0" * 400 + "5s") == 5
    assert parse_duration(f"{MAX_DURATION_SECONDS}s") == MAX_DURATION_SECONDS
    assert parse_duration("x") == -1
    assert validate_rollout(_bad(_pause(f"{MAX_DURATION_SECONDS}s"))) == []


def test_valid_int_or_percent_forms_still_pass() -> None:
    for surge, unavailable in (("25%", "0"), (3, 0), ("200%", "100%"), ("10", 1)):
        body = _bad(_canary(maxSurge=surge, maxUnavailable=unavailable))
        assert validate_rollout(body) == [], (surge, unavailable)
