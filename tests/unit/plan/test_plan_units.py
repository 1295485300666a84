"""The planner's building blocks: pod arithmetic, hashes, conditions and phase, durations and
the spec checks that feed InvalidSpec (reference §1.4, §1.7, §2.2, §3.2-3.4)."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sim import BLUE, YELLOW, rollout, template

from rolloutd.model.rollout import parse_duration, validate_rollout
from rolloutd.plan import status as stat
from rolloutd.plan.hashing import TemplateEncodingError, pod_template_hash, steps_hash
from rolloutd.plan.replicas import (
    Pods,
    basic_canary_sizes,
    basic_canary_split,
    canary_replicas,
    resolve_int_or_percent,
    weight_supported,
)

JsonDict = dict[str, Any]

# -- pod arithmetic ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("replicas", "weight", "canary"),
    [(5, 20, 1), (5, 40, 2), (5, 60, 3), (5, 80, 4), (5, 100, 5), (10, 5, 1), (3, 50, 2)],
)
def test_canary_replicas_round_up_like_argo(replicas: int, weight: int, canary: int) -> None:
    """Reference §3.3's table: canary = ceil(replicas x weight / 100)."""
    assert canary_replicas(replicas, weight) == canary


def test_canary_replicas_edges() -> None:
    assert canary_replicas(5, 0) == 0
    assert canary_replicas(0, 50) == 0
    assert canary_replicas(5, 150) == 5  # never more than the rollout has
    assert canary_replicas(4, 50, max_weight=200) == 1  # against maxTrafficWeight


@given(replicas=st.integers(1, 50), weight=st.integers(0, 100))
def test_canary_replicas_carry_their_weight_and_no_more(replicas: int, weight: int) -> None:
    pods = canary_replicas(replicas, weight)
    assert 0 <= pods <= replicas
    assert weight_supported(pods, replicas, weight)
    if pods > 0:
        assert not weight_supported(pods - 1, replicas, weight)  # the smallest that carries it


@given(replicas=st.integers(1, 50), low=st.integers(0, 100), high=st.integers(0, 100))
def test_weight_supported_is_monotone(replicas: int, low: int, high: int) -> None:
    low, high = min(low, high), max(low, high)
    for available in range(replicas + 1):
        if weight_supported(available, replicas, high):
            assert weight_supported(available, replicas, low)


@pytest.mark.parametrize(
    ("replicas", "weight", "split"),
    [
        (5, 20, (1, 4)),  # the getting-started case
        (10, 10, (1, 9)),
        (3, 50, (2, 1)),  # an exact .5 goes to the canary
        (10, 1, (1, 9)),  # 1..99 keeps a pod on each side
        (10, 99, (9, 1)),
        (1, 50, (1, 0)),
        (5, 0, (0, 5)),
        (5, 100, (5, 0)),
        (0, 50, (0, 0)),
    ],
)
def test_basic_canary_split(replicas: int, weight: int, split: tuple[int, int]) -> None:
    assert basic_canary_split(replicas, weight) == split


@given(replicas=st.integers(1, 50), weight=st.integers(0, 100))
def test_basic_canary_split_is_closest_and_whole(replicas: int, weight: int) -> None:
    canary, stable = basic_canary_split(replicas, weight)
    assert canary + stable == replicas and canary >= 0 and stable >= 0
    if 0 < weight < 100 and replicas > 1:
        assert canary >= 1 and stable >= 1
    elif 0 < weight < 100:
        assert abs(canary - replicas * weight / 100) <= 0.5
    if weight >= 1 and replicas > 1:
        assert canary >= basic_canary_split(replicas, weight - 1)[0]  # monotone


@pytest.mark.parametrize(
    ("replicas", "weight", "surge", "split"),
    [
        (5, 20, 2, (1, 4)),  # exact: no need for the extra pod
        (10, 5, 1, (1, 10)),  # 1 of 11 (9.1%) is nearer 5% than 1 of 10
        (3, 50, 1, (2, 2)),  # 2 of 4 is exactly 50%
        (1, 5, 1, (1, 1)),  # one pod each, rather than no canary at all
        (1, 95, 1, (1, 1)),
        (1, 20, 0, (0, 1)),  # a lone pod with no surge: the nearer side wins
    ],
)
def test_basic_canary_split_may_surge_by_one(
    replicas: int, weight: int, surge: int, split: tuple[int, int]
) -> None:
    assert basic_canary_split(replicas, weight, surge) == split


@pytest.mark.parametrize(
    ("replicas", "weight", "pods", "unavailable", "surge", "sizes"),
    [
        # Argo's examples for CalculateReplicaCountsForBasicCanary (new and stable start at
        # 0 and `pods`, all available).
        (10, 10, 10, 1, 1, (1, 9)),
        (10, 30, 10, 0, 3, (3, 10)),  # no pod may go: the canary surges
        (10, 30, 10, 5, 0, (0, 7)),  # no surge: stable shrinks first
        (1, 5, 1, 0, 1, (1, 1)),
        (1, 95, 1, 0, 1, (1, 1)),
    ],
)
def test_basic_canary_sizes_first_move(
    replicas: int, weight: int, pods: int, unavailable: int, surge: int, sizes: tuple[int, int]
) -> None:
    desired = basic_canary_split(replicas, weight, surge)
    got = basic_canary_sizes(
        desired,
        Pods(0, 0),
        Pods(pods, pods),
        replicas=replicas,
        max_surge=surge,
        max_unavailable=unavailable,
    )
    assert got == sizes


def test_basic_canary_sizes_wait_for_older_replica_sets() -> None:
    got = basic_canary_sizes(
        (2, 2), Pods(1, 1), Pods(4, 4), replicas=4, max_surge=1, max_unavailable=1, others=1
    )
    assert got == (1, 4)  # no room to grow, and nothing shrinks while the older one has pods


@given(
    replicas=st.integers(1, 12),
    weight=st.integers(0, 100),
    surge=st.integers(0, 4),
    unavailable=st.integers(0, 4),
    new=st.tuples(st.integers(0, 14), st.integers(0, 14)),
    stable=st.tuples(st.integers(0, 14), st.integers(0, 14)),
)
def test_basic_canary_sizes_stay_within_the_limits(
    replicas: int,
    weight: int,
    surge: int,
    unavailable: int,
    new: tuple[int, int],
    stable: tuple[int, int],
) -> None:
    if surge == 0 and unavailable == 0:
        unavailable = 1
    new_pods, stable_pods = Pods(new[0], min(new)), Pods(stable[0], min(stable))
    desired = basic_canary_split(replicas, weight, surge)
    new_size, stable_size = basic_canary_sizes(
        desired,
        new_pods,
        stable_pods,
        replicas=replicas,
        max_surge=surge,
        max_unavailable=unavailable,
    )
    assert new_size >= 0 and stable_size >= 0
    ceiling = replicas + surge
    before = new_pods.spec + stable_pods.spec
    if before <= ceiling:
        # Each side moves towards its target and never past it. (Over the ceiling, e.g.
        # after spec.replicas went down, the side that is kept may first give up pods that
        # are not available, as Argo's adjustReplicaWithinLimits does.)
        for size, pods, want in (
            (new_size, new_pods, desired[0]),
            (stable_size, stable_pods, desired[1]),
        ):
            assert min(pods.spec, want) <= size <= max(pods.spec, want)
    # Growth fits under the ceiling.
    if new_size + stable_size > before:
        assert new_size + stable_size <= ceiling
    # Shrinking keeps the availability floor (or the availability there was).
    floor = replicas - unavailable
    available_before = new_pods.available + stable_pods.available
    kept = min(new_pods.available, new_size) + min(stable_pods.available, stable_size)
    if kept < available_before:
        assert kept >= min(floor, available_before)


@pytest.mark.parametrize(
    ("value", "total", "up", "expected"),
    [
        ("25%", 5, True, 2),
        ("25%", 5, False, 1),
        (2, 5, True, 2),
        ("25", 8, False, 2),  # Argo's old helper: a bare number string is a percentage
        (None, 10, True, 3),  # the default 25%
        (" 50% ", 3, False, 1),
    ],
)
def test_resolve_int_or_percent(
    value: int | str | None, total: int, up: bool, expected: int
) -> None:
    assert resolve_int_or_percent(value, total, round_up=up) == expected


# -- hashes -----------------------------------------------------------------------------------


def test_pod_template_hash_is_stable_and_argo_shaped() -> None:
    h = pod_template_hash(template(BLUE))
    assert h == pod_template_hash(copy.deepcopy(template(BLUE)))
    assert set(h) <= set("bcdfghjklmnpqrstvwxz2456789")
    assert 1 <= len(h) <= 10
    assert h != pod_template_hash(template(YELLOW))


def test_pod_template_hash_ignores_key_order_and_unknown_fields() -> None:
    reordered = {"spec": template(BLUE)["spec"], "metadata": template(BLUE)["metadata"]}
    assert pod_template_hash(reordered) == pod_template_hash(template(BLUE))
    # Go drops what corev1.PodTemplateSpec has no field for, and a null is the zero value.
    extra = template(BLUE)
    extra["spec"]["notAField"] = {"x": 1}
    extra["metadata"]["annotations"] = None
    assert pod_template_hash(extra) == pod_template_hash(template(BLUE))


def test_pod_template_hash_is_argos() -> None:
    # Hashes printed by argo-rollouts v1.10.1's hash.ComputePodTemplateHash (tests/parity).
    assert pod_template_hash({}) == "658c46c486"
    # Argo hashes a hash label in spec.template like any other label.
    labelled = template(BLUE)
    labelled["metadata"]["labels"]["rollouts-pod-template-hash"] = "anything"
    assert pod_template_hash(labelled) != pod_template_hash(template(BLUE))


def test_collision_count_changes_the_hash() -> None:
    # Argo feeds the count in whenever it is set, 0 included.
    hashes = {pod_template_hash(template(BLUE), n) for n in (None, 0, 1, 2)}
    assert len(hashes) == 4


def test_a_template_go_cannot_decode_is_named() -> None:
    bad = template(BLUE)
    bad["spec"]["containers"][0]["ports"] = [{"containerPort": "8080"}]
    with pytest.raises(TemplateEncodingError, match=r"spec\.template\.spec\.containers\[0\]"):
        pod_template_hash(bad)


def test_steps_hash_changes_with_the_steps() -> None:
    steps: list[JsonDict] = [{"setWeight": 20}, {"pause": {}}]
    assert steps_hash(steps) == steps_hash(copy.deepcopy(steps))
    assert steps_hash(steps) != steps_hash([{"setWeight": 21}, {"pause": {}}])
    # Argo hashes Go's encoding of the slice: a nil slice is `null`, an empty one `[]`.
    assert steps_hash(None) != steps_hash([])


# -- conditions and phase ----------------------------------------------------------------------

T = dt.datetime(2024, 1, 1, 10, 0, 0, tzinfo=dt.UTC)


def test_timestamps_are_rfc3339_utc_seconds() -> None:
    local = dt.datetime(2024, 1, 1, 12, 0, 5, 999_000, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert stat.timestamp(local) == "2024-01-01T10:00:05Z"
    assert stat.parse_time("2024-01-01T10:00:05Z") == dt.datetime(
        2024, 1, 1, 10, 0, 5, tzinfo=dt.UTC
    )
    assert stat.parse_time("") is None and stat.parse_time("yesterday") is None


def test_set_condition_keeps_transition_time_while_status_holds() -> None:
    conds: list[JsonDict] = []
    stat.set_condition(conds, "Progressing", "True", "A", "a", T)
    later = T + dt.timedelta(minutes=1)
    stat.set_condition(conds, "Progressing", "True", "B", "b", later)
    assert conds[0]["lastTransitionTime"] == "2024-01-01T10:00:00Z"
    assert conds[0]["lastUpdateTime"] == "2024-01-01T10:01:00Z"
    stat.set_condition(conds, "Progressing", "True", "B", "b", later + dt.timedelta(minutes=1))
    assert conds[0]["lastUpdateTime"] == "2024-01-01T10:01:00Z"  # nothing changed
    stat.set_condition(
        conds, "Progressing", "True", "B", "b", later + dt.timedelta(minutes=2), touch=True
    )
    assert conds[0]["lastUpdateTime"] == "2024-01-01T10:03:00Z"  # progress was made
    stat.set_condition(conds, "Progressing", "False", "B", "b", later + dt.timedelta(minutes=3))
    assert conds[0]["lastTransitionTime"] == "2024-01-01T10:04:00Z"
    assert len(conds) == 1


def _phase(**overrides: Any) -> tuple[str, str]:
    args: dict[str, Any] = {
        "conditions": [],
        "spec_paused": False,
        "pause_conditions": [],
        "spec_replicas": 5,
        "updated_replicas": 5,
        "available_replicas": 5,
        "fully_promoted": True,
        "basic_canary_old_pods": False,
    }
    args.update(overrides)
    return stat.phase_and_message(**args)


def test_phase_order_is_argos() -> None:
    """Reference §2.2: the first match wins."""
    invalid = {"type": "InvalidSpec", "status": "True", "message": "bad"}
    aborted = {"type": "Progressing", "reason": "RolloutAborted", "message": "Rollout aborted"}
    stuck = {"type": "Progressing", "reason": "ProgressDeadlineExceeded", "message": "slow"}
    pause = [{"reason": "CanaryPauseStep", "startTime": "x"}]
    assert _phase(conditions=[aborted, invalid]) == ("Degraded", "InvalidSpec: bad")
    assert _phase(conditions=[aborted], spec_paused=True) == (
        "Degraded",
        "RolloutAborted: Rollout aborted",
    )
    assert _phase(conditions=[stuck]) == ("Degraded", "ProgressDeadlineExceeded: slow")
    assert _phase(spec_paused=True, pause_conditions=pause) == ("Paused", "manually paused")
    assert _phase(pause_conditions=pause, updated_replicas=1) == ("Paused", "CanaryPauseStep")
    assert _phase(updated_replicas=1) == ("Progressing", "more replicas need to be updated")
    assert _phase(available_replicas=4) == (
        "Progressing",
        "updated replicas are still becoming available",
    )
    assert _phase(basic_canary_old_pods=True) == (
        "Progressing",
        "old replicas are pending termination",
    )
    assert _phase(fully_promoted=False) == ("Progressing", "waiting for all steps to complete")
    assert _phase() == ("Healthy", "")
    assert _phase(conditions=[{**invalid, "status": "False"}]) == ("Healthy", "")


# -- durations and validation ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (30, 30),
        ("30", 30),
        ("30s", 30),
        ("1m", 60),
        ("1h", 3600),
        ("1h30m", 5400),
        ("1.5s", 1),  # truncated to whole seconds
        ("500ms", 0),
        ("1d", -1),  # not a Go duration
        ("abc", -1),
        ("", -1),
    ],
)
def test_pause_durations_parse_like_go(value: int | str, seconds: int) -> None:
    assert parse_duration(value) == seconds


def _with_steps(steps: list[JsonDict], **canary: Any) -> JsonDict:
    return rollout(steps=steps, canary=canary)


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (_with_steps([{"setWeight": 120}]), "spec.strategy.canary.steps[0].setWeight: "),
        (_with_steps([{"setWeight": -1}]), "spec.strategy.canary.steps[0].setWeight: "),
        (
            _with_steps([{"setWeight": 10}, {"pause": {"duration": "1d"}}]),
            "spec.strategy.canary.steps[1].pause.duration: Duration needs to be greater than 0",
        ),
        (
            _with_steps([{"setWeight": 10, "pause": {}}]),
            "spec.strategy.canary.steps[0]: Step must have exactly one of the step types set",
        ),
        (
            _with_steps([], canaryService="same", stableService="same"),
            "spec.strategy.canary.stableService: ",
        ),
        (
            _with_steps([{"setHeaderRoute": {"name": "h"}}]),
            "spec.strategy.canary.steps[0].setHeaderRoute.name: ",
        ),
        (
            rollout(routed=False, steps=[{"setCanaryScale": {"replicas": 1}}]),
            "spec.strategy.canary.steps[0].setCanaryScale: ",
        ),
        (
            rollout(routed=False, canary={"scaleDownDelaySeconds": 30}),
            "spec.strategy.canary.scaleDownDelaySeconds: ",
        ),
        (
            _with_steps([{"setCanaryScale": {"weight": 10, "replicas": 1}}]),
            "spec.strategy.canary.steps[0].setCanaryScale: exactly one",
        ),
    ],
)
def test_spec_errors_name_the_field(body: JsonDict, error: str) -> None:
    errors = validate_rollout(body)
    assert any(e.startswith(error) for e in errors), errors


def test_the_seed_rollout_is_valid() -> None:
    assert validate_rollout(rollout()) == []
    assert validate_rollout(rollout(routed=False, steps=[{"setWeight": 20}])) == []


@settings(max_examples=50)
@given(weight=st.integers(-1000, 1000))
def test_set_weight_is_valid_exactly_within_0_100(weight: int) -> None:
    errors = validate_rollout(_with_steps([{"setWeight": weight}]))
    assert (errors == []) == (0 <= weight <= 100)


def test_basic_canary_split_keeps_a_canary_when_the_tie_cannot_go_up() -> None:
    # 9.5 of 10 pods: 10 would leave no stable, so the tie goes to 9 (Argo returns 0 here).
    assert basic_canary_split(10, 95) == (9, 1)
    assert basic_canary_split(10, 5) == (1, 9)  # and 0.5 of 10 goes up to 1
