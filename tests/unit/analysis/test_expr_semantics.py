"""The language itself: literals, precedence, operators, built-ins, errors and limits.

Expected values follow expr-lang v1.17 (the version Argo Rollouts uses) unless a test says it
documents a deliberate difference.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest

from rolloutd.analysis import (
    ExprError,
    Expression,
    ExprEvalError,
    ExprSyntaxError,
    compile_expression,
    evaluate_condition,
)
from rolloutd.analysis.expr.evaluator import STEP_BUDGET
from rolloutd.analysis.expr.parser import MAX_HEIGHT, MAX_NESTING


def run(text: str, **env: Any) -> Any:
    return compile_expression(text).evaluate(env)


def same(actual: Any, expected: Any) -> bool:
    """Equality that also distinguishes int from float and accepts NaN == NaN."""
    if isinstance(expected, float) and math.isnan(expected):
        return isinstance(actual, float) and math.isnan(actual)
    return type(actual) is type(expected) and actual == expected


# --- literals ---------------------------------------------------------------------------------

LITERALS: list[tuple[str, Any]] = [
    ("42", 42),
    ("1_000_000", 1_000_000),
    ("0x2A", 42),
    ("0X2a", 42),
    ("0o52", 42),
    ("0b101010", 42),
    ("0.5", 0.5),
    (".5", 0.5),
    ("1e3", 1000.0),
    ("1E-2", 0.01),
    ("2.5e+2", 250.0),
    ("1.", 1.0),
    ("9223372036854775807", 2**63 - 1),
    ("'single'", "single"),
    ('"double"', "double"),
    ("`raw \\n ${x}`", "raw \\n ${x}"),
    (r'"tab\there"', "tab\there"),
    (r'"quote\" and \\ backslash"', 'quote" and \\ backslash'),
    (r"'it\'s'", "it's"),
    (r'"\u00e9\x41\101\U0001F600"', "éAA😀"),
    ('"line\r\nbreak"', "line\nbreak"),
    ('"line\rbreak"', "line\nbreak"),
    (r'"escaped\r\n"', "escaped\r\n"),
    ("true", True),
    ("false", False),
    ("nil", None),
    ("[1, 'a', nil]", [1, "a", None]),
    ("[1, 2,]", [1, 2]),
    ("[]", []),
    ("{a: 1, 'b c': 2, 3: 4}", {"a": 1, "b c": 2, "3": 4}),
    ("{('x' + 'y'): 1}", {"xy": 1}),
    ("{}", {}),
    ("1 // a comment", 1),
    ("1 /* inline */ + 2", 3),
]


@pytest.mark.parametrize(("text", "expected"), LITERALS)
def test_literals(text: str, expected: Any) -> None:
    value = run(text)
    assert value == expected
    assert type(value) is type(expected)


# --- precedence and associativity -------------------------------------------------------------

PRECEDENCE: list[tuple[str, Any]] = [
    ("1 + 2 * 3", 7),
    ("(1 + 2) * 3", 9),
    ("10 - 4 - 3", 3),
    ("2 * 3 % 4", 2),
    ("100 / 10 / 5", 2.0),
    ("2 ** 3 ** 2", 512.0),
    ("2 ^ 3 ^ 2", 512.0),
    ("-2 ** 2", -4.0),
    ("(-2) ** 2", 4.0),
    ("2 ** -1", 0.5),
    ("-3 * 2", -6),
    ("- -3", 3),
    ("1 + -3", -2),
    ("+3 - 1", 2),
    ("1 + 2 == 3", True),
    ("(1 < 2) == true", True),
    ("1 < 2 && 2 < 3", True),
    ("true || false && false", True),
    ("(true || false) && false", False),
    ("!true || true", True),
    ("!(true || true)", False),
    ("!true == false", True),
    ("not true or true", True),
    ("not (1 > 2)", True),
    ("1 < 2 < 3", True),
    ("3 > 2 > 1", True),
    ("1 < 3 < 2", False),
    ("1 == 1 == 1", True),
    ("true ? 1 : 2", 1),
    ("false ? 1 : 2", 2),
    ("1 > 2 ? 'a' : 'b'", "b"),
    ("true ? false ? 1 : 2 : 3", 2),
    ("false ? 1 : true ? 2 : 3", 2),
    ("1 + 1 == 2 ? 'yes' : 'no'", "yes"),
    ("true || false ? 1 : 2", 1),
    ("1 + 2 in [3]", True),
    ("1 .. 3", [1, 2, 3]),
    ("1..3", [1, 2, 3]),
    ("1 + 1 .. 2 + 2", [2, 3, 4]),
    ("(nil ?? 1) + 1", 2),
    ("2 * nil ?? 3", 6),
    ("'a' + 'b' == 'ab' && 2 > 1", True),
    ("'abc' contains 'b' && true", True),
    ("[1, 2, 3] | len()", 3),
    ("[1, 2, 3] | filter(# > 1) | len()", 2),
    ("[1, 2, 3] | map(# * 2) | sum()", 12),
]


@pytest.mark.parametrize(("text", "expected"), PRECEDENCE)
def test_precedence(text: str, expected: Any) -> None:
    assert same(run(text), expected)


def test_equality_chains_like_any_other_comparison() -> None:
    # expr reads `1 < 2 == true` as `1 < 2 && 2 == true`; its checker then rejects 2 == true.
    with pytest.raises(ExprSyntaxError, match="mismatched types int and bool"):
        compile_expression("1 < 2 == true")


def test_not_binds_looser_than_multiplication_as_in_expr() -> None:
    # expr parses `!a * b` as `!(a * b)`, so this is a type error on a number, not on a bool.
    with pytest.raises(ExprEvalError, match="operator ! needs a bool, got int 6"):
        run("!2 * 3")


def test_coalesce_cannot_be_mixed_without_parentheses() -> None:
    with pytest.raises(ExprSyntaxError) as caught:
        compile_expression("result ?? 1 + 1")
    assert caught.value.column == 13
    assert "cannot be mixed" in str(caught.value)


# --- arithmetic -------------------------------------------------------------------------------

ARITHMETIC: list[tuple[str, Any]] = [
    ("7 / 2", 3.5),
    ("6 / 3", 2.0),
    ("1 / 0", math.inf),
    ("-1 / 0", -math.inf),
    ("0 / 0", math.nan),
    ("7 % 3", 1),
    ("-7 % 3", -1),
    ("7 % -3", 1),
    ("1 + 2.5", 3.5),
    ("2 * 0.5", 1.0),
    ("3 - 1", 2),
    ("9223372036854775807 + 1", -(2**63)),
    ("-9223372036854775807 - 2", 2**63 - 1),
    ("4611686018427387904 * 2", -(2**63)),
    ("2 ** 0.5", math.sqrt(2)),
    ("(-8) ** 0.5", math.nan),
    ("0 ** -1", math.inf),
    ("10 ** 400", math.inf),
    ("(-10) ** 401", -math.inf),
    ("'a' + 'b'", "ab"),
    ("abs(-3)", 3),
    ("abs(-2.5)", 2.5),
]


@pytest.mark.parametrize(("text", "expected"), ARITHMETIC)
def test_arithmetic(text: str, expected: Any) -> None:
    assert same(run(text), expected)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1 % 0", "integer divide by zero"),
        ("1.5 % 2", "invalid operation: float % int"),
        ("'a' + 1", "invalid operation: string + int"),
        ("'a' - 'b'", "invalid operation: string - string"),
        ("nil * 2", "invalid operation: nil * int"),
        ("-'a'", "operator - needs a number"),
        ("[1] / 2", "invalid operation: array / int"),
    ],
)
def test_arithmetic_errors(text: str, message: str) -> None:
    with pytest.raises(ExprEvalError) as caught:
        run(text)
    assert message in str(caught.value)


# --- comparison and equality ------------------------------------------------------------------

COMPARISONS: list[tuple[str, dict[str, Any], bool]] = [
    ("1 == 1.0", {}, True),
    ("1 != 1.5", {}, True),
    ("2 > 1.5", {}, True),
    ("'abc' < 'abd'", {}, True),
    ("'B' < 'a'", {}, True),
    ("nil == nil", {}, True),
    ("result == nil", {"result": None}, True),
    ("result != nil", {"result": 0}, True),
    ("result == 1", {"result": "1"}, False),
    ("result == true", {"result": 1}, False),
    ("result == 0", {"result": False}, False),
    ("result == result", {"result": math.nan}, False),
    ("result < 1 || result >= 1", {"result": math.nan}, False),
    ("result == [1, 2]", {"result": [1.0, 2.0]}, True),
    ("result == [1, 2]", {"result": (1, 2)}, True),
    ("result == [1]", {"result": [1, 2]}, False),
    ("result == {a: 1}", {"result": {"a": 1.0}}, True),
    ("result == {a: 1}", {"result": {"a": 1, "b": 2}}, False),
    ("result == {a: [nil]}", {"result": {"a": [None]}}, True),
]


@pytest.mark.parametrize(("text", "env", "expected"), COMPARISONS)
def test_comparison(text: str, env: dict[str, Any], expected: bool) -> None:
    assert evaluate_condition(text, env) is expected


@pytest.mark.parametrize(
    ("text", "env", "message"),
    [
        ("result < 1", {"result": "a"}, 'cannot compare string with number ("a" < 1)'),
        ("result >= 'a'", {"result": 1.5}, "cannot compare number with string"),
        ("result > 0", {"result": None}, "cannot compare nil with number"),
        ("result > 0", {"result": True}, "cannot compare bool with number"),
        ("result < result", {"result": [1]}, "cannot compare array with array"),
        ("result > 0", {"result": {"a": 1}}, "cannot compare map with number"),
    ],
)
def test_comparison_errors(text: str, env: dict[str, Any], message: str) -> None:
    with pytest.raises(ExprEvalError) as caught:
        evaluate_condition(text, env)
    assert message in str(caught.value)


def test_self_referential_values_do_not_crash_equality() -> None:
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(ExprEvalError, match="nested too deeply"):
        evaluate_condition("result == result", {"result": loop})


# --- logic ------------------------------------------------------------------------------------


def test_and_or_short_circuit() -> None:
    # The right side would fail (index out of range / unknown name) if it were evaluated.
    assert evaluate_condition("len(result) == 0 || result[0] > 1", {"result": []}) is True
    assert evaluate_condition("len(result) > 0 && result[0] > 1", {"result": []}) is False
    assert evaluate_condition("false and missing", {}) is False
    assert evaluate_condition("true or missing", {}) is True


def test_ternary_and_coalesce_are_lazy() -> None:
    assert run("true ? 1 : missing") == 1
    assert run("false ? missing : 2") == 2
    assert run("1 ?? missing") == 1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1 && true", "the left side of && must be a bool, got int 1"),
        ("true && 'x'", "the right side of && must be a bool, got string"),
        ("false || nil", "the right side of || must be a bool, got nil"),
        ("!1", "operator ! needs a bool, got int 1"),
        ("not 'a'", "operator ! needs a bool"),
        ("1 ? 2 : 3", "the condition of ?: must be a bool, got int 1"),
    ],
)
def test_logic_needs_booleans(text: str, message: str) -> None:
    with pytest.raises(ExprEvalError) as caught:
        run(text)
    assert message in str(caught.value)


def test_elvis_short_form() -> None:
    assert run("true ?: false") is True
    assert run("false ?: 'fallback'") == "fallback"


# --- membership, strings, regexes -------------------------------------------------------------

MEMBERSHIP: list[tuple[str, dict[str, Any], bool]] = [
    ("2 in [1, 2]", {}, True),
    ("2.0 in [1, 2]", {}, True),
    ("3 not in [1, 2]", {}, True),
    ("'a' in {a: 1}", {}, True),
    ("'b' in {a: 1}", {}, False),
    ("'b' not in {a: 1}", {}, True),
    ("1 in result", {"result": None}, False),
    ("[1] in [[1], [2]]", {}, True),
    ("'ell' in result", {"result": ["hello"]}, False),
    ("'hello' contains 'ell'", {}, True),
    ("'hello' not contains 'x'", {}, True),
    ("'hello' startsWith 'he'", {}, True),
    ("'hello' not startsWith 'lo'", {}, True),
    ("'hello' endsWith 'lo'", {}, True),
    ("'hello' not endsWith 'he'", {}, True),
    ("'hello' matches '^h.*o$'", {}, True),
    ("'hello' matches 'ell'", {}, True),
    ("'hello' not matches '^x'", {}, True),
    ("result matches pattern", {"result": "v1.2.3", "pattern": "^v\\d+"}, True),
    # RE2's \d is ASCII-only; so is ours. (In expr source the backslash itself is escaped.)
    ("result matches '^\\\\d+$'", {"result": "\u0661\u0662"}, False),
    ("result matches '^\\\\d+$'", {"result": "12"}, True),
    ("'a' in $env", {"a": 1}, True),
    ("$env['result'] == 1", {"result": 1}, True),
]


@pytest.mark.parametrize(("text", "env", "expected"), MEMBERSHIP)
def test_membership_and_string_operators(text: str, env: dict[str, Any], expected: bool) -> None:
    assert evaluate_condition(text, env) is expected


@pytest.mark.parametrize(
    ("text", "env", "message"),
    [
        ("1 in 'abc'", {}, 'operator "in" needs an array or a map'),
        ("1 contains 'a'", {}, "operator contains needs two strings"),
        ("result startsWith 'a'", {"result": None}, "needs two strings"),
        ("'a' matches result", {"result": "("}, "invalid regular expression"),
    ],
)
def test_membership_errors(text: str, env: dict[str, Any], message: str) -> None:
    with pytest.raises(ExprEvalError, match=message):
        run(text, **env)


# --- member access, indexing, slicing ---------------------------------------------------------

ACCESS: list[tuple[str, Any, Any]] = [
    ("result.a.b", {"a": {"b": 1}}, 1),
    ("result['a']['b']", {"a": {"b": 1}}, 1),
    ("result.missing", {"a": 1}, None),
    ("result.in", {"in": 1}, 1),
    ("result.not", {"not": 2}, 2),
    ("result[0]", [5, 6], 5),
    ("result[-1]", [5, 6], 6),
    ("result[-2]", [5, 6], 5),
    ("result[1.9]", [5, 6], 6),
    ("result[0]", (5, 6), 5),
    ("result[1]", "abc", "b"),
    ("result[1:3]", [1, 2, 3, 4, 5], [2, 3]),
    ("result[1:-1]", [1, 2, 3, 4, 5], [2, 3, 4]),
    ("result[:3]", [1, 2, 3, 4, 5], [1, 2, 3]),
    ("result[3:]", [1, 2, 3, 4, 5], [4, 5]),
    ("result[:]", [1, 2, 3], [1, 2, 3]),
    ("result[-10:10]", [1, 2, 3], [1, 2, 3]),
    ("result[3:1]", [1, 2, 3], []),
    ("result[1:]", "hello", "ello"),
    ("result?.a", None, None),
    ("result?.a.b.c", None, None),
    ("result?.[0]", None, None),
    ("result?.[0]", [7], 7),
    ("result.a?.b", {"a": None}, None),
    ("result?.a ?? 'none'", None, "none"),
    ("(result)[0]", [3], 3),
    ("[10, 20][1]", None, 20),
    ("{a: {b: 2}}.a.b", None, 2),
    ("'xyz'[0]", None, "x"),
]


@pytest.mark.parametrize(("text", "result", "expected"), ACCESS)
def test_member_access(text: str, result: Any, expected: Any) -> None:
    assert run(text, result=result) == expected


@pytest.mark.parametrize(
    ("text", "result", "message"),
    [
        ("result[2]", [1, 2], "index 2 out of range for result of length 2"),
        ("result[-3]", [1, 2], "index -3 out of range for result of length 2"),
        ("result.a.b", {"a": None}, 'cannot fetch "b" from nil (result.a is nil)'),
        ("result.a", None, 'cannot fetch "a" from nil (result is nil)'),
        ("result.a", 5, 'cannot fetch "a" from int result'),
        ("result['a']", [1], "cannot index result (array) with string"),
        ("result[nil]", [1], "cannot index result (array) with nil"),
        ("result[[1]]", {"a": 1}, "array [1] cannot be used as a map key"),
        ("result[0:'x']", [1], "slice bound must be an integer"),
        ("result[0:1]", 5, "cannot slice result (int)"),
        ("result[5]", "abc", "index 5 out of range for result of length 3"),
    ],
)
def test_member_access_errors(text: str, result: Any, message: str) -> None:
    with pytest.raises(ExprEvalError) as caught:
        run(text, result=result)
    assert message in str(caught.value)


# --- predicates -------------------------------------------------------------------------------

PREDICATES: list[tuple[str, Any, Any]] = [
    ("all(result, # > 0)", [1, 2], True),
    ("all(result, {# > 1})", [1, 2], False),
    ("any(result, # > 1)", [1, 2], True),
    ("none(result, # > 5)", [1, 2], True),
    ("none(result, # > 1)", [1, 2], False),
    ("none(result, # > 1)", [], True),
    ("one(result, # > 1)", [1, 2], True),
    ("one(result, # > 0)", [1, 2], False),
    ("one(result, # > 0)", [], False),
    ("filter(result, # % 2 == 0)", [1, 2, 3, 4], [2, 4]),
    ("map(result, # * 10)", [1, 2], [10, 20]),
    ("map(result, {#index})", ["a", "b"], [0, 1]),
    ("count(result, # > 1)", [1, 2, 3], 2),
    ("count(result)", [True, False, True], 2),
    ("sum(result)", [1, 2, 3], 6),
    ("sum(result)", [1, 2.5], 3.5),
    ("sum(result)", [], 0),
    ("sum(result, # * 2)", [1, 2], 6),
    ("find(result, # > 1)", [1, 2, 3], 2),
    ("find(result, # > 5)", [1, 2, 3], None),
    ("findIndex(result, # > 1)", [1, 2, 3], 1),
    ("findLast(result, # > 1)", [1, 2, 3], 3),
    ("findLastIndex(result, # > 1)", [1, 2, 3], 2),
    ("reduce(result, #acc + #)", [1, 2, 3], 6),
    ("reduce(result, #acc + #, 10)", [1, 2, 3], 16),
    ("reduce(result, #acc + #index, 0)", ["a", "b", "c"], 3),
    ("all(result, .ok)", [{"ok": True}, {"ok": True}], True),
    ("filter(result, .value > 1)", [{"value": 1}, {"value": 2}], [{"value": 2}]),
    ("map(result, .name)", [{"name": "a"}, {"name": "b"}], ["a", "b"]),
    ("map(result, #.name)", [{"name": "a"}], ["a"]),
    ("all(result, all(#, # > 0))", [[1, 2], [3]], True),
    ("any(result, any(#, # > 2))", [[1, 2], [3]], True),
    ("map(result, {map(#, # + 1)})", [[1], [2, 3]], [[2], [3, 4]]),
    ("all(result, {# > 0},)", [1], True),
]


@pytest.mark.parametrize(("text", "result", "expected"), PREDICATES)
def test_predicates(text: str, result: Any, expected: Any) -> None:
    assert run(text, result=result) == expected


@pytest.mark.parametrize(
    ("text", "result", "message"),
    [
        ("all(result, # + 1)", [1], "the predicate of all() must return a bool, got int 2"),
        ("filter(result, 'x')", [1], "the predicate of filter() must return a bool"),
        ("count(result)", [1], "the predicate of count() must return a bool"),
        ("map(result, # + 1)", {"a": 1}, "map() expects an array, got map"),
        ("any(result, true)", "abc", "any() expects an array, got string"),
        ("reduce(result, #acc + #)", [], "reduce() of an empty array needs an initial value"),
        ("all(result, #acc)", [1], "#acc can only be used inside reduce()"),
        ("sum(result)", ["a"], "invalid operation: int + string"),
    ],
)
def test_predicate_errors(text: str, result: Any, message: str) -> None:
    with pytest.raises(ExprEvalError) as caught:
        run(text, result=result)
    assert message in str(caught.value)


# --- built-in functions -----------------------------------------------------------------------

BUILTINS: list[tuple[str, Any, Any]] = [
    ("len(result)", [1, 2], 2),
    ("len(result)", {"a": 1}, 1),
    ("len(result)", "héllo", 5),
    ("abs(result)", -2, 2),
    ("ceil(1.2)", None, 2.0),
    ("floor(-1.2)", None, -2.0),
    ("round(2.5)", None, 3.0),
    ("round(-2.5)", None, -3.0),
    ("round(0.49999999999999994)", None, 0.0),
    ("ceil(2)", None, 2.0),
    ("min(result)", [3, 1.5, 2], 1.5),
    ("max(result)", [3, 1.5, 2], 3),
    ("min(3, 1)", None, 1),
    ("max(1, [5, 2], 3)", None, 5),
    ("mean(result)", [1, 2, 3, 4], 2.5),
    ("mean(result)", [], 0.0),
    ("median(result)", [3, 1, 2], 2.0),
    ("median(result)", [4, 1, 3, 2], 2.5),
    ("first(result)", [1, 2], 1),
    ("first(result)", [], None),
    ("last(result)", [1, 2], 2),
    ("last(result)", None, None),
    ("take(result, 2)", [1, 2, 3], [1, 2]),
    ("get(result, 5)", [1], None),
    ("get(result, 'a')", {"a": 3}, 3),
    ("get(result, 0)", None, None),
    ("keys(result)", {"a": 1, "b": 2}, ["a", "b"]),
    ("values(result)", {"a": 1, "b": 2}, [1, 2]),
    ("int('42')", None, 42),
    ("int(3.9)", None, 3),
    ("int(-3.9)", None, -3),
    ("float('2.5')", None, 2.5),
    ("float(2)", None, 2.0),
    ("float('NaN') == float('NaN')", None, False),
    ("string(1.0)", None, "1"),
    ("string(0.000001)", None, "1e-06"),
    ("string(123456789012345678901.0)", None, "1.2345678901234568e+20"),
    ("string(123456.0)", None, "123456"),
    ("string(1234567.0)", None, "1.234567e+06"),
    ("string(1e6)", None, "1e+06"),
    ("string(-0.0001)", None, "-0.0001"),
    ("string(1234567)", None, "1234567"),
    ("string(result)", [1, "a", None, True], "[1 a <nil> true]"),
    ("string(result)", {"b": 2, "a": 1.5}, "map[a:1.5 b:2]"),
    ("type(result)", [1], "array"),
    ("type(result)", None, "nil"),
    ("type(1.5)", None, "float"),
    ("upper('abc')", None, "ABC"),
    ("lower('ABC')", None, "abc"),
    ("trim('  x  ')", None, "x"),
    ("trim('__x__', '_')", None, "x"),
    ("trimPrefix('v1.2', 'v')", None, "1.2"),
    ("trimSuffix('a.yaml', '.yaml')", None, "a"),
    ("split('a,b,c', ',')", None, ["a", "b", "c"]),
    ("split('a,b,c', ',', 2)", None, ["a", "b,c"]),
    ("split('abc', '')", None, ["a", "b", "c"]),
    ("split('a,b', ',', 0)", None, []),
    ("join(['a', 'b'], '-')", None, "a-b"),
    ("join(['a', 'b'])", None, "ab"),
    ("replace('aXbX', 'X', '-')", None, "a-b-"),
    ("repeat('ab', 3)", None, "ababab"),
    ("indexOf('apple pie', 'pie')", None, 6),
    ("lastIndexOf('apple pie apple', 'apple')", None, 10),
    ("hasPrefix('HelloWorld', 'Hello')", None, True),
    ("hasSuffix('HelloWorld', 'World')", None, True),
    ("asInt('-12')", None, -12),
    ("asInt('+7')", None, 7),
    ("asFloat('1e3')", None, 1000.0),
    ("asFloat('-Inf')", None, -math.inf),
    ("isNaN(1)", None, False),
    ("isInf(1)", None, False),
]


@pytest.mark.parametrize(("text", "result", "expected"), BUILTINS)
def test_builtins(text: str, result: Any, expected: Any) -> None:
    assert same(run(text, result=result), expected)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("len(1)", "len() expects an array, a map or a string, got int 1"),
        ("abs('x')", "abs() expects a number"),
        ("min([])", "min() needs at least one number"),
        ("max('a')", "max() expects a number"),
        ("int('1.5')", 'strconv.ParseInt: parsing "1.5": invalid syntax'),
        ("int(' 1')", "invalid syntax"),
        ("asInt('1_000')", "invalid syntax"),
        ("asInt('99999999999999999999')", "value out of range"),
        ("asFloat(' 1.5')", "invalid syntax"),
        ("asFloat('1e400')", "value out of range"),
        ("asInt(nil)", "asInt() not supported on nil"),
        ("asFloat(true)", "asFloat() not supported on bool true"),
        ("int(1 / 0)", "cannot convert +Inf to an integer"),
        ("isNaN('x')", "isNaN() expects a number, got string"),
        ("take([1], -1)", "take() needs a count >= 0"),
        ("repeat('a', -1)", "repeat() needs a count >= 0"),
        ("keys([1])", "keys() expects a map, got array"),
        ("join([1])", "join() expects a string, got int"),
    ],
)
def test_builtin_errors(text: str, message: str) -> None:
    with pytest.raises(ExprEvalError) as caught:
        run(text)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("len()", "len() takes 1 argument, got 0"),
        ("len(1, 2)", "len() takes 1 argument, got 2"),
        ("default(1)", "default() takes 2 arguments, got 1"),
        ("split('a')", "split() takes 2 to 3 arguments, got 1"),
        ("min()", "min() takes at least 1 argument, got 0"),
        ("all(result)", "all() expects at least 2 arguments"),
    ],
)
def test_builtin_arity_is_checked_at_compile_time(text: str, message: str) -> None:
    with pytest.raises(ExprSyntaxError, match=message.replace("(", r"\(").replace(")", r"\)")):
        compile_expression(text)


def test_unknown_function_suggests_a_builtin() -> None:
    with pytest.raises(ExprEvalError) as caught:
        run("lenn(result) > 0", result=[1])
    assert str(caught.value) == 'unknown function "lenn" (did you mean "len"?)'


def test_calling_a_function_name_without_parentheses_hints_at_a_call() -> None:
    with pytest.raises(ExprEvalError, match=r"len is a function: call it as len\(\.\.\.\)"):
        run("len > 0")


# --- host functions and the environment -------------------------------------------------------


def test_host_functions_are_called_with_evaluated_arguments() -> None:
    expression = compile_expression("now() - 10 > threshold(result[0])")
    functions: dict[str, Callable[..., Any]] = {"now": lambda: 100, "threshold": lambda x: x * 2}
    assert expression.evaluate({"result": [40]}, functions=functions) is True


def test_builtins_take_precedence_over_host_functions() -> None:
    assert compile_expression("len('abc')").evaluate({}, functions={"len": lambda _: 99}) == 3


def test_host_function_failures_become_eval_errors() -> None:
    def broken() -> None:
        raise RuntimeError("backend down")

    with pytest.raises(ExprEvalError, match=r"now\(\) failed: backend down"):
        compile_expression("now()").evaluate({}, functions={"now": broken})


def test_environment_values_are_never_called() -> None:
    called: list[int] = []
    env = {"result": lambda: called.append(1)}
    with pytest.raises(ExprEvalError, match='unknown function "result"'):
        compile_expression("result()").evaluate(env)
    assert called == []


def test_attributes_of_host_objects_are_not_reachable() -> None:
    class Secret:
        token = "hunter2"

    with pytest.raises(ExprEvalError, match='cannot fetch "token" from Secret'):
        run("result.token", result=Secret())


# --- compile once, evaluate many --------------------------------------------------------------


def test_expression_is_reusable_and_reports_its_names() -> None:
    expression = compile_expression("result[0] > limit && all(result, # > floor)")
    assert isinstance(expression, Expression)
    assert expression.names == frozenset({"result", "limit", "floor"})
    assert expression.evaluate({"result": [5], "limit": 1, "floor": 0}) is True
    assert expression.evaluate({"result": [0], "limit": 1, "floor": 0}) is False
    assert compile_expression("result[0] > limit && all(result, # > floor)") is expression


def test_evaluation_does_not_mutate_the_environment() -> None:
    result = [3, 1, 2]
    env = {"result": result}
    run("map(result, # * 2) == [6, 2, 4] && result[0:2] == [3, 1]", **env)
    assert result == [3, 1, 2]


def test_all_errors_share_one_base_class() -> None:
    assert issubclass(ExprSyntaxError, ExprError)
    assert issubclass(ExprEvalError, ExprError)


# --- limits -----------------------------------------------------------------------------------


def test_nesting_below_the_limit_is_fine() -> None:
    depth = MAX_NESTING - 2
    assert run("(" * depth + "1" + ")" * depth) == 1
    assert run("[" * depth + "]" * depth) is not None
    assert run("-" * depth + "1") == 1


@pytest.mark.parametrize(
    "text",
    [
        "(" * 1000 + "1" + ")" * 1000,
        "[" * 1000 + "]" * 1000,
        "!" * 5000 + "true",
        "-" * 5000 + "1",
        "len(" * 500 + "[]" + ")" * 500,
        "all(result, " * 200 + "true" + ")" * 200,
        "a." + ".".join(["b"] * 3000),
        "result" + "[0]" * 3000,
        " + ".join(["1"] * 5000),
        " && ".join(["true"] * 5000),
        "1 < " * 3000 + "2",
        "true ? " * 2000 + "1" + " : 2" * 2000,
    ],
)
def test_deep_or_long_input_is_a_clean_syntax_error(text: str) -> None:
    with pytest.raises(ExprSyntaxError, match=r"nested too deeply|too complex"):
        compile_expression(text)


def test_height_limit_allows_realistic_long_chains() -> None:
    terms = MAX_HEIGHT // 2
    assert run(" || ".join(["false"] * terms + ["true"])) is True


@pytest.mark.parametrize(
    "text",
    [
        "0..10000000",
        "map(0..999, map(0..999, map(0..10, #)))",
        "repeat('x', 100000000)",
        "len(filter(0..999999, true)) + len(filter(0..999999, true))",
        # Doubling a string, or a shared structure that is then walked, grows exponentially.
        "reduce(1..60, #acc + #acc, 'x') != ''",
        "reduce(1..40, [#acc, #acc], 0) == reduce(1..40, [#acc, #acc], 0)",
        "string(reduce(1..40, ({a: #acc, b: #acc}), 0)) != ''",
        "reduce(1..40, [#acc, #acc], 0) in [reduce(1..40, [#acc, #acc], 0)]",
    ],
)
def test_work_is_bounded_by_a_budget(text: str) -> None:
    with pytest.raises(ExprEvalError, match=f"budget of {STEP_BUDGET} steps"):
        run(text)


def test_syntax_error_render_shows_a_caret() -> None:
    with pytest.raises(ExprSyntaxError) as caught:
        compile_expression("result[0] >= 0.95 )")
    error = caught.value
    assert str(error) == 'unexpected token ")" at column 19'
    assert (error.line, error.column) == (1, 19)
    assert error.render() == (
        'unexpected token ")" at column 19\n  result[0] >= 0.95 )\n                    ^'
    )


def test_syntax_error_on_a_later_line_names_the_line() -> None:
    with pytest.raises(ExprSyntaxError) as caught:
        compile_expression("result[0] > 1 &&\n  result[1] <")
    assert str(caught.value) == "unexpected end of expression at line 2, column 14"
    assert caught.value.render().splitlines()[1:] == ["    result[1] <", "               ^"]
