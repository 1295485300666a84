"""Hostile conditions: `matches` is RE2 (linear, Go's syntax) and every evaluation is bounded.

Issue 11: ``result matches "^(a+)+$"`` against 29 `a`s and a `b` backtracked for ~35 s on the
daemon's event loop. These tests assert outcomes only (a result or a clear error), never a
duration; a backtracking engine would simply not finish the first one in any useful time.
"""

from __future__ import annotations

from typing import Any

import pytest

from rolloutd.analysis.expr import ExprEvalError, ExprSyntaxError, compile_expression
from rolloutd.analysis.expr.regex import RegexError, compile_regex


def evaluate(text: str, **env: Any) -> Any:
    return compile_expression(text).evaluate(env)


def test_catastrophic_backtracking_pattern_answers() -> None:
    hostile = "a" * 29 + "b"
    assert evaluate('result matches "^(a+)+$"', result=hostile) is False
    assert evaluate('result matches "^(a+)+$"', result="a" * 100_000) is True
    assert evaluate('result matches "(x+x+)+y"', result="x" * 5000) is False


@pytest.mark.parametrize(
    ("pattern", "why"),
    [
        (r"(a)\\1", "invalid escape sequence"),  # backreference
        ("(?=a)", "invalid perl operator"),  # lookahead
        ("(?<!a)b", "invalid"),  # lookbehind
        ("a{1001}", "invalid repetition size"),
    ],
)
def test_a_pattern_re2_rejects_is_a_compile_error_naming_the_expression(
    pattern: str, why: str
) -> None:
    text = f'result matches "{pattern}"'
    with pytest.raises(ExprSyntaxError) as info:
        compile_expression(text)
    assert "invalid regular expression" in str(info.value)
    assert why in str(info.value)


def test_a_pattern_from_the_environment_re2_rejects_is_an_evaluation_error() -> None:
    with pytest.raises(ExprEvalError, match="invalid regular expression"):
        evaluate("result matches pattern", result="aa", pattern="(a)\\1")


def test_re2_classes_are_ascii_as_in_go() -> None:
    assert evaluate(r'result matches "^\\d+$"', result="\u0661\u0662") is False
    assert evaluate(r'result matches "(?i)^OK$"', result="ok") is True
    assert compile_regex(r"\bword\b").search("a word here") is not None


def test_overlong_pattern_is_refused() -> None:
    with pytest.raises(RegexError, match="longer than"):
        compile_regex("a" * 5000)


def test_matching_a_huge_input_is_charged_to_the_budget() -> None:
    with pytest.raises(ExprEvalError, match="budget"):
        evaluate('result matches "x$"', result="x" * 20_000_000)
    # A capped provider response (1 MiB) is still matched.
    assert evaluate('result matches "x$"', result="x" * (1 << 20)) is True


@pytest.mark.parametrize(
    "text",
    [
        "repeat('x', 1000000000) == ''",
        "repeat(repeat('x', 1000), 1000) == ''",
        "reduce(1..60, #acc + #acc, 'x') == ''",
        "len(map(0..999999, map(0..999999, #))) > 0",
    ],
)
def test_blow_ups_exhaust_the_budget(text: str) -> None:
    with pytest.raises(ExprEvalError, match="budget"):
        evaluate(text)


def test_huge_numbers_are_clear_errors() -> None:
    with pytest.raises(ExprSyntaxError, match=r"too large"):
        compile_expression("9" * 5000 + " > 1")
    assert evaluate("0x" + "0" * 5000 + "1 == 1") is True
    with pytest.raises(ExprEvalError, match="value out of range"):
        evaluate("int(result) > 1", result="9" * 5000)
    assert evaluate("int(result) == -5", result="-" + "0" * 5000 + "5") is True


def test_deep_nesting_is_a_syntax_error() -> None:
    with pytest.raises(ExprSyntaxError, match="nested too deeply"):
        compile_expression("(" * 5000 + "1" + ")" * 5000)
    with pytest.raises(ExprSyntaxError, match="too complex"):
        compile_expression("1 " + "* 1 " * 3000 + "> 0")
