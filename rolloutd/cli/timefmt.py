"""Time as the Argo Rollouts CLI shows and reads it.

Ages in `get rollout` follow Kubernetes' `HumanDuration` (the same strings `kubectl get`
prints), and durations on the command line (`restart --in 30s`, `status --timeout 5m`) follow
Go's `time.ParseDuration`, because that is what users of the Go plugin type. Everything here is
pure: the caller passes `now`.
"""

from __future__ import annotations

from datetime import datetime

from rolloutd import gotime


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


parse_go_duration = gotime.go_duration_seconds
parse_duration_string = gotime.duration_string_seconds
parse_time = gotime.parse_time
format_rfc3339 = gotime.timestamp


def age(created: object, now: datetime) -> str:
    """The AGE column for an object created at `created` (a timestamp string)."""
    moment = parse_time(created)
    if moment is None:
        return "<unknown>"
    return human_duration((now - moment).total_seconds())
