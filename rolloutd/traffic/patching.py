"""Minimal JSON patches with optimistic concurrency, shared by every traffic router.

Routers edit objects that belong to someone else (a VirtualService kept in git, a Route from a
Helm chart), so they never write a whole object back. Each write is an RFC 6902 JSON patch that
starts with `test /metadata/resourceVersion` and then changes only the values that differ. If
the object changed since it was read, the server refuses the `test` and nothing is applied; the
router then reads the object again, works out the change afresh and tries again (a few times).

A router describes its change as a *plan*: a pure function from the current object to the list
of operations that bring it to the wanted state (empty when nothing differs). `apply_plan` runs
the read/plan/patch loop. Routers import this module only through `rolloutd.traffic`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from rolloutd.kube.client import ApiError, KubeClient
from rolloutd.kube.resources import Resource
from rolloutd.traffic.contract import JsonDict, ObjectReader, RouterError

JsonOp = dict[str, Any]
Plan = Callable[[JsonDict], Sequence[JsonOp]]

RETRIES = 3
"""How many times a patch refused because the object moved on is planned and sent again."""


def pointer(*tokens: str | int) -> str:
    """An RFC 6901 JSON pointer from path tokens: `pointer("metadata", "annotations", "a/b")`."""
    return "".join("/" + str(t).replace("~", "~0").replace("/", "~1") for t in tokens)


def set_op(path: str, value: Any, *, present: bool) -> JsonOp:
    """`replace` when the member exists, `add` when it does not (replace needs a target)."""
    return {"op": "replace" if present else "add", "path": path, "value": value}


def describe(resource: Resource, obj: JsonDict) -> str:
    """`VirtualService ns/name`, for messages."""
    meta = obj.get("metadata") or {}
    return f"{resource.kind} {meta.get('namespace', '')}/{meta.get('name', '')}"


async def apply_plan(
    kube: KubeClient,
    objects: ObjectReader,
    resource: Resource,
    obj: JsonDict,
    plan: Plan,
    *,
    retries: int = RETRIES,
) -> JsonDict | None:
    """Patch `obj` with what `plan` asks for; return the written object, or None if no write.

    `obj` is the cached copy. When the server refuses the `test` (409, or 422 for a failed test
    op) the object is read again from the API server and planned afresh, up to `retries` more
    times. A refusal that is not a race (the object did not move) becomes a `RouterError` with
    the server's message, since it means the wanted state is invalid for that object.
    """
    meta = obj.get("metadata") or {}
    name, namespace = str(meta.get("name", "")), meta.get("namespace")
    current = obj
    for attempt in range(retries + 1):
        ops = list(plan(current))
        if not ops:
            return None
        version = (current.get("metadata") or {}).get("resourceVersion")
        guard: list[JsonOp] = (
            [{"op": "test", "path": "/metadata/resourceVersion", "value": version}]
            if version
            else []
        )
        try:
            written = await kube.patch(
                resource, name, guard + ops, namespace=namespace, patch_type="json"
            )
        except ApiError as exc:
            if exc.not_found:
                raise RouterError(f"{describe(resource, current)} no longer exists") from exc
            if exc.status not in (409, 422):
                raise
            try:
                fresh = await kube.get(resource, name, namespace=namespace)
            except ApiError as again:
                if again.not_found:
                    raise RouterError(f"{describe(resource, current)} no longer exists") from again
                raise
            moved = (fresh.get("metadata") or {}).get("resourceVersion") != version
            if not moved:
                # Nothing raced us: the server refuses the change itself (schema, limits).
                raise RouterError(
                    f"{describe(resource, current)} refused the change: {exc.message}"
                ) from exc
            if attempt == retries:
                raise RouterError(
                    f"{describe(resource, current)} kept changing while rolloutd patched it "
                    f"({retries + 1} attempts); will try again"
                ) from exc
            current = fresh
            continue
        objects.remember(resource, written)
        return written
    raise AssertionError("unreachable")
