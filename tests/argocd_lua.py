"""Argo CD's Lua health checks and actions for Argo Rollouts objects, run as Argo CD runs them.

The scripts are Argo CD's own (`resource_customizations/argoproj.io/<Kind>/`), read from the
test data beside the repository (`../shared/third-party/argo-cd/`, or `$ROLLOUTD_SHARED`), never
copied into the project. They run in Lua 5.1 (Argo CD embeds gopher-lua, a 5.1 dialect:
`table.getn` exists) with the object as the global `obj`, as Argo CD does.

An action's returned object is applied the way Argo CD's API server applies it
(`server/application/application.go`, `patchResource`): a JSON merge patch from the live object
to the returned one; when the patch touches `status`, that part is sent to the `status`
subresource and the rest to the object itself.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("ROLLOUTD_SHARED", str(REPO.parent / "shared")))
CUSTOMIZATIONS = SHARED / "third-party" / "argo-cd" / "resource_customizations" / "argoproj.io"
JsonDict = dict[str, Any]


def customizations() -> Path:
    """The folder of Argo CD's argoproj.io customizations, or skip the test."""
    if not CUSTOMIZATIONS.is_dir():
        pytest.skip(
            f"Argo CD's Lua scripts not found at {CUSTOMIZATIONS} (they sit next to the "
            "repository as ../shared/third-party/argo-cd/, or set ROLLOUTD_SHARED); the Argo CD "
            "compatibility tests are skipped"
        )
    try:
        import lupa.lua51  # noqa: F401
    except ImportError:
        pytest.skip("lupa (a Lua runtime) is not installed: `uv sync` installs the dev group")
    return CUSTOMIZATIONS


def _runtime() -> Any:
    import lupa.lua51

    return lupa.lua51.LuaRuntime(unpack_returned_tuples=True)


def _to_lua(lua: Any, value: Any) -> Any:
    if isinstance(value, dict):
        return lua.table_from({k: _to_lua(lua, v) for k, v in value.items()})
    if isinstance(value, list):
        return lua.table_from([_to_lua(lua, v) for v in value])
    return value


def _from_lua(value: Any, original: Any) -> Any:
    """Lua table → JSON value. An empty table keeps the kind the original had at that path
    (Argo CD's `cleanReturnedObj` does the same: Lua cannot tell `{}` from `[]`)."""
    import lupa.lua51

    if lupa.lua51.lua_type(value) != "table":
        if isinstance(value, float) and value.is_integer():
            return int(value)  # Lua 5.1 numbers are doubles; Go's JSON writes 5, not 5.0
        return value
    items = list(value.items())
    if not items:
        return {} if isinstance(original, dict) else []
    keys = [k for k, _ in items]
    if all(isinstance(k, (int, float)) for k in keys) and sorted(keys) == list(
        range(1, len(keys) + 1)
    ):
        orig = original if isinstance(original, list) else []
        return [
            _from_lua(v, orig[int(k) - 1] if int(k) - 1 < len(orig) else None)
            for k, v in sorted(items, key=lambda kv: kv[0])
        ]
    orig_map = original if isinstance(original, dict) else {}
    return {str(k): _from_lua(v, orig_map.get(str(k))) for k, v in items}


def run_script(path: Path, obj: JsonDict) -> Any:
    """Run one Argo CD script with `obj` as its global; return its result as JSON values."""
    lua = _runtime()
    lua.globals().obj = _to_lua(lua, obj)
    result = lua.execute(path.read_text())
    return _from_lua(result, obj)


def health(kind: str, obj: JsonDict) -> tuple[str, str]:
    """Argo CD's health verdict (status, message) for an object of `kind`."""
    result = run_script(customizations() / kind / "health.lua", obj)
    return str(result.get("status", "")), str(result.get("message") or "")


def available_actions(kind: str, obj: JsonDict) -> dict[str, bool]:
    """Argo CD's action menu for the object: action name → enabled."""
    result = run_script(customizations() / kind / "actions" / "discovery.lua", obj)
    # An entry whose `disabled` evaluated to nil comes back as an empty table: enabled.
    return {
        name: not (isinstance(entry, dict) and bool(entry.get("disabled")))
        for name, entry in result.items()
    }


def action_result(kind: str, action: str, obj: JsonDict) -> JsonDict:
    """The object an Argo CD action returns for `obj`."""
    path = customizations() / kind / "actions" / action / "action.lua"
    result = run_script(path, obj)
    assert isinstance(result, dict), f"{action} returned {result!r}"
    return result


def merge_patch(live: Any, new: Any) -> Any:
    """RFC 7386 merge patch from `live` to `new` (what `jsonpatch.CreateMergePatch` makes)."""
    if not isinstance(live, dict) or not isinstance(new, dict):
        return new
    patch: JsonDict = {}
    for key in live.keys() - new.keys():
        patch[key] = None
    for key, value in new.items():
        if key not in live:
            patch[key] = value
        elif live[key] != value:
            patch[key] = merge_patch(live[key], value)
    return patch


def split_status(patch: JsonDict) -> tuple[JsonDict | None, JsonDict | None]:
    """Argo CD's `splitStatusPatch`: (patch without status, patch of status only)."""
    rest = {k: v for k, v in patch.items() if k != "status"}
    status = {"status": patch["status"]} if "status" in patch else None
    return (rest or None), status
