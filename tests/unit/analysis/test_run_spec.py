"""Argument substitution, Argo's validation rules and wording, and the condition table."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import pytest

from rolloutd.analysis.conditions import ConditionError, judge
from rolloutd.analysis.spec import RunSpecError, prepare_run, substitute

JsonDict = dict[str, Any]
NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def metric(name: str = "m", **fields: Any) -> JsonDict:
    return {"name": name, "provider": {"prometheus": {"query": "up"}}, **fields}


def error_of(spec: JsonDict) -> str:
    with pytest.raises(RunSpecError) as info:
        prepare_run(spec)
    return str(info.value)


# -- arguments --------------------------------------------------------------------------------


def test_args_are_substituted_everywhere_and_json_escaped() -> None:
    spec = {
        "args": [
            {"name": "service", "value": 'my"svc\n'},
            {"name": "count", "value": "3"},
            {"name": "limit", "value": "1"},
        ],
        "metrics": [
            metric(
                interval="{{ args.limit }}m",
                count="{{args.count}}",
                failureLimit="{{args.limit}}",
                successCondition="result[0] >= {{args.limit}}",
                provider={"prometheus": {"query": 'sum(x{service="{{args.service}}"})'}},
            )
        ],
    }
    [m] = prepare_run(spec).metrics
    assert m.raw["provider"]["prometheus"]["query"] == 'sum(x{service="my"svc\n"})'
    assert (m.count, m.failure_limit) == (3, 1)
    assert m.interval == dt.timedelta(minutes=1)
    assert m.metric.success_condition == "result[0] >= 1"


def test_unknown_tag_fails_to_resolve() -> None:
    assert error_of({"metrics": [metric(successCondition="{{args.missing}} > 1")]}) == (
        "Unable to resolve metric arguments: failed to resolve {{args.missing}}"
    )


def test_literal_braces_fail_as_in_argo() -> None:
    with pytest.raises(ValueError, match=r"failed to resolve \{\{range\}\}"):
        substitute({"q": "{{range}}"}, {})


def test_arg_without_a_value_was_not_supplied() -> None:
    spec = {"args": [{"name": "svc"}], "metrics": [metric()]}
    assert error_of(spec) == 'Unable to resolve metric arguments: argument "svc" was not supplied'


def test_secret_arg_uses_a_placeholder_for_validation_and_the_lookup_for_measuring() -> None:
    spec = {
        "args": [{"name": "t", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}],
        "metrics": [metric(provider={"web": {"url": "http://h/{{args.t}}"}})],
    }
    assert prepare_run(spec).metrics[0].raw["provider"]["web"]["url"] == "http://h/*****"

    def missing(name: str, key: str) -> str:
        raise LookupError(f'secret "{name}" not found')

    with pytest.raises(RunSpecError, match='Unable to resolve metric arguments: secret "s"'):
        prepare_run(spec, secrets=missing)


# -- validation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"failureLimit": -2}, "failureLimit must be >= 0, or -1 to be disabled"),
        ({"failureLimit": -1}, "failureLimit and consecutiveSuccessLimit cannot both be disabled"),
        ({"inconclusiveLimit": -1}, "inconclusiveLimit must be >= 0"),
        ({"consecutiveErrorLimit": -1}, "consecutiveErrorLimit must be >= 0"),
        ({"consecutiveSuccessLimit": -1}, "consecutiveSuccessLimit must be >= 0"),
        (
            {"count": 2, "failureLimit": 3, "interval": "1s"},
            "count (2) must be >= failureLimit + consecutiveSuccessLimit (3 + 0) if both >= 0",
        ),
        (
            {"count": 2, "inconclusiveLimit": 3, "interval": "1s"},
            "count must be >= inconclusiveLimit",
        ),
        ({"count": 2}, "interval must be specified when count > 1"),
        ({"interval": "5d"}, 'invalid interval string: time: unknown unit "d" in duration "5d"'),
        ({"initialDelay": "soon"}, 'invalid startDelay string: time: invalid duration "soon"'),
        ({"provider": {}}, "no provider specified"),
        (
            {"provider": {"prometheus": {"query": "up"}, "web": {"url": "http://x"}}},
            "multiple providers specified",
        ),
        ({"count": "many"}, "count must be an integer, got 'many'"),
    ],
)
def test_metric_validation_uses_argos_wording(fields: JsonDict, message: str) -> None:
    assert error_of({"metrics": [metric(**fields)]}) == (
        f"Analysis spec invalid: metrics[0]: {message}"
    )


def test_no_metrics_and_duplicates() -> None:
    assert error_of({"metrics": []}) == "Analysis spec invalid: no metrics specified"
    assert error_of({"metrics": [metric("a"), metric("a")]}) == (
        "Analysis spec invalid: metrics[1]: duplicate name 'a'"
    )


def test_dry_run_rules_are_unanchored_regexes_that_must_match() -> None:
    prepared = prepare_run(
        {
            "metrics": [metric("success-rate"), metric("error-rate")],
            "dryRun": [{"metricName": "rate"}],
        }
    )
    assert [m.dry_run for m in prepared.metrics] == [True, True]
    # A bare `*` is not a valid regex: it matches nothing, so the rule is an error (as in Argo).
    assert error_of({"metrics": [metric()], "dryRun": [{"metricName": "*"}]}) == (
        "Analysis spec invalid: dryRun[0]: Rule didn't match any metric name(s)"
    )
    assert error_of(
        {"metrics": [metric()], "measurementRetention": [{"metricName": "x", "limit": 2}]}
    ) == ("Analysis spec invalid: measurementRetention[0]: Rule didn't match any metric name(s)")


def test_defaults_and_effective_count() -> None:
    one, forever, three = prepare_run(
        {
            "metrics": [
                metric("one"),
                metric("forever", interval="30s"),
                metric("three", interval="30s", count=3),
            ],
            "measurementRetention": [{"metricName": "three", "limit": 0}],
        }
    ).metrics
    assert (one.count, forever.count, three.count) == (1, None, 3)
    assert (one.failure_limit, one.inconclusive_limit, one.consecutive_error_limit) == (0, 0, 4)
    assert three.retention == 10  # limit 0 means the default


def test_bad_condition_is_reported_with_the_evaluators_message() -> None:
    message = error_of({"metrics": [metric(successCondition="result[0] >=")]})
    assert message.startswith(
        'Analysis spec invalid: metrics[0]: invalid successCondition "result[0] >=": '
    )
    assert "column" in message


def test_unknown_provider_key_is_accepted_for_plugins() -> None:
    [m] = prepare_run({"metrics": [{"name": "m", "provider": {"acme": {"x": 1}}}]}).metrics
    assert m.raw["provider"] == {"acme": {"x": 1}}


# -- conditions -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("success", "failure", "result", "phase"),
    [
        (None, None, 1, "Successful"),
        ("result > 0", None, 1, "Successful"),
        ("result > 0", None, 0, "Failed"),
        (None, "result > 0", 1, "Failed"),
        (None, "result > 0", 0, "Successful"),
        ("true", "true", 0, "Failed"),
        ("result > 5", "result < 0", 1, "Inconclusive"),
        ("result >= 0.9", "result < 0.9", math.nan, "Inconclusive"),
        ("result >= 0.9", None, math.nan, "Failed"),
        ("result >= 0.9 || isNaN(result)", None, math.nan, "Successful"),
        ("len(result) == 0 || result[0] < 0.05", None, [], "Successful"),
    ],
)
def test_condition_table(success: str | None, failure: str | None, result: Any, phase: str) -> None:
    assert judge(result, success_condition=success, failure_condition=failure, now=NOW) == phase


def test_condition_on_empty_result_says_no_data() -> None:
    with pytest.raises(ConditionError) as info:
        judge([], success_condition="result[0] >= 0.95", failure_condition=None, now=NOW)
    assert str(info.value).startswith(
        'could not evaluate successCondition "result[0] >= 0.95": metric result is nil or empty: '
        "no data returned from the metric provider"
    )


def test_condition_must_be_boolean() -> None:
    with pytest.raises(ConditionError, match='could not evaluate failureCondition "result"'):
        judge(3, success_condition=None, failure_condition="result", now=NOW)
