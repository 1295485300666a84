"""The web provider's limits beyond Argo: the egress policy, redirects, the size cap, and
bounded status values; the provider runs against real HTTP servers on loopback."""

from __future__ import annotations

import datetime as dt
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult

from rolloutd.analysis.egress import EgressDenied, EgressPolicy, PolicyResolver, parse_rule
from rolloutd.analysis.providers import MeasureContext, ProviderError
from rolloutd.analysis.providers.web import WebProvider
from rolloutd.analysis.settings import MAX_VALUE_BYTES, bounded_text
from rolloutd.config import ConfigError, parse_config_map
from tests.unit.analysis.test_web_provider import NoCluster

JsonDict = dict[str, Any]
NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def ctx(config: JsonDict, settings: JsonDict) -> MeasureContext:
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
        settings=settings,
    )


# -- the policy --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "127.9.9.9",
        "::1",
        "[::1]",
        "::ffff:127.0.0.1",
        "169.254.169.254",
        "fe80::1",
        "fd00:ec2::254",
        "0.0.0.0",
        "metadata.google.internal",
        "METADATA.google.internal.",
        "localhost",
        "api.localhost",
    ],
)
def test_denied_by_default(host: str) -> None:
    with pytest.raises(EgressDenied, match=r"denied by default"):
        EgressPolicy().check_host(host)


@pytest.mark.parametrize("host", ["10.1.2.3", "192.168.0.1", "2001:db8::1", "prometheus.svc"])
def test_allowed_by_default(host: str) -> None:
    EgressPolicy().check_host(host)


def test_allow_overrides_the_defaults_and_deny_overrides_allow() -> None:
    policy = EgressPolicy.from_settings(
        {
            "allow": ["127.0.0.0/8", "*.internal"],
            "deny": ["127.0.0.2", "bad.internal", "10.0.0.0/8"],
        }
    )
    policy.check_host("127.0.0.1")
    policy.check_host("metadata.google.internal")  # allowed by *.internal, on purpose
    with pytest.raises(EgressDenied, match=r"analysis.web.deny entry '127.0.0.2'"):
        policy.check_host("127.0.0.2")
    with pytest.raises(EgressDenied, match=r"bad.internal"):
        policy.check_host("bad.internal")
    with pytest.raises(EgressDenied, match=r"10.0.0.0/8"):
        policy.check_host("10.9.9.9")
    with pytest.raises(EgressDenied):  # ::1 is not covered by an IPv4 allow
        policy.check_host("::1")


@pytest.mark.parametrize("rule", ["", "not a host!", "*.", "10.0.0.0/33", "a..b"])
def test_bad_rules_are_refused(rule: str) -> None:
    with pytest.raises(ValueError):
        parse_rule(rule)


class FakeDns(AbstractResolver):
    def __init__(self, answers: dict[str, list[str]]) -> None:
        self.answers = answers

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return [
            ResolveResult(
                hostname=host,
                host=address,
                port=port,
                family=socket.AF_INET6 if ":" in address else socket.AF_INET,
                proto=0,
                flags=0,
            )
            for address in self.answers[host]
        ]

    async def close(self) -> None:
        return None


async def test_a_name_is_judged_by_every_address_it_resolves_to() -> None:
    dns = FakeDns({"metrics.example": ["10.0.0.5", "169.254.169.254"], "ok.example": ["10.0.0.6"]})
    resolver = PolicyResolver(EgressPolicy(), dns)
    assert [r["host"] for r in await resolver.resolve("ok.example", 80)] == ["10.0.0.6"]
    with pytest.raises(EgressDenied, match=r"'metrics.example' \(169.254.169.254\)"):
        await resolver.resolve("metrics.example", 80)
    assert resolver.denied is not None


# -- settings from the ConfigMap ---------------------------------------------------------------


def config_map(text: str) -> JsonDict:
    return {"data": {"config.yaml": text}}


def test_config_map_analysis_block() -> None:
    config = parse_config_map(
        config_map("analysis:\n  web:\n    maxResponseBytes: 2048\n    allow: [127.0.0.0/8]\n")
    )
    assert config.analysis.provider_settings()["web"] == {
        "maxResponseBytes": 2048,
        "maxRedirects": 3,
        "allow": ["127.0.0.0/8"],
        "deny": [],
    }
    assert parse_config_map(None).analysis.web.max_response_bytes == 1 << 20


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("analysis:\n  web:\n    allow: ['no such host!']\n", "analysis.web.allow"),
        ("analysis:\n  web:\n    maxResponseBytes: true\n", "analysis.web.maxResponseBytes"),
        ("analysis:\n  web:\n    maxResponseBytes: 0\n", "analysis.web.maxResponseBytes"),
        ("analysis:\n  web:\n    maxRedirects: 1000\n", "analysis.web.maxRedirects"),
        ("analysis:\n  web:\n    proxy: x\n", "analysis.web.proxy"),
    ],
)
def test_bad_analysis_settings_name_the_field(text: str, field: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config_map(config_map(text))
    assert field in str(info.value)


# -- the provider against real servers ---------------------------------------------------------


class Hostile:
    def __init__(self) -> None:
        self.paths: list[str] = []
        self.sent = 0
        self.url = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.paths.append(request.path)
        if request.path == "/ok":
            return web.json_response({"ok": True})
        if request.path == "/redirect-to-metadata":
            raise web.HTTPFound("http://169.254.169.254/latest/meta-data/")
        if request.path == "/redirect-to-ok":
            raise web.HTTPFound("/ok")
        if request.path == "/loop":
            raise web.HTTPFound("/loop")
        if request.path == "/declared-huge":
            response = web.StreamResponse(headers={"Content-Length": str(300 << 20)})
            await response.prepare(request)
            await response.write(b"x" * 1024)
            return response
        if request.path == "/endless":
            response = web.StreamResponse()
            response.enable_chunked_encoding()
            await response.prepare(request)
            chunk = b"a" * (64 << 10)
            try:
                while self.sent < 300 << 20:
                    await response.write(chunk)
                    self.sent += len(chunk)
            except (ConnectionResetError, RuntimeError):
                pass
            return response
        return web.Response(status=404)


@pytest_asyncio.fixture(loop_scope="session")
async def hostile() -> AsyncIterator[Hostile]:
    server = Hostile()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", server.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield server
    finally:
        await runner.cleanup()


ALLOW_LOOPBACK: JsonDict = {"allow": ["127.0.0.1/32"]}


@pytest.mark.asyncio(loop_scope="session")
async def test_loopback_is_denied_by_default_before_connecting(hostile: Hostile) -> None:
    with pytest.raises(ProviderError, match=r"denied by default: 127.0.0.0/8") as info:
        await WebProvider().run(ctx({"url": f"{hostile.url}/ok"}, {}))
    assert "analysis.web.allow" in str(info.value)
    assert hostile.paths == []
    reading = await WebProvider().run(ctx({"url": f"{hostile.url}/ok"}, ALLOW_LOOPBACK))
    assert reading.result == {"ok": True}


@pytest.mark.asyncio(loop_scope="session")
async def test_metadata_address_is_denied() -> None:
    with pytest.raises(ProviderError, match=r"169.254.169.254 is denied"):
        await WebProvider().run(ctx({"url": "http://169.254.169.254/latest/meta-data/"}, {}))


@pytest.mark.asyncio(loop_scope="session")
async def test_a_redirect_is_checked_again(hostile: Hostile) -> None:
    url = f"{hostile.url}/redirect-to-metadata"
    with pytest.raises(ProviderError, match=r"169.254.169.254/latest/meta-data/.*denied"):
        await WebProvider().run(ctx({"url": url}, ALLOW_LOOPBACK))
    reading = await WebProvider().run(ctx({"url": f"{hostile.url}/redirect-to-ok"}, ALLOW_LOOPBACK))
    assert reading.result == {"ok": True}


@pytest.mark.asyncio(loop_scope="session")
async def test_redirects_are_limited(hostile: Hostile) -> None:
    hostile.paths.clear()
    settings = {**ALLOW_LOOPBACK, "maxRedirects": 2}
    with pytest.raises(ProviderError, match=r"stopped after 2 redirects"):
        await WebProvider().run(ctx({"url": f"{hostile.url}/loop"}, settings))
    assert hostile.paths == ["/loop"] * 3


@pytest.mark.asyncio(loop_scope="session")
async def test_a_declared_huge_body_is_not_read(hostile: Hostile) -> None:
    with pytest.raises(ProviderError, match=r"is 314572800 bytes, more than the 1048576 allowed"):
        await WebProvider().run(ctx({"url": f"{hostile.url}/declared-huge"}, ALLOW_LOOPBACK))


@pytest.mark.asyncio(loop_scope="session")
async def test_an_endless_body_is_abandoned_at_the_cap(hostile: Hostile) -> None:
    settings = {**ALLOW_LOOPBACK, "maxResponseBytes": 256 << 10}
    with pytest.raises(ProviderError, match=r"larger than the 262144 bytes allowed"):
        await WebProvider().run(ctx({"url": f"{hostile.url}/endless"}, settings))


@pytest.mark.asyncio(loop_scope="session")
async def test_other_schemes_are_refused() -> None:
    with pytest.raises(ProviderError, match=r"only http and https"):
        await WebProvider().run(ctx({"url": "file:///etc/passwd"}, {}))


# -- bounded status values ---------------------------------------------------------------------


def test_values_are_truncated_with_a_marker() -> None:
    assert bounded_text("short") == "short"
    text = bounded_text("é" * 100_000)
    assert len(text.encode()) <= MAX_VALUE_BYTES
    assert text.endswith("...[truncated: 200000 bytes, first 4048 shown]")
