"""Test kit for the dashboard: the server as its own process, an HTTP client, a browser.

The browser is Debian's Chromium (`scripts/install-chromium.sh`) driven through Playwright's
Python API with `executable_path`, so nothing downloads a browser. Screenshots go to
`test-artifacts/dashboard/` (gitignored).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.e2e.harness import REPO, free_port

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = REPO / "test-artifacts" / "dashboard"


class DashboardProcess:
    """`rolloutd dashboard` on a free loopback port."""

    def __init__(self, kubeconfig: str, namespace: str, log_dir: Path, *extra: str) -> None:
        self.port = free_port()
        self.log_path = log_dir / f"dashboard-{self.port}.log"
        env = {**os.environ, "KUBECONFIG": kubeconfig}
        with self.log_path.open("wb") as out:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "rolloutd.main",
                    "dashboard",
                    "-n",
                    namespace,
                    "--port",
                    str(self.port),
                    *extra,
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
            )

    @property
    def base(self) -> str:
        return f"http://localhost:{self.port}/rollouts"

    async def ready(self, timeout: float = 60) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        async with aiohttp.ClientSession() as http:
            while True:
                if self.proc.poll() is not None:
                    raise AssertionError(f"dashboard exited:\n{self.logs()}")
                try:
                    async with http.get(f"{self.base}/") as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                if loop.time() > deadline:
                    raise AssertionError(f"dashboard did not answer:\n{self.logs()}")
                await asyncio.sleep(0.2)

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def ensure_chromium() -> str:
    """The Chromium binary, installing Debian's package when it is missing; else skip."""
    if not CHROMIUM.exists():
        script = REPO / "scripts" / "install-chromium.sh"
        result = subprocess.run([str(script)], capture_output=True, text=True, check=False)
        if result.returncode != 0 or not CHROMIUM.exists():
            pytest.skip(f"Chromium cannot be installed here: {result.stderr.strip()[-300:]}")
    return str(CHROMIUM)


@asynccontextmanager
async def browser_page(*, token: str = "") -> AsyncIterator[Any]:
    """A fresh headless Chromium page; with `token`, the tab starts signed in."""
    try:
        from playwright.async_api import async_playwright
    except ImportError:  # pragma: no cover - a dev dependency
        pytest.skip("playwright (the Python package) is not installed")
    executable = ensure_chromium()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=executable, headless=True, args=["--no-sandbox"]
        )
        try:
            context = await browser.new_context(viewport={"width": 1280, "height": 860})
            if token:
                await context.add_init_script(
                    f"sessionStorage.setItem('rolloutd.token', {token!r});"
                )
            page = await context.new_page()
            yield page
        finally:
            await browser.close()


async def screenshot(page: Any, name: str) -> Path:
    path = ARTIFACTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path


def kubectl_available() -> bool:
    return shutil.which("kubectl") is not None
