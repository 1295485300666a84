"""Time as the Argo Rollouts CLI shows and reads it.

Ages in `get rollout` follow Kubernetes' `HumanDuration` (the same strings `kubectl get`
prints), and durations on the command line (`restart --in 30s`, `status --timeout 5m`) follow
Go's `time.ParseDuration`, because that is what users of the Go plugin type. Everything here is
pure: the caller passes `now`.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

_UNIT_SECONDS: dict[str, float] = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_GO_DURATION = re.compile(r"([0-9]*(?:\.[0-9]*)?)(ns|us|µs|μs|ms|s|m|h)")


def human_duration(seconds: float) -> str:
    """Kubernetes `duration.HumanDuration`: `45s`, `4m50s`, `95m`, `3h5m`, `30h`, `2d21h`, `7d`.

    Two seconds of clock skew into the future still read as `0s`; more is `<invalid>`.
    """
    whole = int(seconds)  # Go truncates toward zero
    if whole < -1:
        return "<invalid>"
    if whole < 0:
        return "0s"
    if whole < 120:
        return f"{whole}s"
    minutes = whole // 60
    if minutes < 10:
        rest = whole % 60
        return f"{minutes}m" if rest == 0 else f"{minutes}m{rest}s"
    if minutes < 180:
        return f"{minutes}m"
    hours = whole // 3600
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h" if rest == 0 else f"{hours}h{rest}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rest = hours % 24
        return f"{hours // 24}d" if rest == 0 else f"{hours // 24}d{rest}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        years = hours // 24 // 365
        return f"{years}y" if days == 0 else f"{years}y{days}d"
    return f"{hours // 24 // 365}y"


def parse_go_duration(text: str) -> float:
    """Seconds in a Go duration string (`30s`, `5m`, `1h30m`, `1.5h`, `0`).

    Raises ValueError with Go's wording for anything Go would refuse.
    """
    raw = text.strip()
    body = raw
    sign = 1.0
    if body and body[0] in "+-":
        sign = -1.0 if body[0] == "-" else 1.0
        body = body[1:]
    if body == "0":
        return 0.0
    if not body:
        raise ValueError(f'time: invalid duration "{raw}"')
    total = 0.0
    pos = 0
    while pos < len(body):
        match = _GO_DURATION.match(body, pos)
        if match is None or match.group(1) in ("", "."):
            if re.fullmatch(r"[0-9.]+", body[pos:]):
                raise ValueError(f'time: missing unit in duration "{raw}"')
            raise ValueError(f'time: invalid duration "{raw}"')
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    return sign * total


def parse_duration_string(text: str) -> float:
    """Argo's `DurationString`: a bare integer is seconds, anything else is a Go duration."""
    stripped = text.strip()
    if re.fullmatch(r"[+-]?[0-9]+", stripped):
        return float(int(stripped))
    return parse_go_duration(stripped)


def parse_time(value: object) -> datetime | None:
    """A Kubernetes timestamp (`2024-01-01T10:00:00Z`, with or without fractions) or None."""
    if not isinstance(value, str) or not value:
        return None
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def format_rfc3339(moment: datetime) -> str:
    """RFC 3339 in UTC to the second, the way the API server stores `metav1.Time`."""
    return moment.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def age(created: object, now: datetime) -> str:
    """The AGE column for an object created at `created` (a timestamp string)."""
    moment = parse_time(created)
    if moment is None:
        return "<unknown>"
    return human_duration((now - moment).total_seconds())
