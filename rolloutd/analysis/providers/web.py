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

Beyond Argo (docs/analysis-safety.md): the body is read in chunks and abandoned past
`maxResponseBytes` (an Error measurement), redirects are followed by hand (at most
`maxRedirects`), and every host, address and redirect target is judged by the egress policy
(`rolloutd.analysis.egress`) from the `analysis.web` settings of the ConfigMap.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
from yarl import URL

from rolloutd.analysis.egress import EgressDenied, EgressPolicy, PolicyResolver
from rolloutd.analysis.providers.bounded import read_capped
from rolloutd.analysis.providers.contract import (
    BaseProvider,
    MeasureContext,
    ProviderError,
    Reading,
)
from rolloutd.analysis.providers.gojson import compact_json
from rolloutd.analysis.providers.jsonpath import JsonPathError, compile_path, find
from rolloutd.analysis.settings import DEFAULT_MAX_REDIRECTS, DEFAULT_MAX_RESPONSE_BYTES
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
        settings = {**self.settings, **ctx.settings}
        request = _Request(
            method=method,
            url=url,
            body=body,
            headers=headers,
            verify=not config.get("insecure"),
            cap=_setting(settings, "maxResponseBytes", DEFAULT_MAX_RESPONSE_BYTES),
            max_redirects=_setting(settings, "maxRedirects", DEFAULT_MAX_REDIRECTS),
            policy=EgressPolicy.from_settings(settings),
        )
        try:
            async with asyncio.timeout(seconds):
                raw = await request.fetch(seconds)
        except TimeoutError:
            raise ProviderError(f'{method} "{url}": timed out after {seconds}s') from None
        text = raw.decode("utf-8", errors="replace")
        try:
            document = json.loads(text)
        except ValueError:
            return Reading(result=text, value=text)
        except RecursionError:
            raise ProviderError("response JSON is nested too deeply to evaluate") from None
        matches = find(path, document)
        if not matches:
            raise ProviderError("result of web metric produced no value")
        result = matches[0]
        return Reading(result=result, value=compact_json(result))


_REDIRECTS = frozenset({301, 302, 303, 307, 308})


def _setting(settings: Mapping[str, Any], key: str, default: int) -> int:
    value = settings.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else default


@dataclass
class _Request:
    """One measurement's fetch: redirects followed by hand, each hop judged by the policy,
    the body read in chunks and abandoned at the cap."""

    method: str
    url: str
    body: bytes | None
    headers: dict[str, str]
    verify: bool
    cap: int
    max_redirects: int
    policy: EgressPolicy

    async def fetch(self, seconds: int) -> bytes:
        resolver = PolicyResolver(self.policy)
        method, body, target = self.method, self.body, self.url
        try:
            async with aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(resolver=resolver),
                timeout=aiohttp.ClientTimeout(total=seconds),
                # No proxy from the environment: the policy judges where we really connect.
                trust_env=False,
            ) as session:
                for _hop in range(self.max_redirects + 1):
                    url = self._check(target)
                    async with session.request(
                        method,
                        url,
                        data=body,
                        headers=self.headers,
                        ssl=self.verify,
                        allow_redirects=False,
                    ) as response:
                        location = response.headers.get("Location")
                        if response.status in _REDIRECTS and location:
                            target = str(url.join(URL(location)))
                            if response.status == 303 or (
                                response.status in (301, 302) and method == "POST"
                            ):
                                # As Go's client (and browsers): the next hop is a plain GET.
                                method, body = "GET", None
                            continue
                        if not 200 <= response.status < 300:
                            raise ProviderError(
                                f"received non 2xx response code: {response.status}"
                            )
                        return await self._read(response)
                raise ProviderError(
                    f'{self.method} "{self.url}": stopped after {self.max_redirects} redirects '
                    "(analysis.web.maxRedirects)"
                )
        except aiohttp.ClientError as exc:
            if resolver.denied is not None:
                raise ProviderError(f'{self.method} "{target}": {resolver.denied}') from None
            raise ProviderError(f'{self.method} "{target}": {exc}') from None

    def _check(self, target: str) -> URL:
        try:
            url = URL(target)
        except ValueError as exc:
            raise ProviderError(f'{self.method} "{target}": invalid URL: {exc}') from None
        if url.scheme not in ("http", "https") or not url.host:
            raise ProviderError(
                f'{self.method} "{target}": only http and https URLs with a host can be fetched'
            )
        try:
            self.policy.check_host(url.host)
        except EgressDenied as exc:
            raise ProviderError(f'{self.method} "{target}": {exc}') from None
        return url

    async def _read(self, response: aiohttp.ClientResponse) -> bytes:
        return await read_capped(response, self.cap, "analysis.web.maxResponseBytes")


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
