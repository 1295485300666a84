"""Times and durations, as Prometheus ``rangeQuery.start``/``end`` expressions use them.

Argo's ``TestEvalTimeWithSuccessExpr`` evaluates
``date("2023-08-14 00:00:00", "2006-01-02 15:04:05", "UTC") - duration("1h")``; a typical
template writes ``now() - duration("{{args.lookback}}")``. ``now()`` is supplied by the caller.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from rolloutd.analysis import ExprEvalError, ExprSyntaxError, compile_expression

UTC = dt.UTC
NOW = dt.datetime(2026, 5, 1, 12, 0, 0, tzinfo=UTC)


def run(text: str, **env: Any) -> Any:
    return compile_expression(text).evaluate(env, functions={"now": lambda: NOW})


def test_argo_eval_time_example() -> None:
    value = run('date("2023-08-14 00:00:00", "2006-01-02 15:04:05", "UTC") - duration("1h")')
    assert value == dt.datetime(2023, 8, 13, 23, 0, 0, tzinfo=UTC)


def test_now_minus_a_lookback() -> None:
    assert run('now() - duration("15m")') == NOW - dt.timedelta(minutes=15)
    assert run('now() - duration("1h") < now()') is True


def test_now_must_come_from_the_caller() -> None:
    with pytest.raises(ExprEvalError, match=r"now\(\) must be provided by the caller"):
        compile_expression("now()").evaluate({})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1h30m", dt.timedelta(hours=1, minutes=30)),
        ("1.5s", dt.timedelta(seconds=1.5)),
        ("-2m", dt.timedelta(minutes=-2)),
        ("+5m", dt.timedelta(minutes=5)),
        ("300ms", dt.timedelta(milliseconds=300)),
        ("250us", dt.timedelta(microseconds=250)),
        ("250\u00b5s", dt.timedelta(microseconds=250)),
        (".5h", dt.timedelta(minutes=30)),
        ("0", dt.timedelta(0)),
        ("1500ns", dt.timedelta(microseconds=1)),
    ],
)
def test_duration_parses_go_syntax(text: str, expected: dt.timedelta) -> None:
    assert run(f'duration("{text}")') == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1d", 'time: unknown unit "d" in duration "1d"'),
        ("10", 'time: missing unit in duration "10"'),
        ("", 'time: invalid duration ""'),
        ("h", 'time: invalid duration "h"'),
        ("3000000h", 'time: invalid duration "3000000h"'),
    ],
)
def test_duration_errors_match_go(text: str, message: str) -> None:
    with pytest.raises(ExprEvalError) as caught:
        run(f'duration("{text}")')
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('date("2023-08-14")', dt.datetime(2023, 8, 14, tzinfo=UTC)),
        ('date("2023-08-14 10:30:00")', dt.datetime(2023, 8, 14, 10, 30, tzinfo=UTC)),
        ('date("2023-08-14T10:30:00Z")', dt.datetime(2023, 8, 14, 10, 30, tzinfo=UTC)),
        (
            'date("2023-08-14T10:30:00+02:00")',
            dt.datetime(2023, 8, 14, 8, 30, tzinfo=UTC),
        ),
        ('date("14/08/2023", "02/01/2006")', dt.datetime(2023, 8, 14, tzinfo=UTC)),
        (
            'date("Aug 14, 2023 3:04 PM", "Jan 2, 2006 3:04 PM")',
            dt.datetime(2023, 8, 14, 15, 4, tzinfo=UTC),
        ),
    ],
)
def test_date_layouts(text: str, expected: dt.datetime) -> None:
    assert run(text) == expected


def test_date_in_a_named_zone() -> None:
    value = run('date("2023-08-14 00:00:00", "2006-01-02 15:04:05", "Europe/Zurich")')
    assert value == dt.datetime(2023, 8, 13, 22, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('date("yesterday")', "cannot parse 'yesterday'"),
        ('date("2023", "2007")', "unsupported element in layout"),
        ('date("2023-08-14", "2006-01-02", "Mars/Olympus")', "unknown time zone"),
        ('date("2023-08-14", "2006-01-02", "Local")', '"Local" zone is not available'),
        ("date(1)", "date() expects a string"),
        ('duration("1h") + 1', "invalid operation: duration + int"),
        ("now() + now()", "invalid operation: time + time"),
        ('duration("1h") - now()', "invalid operation: duration - time"),
        ('now() > duration("1h")', "cannot compare time with duration"),
        ('date("9999-12-31") + duration("48h")', "time out of range"),
    ],
)
def test_time_errors(text: str, message: str) -> None:
    with pytest.raises(ExprEvalError) as caught:
        run(text)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('now() - date("2026-05-01T11:00:00Z")', dt.timedelta(hours=1)),
        ('duration("1h") + duration("30m")', dt.timedelta(minutes=90)),
        ('duration("1h") - duration("90m")', dt.timedelta(minutes=-30)),
        ('duration("1h") + now()', NOW + dt.timedelta(hours=1)),
        ('duration("90m") == duration("1h30m")', True),
        ('duration("1s") < duration("1m")', True),
        ('now() == date("2026-05-01T14:00:00+02:00")', True),
        ('string(duration("90m"))', "1h30m0s"),
        ('string(duration("1.5s"))', "1.5s"),
        ('string(duration("300ms"))', "300ms"),
        ('string(duration("-2m"))', "-2m0s"),
        ('string(duration("0"))', "0s"),
        ("string(now())", "2026-05-01 12:00:00 +0000 UTC"),
        ("type(now())", "time"),
        ('type(duration("1s"))', "duration"),
    ],
)
def test_time_arithmetic_and_formatting(text: str, expected: Any) -> None:
    assert run(text) == expected


def test_naive_times_from_the_host_are_utc() -> None:
    naive = dt.datetime(2026, 5, 1, 12, 0, 0)
    assert run("result == now()", result=naive) is True
    assert run("result < now() + duration('1s')", result=naive) is True


def test_time_equality_with_a_string_fails_to_compile() -> None:
    with pytest.raises(ExprSyntaxError, match="mismatched types duration and string"):
        compile_expression('duration("1h") == "1h"')
