"""The web provider against a real HTTP server on 127.0.0.1, its JSONPath subset, Go's value
formatting, and the provider registry (entry points, plugin names, contract version)."""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import AsyncIterator
from importlib.metadata import EntryPoint
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web

from rolloutd.analysis.conditions import judge
from rolloutd.analysis.providers import MeasureContext, ProviderError, Reading
from rolloutd.analysis.providers.gojson import compact_json, format_float
from rolloutd.analysis.providers.jsonpath import JsonPathError, find
from rolloutd.analysis.providers.registry import (
    ProviderRegistry,
    ProviderUnavailable,
    provider_block,
)
from rolloutd.analysis.providers.web import WebProvider

JsonDict = dict[str, Any]
NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


class NoCluster:
    """The web provider never touches the cluster; any call is a test failure."""

    async def create(self, *a: Any, **k: Any) -> JsonDict:
        raise AssertionError("unexpected")

    async def get(self, *a: Any, **k: Any) -> JsonDict | None:
        raise AssertionError("unexpected")

    async def list(self, *a: Any, **k: Any) -> list[JsonDict]:
        raise AssertionError("unexpected")

    async def delete(self, *a: Any, **k: Any) -> None:
        raise AssertionError("unexpected")


# The test servers listen on loopback, which the egress policy denies by default.
LOOPBACK_ALLOWED: JsonDict = {"allow": ["127.0.0.0/8"]}


def ctx(config: JsonDict, settings: JsonDict | None = None) -> MeasureContext:
    return MeasureContext(
        namespace="ns",
        run_name="run",
        run_uid="uid",
        metric_name="m",
        metric={"name": "m", "provider": {"web": config}},
        config=config,
        now=NOW,
        measurement_number=1,
        cluster=NoCluster(),
        settings=LOOPBACK_ALLOWED if settings is None else settings,
    )


class Server:
    """A small app whose answers the tests choose; it records what it was sent."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        self.url = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.requests.append((request.method, dict(request.headers), body))
        path = request.path
        if path == "/health":
            return web.json_response({"data": {"ok": True, "successPercent": 0.97}})
        if path == "/items":
            return web.json_response(
                {"items": [{"name": "a", "value": 1.5}, {"name": "b", "value": 3}]}
            )
        if path == "/text":
            return web.Response(text="I am OK")
        if path == "/down":
            return web.Response(status=503, text="no")
        if path == "/echo":
            return web.json_response({"got": json.loads(body or b"null")})
        if path == "/string":
            return web.json_response({"count": "1"})
        return web.Response(status=404)


@pytest_asyncio.fixture(loop_scope="session")
async def server() -> AsyncIterator[Server]:
    app_server = Server()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", app_server.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    app_server.url = f"http://127.0.0.1:{port}"
    try:
        yield app_server
    finally:
        await runner.cleanup()


async def measure(config: JsonDict) -> Reading:
    return await WebProvider().run(ctx(config))


# -- against the server ------------------------------------------------------------------------


@pytest.mark.asyncio(loop_scope="session")
async def test_argos_web_example_with_json_path(server: Server) -> None:
    reading = await measure(
        {
            "url": f"{server.url}/health",
            "headers": [{"key": "Authorization", "value": "Bearer t0k"}],
            "jsonPath": "{$.data}",
        }
    )
    assert reading.result == {"ok": True, "successPercent": 0.97}
    assert reading.value == '{"ok":true,"successPercent":0.97}'
    assert server.requests[-1][1]["Authorization"] == "Bearer t0k"
    phase = judge(
        reading.result,
        success_condition="result.ok && result.successPercent >= 0.90",
        failure_condition=None,
        now=NOW,
    )
    assert phase == "Successful"


@pytest.mark.asyncio(loop_scope="session")
async def test_json_path_styles(server: Server) -> None:
    url = f"{server.url}/items"
    assert (await measure({"url": url, "jsonPath": "$.items[0].value"})).result == 1.5
    assert (await measure({"url": url, "jsonPath": "{.items[-1].name}"})).value == '"b"'
    assert (await measure({"url": url, "jsonPath": "{$.items[*].value}"})).result == 1.5
    filtered = await measure({"url": url, "jsonPath": '$.items[?(@.name=="b")].value'})
    assert filtered.result == 3
    assert (await measure({"url": url})).result["items"][1]["name"] == "b"


@pytest.mark.asyncio(loop_scope="session")
async def test_no_match_and_bad_status_are_errors(server: Server) -> None:
    with pytest.raises(ProviderError, match="result of web metric produced no value"):
        await measure({"url": f"{server.url}/items", "jsonPath": "{$.missing}"})
    with pytest.raises(ProviderError, match="received non 2xx response code: 503"):
        await measure({"url": f"{server.url}/down"})
    with pytest.raises(ProviderError, match="Could not find JSONPath in body"):
        await measure({"url": f"{server.url}/items", "jsonPath": "{$.a}{$.b}"})


@pytest.mark.asyncio(loop_scope="session")
async def test_text_body_is_the_raw_string(server: Server) -> None:
    reading = await measure({"url": f"{server.url}/text"})
    assert (reading.result, reading.value) == ("I am OK", "I am OK")
    assert (
        judge(
            reading.result,
            success_condition='result == "I am OK"',
            failure_condition=None,
            now=NOW,
        )
        == "Successful"
    )
    string = await measure({"url": f"{server.url}/string", "jsonPath": "{$.count}"})
    assert string.value == '"1"'
    assert (
        judge(string.result, success_condition="asInt(result) > 0", failure_condition=None, now=NOW)
        == "Successful"
    )


@pytest.mark.asyncio(loop_scope="session")
async def test_post_with_json_body_and_method_rules(server: Server) -> None:
    reading = await measure(
        {"url": f"{server.url}/echo", "method": "POST", "jsonBody": {"q": [1, 2]}}
    )
    assert reading.result == {"got": {"q": [1, 2]}}
    method, headers, _ = server.requests[-1]
    assert method == "POST"
    assert headers["Content-Type"] == "application/json"
    with pytest.raises(ProviderError, match="can only be used with POST or PUT"):
        await measure({"url": f"{server.url}/echo", "body": "x"})
    with pytest.raises(ProviderError, match="use either Body or JSONBody"):
        await measure({"url": f"{server.url}/echo", "method": "PUT", "body": "x", "jsonBody": {}})


@pytest.mark.asyncio(loop_scope="session")
async def test_unreachable_server_is_an_error() -> None:
    with pytest.raises(ProviderError, match=r"127\.0\.0\.1:9"):
        await measure({"url": "http://127.0.0.1:9/", "timeoutSeconds": 2})


# -- JSONPath and formatting --------------------------------------------------------------------


def test_json_path_subset() -> None:
    doc = {"a": {"b": [{"c": 1}, {"c": 2}], "weird key": 5}, "d": [10, 20, 30]}
    assert find("{$}", doc) == [doc]
    assert find("$.a.b[1].c", doc) == [2]
    assert find("{.a['weird key']}", doc) == [5]
    assert find("$..c", doc) == [1, 2]
    assert find("$.d[0:2]", doc) == [10, 20]
    assert find("$.a.b[?(@.c > 1)].c", doc) == [2]
    assert find("$.a.nope", doc) == []
    with pytest.raises(JsonPathError):
        find("$.a[", doc)


@pytest.mark.parametrize(
    ("number", "text"),
    [
        (10.0, "10"),
        (0.95, "0.95"),
        (1e21, "1000000000000000000000"),
        (1e-7, "0.0000001"),
        (-2.5, "-2.5"),
        (math.nan, "NaN"),
        (math.inf, "+Inf"),
        (-math.inf, "-Inf"),
    ],
)
def test_go_float_format(number: float, text: str) -> None:
    assert format_float(number) == text


def test_compact_json_sorts_keys_like_go() -> None:
    value = {"b": True, "a": 1.0, "c": [1, 2.5], "d": None}
    assert compact_json(value) == '{"a":1,"b":true,"c":[1,2.5],"d":null}'


# -- registry ----------------------------------------------------------------------------------


class Acme:
    API_VERSION = 1
    TYPE = "Acme"

    def __init__(self, settings: JsonDict) -> None:
        self.settings = settings


class Old:
    API_VERSION = 0

    def __init__(self, settings: JsonDict) -> None:
        pass


def test_builtin_providers_are_entry_points() -> None:
    registry = ProviderRegistry()
    assert {"prometheus", "web", "job"} <= set(registry.available)
    assert registry.provider("web").TYPE == "Web"
    assert registry.type_name({"prometheus": {}}) == "Prometheus"
    assert registry.type_name({"plugin": {"acme/x": {}}}) == "RPCPlugin"


def test_third_party_provider_by_key_or_argo_plugin_name() -> None:
    ep = EntryPoint("acme", f"{__name__}:Acme", "rolloutd.metric_providers")
    registry = ProviderRegistry({"acme": {"region": "eu"}}, installed=[ep])
    name, provider, block = registry.for_metric({"plugin": {"argoproj-labs/acme": {"q": 1}}})
    assert name == "acme"
    assert isinstance(provider, Acme)
    assert provider.settings == {"region": "eu"}
    assert block.config == {"q": 1}
    assert registry.for_metric({"acme": {"q": 2}})[2].config == {"q": 2}
    assert provider_block({"web": {"url": "u"}}).candidates == ("web",)


def test_unknown_or_old_provider_is_refused_with_a_message() -> None:
    old = EntryPoint("old", f"{__name__}:Old", "rolloutd.metric_providers")
    registry = ProviderRegistry(installed=[old])
    with pytest.raises(ProviderUnavailable, match="metric provider 'nothere' is not installed"):
        registry.for_metric({"nothere": {}})
    with pytest.raises(ProviderUnavailable, match="contract version 0"):
        registry.provider("old")
