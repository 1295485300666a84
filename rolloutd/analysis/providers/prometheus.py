"""The `prometheus` metric provider: a PromQL instant or range query over Prometheus' HTTP API.

Configuration (a metric's ``provider.prometheus``, as in Argo Rollouts):

``address``
    ``http(s)://host:port`` of Prometheus; when empty, the provider setting ``address``, then the
    environment variables ``ROLLOUTD_PROMETHEUS_ADDRESS`` / ``ARGO_ROLLOUTS_PROMETHEUS_ADDRESS``.
``query``
    The PromQL text (arguments already substituted).
``timeout``
    Seconds for the whole request, default 30.
``headers``
    ``[{key, value}]`` set on every request, e.g. ``X-Scope-OrgID`` or a bearer token taken from
    an argument: ``{key: Authorization, value: "Bearer {{args.token}}"}``.
``authentication.basicAuth``
    ``{username, password}`` (both required; usually from Secret-backed arguments).
``rangeQuery``
    ``{start, end, step}``: `start` and `end` are expressions yielding a time, e.g.
    ``now() - duration("5m")`` (end defaults to ``now()``), `step` a Go duration.
``insecure``
    Skip TLS verification.

The answer becomes `result` as in Argo: a scalar is a float; a vector a list of floats (one per
series, labels dropped; ``[]`` when empty); a matrix one flat list of all samples, series after
series. `value` is that printed the Go way (``0.95``, ``[10,11]``). Prometheus warnings go to
the measurement's metadata. OAuth2 and SigV4 authentication are not implemented: a metric
asking for them ends in Error with a message saying so.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlparse

import aiohttp

from rolloutd.analysis.expr import ExprError, compile_expression
from rolloutd.analysis.expr.timefns import aware, parse_go_duration
from rolloutd.analysis.providers.bounded import read_capped
from rolloutd.analysis.providers.contract import (
    BaseProvider,
    MeasureContext,
    ProviderError,
    Reading,
)
from rolloutd.analysis.providers.gojson import format_float
from rolloutd.model.analysis import DEFAULT_PROMETHEUS_TIMEOUT_SECONDS

ENV_ADDRESSES = ("ROLLOUTD_PROMETHEUS_ADDRESS", "ARGO_ROLLOUTS_PROMETHEUS_ADDRESS")


class PrometheusProvider(BaseProvider):
    TYPE = "Prometheus"

    def metric_metadata(self, ctx: MeasureContext) -> Mapping[str, str]:
        query = ctx.config.get("query")
        return {"ResolvedPrometheusQuery": str(query)} if query else {}

    async def run(self, ctx: MeasureContext) -> Reading:
        config = ctx.config
        address = self._address(config)
        query = str(config.get("query") or "")
        timeout = config.get("timeout")
        seconds = DEFAULT_PROMETHEUS_TIMEOUT_SECONDS if timeout in (None, 0) else int(timeout)
        if seconds < 0:
            raise ProviderError("prometheus timeout should not be negative")
        headers = {str(h["key"]): str(h["value"]) for h in config.get("headers") or []}
        auth = _basic_auth(config.get("authentication") or {})
        range_query = config.get("rangeQuery")
        if range_query:
            path = "/api/v1/query_range"
            form = {"query": query, **_range(range_query, ctx.now)}
        else:
            path = "/api/v1/query"
            form = {"query": query, "time": _unix(ctx.now)}
        body = await _request(
            address.rstrip("/") + path,
            form,
            headers=headers,
            auth=auth,
            timeout=seconds,
            verify=not config.get("insecure"),
        )
        result, value = _convert(body.get("data") or {})
        warnings = body.get("warnings") or []
        metadata = {"warnings": ", ".join(f'"{w}"' for w in warnings)} if warnings else None
        return Reading(result=result, value=value, metadata=metadata)

    def _address(self, config: Mapping[str, Any]) -> str:
        address = str(config.get("address") or "")
        if not address:
            address = str(self.settings.get("address") or "")
        for name in ENV_ADDRESSES:
            if not address:
                address = os.environ.get(name, "")
        if not address:
            raise ProviderError("prometheus address is not configured")
        parsed = urlparse(address)
        if not parsed.scheme or not parsed.netloc:
            raise ProviderError("prometheus address is not is url format")
        return address


def _basic_auth(authentication: Mapping[str, Any]) -> aiohttp.BasicAuth | None:
    if authentication.get("oauth2") or authentication.get("sigv4"):
        kinds = [k for k in ("oauth2", "sigv4") if authentication.get(k)]
        raise ProviderError(
            f"prometheus authentication {', '.join(kinds)} is not supported by rolloutd; use "
            "basicAuth or an Authorization header"
        )
    basic = authentication.get("basicAuth")
    if not basic:
        return None
    for field in ("username", "password"):
        if not basic.get(field):
            raise ProviderError(
                f"missing mandatory parameter in metric for basic auth setup: {field}"
            )
    return aiohttp.BasicAuth(str(basic["username"]), str(basic["password"]))


def _unix(when: dt.datetime) -> str:
    return f"{when.timestamp():.3f}"


def _eval_time(field: str, text: str, now: dt.datetime) -> dt.datetime:
    try:
        value = compile_expression(text).evaluate({}, functions={"now": lambda: now})
    except ExprError as exc:
        raise ProviderError(f"failed to parse rangeQuery.{field} as time: {exc}") from None
    if not isinstance(value, dt.datetime):
        raise ProviderError(
            f"failed to parse rangeQuery.{field} as time: expression gave {value!r}, not a time"
        )
    return aware(value)


def _range(range_query: Mapping[str, Any], now: dt.datetime) -> dict[str, str]:
    start = _eval_time("start", str(range_query.get("start") or ""), now)
    end = _eval_time("end", str(range_query.get("end") or "now()"), now)
    try:
        step = parse_go_duration(str(range_query.get("step") or ""))
    except ExprError as exc:
        raise ProviderError(f"failed to parse rangeQuery.step as duration: {exc}") from None
    return {"start": _unix(start), "end": _unix(end), "step": f"{step.total_seconds():g}"}


async def _request(
    url: str,
    form: Mapping[str, str],
    *,
    headers: Mapping[str, str],
    auth: aiohttp.BasicAuth | None,
    timeout: float,
    verify: bool,
) -> dict[str, Any]:
    """POST the form (Prometheus' client does); fall back to GET when the server refuses."""
    client_timeout = aiohttp.ClientTimeout(total=timeout)
    try:
        async with aiohttp.ClientSession(timeout=client_timeout) as session:
            async with session.post(
                url, data=dict(form), headers=dict(headers), auth=auth, ssl=verify
            ) as response:
                if response.status in (405, 501):
                    response.release()
                else:
                    return await _answer(response)
            async with session.get(
                url, params=dict(form), headers=dict(headers), auth=auth, ssl=verify
            ) as response:
                return await _answer(response)
    except TimeoutError:
        raise ProviderError(f'Post "{url}": timed out after {timeout:g}s') from None
    except aiohttp.ClientError as exc:
        raise ProviderError(f'Post "{url}": {exc}') from None


MAX_RESPONSE_BYTES = 16 << 20
"""A Prometheus answer larger than this is an Error measurement, read no further (a range
query over many series can be big, but not this big for a condition to judge)."""


async def _answer(response: aiohttp.ClientResponse) -> dict[str, Any]:
    raw = await read_capped(response, MAX_RESPONSE_BYTES, "the Prometheus provider's limit")
    text = raw.decode("utf-8", errors="replace")
    try:
        body = json.loads(text)
    except (ValueError, RecursionError):
        body = None
    if isinstance(body, dict) and body.get("status") == "error":
        raise ProviderError(f"{body.get('errorType', 'error')}: {body.get('error', text)}")
    if not 200 <= response.status < 300:
        raise ProviderError(f"server returned HTTP status {response.status}: {text[:500]}")
    if not isinstance(body, dict):
        raise ProviderError(f"prometheus answered something that is not JSON: {text[:200]}")
    return body


def _sample(pair: Any) -> float:
    try:
        return float(pair[1])
    except (TypeError, ValueError, IndexError):
        return math.nan


def _convert(data: Mapping[str, Any]) -> tuple[Any, str]:
    kind = data.get("resultType")
    raw = data.get("result")
    if kind == "scalar":
        number = _sample(raw)
        return number, format_float(number)
    if kind == "vector":
        values = [_sample(series.get("value")) for series in raw or []]
    elif kind == "matrix":
        values = [_sample(pair) for series in raw or [] for pair in series.get("values") or []]
    else:
        raise ProviderError("Prometheus metric type not supported")
    return values, "[" + ",".join(format_float(v) for v in values) + "]"
