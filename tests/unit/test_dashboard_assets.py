"""The shipped page script is exactly what `tsc` makes of web/src: it can never drift.

The compiled `rolloutd/dashboard/static/app.js` is committed (so the wheel needs no Node at
build time and nothing is fetched at run time); this test recompiles the TypeScript with the
pinned compiler (web/package-lock.json) and compares byte for byte.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "web"
SHIPPED = ROOT / "rolloutd" / "dashboard" / "static" / "app.js"


def _tsc() -> Path:
    tsc = WEB / "node_modules" / ".bin" / "tsc"
    if not tsc.exists():
        npm = shutil.which("npm")
        if npm is None:
            pytest.skip("npm is not installed: cannot recompile the dashboard's TypeScript")
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"], cwd=WEB, check=True, capture_output=True
        )
    return tsc


def test_shipped_script_is_the_compiled_typescript(tmp_path: Path) -> None:
    out = tmp_path / "app.js"
    result = subprocess.run(
        [str(_tsc()), "-p", str(WEB), "--outFile", str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert out.read_text() == SHIPPED.read_text(), (
        "rolloutd/dashboard/static/app.js is stale: run `npm --prefix web run build`"
    )


def test_page_loads_nothing_from_elsewhere() -> None:
    static = ROOT / "rolloutd" / "dashboard" / "static"
    for path in static.iterdir():
        text = path.read_text()
        assert "http://" not in text and "https://" not in text, path.name
