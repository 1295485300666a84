"""Go's durations and Kubernetes' timestamps, in one place for the whole of rolloutd.

Rollout specs (`pause.duration`, delays), AnalysisRun specs (`interval`, `step`), the analysis
expression language (`duration("1h")`) and the CLI (`--timeout 5m`) all take Go's
`time.ParseDuration` syntax, because that is what Argo Rollouts reads; statuses hold RFC 3339
times to the second, as the API server stores `metav1.Time`. Parsing is Go's own (its int64
nanoseconds, its float64 fractions, its error messages) and never slow: a number of thousands of
digits is refused before Python converts it.
"""

from __future__ import annotations

import datetime as dt
import re

__all__ = [
    "DurationError",
    "duration_string_seconds",
    "go_duration_nanoseconds",
    "go_duration_seconds",
    "parse_go_duration",
    "parse_time",
    "timestamp",
]

_NANOSECONDS = {
    "ns": 1,
    "us": 1_000,
    "\u00b5s": 1_000,  # µ (micro sign)
    "\u03bcs": 1_000,  # μ (Greek mu)
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}
_DIGITS = re.compile(r"[0-9]+")
_UNIT = re.compile(r"[^0-9.]*")
_INT64_MAX = 2**63 - 1
_WHOLE_DIGITS = 20
"""More integer digits than this are past any bound (and Python will not read thousands)."""


class DurationError(ValueError):
    """A string Go's `time.ParseDuration` refuses, with Go's message; `overflow` when it is
    well-formed but longer than Go's int64 nanoseconds."""

    def __init__(self, message: str, *, overflow: bool = False) -> None:
        super().__init__(message)
        self.overflow = overflow


def go_duration_nanoseconds(text: str) -> int:
    """Go's `time.ParseDuration`, step for step: the signed nanoseconds, or DurationError with
    Go's wording. Fractions go through a float64 exactly as Go's do, so `0.3333333333333333333h`
    is the same nanosecond here as in Argo."""
    original = text
    invalid = f'time: invalid duration "{original}"'
    negative = False
    if text[:1] in ("-", "+"):
        negative = text[0] == "-"
        text = text[1:]
    if text == "0":
        return 0
    if not text:
        raise DurationError(invalid)
    total = 0
    while text:
        whole_digits = _leading_digits(text)
        # Go's leadingInt refuses a number past 2^63 (checked before Python reads the digits).
        if len(whole_digits.lstrip("0")) > 19 or int(whole_digits or "0") > 1 << 63:
            raise DurationError(invalid, overflow=True)
        whole = int(whole_digits or "0")
        text = text[len(whole_digits) :]
        fraction, scale, post = 0, 1.0, False
        if text[:1] == ".":
            fraction_digits = _leading_digits(text[1:])
            fraction, scale = _leading_fraction(fraction_digits)
            post = bool(fraction_digits)
            text = text[1 + len(fraction_digits) :]
        if not whole_digits and not post:
            raise DurationError(invalid)  # no digits at all, e.g. ".s"
        unit_match = _UNIT.match(text)
        assert unit_match is not None  # the pattern can match the empty string
        unit = unit_match.group()
        if not unit:
            raise DurationError(f'time: missing unit in duration "{original}"')
        if unit not in _NANOSECONDS:
            raise DurationError(f'time: unknown unit "{unit}" in duration "{original}"')
        text = text[unit_match.end() :]
        per_unit = _NANOSECONDS[unit]
        if whole > (1 << 63) // per_unit:
            raise DurationError(invalid, overflow=True)
        value = whole * per_unit
        if fraction > 0:
            # Go: float64 is needed to be nanosecond accurate for fractions of hours.
            value += int(float(fraction) * (float(per_unit) / scale))
            if value > 1 << 63:
                raise DurationError(invalid, overflow=True)
        total += value
        if total > 1 << 63:
            raise DurationError(invalid, overflow=True)
    if negative:
        return -total
    if total > _INT64_MAX:
        raise DurationError(invalid, overflow=True)
    return total


def _leading_digits(text: str) -> str:
    match = _DIGITS.match(text)
    return match.group() if match else ""


def _leading_fraction(digits: str) -> tuple[int, float]:
    """Go's leadingFraction: the digits as an integer and the float64 power of ten to divide
    it by, ignoring the digits that would overflow an int64 (they are below a nanosecond)."""
    value, scale = 0, 1.0
    for ch in digits:
        if value > _INT64_MAX // 10:
            break
        candidate = value * 10 + int(ch)
        if candidate > 1 << 63:
            break
        value = candidate
        scale *= 10
    return value, scale


def parse_go_duration(text: str) -> dt.timedelta:
    """A Go duration as a timedelta (to the microsecond, truncated toward zero)."""
    nanoseconds = go_duration_nanoseconds(text)
    microseconds = abs(nanoseconds) // 1000
    return dt.timedelta(microseconds=-microseconds if nanoseconds < 0 else microseconds)


def go_duration_seconds(text: str) -> float:
    """A Go duration in seconds (surrounding blanks allowed, as on a command line)."""
    return go_duration_nanoseconds(text.strip()) / 1e9


def duration_string_seconds(text: str) -> float:
    """Argo's `DurationString`: a bare integer is seconds, anything else a Go duration."""
    stripped = text.strip()
    if re.fullmatch(r"[+-]?[0-9]+", stripped):
        if len(stripped.lstrip("+-").lstrip("0")) > _WHOLE_DIGITS:
            raise DurationError(f'time: invalid duration "{stripped}"', overflow=True)
        return float(int(stripped))
    return go_duration_seconds(stripped)


def parse_time(value: object) -> dt.datetime | None:
    """A Kubernetes timestamp (`2026-01-01T10:00:00Z`, with or without fractions), or None for
    anything else; a time without a zone is taken as UTC."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def timestamp(moment: dt.datetime) -> str:
    """RFC 3339 in UTC with a Z, to the second, as the API server stores `metav1.Time`."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
