"""Ages as kubectl prints them, durations as Go parses them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from rolloutd.cli.timefmt import (
    age,
    format_rfc3339,
    human_duration,
    parse_duration_string,
    parse_go_duration,
    parse_time,
)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (-5, "<invalid>"),
        (-1, "0s"),
        (0, "0s"),
        (45, "45s"),
        (99, "99s"),
        (119, "119s"),
        (120, "2m"),
        (290, "4m50s"),
        (591, "9m51s"),
        (600, "10m"),
        (95 * 60, "95m"),
        (3 * 3600 + 5 * 60, "3h5m"),
        (4 * 3600, "4h"),
        (30 * 3600, "30h"),
        (69 * 3600, "2d21h"),
        (72 * 3600, "3d"),
        (7 * 86400 + 3600, "7d1h"),
        (8 * 86400, "8d"),
        (700 * 86400, "700d"),
        (800 * 86400, "2y70d"),
        (730 * 86400, "2y"),
        (9 * 365 * 86400, "9y"),
    ],
)
def test_human_duration(seconds: float, text: str) -> None:
    assert human_duration(seconds) == text


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("0", 0), ("30s", 30), ("5m", 300), ("1h30m", 5400), ("1.5h", 5400), ("500ms", 0.5)],
)
def test_parse_go_duration(text: str, seconds: float) -> None:
    assert parse_go_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "5", "1d", "abc", "5m x"])
def test_parse_go_duration_rejects_what_go_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="time: "):
        parse_go_duration(text)


def test_duration_string_takes_bare_integers_as_seconds() -> None:
    assert parse_duration_string("30") == 30
    assert parse_duration_string("2m") == 120


def test_times() -> None:
    now = datetime(2025, 6, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_time("2025-06-01T11:55:10Z") == datetime(2025, 6, 1, 11, 55, 10, tzinfo=UTC)
    assert parse_time("not a time") is None
    assert parse_time(None) is None
    assert age("2025-06-01T11:55:10Z", now) == "4m50s"
    assert age(None, now) == "<unknown>"
    assert format_rfc3339(now.replace(microsecond=123)) == "2025-06-01T12:00:00Z"
