"""Property-based tests: random programs against an independent reference, and robustness.

* Random well-typed arithmetic/boolean trees are rendered to text with the *fewest* parentheses
  expr's precedence rules allow, parsed and evaluated, and compared with a reference evaluation
  computed directly from the generated tree (never by evaluating the text). A precedence mistake
  in the parser, or a semantic slip in the evaluator, shows up as a mismatch.
* Arbitrary text only ever raises `ExprSyntaxError` when compiled.
* Arbitrary environment values only ever make evaluation raise `ExprEvalError`.
"""

from __future__ import annotations

import datetime as dt
import math
import struct
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from rolloutd.analysis import ExprEvalError, ExprSyntaxError, compile_expression
from rolloutd.analysis.expr.builtins import FUNCTIONS, PREDICATE_FUNCTIONS
from rolloutd.analysis.expr.values import format_float

PROPERTY_SETTINGS = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

# --- a tiny typed AST, private to this test ---------------------------------------------------


@dataclass(frozen=True)
class Lit:
    value: int | float | bool


@dataclass(frozen=True)
class Neg:
    operand: Any


@dataclass(frozen=True)
class Not:
    operand: Any
    word: bool  # render as `not x` instead of `!x`


@dataclass(frozen=True)
class Bin:
    op: str
    left: Any
    right: Any


@dataclass(frozen=True)
class Cond:
    test: Any
    then: Any
    otherwise: Any


class RefError(Exception):
    """The reference evaluation hit a runtime error (only integer division by zero here)."""


def _go_int64(value: int) -> int:
    # Independent of the implementation's wrap_int: round-trip through a packed C int64.
    return int(struct.unpack("<q", struct.pack("<Q", value & 0xFFFFFFFFFFFFFFFF))[0])


def _pow(x: float, y: float) -> float:
    """Go's math.Pow for the operands the generator makes (small, possibly nested or negated).

    Python's float ** already follows C99 pow for infinities and NaN (which Go matches); what
    it does differently is raise for a zero base with a negative exponent, return a complex
    number for a negative base with a fractional exponent, and raise on overflow.
    """
    odd = math.isfinite(y) and y.is_integer() and y % 2 == 1
    if x == 0 and y < 0:
        return math.copysign(math.inf, x) if odd else math.inf
    if x < 0 and math.isfinite(y) and not y.is_integer():
        return math.nan
    try:
        return float(x**y)
    except OverflowError:
        return -math.inf if x < 0 and odd else math.inf


def reference(node: Any) -> Any:
    """Evaluate the generated tree directly, following Go/expr semantics."""
    if isinstance(node, Lit):
        return node.value
    if isinstance(node, Neg):
        value = reference(node.operand)
        return _go_int64(-int(value)) if isinstance(value, int) else -value
    if isinstance(node, Not):
        return not reference(node.operand)
    if isinstance(node, Cond):
        return reference(node.then) if reference(node.test) else reference(node.otherwise)
    assert isinstance(node, Bin)
    op = node.op
    if op == "&&":
        return bool(reference(node.left)) and bool(reference(node.right))
    if op == "||":
        return bool(reference(node.left)) or bool(reference(node.right))
    a: Any = reference(node.left)
    b: Any = reference(node.right)
    both_int = type(a) is int and type(b) is int
    if op == "==":
        return a == b
    if op == "!=":
        return a != b
    if op == "<":
        return a < b
    if op == "<=":
        return a <= b
    if op == ">":
        return a > b
    if op == ">=":
        return a >= b
    if op == "+":
        return _go_int64(a + b) if both_int else float(a) + float(b)
    if op == "-":
        return _go_int64(a - b) if both_int else float(a) - float(b)
    if op == "*":
        return _go_int64(a * b) if both_int else float(a) * float(b)
    if op == "/":
        x, y = float(a), float(b)
        if y == 0:
            if x == 0 or math.isnan(x):
                return math.nan
            return math.inf if (x > 0) == (math.copysign(1.0, y) > 0) else -math.inf
        return x / y
    if op == "%":
        assert both_int
        if b == 0:
            raise RefError("integer divide by zero")
        magnitude = abs(a) - abs(b) * (abs(a) // abs(b))
        return _go_int64(magnitude if a >= 0 else -magnitude)
    if op == "**":
        return _pow(float(a), float(b))
    raise AssertionError(op)


# --- rendering with minimal parentheses -------------------------------------------------------

BINARY_PRECEDENCE = {
    "||": 10,
    "&&": 15,
    "==": 20,
    "!=": 20,
    "<": 20,
    "<=": 20,
    ">": 20,
    ">=": 20,
    "+": 30,
    "-": 30,
    "*": 60,
    "/": 60,
    "%": 60,
    "**": 100,
}
ATOM = 1000
COMPARISON = 20


def render(node: Any) -> tuple[str, int]:
    """Text for `node` plus the precedence of its outermost construct."""
    if isinstance(node, Lit):
        value = node.value
        if isinstance(value, bool):
            return ("true" if value else "false"), ATOM
        return (str(value) if isinstance(value, int) else repr(value)), ATOM
    if isinstance(node, Neg | Not):
        # The operand of unary - is parsed at precedence 90, of ! / not at 50.
        own = 90 if isinstance(node, Neg) else 50
        text, precedence = render(node.operand)
        if precedence < own:
            text = f"({text})"
        prefix = "-" if isinstance(node, Neg) else ("not " if node.word else "!")
        if prefix == "-" and text.startswith("-"):
            prefix = "- "
        return prefix + text, own
    if isinstance(node, Cond):
        parts = []
        for child in (node.test, node.then, node.otherwise):
            text, precedence = render(child)
            parts.append(f"({text})" if precedence == 0 else text)
        return f"{parts[0]} ? {parts[1]} : {parts[2]}", 0
    assert isinstance(node, Bin)
    own = BINARY_PRECEDENCE[node.op]
    left, left_precedence = render(node.left)
    right, right_precedence = render(node.right)
    if own == COMPARISON:
        # Comparisons chain in expr (`a < b < c` is `a < b && b < c`): always wrap them.
        left_needs, right_needs = left_precedence <= own, right_precedence <= own
    elif node.op == "**":  # right-associative
        left_needs, right_needs = left_precedence <= own, right_precedence < own
    else:
        left_needs, right_needs = left_precedence < own, right_precedence <= own
    if left_needs:
        left = f"({left})"
    if right_needs:
        right = f"({right})"
    return f"{left} {node.op} {right}", own


def depth(node: Any) -> int:
    if isinstance(node, Lit):
        return 1
    if isinstance(node, Neg | Not):
        return 1 + depth(node.operand)
    if isinstance(node, Cond):
        return 1 + max(depth(node.test), depth(node.then), depth(node.otherwise))
    return 1 + max(depth(node.left), depth(node.right))


# --- strategies -------------------------------------------------------------------------------

INT64_MAX = 2**63 - 1
int_literals = st.one_of(
    st.integers(0, 20), st.integers(0, INT64_MAX), st.sampled_from([0, 1, 2**62, INT64_MAX])
).map(Lit)
float_literals = st.floats(min_value=0, allow_nan=False, allow_infinity=False).map(Lit)
bool_literals = st.booleans().map(Lit)

# ** gets small non-negative operands (so Python's pow needs no special cases beyond overflow),
# but may nest on either side, so its right-associativity and its binding against unary minus
# are exercised: `2 ** 3 ** 2`, `-2 ** 2`, `(-2) ** 2`.
pow_bases = st.one_of(st.integers(0, 3), st.floats(0, 3, allow_nan=False)).map(Lit)
powers: st.SearchStrategy[Any] = st.deferred(
    lambda: st.builds(
        lambda base, exponent: Bin("**", base, exponent),
        st.one_of(pow_bases, powers, pow_bases.map(Neg)),
        st.one_of(st.integers(-2, 2).map(Lit), powers),
    )
)

ints: st.SearchStrategy[Any] = st.deferred(
    lambda: st.one_of(
        int_literals,
        ints.map(Neg),
        st.builds(Bin, st.sampled_from(["+", "-", "*", "%"]), ints, ints),
        st.builds(Cond, bools, ints, ints),
    )
)
numbers: st.SearchStrategy[Any] = st.deferred(
    lambda: st.one_of(
        ints,
        float_literals,
        numbers.map(Neg),
        st.builds(Bin, st.sampled_from(["+", "-", "*", "/"]), numbers, numbers),
        powers,
        powers.map(Neg),
        st.builds(Cond, bools, numbers, numbers),
    )
)
bools: st.SearchStrategy[Any] = st.deferred(
    lambda: st.one_of(
        bool_literals,
        st.builds(Not, bools, st.booleans()),
        st.builds(Bin, st.sampled_from(["&&", "||", "==", "!="]), bools, bools),
        st.builds(Bin, st.sampled_from(["==", "!=", "<", "<=", ">", ">="]), numbers, numbers),
        st.builds(Cond, bools, bools, bools),
    )
)


def same_value(actual: Any, expected: Any) -> bool:
    if type(actual) is not type(expected):
        return False
    if isinstance(expected, float) and math.isnan(expected):
        return math.isnan(actual)
    return bool(actual == expected)


@PROPERTY_SETTINGS
@given(st.one_of(numbers, bools))
@example(Neg(Bin("**", Lit(2), Lit(2))))  # -2 ** 2 == -4
@example(Bin("**", Lit(2), Bin("**", Lit(3), Lit(2))))  # 2 ** 3 ** 2 == 512
@example(Bin("%", Neg(Lit(7)), Lit(3)))  # Go's remainder takes the dividend's sign
@example(Bin("+", Lit(INT64_MAX), Lit(1)))  # int64 wraps
@example(Not(Bin("==", Lit(True), Lit(False)), word=False))  # !(a == b) keeps its parentheses
def test_random_programs_match_the_reference(tree: Any) -> None:
    assume(depth(tree) <= 25)
    text, _ = render(tree)
    try:
        expected: Any = reference(tree)
    except RefError:
        with pytest.raises(ExprEvalError, match="integer divide by zero"):
            compile_expression(text).evaluate({})
        return
    actual = compile_expression(text).evaluate({})
    assert same_value(actual, expected), f"{text!r}: got {actual!r}, expected {expected!r}"


@settings(PROPERTY_SETTINGS, max_examples=100)
@given(st.one_of(numbers, bools))
def test_redundant_parentheses_change_nothing(tree: Any) -> None:
    assume(depth(tree) <= 25)
    text, _ = render(tree)
    try:
        expected = compile_expression(text).evaluate({})
    except ExprEvalError:
        return
    assert same_value(compile_expression(f"(({text}))").evaluate({}), expected)


# --- robustness: arbitrary text ---------------------------------------------------------------

TOKENS = [
    *"()[]{}.,:?#|+-*/%^!<>=&'\"`\\",
    "&&", "||", "==", "!=", "<=", ">=", "**", "??", "?.", "..", "//", "/*", "*/",
    "and", "or", "not", "in", "matches", "contains", "startsWith", "endsWith", "let", "if",
    "true", "false", "nil", "result", "$env", "#index", "#acc", "x", "_a1",
    "len", "all", "any", "map", "filter", "reduce", "default", "isNil", "asInt", "sum",
    "0", "1", "42", "0x1F", "0b2", "1e3", "1e", ".5", "1..3", "9223372036854775808",
    "'s'", '"d"', "`r`", "'\\n'", "'\\q'", "'\\u00e9'", " ", "\n", "\t", "é", "€", "\x00",
]  # fmt: skip
token_soup = st.lists(st.sampled_from(TOKENS), max_size=25).map("".join)
expr_alphabet = st.text(alphabet=st.sampled_from(sorted(set("".join(TOKENS)))), max_size=40)


def compiles_or_syntax_error(text: str) -> Any:
    try:
        return compile_expression(text)
    except ExprSyntaxError as error:
        # The error must be renderable and point inside (or just past) the text.
        assert error.column >= 1
        assert 0 <= error.offset <= len(text)
        error.render()
        return None


@PROPERTY_SETTINGS
@given(st.text())
def test_any_text_compiles_or_raises_a_syntax_error(text: str) -> None:
    compiles_or_syntax_error(text)


@PROPERTY_SETTINGS
@given(st.one_of(token_soup, expr_alphabet))
def test_token_soup_compiles_or_raises_a_syntax_error(text: str) -> None:
    compiles_or_syntax_error(text)


# --- robustness: arbitrary environment values -------------------------------------------------

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(),
    st.text(max_size=10),
    st.sampled_from([0, 1, -1, 0.0, -0.0, math.nan, math.inf, -math.inf, "", "1", "1.5", "x"]),
    st.datetimes(),
    st.datetimes(timezones=st.sampled_from([dt.UTC, dt.timezone(dt.timedelta(hours=-7))])),
    st.timedeltas(),
)
values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.lists(children, max_size=5).map(tuple),
        st.dictionaries(st.text(max_size=5), children, max_size=5),
        st.dictionaries(st.sampled_from(["a", "b", "ok", "status", "Values"]), children),
    ),
    max_leaves=20,
)

REALISTIC_CONDITIONS = [
    "result[0] >= 0.95",
    "len(result) == 0 || result[0] < 10",
    "result == 'true'",
    "asFloat(result) > 0.5",
    "asInt(result) > 0",
    "isNaN(result[0])",
    "isNaN(result) || result >= 0.95",
    "isInf(result)",
    "default(result, 0) < 0.05",
    "default(result[0], 0) >= 0.9",
    "isNil(result) || result < 1",
    "result.status == 'ok'",
    "result.ok && result.successPercent >= 0.90",
    "result[0].Values[0] <= 0.01",
    "all(result, {# > 0.9})",
    "any(result, # < 1)",
    "none(result, .ok)",
    "filter(result, # != nil)",
    "map(result, # * 2)",
    "sum(result) / len(result) > 1",
    "mean(result) > median(result)",
    "min(result) < max(result)",
    "count(result, # > 0) > 1",
    "reduce(result, #acc + #, 0)",
    "result[-1] > result[1:3]",
    "result[:2] == [1, 2]",
    "result?.a?.b ?? 'none'",
    "result in [1, 'a', nil]",
    "'a' in result",
    "result contains 'x'",
    "result matches '^[0-9]+$'",
    "result startsWith 'a' || result endsWith 'z'",
    "string(result) != ''",
    "int(result) % 2 == 0",
    "float(result) ** 2 > 1",
    "abs(result) + ceil(result) - floor(result) * round(result)",
    "len(result) > 0 ? result[0] : nil",
    "-result < +result",
    "!result",
    "result..5",
    "keys(result)",
    "values(result)",
    "first(result) == last(result)",
    "get(result, 0) ?? get(result, 'a')",
    "join(result, ',')",
    "split(result, ',')",
    "upper(result) + lower(result)",
    "trim(result)",
    "type(result) == 'array'",
    "result == result",
    "$env.result == result",
    "take(result, 1)",
    "findIndex(result, # == 1)",
    "one(result, # == nil)",
    "result - duration('1h') < result",
    "result + duration('1h') > date('2024-01-01')",
    "result - result == duration('0')",
    "string(result) != ''",
    "now() - result > duration('5m')",
]
conditions = st.sampled_from([compile_expression(text) for text in REALISTIC_CONDITIONS])


def evaluates_or_eval_error(expression: Any, env: dict[str, Any]) -> None:
    try:
        expression.evaluate(env)
    except ExprEvalError as error:
        # The top-level safety net must never be what caught it: that would be a bug.
        assert not error.message.startswith("internal error"), error.message


@PROPERTY_SETTINGS
@given(conditions, values)
def test_realistic_conditions_only_raise_eval_errors(expression: Any, result: Any) -> None:
    evaluates_or_eval_error(expression, {"result": result})


# Syntactically valid programs of every shape, with no regard for types, so that evaluation
# meets every kind of mismatch. Every sub-expression is parenthesised to stay well-formed.
FUNCTION_ARITIES = [(name, low) for name, (_, low, _high) in FUNCTIONS.items()] + [
    ("min", 3),
    ("split", 3),
    ("trim", 2),
]
atoms = st.one_of(
    st.sampled_from(["result", "x", "nil", "true", "false", "$env", "[]", "{}", "''", "'a'"]),
    st.integers(-5, 5).map(lambda n: f"({n})"),
    st.sampled_from(["0.5", "1e3", "9223372036854775807", "(1/0)", "(0/0)", "'1.5'"]),
)


def _grow(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    wrapped = inner.map(lambda text: f"({text})")
    binary_ops = sorted(set(BINARY_PRECEDENCE) | {"in", "not in", "contains", "matches", ".."})
    return st.one_of(
        st.tuples(st.sampled_from(["-", "+", "!", "not "]), wrapped).map("".join),
        st.tuples(wrapped, st.sampled_from([*binary_ops, "??"]), wrapped).map(" ".join),
        st.tuples(wrapped, wrapped).map(lambda p: f"{p[0]}[{p[1]}]"),
        st.tuples(wrapped, wrapped, wrapped).map(lambda p: f"{p[0]}[{p[1]}:{p[2]}]"),
        st.tuples(wrapped, st.sampled_from(["a", "ok", "status", "Values"])).map(".".join),
        wrapped.map(lambda text: f"{text}?.a"),
        st.tuples(wrapped, wrapped, wrapped).map(lambda p: f"{p[0]} ? {p[1]} : {p[2]}"),
        st.lists(inner, max_size=3).map(lambda items: "[" + ", ".join(items) + "]"),
        st.tuples(wrapped, wrapped).map(lambda p: f"{{k: {p[0]}, (x ?? 'y'): {p[1]}}}"),
        st.tuples(st.sampled_from(FUNCTION_ARITIES), st.lists(inner, min_size=3, max_size=3)).map(
            lambda p: f"{p[0][0]}({', '.join(p[1][: p[0][1]])})"
        ),
        st.tuples(
            st.sampled_from(sorted(PREDICATE_FUNCTIONS)),
            wrapped,
            st.sampled_from(["#", "# > 1", ".a", "#index", "# == nil", "true", "#.ok && true"]),
        ).map(
            lambda p: f"reduce({p[1]}, #acc)" if p[0] == "reduce" else f"{p[0]}({p[1]}, {{{p[2]}}})"
        ),
    )


programs = st.recursive(atoms, _grow, max_leaves=12)


@PROPERTY_SETTINGS
@given(programs, values, values)
def test_random_programs_only_raise_eval_errors(text: str, result: Any, other: Any) -> None:
    try:
        expression = compile_expression(text)
    except ExprSyntaxError as error:
        # Well-formed by construction; only the static type check may refuse one.
        assert "mismatched types" in error.reason, error.reason
        return
    evaluates_or_eval_error(expression, {"result": result, "x": other})


@PROPERTY_SETTINGS
@given(st.one_of(token_soup, expr_alphabet), values, values)
def test_whatever_compiles_only_raises_eval_errors(text: str, result: Any, other: Any) -> None:
    expression = compiles_or_syntax_error(text)
    if expression is not None:
        evaluates_or_eval_error(expression, {"result": result, "x": other, "_a1": other})


@PROPERTY_SETTINGS
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_go_float_format_round_trips(value: float) -> None:
    text = format_float(value)
    assert float(text) == value
    if "e" not in text:
        assert "." in text or text.lstrip("-").isdigit()
