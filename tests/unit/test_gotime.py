"""Go's durations and Kubernetes' timestamps, the one home every layer parses them with.

The accepted and refused strings are Go's own `time.ParseDuration` table (src/time/time_test.go).
"""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as hs

from rolloutd import gotime
from rolloutd.analysis.expr.errors import ExprEvalError
from rolloutd.analysis.expr.timefns import parse_go_duration as expr_duration
from rolloutd.cli.timefmt import parse_go_duration as cli_duration
from rolloutd.model.rollout import MAX_DURATION_SECONDS, parse_duration

NS = 1
US = 1_000
MS = 1_000_000
S = 1_000_000_000

GO_ACCEPTS = [
    ("0", 0),
    ("5s", 5 * S),
    ("30s", 30 * S),
    ("1478s", 1478 * S),
    ("-5s", -5 * S),
    ("+5s", 5 * S),
    ("-0", 0),
    ("+0", 0),
    ("5.0s", 5 * S),
    ("5.6s", 5 * S + 600 * MS),
    ("5.s", 5 * S),
    (".5s", 500 * MS),
    ("1.0s", S),
    ("1.00s", S),
    ("1.004s", S + 4 * MS),
    ("1.0040s", S + 4 * MS),
    ("100.00100s", 100 * S + 1 * MS),
    ("10ns", 10 * NS),
    ("11us", 11 * US),
    ("12\u00b5s", 12 * US),
    ("12\u03bcs", 12 * US),
    ("13ms", 13 * MS),
    ("14s", 14 * S),
    ("15m", 15 * 60 * S),
    ("16h", 16 * 3600 * S),
    ("3h30m", (3 * 60 + 30) * 60 * S),
    ("10.5s4m", 4 * 60 * S + 10 * S + 500 * MS),
    ("-2m3.4s", -(2 * 60 * S + 3 * S + 400 * MS)),
    ("1h2m3s4ms5us6ns", 3600 * S + 2 * 60 * S + 3 * S + 4 * MS + 5 * US + 6 * NS),
    ("39h9m14.425s", 39 * 3600 * S + 9 * 60 * S + 14 * S + 425 * MS),
    ("52763797000ns", 52763797000 * NS),
    ("0.3333333333333333333h", 20 * 60 * S),
    ("9007199254740993ns", (1 << 53) + 1),
    ("9223372036854775807ns", 2**63 - 1),
    ("9223372036854775.807us", 2**63 - 1),
    ("-9223372036854775808ns", -(2**63)),
    ("0.100000000000000000000h", 6 * 60 * S),
    ("0.830103483285477580700h", 49 * 60 * S + 48 * S + 372539827 * NS),
]

GO_REFUSES = [
    ("", 'time: invalid duration ""'),
    ("3", 'time: missing unit in duration "3"'),
    ("-", 'time: invalid duration "-"'),
    ("s", 'time: invalid duration "s"'),
    (".", 'time: invalid duration "."'),
    ("-.", 'time: invalid duration "-."'),
    (".s", 'time: invalid duration ".s"'),
    ("+.s", 'time: invalid duration "+.s"'),
    ("1d", 'time: unknown unit "d" in duration "1d"'),
    ("3000000h", 'time: invalid duration "3000000h"'),
    ("9223372036854775808ns", 'time: invalid duration "9223372036854775808ns"'),
    ("9223372036854775.808us", 'time: invalid duration "9223372036854775.808us"'),
    ("1" + "0" * 5000 + "s", None),
]


@pytest.mark.parametrize(("text", "nanoseconds"), GO_ACCEPTS)
def test_what_go_accepts(text: str, nanoseconds: int) -> None:
    assert gotime.go_duration_nanoseconds(text) == nanoseconds


@pytest.mark.parametrize(("text", "message"), GO_REFUSES)
def test_what_go_refuses_with_gos_message(text: str, message: str | None) -> None:
    with pytest.raises(gotime.DurationError) as refused:
        gotime.go_duration_nanoseconds(text)
    if message is not None:
        assert str(refused.value) == message


def test_overflow_is_told_apart_from_a_typo() -> None:
    with pytest.raises(gotime.DurationError) as long:
        gotime.go_duration_nanoseconds("3000000h")
    assert long.value.overflow
    with pytest.raises(gotime.DurationError) as typo:
        gotime.go_duration_nanoseconds("3x")
    assert not typo.value.overflow


def test_every_layer_reads_a_duration_the_same_way() -> None:
    assert cli_duration(" 1h30m ") == 5400.0
    assert expr_duration("1h30m") == dt.timedelta(hours=1, minutes=30)
    assert parse_duration("1h30m") == 5400
    with pytest.raises(ExprEvalError, match='time: unknown unit "d" in duration "1d"'):
        expr_duration("1d")
    with pytest.raises(ValueError, match='time: missing unit in duration "3"'):
        cli_duration("3")


def test_argos_pause_durations() -> None:
    assert parse_duration(30) == 30
    assert parse_duration("30") == 30
    assert parse_duration("1.9s") == 1  # whole seconds, truncated
    assert parse_duration("-5") == -5  # an int keeps its value, for the validator to name
    assert parse_duration("-1m") == -1
    assert parse_duration("soon") == -1
    assert parse_duration("3000000h") == MAX_DURATION_SECONDS + 1
    assert parse_duration("9" * 400) == MAX_DURATION_SECONDS + 1
    assert parse_duration("9" * 400 + "h") == MAX_DURATION_SECONDS + 1


@given(hs.integers(min_value=0, max_value=2**63 - 1))
def test_nanoseconds_round_trip(nanoseconds: int) -> None:
    assert gotime.go_duration_nanoseconds(f"{nanoseconds}ns") == nanoseconds
    seconds, rest = divmod(nanoseconds, S)
    assert gotime.go_duration_nanoseconds(f"{seconds}.{rest:09d}s") == nanoseconds


def test_timestamps() -> None:
    moment = gotime.parse_time("2026-01-01T10:00:05Z")
    assert moment == dt.datetime(2026, 1, 1, 10, 0, 5, tzinfo=dt.UTC)
    assert gotime.parse_time("2026-01-01T10:00:05.123456Z") is not None
    assert gotime.parse_time("2026-01-01T10:00:05") == moment  # no zone: UTC
    assert gotime.parse_time("2026-01-01T12:00:05+02:00") == moment
    for nothing in (None, "", "  ", "yesterday", 17):
        assert gotime.parse_time(nothing) is None
    tokyo = dt.timezone(dt.timedelta(hours=9))
    assert gotime.timestamp(dt.datetime(2026, 1, 1, 19, 0, 5, 999, tzinfo=tokyo)) == (
        "2026-01-01T10:00:05Z"
    )
