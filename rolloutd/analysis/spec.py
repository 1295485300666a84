"""An AnalysisRun's spec made ready to measure: arguments substituted, then validated.

This is the pure first half of every reconcile (Argo's `resolveArgs` + `ValidateMetrics`):

* every ``{{args.<name>}}`` in a metric is replaced by the argument's value, escaped for JSON,
  because the substitution happens on the metric's JSON text (so a quote or newline in a value
  cannot break the structure); any other ``{{...}}`` fails with ``failed to resolve {{tag}}``;
* Secret-backed arguments are looked up through a callback at measurement time; for validation
  alone a placeholder stands in, so no Secret is read just to check a spec;
* the metrics are then checked with Argo's rules and wording (limits, count vs. interval,
  durations, exactly one provider, dryRun / measurementRetention rules that match something),
  and their conditions are compiled, so a syntax error ends the run at once instead of after
  five failing measurements.

Failures raise `RunSpecError` whose message is the run's final message, e.g.
``Analysis spec invalid: metrics[0]: failureLimit must be >= 0, or -1 to be disabled``.

One deliberate difference from Argo: an int-or-string field (``count``, ``failureLimit``, ...)
that is not an integer after substitution is an error here; Go silently reads it as 0.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from rolloutd.analysis.expr import ExprError, compile_expression
from rolloutd.analysis.expr.regex import RegexError, compile_regex
from rolloutd.analysis.expr.timefns import parse_go_duration
from rolloutd.model.analysis import (
    DEFAULT_CONSECUTIVE_ERROR_LIMIT,
    DEFAULT_CONSECUTIVE_SUCCESS_LIMIT,
    DEFAULT_FAILURE_LIMIT,
    DEFAULT_INCONCLUSIVE_LIMIT,
    DEFAULT_MEASUREMENT_HISTORY_LIMIT,
    Argument,
    Metric,
)
from rolloutd.model.base import validation_messages

JsonDict = dict[str, Any]
SECRET_PLACEHOLDER = "*****"
"""Stands in for a Secret's value during validation, and replaces it in messages."""

SecretLookup = Callable[[str, str], str]
"""(secret name, key) -> value; raises `LookupError` with a message when it cannot."""

_TAG = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)


class RunSpecError(Exception):
    """The run cannot be measured; `str()` is the run's message (it ends in phase Error)."""


@dataclass(frozen=True)
class MetricSpec:
    """One metric after substitution, with Argo's defaults applied to its numbers."""

    metric: Metric
    raw: JsonDict
    """The substituted metric as JSON (what providers read)."""
    interval: dt.timedelta | None
    initial_delay: dt.timedelta | None
    count: int | None
    """The effective count: how many counted measurements end the metric; None = unbounded."""
    failure_limit: int
    inconclusive_limit: int
    consecutive_error_limit: int
    consecutive_success_limit: int
    dry_run: bool
    retention: int

    @property
    def name(self) -> str:
        return self.metric.name


@dataclass(frozen=True)
class PreparedRun:
    metrics: list[MetricSpec]
    secrets: tuple[str, ...] = field(default=())
    """Secret values that were substituted (to be masked in messages)."""

    def by_name(self) -> dict[str, MetricSpec]:
        return {m.name: m for m in self.metrics}

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            if secret:
                text = text.replace(secret, SECRET_PLACEHOLDER)
        return text


def prepare_run(spec: Mapping[str, Any], secrets: SecretLookup | None = None) -> PreparedRun:
    """Substitute arguments into `spec` (an AnalysisRun's spec as JSON) and validate it.

    Without `secrets`, Secret-backed arguments get a placeholder (validation only).
    """
    values, secret_values = _argument_values(spec.get("args") or [], secrets)
    raw_metrics = spec.get("metrics") or []
    if not raw_metrics:
        raise RunSpecError("Analysis spec invalid: no metrics specified")
    resolved: list[JsonDict] = []
    for raw in raw_metrics:
        try:
            resolved.append(substitute(raw, values))
        except ValueError as exc:
            raise RunSpecError(f"Unable to resolve metric arguments: {exc}") from None
    metrics: list[Metric] = []
    for i, raw in enumerate(resolved):
        try:
            metrics.append(Metric.model_validate(raw))
        except ValidationError as exc:
            raise RunSpecError(
                "Analysis spec invalid: " + "; ".join(validation_messages(exc, f"metrics[{i}]"))
            ) from None
    dry_run = _matching_rules("dryRun", spec.get("dryRun") or [], metrics)
    retention_rules = _matching_rules(
        "measurementRetention", spec.get("measurementRetention") or [], metrics
    )
    prepared: list[MetricSpec] = []
    seen: set[str] = set()
    for i, (metric, raw) in enumerate(zip(metrics, resolved, strict=True)):
        if metric.name in seen:
            raise RunSpecError(
                f"Analysis spec invalid: metrics[{i}]: duplicate name '{metric.name}'"
            )
        seen.add(metric.name)
        try:
            prepared.append(
                _metric_spec(metric, raw, metric.name in dry_run, retention_rules.get(metric.name))
            )
        except ValueError as exc:
            raise RunSpecError(f"Analysis spec invalid: metrics[{i}]: {exc}") from None
    return PreparedRun(prepared, tuple(secret_values))


# -- arguments --------------------------------------------------------------------------------


def _argument_values(
    args: Sequence[Mapping[str, Any]], secrets: SecretLookup | None
) -> tuple[dict[str, str], list[str]]:
    values: dict[str, str] = {}
    secret_values: list[str] = []
    for i, raw in enumerate(args):
        try:
            arg = Argument.model_validate(raw)
        except ValidationError as exc:
            raise RunSpecError(
                "Analysis spec invalid: " + "; ".join(validation_messages(exc, f"args[{i}]"))
            ) from None
        if arg.value is not None:
            values[arg.name] = arg.value
            continue
        ref = arg.value_from.secret_key_ref if arg.value_from else None
        if ref is not None:
            if secrets is None:
                values[arg.name] = SECRET_PLACEHOLDER
                continue
            try:
                value = secrets(ref.name, ref.key)
            except LookupError as exc:
                raise RunSpecError(
                    f"Unable to resolve metric arguments: {exc.args[0] if exc.args else exc}"
                ) from None
            values[arg.name] = value
            secret_values.append(value)
            continue
        raise RunSpecError(
            f'Unable to resolve metric arguments: argument "{arg.name}" was not supplied'
        )
    return values, secret_values


def substitute(metric: Mapping[str, Any], values: Mapping[str, str]) -> JsonDict:
    """Replace ``{{args.name}}`` (spaces inside the braces allowed) in the metric's JSON."""
    text = json.dumps(metric)

    def replace(match: re.Match[str]) -> str:
        tag = match.group(1).strip()
        if tag.startswith("args.") and tag[5:] in values:
            # The tag sits inside a JSON string: escape the value as a JSON string body.
            return json.dumps(values[tag[5:]])[1:-1]
        raise ValueError(f"failed to resolve {{{{{tag}}}}}")

    result: JsonDict = json.loads(_TAG.sub(replace, text))
    return result


# -- validation -------------------------------------------------------------------------------


def _matching_rules(
    field_name: str, rules: Sequence[Mapping[str, Any]], metrics: Sequence[Metric]
) -> dict[str, int]:
    """metric name -> the matching rule's `limit` (0 when it has none). The rule names are
    unanchored regular expressions, as in Argo; one that does not compile matches nothing."""
    matched: dict[str, int] = {}
    for i, rule in enumerate(rules):
        pattern = str(rule.get("metricName") or "")
        try:
            regex = compile_regex(pattern)
        except RegexError:
            regex = None
        hits = [m.name for m in metrics if regex is not None and regex.search(m.name)]
        if not hits:
            raise RunSpecError(
                f"Analysis spec invalid: {field_name}[{i}]: Rule didn't match any metric name(s)"
            )
        for name in hits:
            matched.setdefault(name, int(rule.get("limit") or 0))
    return matched


def _int_field(name: str, value: int | str | None, default: int) -> int:
    if value is None:
        return default
    if isinstance(value, int):
        return value
    text = value.strip()
    if re.fullmatch(r"[+-]?\d+", text):
        return int(text)
    raise ValueError(f"{name} must be an integer, got {value!r}")


def _duration(what: str, text: str | None) -> dt.timedelta | None:
    if not text:
        return None
    try:
        return parse_go_duration(text)
    except ExprError as exc:
        raise ValueError(f"invalid {what} string: {exc}") from None


def provider_keys(metric: Metric) -> list[str]:
    """The provider keys a metric sets; each entry of `plugin` counts as one, as in Argo."""
    keys: list[str] = []
    for key, value in metric.provider.to_json().items():
        if value is None:
            continue
        if key == "plugin" and isinstance(value, dict):
            keys.extend(f"plugin/{name}" for name in value)
        else:
            keys.append(key)
    return keys


def _metric_spec(metric: Metric, raw: JsonDict, dry_run: bool, retention: int | None) -> MetricSpec:
    count = _int_field("count", metric.count, 0)
    failure = _int_field("failureLimit", metric.failure_limit, DEFAULT_FAILURE_LIMIT)
    inconclusive = _int_field(
        "inconclusiveLimit", metric.inconclusive_limit, DEFAULT_INCONCLUSIVE_LIMIT
    )
    errors = _int_field(
        "consecutiveErrorLimit", metric.consecutive_error_limit, DEFAULT_CONSECUTIVE_ERROR_LIMIT
    )
    successes = _int_field(
        "consecutiveSuccessLimit",
        metric.consecutive_success_limit,
        DEFAULT_CONSECUTIVE_SUCCESS_LIMIT,
    )
    if successes < 0:
        raise ValueError("consecutiveSuccessLimit must be >= 0")
    if failure < -1:
        raise ValueError("failureLimit must be >= 0, or -1 to be disabled")
    if failure == -1 and successes == 0:
        raise ValueError("failureLimit and consecutiveSuccessLimit cannot both be disabled")
    if inconclusive < 0:
        raise ValueError("inconclusiveLimit must be >= 0")
    if errors < 0:
        raise ValueError("consecutiveErrorLimit must be >= 0")
    if count > 0:
        if failure >= 0 and count < failure + successes:
            raise ValueError(
                f"count ({count}) must be >= failureLimit + consecutiveSuccessLimit "
                f"({failure} + {successes}) if both >= 0"
            )
        if failure < 0 and count < successes:
            raise ValueError("count must be >= consecutiveSuccessLimit")
        if count < inconclusive:
            raise ValueError("count must be >= inconclusiveLimit")
    if count > 1 and not metric.interval:
        raise ValueError("interval must be specified when count > 1")
    interval = _duration("interval", metric.interval)
    # Argo's wording says startDelay for initialDelay; users search for it.
    delay = _duration("startDelay", metric.initial_delay)
    keys = provider_keys(metric)
    if not keys:
        raise ValueError("no provider specified")
    if len(keys) > 1:
        raise ValueError("multiple providers specified")
    for name, condition in (
        ("successCondition", metric.success_condition),
        ("failureCondition", metric.failure_condition),
    ):
        if condition:
            try:
                compile_expression(condition)
            except ExprError as exc:
                raise ValueError(f'invalid {name} "{condition}": {exc}') from None
    if count > 0:
        effective: int | None = count
    elif interval is None:
        effective = 1
    else:
        effective = None
    return MetricSpec(
        metric=metric,
        raw=raw,
        interval=interval,
        initial_delay=delay,
        count=effective,
        failure_limit=failure,
        inconclusive_limit=inconclusive,
        consecutive_error_limit=errors,
        consecutive_success_limit=successes,
        dry_run=dry_run,
        retention=retention if retention else DEFAULT_MEASUREMENT_HISTORY_LIMIT,
    )
