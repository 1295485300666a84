"""Conditions as Argo Rollouts users write them, with `result` shaped as each provider shapes it.

The cases come from Argo's docs (``docs/features/analysis.md``, ``docs/analysis/*.md``), its tests
(``utils/evaluate/evaluate_test.go``, ``metricproviders/prometheus/prometheus_test.go``,
``metricproviders/webmetric/webmetric_test.go``) and the issues users filed. Each case says what
Argo does; where Argo errors, we must error too (the measurement then counts as Error, not
Failed).
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from rolloutd.analysis import (
    ExprEvalError,
    ExprSyntaxError,
    compile_expression,
    evaluate_condition,
)

NAN = math.nan
INF = math.inf

# (condition, result, expected) — expected is the boolean the condition evaluates to.
ARGO_TRUE_FALSE: list[tuple[str, Any, bool]] = [
    # Prometheus instant query: a vector is a list of floats.
    ("result[0] >= 0.95", [0.97], True),
    ("result[0] >= 0.95", [0.5], False),
    ("result[0] >= 0.95", [0.95, 0.1], True),
    ("len(result) == 0 || result[0] >= 0.95", [], True),
    ("len(result) == 0 || result[0] < 10", [], True),
    ("len(result) == 0 || result[0] < 10", [12.0], False),
    ("len(result) > 0 && result[0] >= 0.95", [], False),
    ("result[-1] < 1000", [10.0, 2000.0], False),
    # Range queries: check every sample, with or without braces.
    ("all(result, # < 1000)", [10.0, 20.0], True),
    ("all(result, {# < 1000})", [10.0, 2000.0], False),
    ("all(result, {# > 0})", [], True),
    ("any(result, {# > 5})", [1.0, 6.0], True),
    ("any(result, {# > 5})", [], False),
    ("none(result, # > 5)", [1.0, 2.0], True),
    ("10 in result", [1.0, 10.0], True),
    ("2 in result", [2.0, 2.0], True),
    # Prometheus scalar results, NaN and Inf.
    ("result > 1", 5.0, True),
    ("isNaN(result) || result >= 0.95", NAN, True),
    ("result >= 0.9", NAN, False),
    ("result < 0.9", NAN, False),
    ("isNaN(result[0])", [NAN], True),
    ("isInf(result)", INF, True),
    ("isInf(result)", -INF, True),
    ("isInf(result)", 0.0, False),
    # Web provider: any JSON value, or the raw body string when it is not JSON.
    ('result.status == "ok"', {"status": "ok"}, True),
    ("result.status == 'ok'", {"status": "degraded"}, False),
    ("result == 'true'", "true", True),
    ("result == 'true'", "false", False),
    ('result == "I am OK"', "I am OK", True),
    ("result.ok && result.successPercent >= 0.90", {"ok": True, "successPercent": 0.93}, True),
    ("result.ok && result.successPercent >= 0.90", {"ok": False, "successPercent": 0.93}, False),
    (
        "result.a > 0 && result.b && all(result.c, {# < 5}) && result.d == nil",
        {"a": 1.0, "b": True, "c": [1.0, 2.0, 3.0, 4.0], "d": None},
        True,
    ),
    ('result["status"] == "ok"', {"status": "ok"}, True),
    ("result.missing == nil", {"status": "ok"}, True),
    (
        "all(result.service_apdex.values.values, {# > 1})",
        {"service_apdex": {"label": None, "values": {"values": [2.0, 2.0]}}},
        True,
    ),
    ("asInt(result) > 0", "3", True),
    ("asInt(result) == 1", "1", True),
    ("asInt(result) == 1", 1, True),
    ("asInt(result) == 1", 1.123, True),
    ("asFloat(result) > 0.5", "0.7", True),
    ("asFloat(result) > 1.1", "1.2", True),
    ("asFloat(result) == 1.1", "1.1", True),
    ("asFloat(result) >= 1.1", "1.1", True),
    ("asFloat(result) <= 1.1", 1.1, True),
    ("asFloat(result) == 1", 1, True),
    # Datadog: nil when there is no data; default() and isNil() look at result itself.
    ("default(result, 0) < 0.05", None, True),
    ("default(result, 0) < 0.05", 0.01, True),
    ("default(result, 0) < 0.05", 0.5, False),
    ("isNil(result)", None, True),
    ("isNil(result)", [], False),
    ("isNil(result) || result < 0.05", None, True),
    # CloudWatch: a list of MetricDataResult objects.
    ("result[0].Values[0] <= 0.01", [{"Values": [0.005, 0.2]}], True),
    # Plain booleans, as Argo's evaluate_test.go uses.
    ("result == true", True, True),
    ("result == false", True, False),
    ("true", None, True),
    ("false", None, False),
]


@pytest.mark.parametrize(("condition", "result", "expected"), ARGO_TRUE_FALSE)
def test_argo_condition(condition: str, result: Any, expected: bool) -> None:
    assert evaluate_condition(condition, {"result": result}) is expected


# (condition, result, fragment of the expected error message)
ARGO_ERRORS: list[tuple[str, Any, str]] = [
    # Issue #1466: an empty vector and result[0].
    ("result[0] >= 0.95", [], "index 0 out of range for result of length 0"),
    # Issue #363: comparing the whole vector with a number is a type error, never coerced.
    ("result >= 0", [2.0], "cannot compare array with number"),
    # Issues #1548/#2169: Datadog nil result compared with a number.
    ("result > 5", None, "cannot compare nil with number"),
    ("asInt(result) == 1", "1.1", 'strconv.ParseInt: parsing "1.1": invalid syntax'),
    ("asInt(result) > 0", "notint", "invalid syntax"),
    ("asFloat(result) == 1.1", "NotANum", 'strconv.ParseFloat: parsing "NotANum": invalid syntax'),
    ("a == true", True, 'unknown name "a"'),
    ("result.status == 'ok'", None, "cannot fetch"),
    ("all(result, {# > 0})", None, "all() expects an array, got nil"),
]


@pytest.mark.parametrize(("condition", "result", "message"), ARGO_ERRORS)
def test_argo_condition_errors(condition: str, result: Any, message: str) -> None:
    with pytest.raises(ExprEvalError) as caught:
        evaluate_condition(condition, {"result": result})
    assert message in str(caught.value)


def test_non_bool_condition_is_an_error_with_the_value_and_type() -> None:
    with pytest.raises(ExprEvalError) as caught:
        evaluate_condition("result[0]", {"result": [0.97]})
    assert str(caught.value) == "condition must evaluate to true or false, got 0.97 (float)"
    with pytest.raises(ExprEvalError, match=r"got 1 \(int\)"):
        evaluate_condition("1", {"result": True})


def test_unknown_name_suggests_the_closest_name() -> None:
    with pytest.raises(ExprEvalError) as caught:
        evaluate_condition("resut[0] > 0.9", {"result": [1.0]})
    assert str(caught.value) == 'unknown name "resut" (did you mean "result"?)'
    assert caught.value.fragment == "resut"
    assert caught.value.column == 1


def test_index_error_names_the_indexed_expression() -> None:
    with pytest.raises(ExprEvalError) as caught:
        evaluate_condition("len(result) > 0 && result[3] > 1", {"result": [1.0]})
    assert str(caught.value) == "index 3 out of range for result of length 1"
    assert caught.value.fragment == "result[3]"
    assert caught.value.column == 20


def test_comparing_a_vector_suggests_an_index_or_all() -> None:
    with pytest.raises(ExprEvalError) as caught:
        evaluate_condition("result >= 0.95", {"result": [0.97]})
    message = str(caught.value)
    assert "result[0] >= 0.95" in message
    assert "all(result, # >= 0.95)" in message


def test_mismatched_literal_types_in_equality_fail_to_compile() -> None:
    # Argo's TestEvaluateAsFloatError: expr's checker rejects this before running it, so the
    # measurement is Error (not Failed because the comparison was false).
    with pytest.raises(ExprSyntaxError, match=r"mismatched types float and string"):
        compile_expression('asFloat(result) == "1.1"')


def test_method_calls_are_rejected() -> None:
    # Argo's TestEvaluateInvalidStruct.
    with pytest.raises(ExprSyntaxError, match="method calls"):
        compile_expression("result.Name() == 'hi'")


class TestArgoDefaultAndIsNilTraps:
    """``default(x, d)`` and ``isNil(x)`` ignore ``x`` and test ``result`` itself, as in Argo."""

    def test_default_on_an_element_returns_the_whole_result(self) -> None:
        # Under Argo, default(result[0], 0) is `result` itself whenever result is not nil, so
        # comparing it with a number fails just as it does there.
        expression = compile_expression("default(result[0], 0) >= 0.9")
        with pytest.raises(ExprEvalError, match="cannot compare array with number"):
            expression.evaluate({"result": [0.95]})

    def test_default_on_an_element_warns_and_suggests_coalescing(self) -> None:
        expression = compile_expression("default(result[0], 0) >= 0.9")
        assert len(expression.warnings) == 1
        assert "(result[0] ?? 0)" in expression.warnings[0]
        # ...and the suggested rewrite does what the author meant.
        rewritten = compile_expression("(result[0] ?? 0) >= 0.9")
        assert rewritten.evaluate({"result": [0.95]}) is True
        assert rewritten.evaluate({"result": [None]}) is False

    def test_default_on_result_itself_does_not_warn(self) -> None:
        assert compile_expression("default(result, 0) >= 0.9").warnings == ()

    def test_is_nil_ignores_its_argument(self) -> None:
        expression = compile_expression("isNil(result.x)")
        assert expression.evaluate({"result": {"y": 1}}) is False
        assert expression.warnings and "(result.x == nil)" in expression.warnings[0]

    def test_default_returns_the_fallback_only_for_a_nil_result(self) -> None:
        expression = compile_expression("default(result, 7)")
        assert expression.evaluate({"result": None}) == 7
        assert expression.evaluate({"result": 0.0}) == 0.0
        assert expression.evaluate({"result": []}) == []
