"""An in-memory stand-in for KubeClient, for CLI tests that must not need a cluster.

It keeps objects per (plural, namespace, name), records every call the CLI makes (verb,
resource, name, body, patch type, subresource), applies merge patches so later reads see them,
and serves scripted watch events from per-resource queues.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from rolloutd.kube.client import ApiError, Connection
from rolloutd.kube.resources import Resource

JsonDict = dict[str, Any]


@dataclass
class Call:
    verb: str
    plural: str
    name: str | None = None
    namespace: str | None = None
    body: Any = None
    patch_type: str = ""
    subresource: str = ""


def not_found(res: Resource, name: str) -> ApiError:
    return ApiError(
        404,
        "NotFound",
        f'{res} "{name}" not found',
        {"reason": "NotFound", "details": {"name": name, "group": res.group, "kind": res.plural}},
    )


def merge(target: JsonDict, patch: JsonDict) -> JsonDict:
    """RFC 7386 JSON merge patch."""
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)
    return target


@dataclass
class FakeKube:
    namespace: str = "default"
    objects: dict[tuple[str, str, str], JsonDict] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    failures: dict[tuple[str, str], list[ApiError]] = field(default_factory=dict)
    watch_events: dict[str, asyncio.Queue[JsonDict]] = field(default_factory=dict)
    closed: bool = False

    def __post_init__(self) -> None:
        self.connection = Connection(
            server="https://127.0.0.1:6443", namespace=self.namespace, source="/tmp/kubeconfig"
        )

    def add(self, plural: str, obj: JsonDict) -> None:
        meta = obj["metadata"]
        ns = meta.get("namespace") or self.namespace
        meta.setdefault("namespace", ns)
        self.objects[(plural, ns, meta["name"])] = obj

    def fail(self, verb: str, plural: str, error: ApiError, times: int = 1) -> None:
        self.failures.setdefault((verb, plural), []).extend([error] * times)

    def queue(self, plural: str) -> asyncio.Queue[JsonDict]:
        return self.watch_events.setdefault(plural, asyncio.Queue())

    def writes(self) -> list[Call]:
        return [c for c in self.calls if c.verb in ("patch", "update", "create", "delete")]

    def _check(self, verb: str, plural: str) -> None:
        errors = self.failures.get((verb, plural))
        if errors:
            raise errors.pop(0)

    async def get(
        self, res: Resource, name: str, *, namespace: str | None = None, subresource: str = ""
    ) -> JsonDict:
        self.calls.append(Call("get", res.plural, name, namespace))
        self._check("get", res.plural)
        obj = self.objects.get((res.plural, namespace or self.namespace, name))
        if obj is None:
            raise not_found(res, name)
        return copy.deepcopy(obj)

    async def patch(
        self,
        res: Resource,
        name: str,
        body: Any,
        *,
        namespace: str | None = None,
        patch_type: str = "merge",
        subresource: str = "",
        force: bool | None = None,
    ) -> JsonDict:
        plural = res.plural + (f"/{subresource}" if subresource else "")
        self.calls.append(
            Call("patch", res.plural, name, namespace, copy.deepcopy(body), patch_type, subresource)
        )
        self._check("patch", plural)
        obj = self.objects.get((res.plural, namespace or self.namespace, name))
        if obj is None:
            raise not_found(res, name)
        if patch_type == "merge":
            merge(obj, body)
        return copy.deepcopy(obj)

    async def replace(
        self,
        res: Resource,
        name: str,
        body: JsonDict,
        *,
        namespace: str | None = None,
        subresource: str = "",
    ) -> JsonDict:
        self.calls.append(Call("update", res.plural, name, namespace, copy.deepcopy(body)))
        self._check("update", res.plural)
        self.objects[(res.plural, namespace or self.namespace, name)] = copy.deepcopy(body)
        return copy.deepcopy(body)

    async def list_all(
        self, res: Resource, *, namespace: str | None = None, label_selector: str | None = None
    ) -> JsonDict:
        self.calls.append(Call("list", res.plural, None, namespace, label_selector))
        self._check("list", res.plural)
        items = [
            copy.deepcopy(obj)
            for (plural, ns, _), obj in sorted(self.objects.items())
            if plural == res.plural and (namespace is None or ns == namespace)
        ]
        return {"metadata": {"resourceVersion": "100"}, "items": items}

    async def watch(
        self,
        res: Resource,
        *,
        namespace: str | None = None,
        resource_version: str | None = None,
        label_selector: str | None = None,
        timeout_seconds: int = 300,
    ) -> AsyncIterator[JsonDict]:
        self.calls.append(Call("watch", res.plural, None, namespace, resource_version))
        self._check("watch", res.plural)
        events = self.queue(res.plural)
        while True:
            event = await events.get()
            obj = event["object"]
            key = (
                res.plural,
                obj["metadata"].get("namespace", self.namespace),
                obj["metadata"]["name"],
            )
            if event["type"] == "DELETED":
                self.objects.pop(key, None)
            else:
                self.objects[key] = copy.deepcopy(obj)
            yield event

    async def close(self) -> None:
        self.closed = True
