"""The `web` metric provider: an HTTP request whose JSON answer (or raw text) is the result.

Configuration (``provider.web``, as in Argo Rollouts): ``url`` (required), ``method`` (default
GET), ``headers`` ``[{key, value}]`` (the last value of a repeated key wins), ``body`` (a string)
or ``jsonBody`` (any JSON, sent with ``Content-Type: application/json``) for POST/PUT only,
``timeoutSeconds`` (default 10; 0 or less means 10), ``jsonPath`` (default ``{$}``, the whole
document; see `rolloutd.analysis.providers.jsonpath` for the syntax), ``insecure`` (skip TLS
verification).

How `result` is made, as in Argo: a status outside 200-299 is an Error; a body that is not JSON
becomes `result` as a string; otherwise the first JSONPath match is `result` (no match is an
Error) and `value` is that match as compact JSON with sorted keys, so a string shows quoted.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import aiohttp

from rolloutd.analysis.providers.contract import (
    BaseProvider,
    MeasureContext,
    ProviderError,
    Reading,
)
from rolloutd.analysis.providers.gojson import compact_json
from rolloutd.analysis.providers.jsonpath import JsonPathError, compile_path, find
from rolloutd.model.analysis import DEFAULT_WEB_TIMEOUT_SECONDS


class WebProvider(BaseProvider):
    TYPE = "Web"

    async def run(self, ctx: MeasureContext) -> Reading:
        config = ctx.config
        url = str(config.get("url") or "")
        if not url:
            raise ProviderError("web metric url is required")
        method = str(config.get("method") or "GET").upper()
        headers: dict[str, str] = {}
        for header in config.get("headers") or []:
            headers[str(header.get("key"))] = str(header.get("value"))
        body, headers = _body(config, method, headers)
        timeout = config.get("timeoutSeconds")
        seconds = int(timeout) if timeout and int(timeout) > 0 else DEFAULT_WEB_TIMEOUT_SECONDS
        if config.get("authentication", {}).get("oauth2"):
            raise ProviderError("web authentication oauth2 is not supported by rolloutd")
        try:
            path = compile_path(str(config.get("jsonPath") or "{$}"))
        except JsonPathError as exc:
            raise ProviderError(f"Could not find JSONPath in body: {exc}") from None
        try:
            async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=seconds)) as session,
                session.request(
                    method, url, data=body, headers=headers, ssl=not config.get("insecure")
                ) as response,
            ):
                status = response.status
                raw = await response.read()
        except TimeoutError:
            raise ProviderError(f'{method} "{url}": timed out after {seconds}s') from None
        except aiohttp.ClientError as exc:
            raise ProviderError(f'{method} "{url}": {exc}') from None
        if not 200 <= status < 300:
            raise ProviderError(f"received non 2xx response code: {status}")
        text = raw.decode("utf-8", errors="replace")
        try:
            document = json.loads(text)
        except ValueError:
            return Reading(result=text, value=text)
        matches = find(path, document)
        if not matches:
            raise ProviderError("result of web metric produced no value")
        result = matches[0]
        return Reading(result=result, value=compact_json(result))


def _body(
    config: Mapping[str, Any], method: str, headers: dict[str, str]
) -> tuple[bytes | None, dict[str, str]]:
    body = config.get("body")
    json_body = config.get("jsonBody")
    if body is None and json_body is None:
        return None, headers
    if method not in ("POST", "PUT"):
        raise ProviderError(
            "Body/JSONBody can only be used with POST or PUT WebMetric Method types"
        )
    if body is not None and json_body is not None:
        raise ProviderError("use either Body or JSONBody; both cannot exists for WebMetric payload")
    if json_body is not None:
        headers = {k: v for k, v in headers.items() if k.lower() != "content-type"}
        headers["Content-Type"] = "application/json"
        return json.dumps(json_body).encode(), headers
    return str(body).encode(), headers
