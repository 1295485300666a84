"""Times and durations: ``duration()``, ``date()`` and the arithmetic between them.

Argo Rollouts evaluates a Prometheus ``rangeQuery.start``/``end`` as an expression that yields a
time, typically ``now() - duration("{{args.lookback}}")``. These helpers cover that use:

* a time is an aware `datetime.datetime` (a naive one is taken to be UTC), a duration a
  `datetime.timedelta`; Go's nanoseconds are truncated to Python's microseconds;
* ``duration(s)`` parses Go's ``time.ParseDuration`` syntax (``1h30m``, ``1.5s``, ``-2m``,
  ``300ms``) with Go's error texts;
* ``date(s)`` accepts expr's default layouts; ``date(s, layout[, zone])`` takes a Go reference
  layout such as ``"2006-01-02 15:04:05"`` (the usual tokens are supported, others are refused);
* ``now()`` reads a clock, so it is not built in: the host passes it as a function, which keeps
  evaluation pure and testable.

Only the standard library is used; zone names go through `zoneinfo`.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

from rolloutd import gotime
from rolloutd.analysis.expr.errors import ExprEvalError

__all__ = [
    "aware",
    "format_go_duration",
    "format_go_time",
    "parse_go_date",
    "parse_go_duration",
]


def aware(value: dt.datetime) -> dt.datetime:
    """Times without a zone are UTC, so that any two times can be compared."""
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def parse_go_duration(text: str) -> dt.timedelta:
    """Go's ``time.ParseDuration``, error messages included (as evaluation errors)."""
    try:
        return gotime.parse_go_duration(text)
    except gotime.DurationError as exc:
        raise ExprEvalError(str(exc)) from None


def _nanoseconds(value: dt.timedelta) -> int:
    return ((value.days * 86_400 + value.seconds) * 1_000_000 + value.microseconds) * 1000


def _fraction(value: int, digits: int) -> tuple[str, int]:
    """Go's fmtFrac: the last `digits` decimal digits of `value` as ".ddd", zeros trimmed."""
    fraction = str(value % 10**digits).rjust(digits, "0").rstrip("0")
    return ("." + fraction if fraction else ""), value // 10**digits


def format_go_duration(value: dt.timedelta) -> str:
    """Go's ``Duration.String()``: ``1h30m0s``, ``1.5s``, ``300ms``, ``0s``."""
    nanoseconds = _nanoseconds(value)
    if nanoseconds == 0:
        return "0s"
    sign = "-" if nanoseconds < 0 else ""
    amount = abs(nanoseconds)
    if amount < 1_000_000_000:
        if amount < 1_000:
            return f"{sign}{amount}ns"
        unit, digits = ("\u00b5s", 3) if amount < 1_000_000 else ("ms", 6)
        fraction, whole = _fraction(amount, digits)
        return f"{sign}{whole}{fraction}{unit}"
    fraction, seconds = _fraction(amount, 9)
    minutes, seconds = divmod(seconds, 60)
    text = f"{seconds}{fraction}s"
    if minutes:
        hours, minutes = divmod(minutes, 60)
        text = f"{minutes}m{text}"
        if hours:
            text = f"{hours}h{text}"
    return sign + text


def format_go_time(value: dt.datetime) -> str:
    """Go's ``Time.String()``: ``2006-01-02 15:04:05.999999999 -0700 MST``."""
    value = aware(value)
    text = value.strftime("%Y-%m-%d %H:%M:%S")
    if value.microsecond:
        text += ("." + f"{value.microsecond:06d}").rstrip("0")
    offset = value.strftime("%z") or "+0000"
    zone = value.tzname() or "UTC"
    if isinstance(value.tzinfo, dt.timezone) and value.utcoffset():
        zone = offset  # Go names an unnamed fixed zone by its offset
    return f"{text} {offset} {zone}"


# Go reference-layout tokens and their strptime equivalents, longest first so that "2006" wins
# over "2" and "January" over "Jan".
_LAYOUT_TOKENS = [
    ("January", "%B"),
    ("Monday", "%A"),
    ("Z07:00", "%z"),
    ("-07:00", "%z"),
    ("Z0700", "%z"),
    ("-0700", "%z"),
    ("2006", "%Y"),
    ("Jan", "%b"),
    ("Mon", "%a"),
    ("MST", "%Z"),
    (".000000", ".%f"),
    (".000", ".%f"),
    (".999999", ".%f"),
    (".999", ".%f"),
    ("_2", "%d"),
    ("01", "%m"),
    ("02", "%d"),
    ("03", "%I"),
    ("04", "%M"),
    ("05", "%S"),
    ("06", "%y"),
    ("15", "%H"),
    ("PM", "%p"),
    ("pm", "%p"),
    ("1", "%m"),
    ("2", "%d"),
    ("3", "%I"),
    ("4", "%M"),
    ("5", "%S"),
]


def _strptime_format(layout: str) -> str:
    out: list[str] = []
    position = 0
    while position < len(layout):
        for token, directive in _LAYOUT_TOKENS:
            if layout.startswith(token, position):
                out.append(directive)
                position += len(token)
                break
        else:
            char = layout[position]
            if char.isdigit():
                raise ExprEvalError(f'date(): unsupported element in layout "{layout}"')
            out.append("%%" if char == "%" else char)
            position += 1
    return "".join(out)


# expr's date() tries these when no layout is given (builtin/builtin.go).
_DEFAULT_LAYOUTS = [
    "2006-01-02",
    "15:04:05",
    "2006-01-02 15:04:05",
    "Mon, 02 Jan 2006 15:04:05 MST",  # RFC1123
    "02 Jan 06 15:04 MST",  # RFC822
    "Monday, 02-Jan-06 15:04:05 MST",  # RFC850
]


def _zone(name: str) -> dt.tzinfo:
    if name in ("", "UTC"):
        return dt.UTC
    if name == "Local":
        raise ExprEvalError('date(): the "Local" zone is not available; name a zone instead')
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        raise ExprEvalError(f"date(): unknown time zone {name!r}") from None


def _parse_rfc3339(text: str) -> dt.datetime | None:
    if "T" not in text and "t" not in text:
        return None
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def parse_go_date(text: str, layout: str | None = None, zone: str | None = None) -> dt.datetime:
    """expr's ``date(text[, layout[, zone]])``, returning an aware datetime."""
    location = _zone(zone or "")
    if layout is None:
        parsed = _parse_rfc3339(text)
        if parsed is not None:
            return parsed
        layouts = _DEFAULT_LAYOUTS
    else:
        layouts = [layout]
    for candidate in layouts:
        try:
            parsed = dt.datetime.strptime(text, _strptime_format(candidate))
        except ValueError:
            continue
        return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=location)
    if layout is None:
        raise ExprEvalError(f"date(): cannot parse {text!r} (no known layout matches)")
    raise ExprEvalError(f"date(): cannot parse {text!r} as {layout!r}")
