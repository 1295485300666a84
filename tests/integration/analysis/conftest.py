"""Fixtures for AnalysisRuns on the real sandbox: the CRDs, an in-process controller, a test app.

The controller runs in the test's event loop, watching only the test's namespace and only runs
labelled with its own controller-instance-id, so a rolloutd daemon another test started on the
shared sandbox never touches these runs (and this controller never touches theirs).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest_asyncio
from aiohttp import web

from rolloutd.analysis.providers.registry import ProviderRegistry
from rolloutd.controller.analysis import INSTANCE_ID_LABEL, AnalysisController
from rolloutd.kube.client import KubeClient
from rolloutd.kube.resources import ANALYSIS_RUNS, CONFIG_MAPS, EVENTS
from rolloutd.model.crd import all_crds
from rolloutd_dev.sandbox.cluster import apply_crd

JsonDict = dict[str, Any]

LOOPBACK_ALLOWED: dict[str, JsonDict] = {"web": {"allow": ["127.0.0.0/8"]}}
"""Provider settings for in-process controllers whose metrics call the tests' loopback apps."""
LOOPBACK_CONFIG = "analysis:\n  web:\n    allow: [127.0.0.0/8]\n"
"""The same, as a daemon's `rolloutd-config` ConfigMap `config.yaml`."""


async def allow_loopback(kube: KubeClient, namespace: str, extra: str = "") -> None:
    """Create the namespace's `rolloutd-config` permitting loopback (before a daemon starts)."""
    body = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "rolloutd-config", "namespace": namespace},
        "data": {"config.yaml": LOOPBACK_CONFIG + extra},
    }
    await kube.create(CONFIG_MAPS, body, namespace=namespace)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def analysis_crds(kube: KubeClient) -> None:
    """Install the analysis CRDs (a sandbox started before they existed lacks them)."""
    for name, crd in all_crds().items():
        if name != "rollouts.argoproj.io.yaml":
            await apply_crd(kube, crd)


@dataclass
class Harness:
    kube: KubeClient
    namespace: str
    instance_id: str
    controller: AnalysisController

    def run_body(self, name: str, spec: JsonDict) -> JsonDict:
        return {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "AnalysisRun",
            "metadata": {
                "name": name,
                "namespace": self.namespace,
                "labels": {INSTANCE_ID_LABEL: self.instance_id},
            },
            "spec": spec,
        }

    async def create_run(self, name: str, spec: JsonDict) -> JsonDict:
        return await self.kube.create(
            ANALYSIS_RUNS, self.run_body(name, spec), namespace=self.namespace
        )

    async def get_run(self, name: str) -> JsonDict:
        return await self.kube.get(ANALYSIS_RUNS, name, namespace=self.namespace)

    async def wait_for(
        self, name: str, check: Callable[[JsonDict], bool], timeout: float = 90
    ) -> JsonDict:
        deadline = time.monotonic() + timeout
        while True:
            run = await self.get_run(name)
            if check(run):
                return run
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"run {name} never got there; last status: {run.get('status')}"
                )
            await asyncio.sleep(0.3)

    async def wait_phase(self, name: str, *phases: str, timeout: float = 90) -> JsonDict:
        return await self.wait_for(
            name, lambda r: (r.get("status") or {}).get("phase") in phases, timeout
        )

    async def wait_event(self, name: str, reason: str, timeout: float = 30) -> list[str]:
        """The reasons of the run's events, once `reason` is among them."""
        deadline = time.monotonic() + timeout
        while True:
            reasons = await self.event_reasons(name)
            if reason in reasons:
                return reasons
            if time.monotonic() > deadline:
                raise AssertionError(f"no {reason} event for {name}; saw {reasons}")
            await asyncio.sleep(0.3)

    async def event_reasons(self, name: str) -> list[str]:
        events = await self.kube.list(
            EVENTS, namespace=self.namespace, field_selector=f"involvedObject.name={name}"
        )
        items = sorted(events.get("items") or [], key=lambda e: e.get("firstTimestamp") or "")
        return [str(e.get("reason")) for e in items]


@pytest_asyncio.fixture(loop_scope="session")
async def harness(kube: KubeClient, namespace: str, analysis_crds: None) -> AsyncIterator[Harness]:
    instance_id = f"analysis-test-{uuid.uuid4().hex[:8]}"
    controller = AnalysisController(
        kube,
        namespace=namespace,
        workers=4,
        instance_id=instance_id,
        # The test apps listen on loopback, which the web provider's policy denies by default.
        providers=ProviderRegistry(LOOPBACK_ALLOWED),
    )
    task = asyncio.create_task(controller.run())
    await asyncio.wait_for(controller.wait_synced(), 30)
    try:
        yield Harness(kube, namespace, instance_id, controller)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


@dataclass
class App:
    """An HTTP service on 127.0.0.1 whose health the test sets: `/health` answers
    ``{"data": {"ok": ..., "errorRate": ...}}``; `/metrics` is Prometheus text where each
    scrape adds `requests_per_scrape` requests to the counters, `error_ratio` of them 5xx."""

    url: str = ""
    port: int = 0
    error_ratio: float = 0.0
    requests_per_scrape: int = 100
    ok_total: int = 0
    error_total: int = 0
    latency: float = 0.05
    hits: list[str] = field(default_factory=list)

    async def health(self, request: web.Request) -> web.Response:
        self.hits.append(request.path)
        body = {"data": {"ok": self.error_ratio < 0.05, "errorRate": self.error_ratio}}
        return web.json_response(body)

    async def metrics(self, request: web.Request) -> web.Response:
        errors = round(self.requests_per_scrape * self.error_ratio)
        self.error_total += errors
        self.ok_total += self.requests_per_scrape - errors
        lines = [
            "# TYPE istio_requests_total counter",
            'istio_requests_total{reporter="source",destination_service="checkout",'
            f'response_code="200"}} {self.ok_total}',
            'istio_requests_total{reporter="source",destination_service="checkout",'
            f'response_code="503"}} {self.error_total}',
            "# TYPE app_latency_seconds gauge",
            f"app_latency_seconds {self.latency}",
        ]
        return web.Response(text="\n".join(lines) + "\n", content_type="text/plain")


@pytest_asyncio.fixture(loop_scope="session")
async def app() -> AsyncIterator[App]:
    state = App()
    application = web.Application()
    application.router.add_get("/health", state.health)
    application.router.add_get("/metrics", state.metrics)
    runner = web.AppRunner(application)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    state.port = runner.addresses[0][1]
    state.url = f"http://127.0.0.1:{state.port}"
    try:
        yield state
    finally:
        await runner.cleanup()


async def eventually(check: Callable[[], Awaitable[bool]], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.3)
