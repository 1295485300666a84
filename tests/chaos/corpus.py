"""A corpus of malformed Rollouts generated from the model's own field types
(`rolloutd.model.rollout.RolloutSpec`): for every field, values of the wrong type, numbers out
of range, hostile strings, deep nesting and huge sizes, each applied to a valid base Rollout.

Pure (no cluster): `cases(base)` returns the Rollout bodies; the test creates them.
"""

from __future__ import annotations

import copy
import itertools
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Union

from pydantic import BaseModel
from pydantic.alias_generators import to_camel

from rolloutd.model.rollout import RolloutSpec

JsonDict = dict[str, Any]
Path = tuple[str | int, ...]
INT32_MAX = 2**31 - 1


def deep(levels: int) -> Any:
    value: Any = "bottom"
    for _ in range(levels):
        value = {"d": value}
    return value


HOSTILE = "\u0000\u202e$(reboot)`id`;../../etc/passwd\r\n{{.}}%s\U0001f4a5"
BAD_VALUES: dict[str, list[tuple[str, Any]]] = {
    "int": [
        ("string", "abc"),
        ("bool", True),
        ("float", 1.5),
        ("negative", -3),
        ("int32-overflow", INT32_MAX + 1),
        ("int64-max", 2**63 - 1),
        ("beyond-int64", 10**30),
    ],
    "intstr": [
        ("garbage", "abc"),
        ("negative", -3),
        ("negative-percent", "-10%"),
        ("int64-max", 2**63 - 1),
        ("400-digits", int("9" * 400)),
        ("bool", True),
    ],
    "bool": [("string", "yes"), ("int", 1)],
    "str": [("int", 12345), ("hostile", HOSTILE), ("huge", "x" * 100_000), ("object", {"a": 1})],
    "strmap": [("string", "flat"), ("int-value", {"k": 5}), ("hostile-key", {HOSTILE: "v"})],
    "list": [("string", "flat"), ("object", {"a": 1})],
    "model": [("string", "flat"), ("int", 42), ("list", [1, 2])],
    "object": [("string", "flat"), ("deep", deep(200))],
}


@dataclass(frozen=True)
class Case:
    id: str
    field: str
    """The field path, e.g. `spec.strategy.canary.maxSurge`."""
    leaf: str
    """The field's own name, which a condition or refusal must mention."""
    body: JsonDict


def _unwrap(annotation: Any) -> Any:
    """Drop `| None` and `Annotated[...]`, keeping the metadata-free type."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            args = typing.get_args(annotation)
            if any("x-kubernetes-int-or-string" in str(a) for a in args[1:]):
                return "intstr"
            if any("x-kubernetes-preserve-unknown-fields" in str(a) for a in args[1:]):
                return "object"
            annotation = args[0]
            continue
        if origin in (Union, types.UnionType):
            members = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(members) == 1:
                annotation = members[0]
                continue
            return "intstr" if set(members) == {int, str} else "object"
        return annotation


def fields(model: type[BaseModel], path: Path = ()) -> Iterator[tuple[Path, str]]:
    """(path, kind) for every field of `model`, recursively; lists of models at index 0."""
    for name, info in model.model_fields.items():
        key = info.alias or to_camel(name)
        here = (*path, key)
        kind = _unwrap(info.annotation)
        if isinstance(kind, str):
            yield here, kind
        elif kind is bool:
            yield here, "bool"
        elif kind is int:
            yield here, "int"
        elif kind is str:
            yield here, "str"
        elif isinstance(kind, type) and issubclass(kind, BaseModel):
            yield here, "model"
            yield from fields(kind, here)
        elif typing.get_origin(kind) is list:
            yield here, "list"
            [item] = typing.get_args(kind)
            item = _unwrap(item)
            if isinstance(item, type) and issubclass(item, BaseModel):
                yield from fields(item, (*here, 0))
        elif typing.get_origin(kind) is dict:
            value = _unwrap(typing.get_args(kind)[1])
            yield here, "strmap" if value is str else "object"
        else:
            yield here, "object"


def _set(body: JsonDict, path: Path, value: Any) -> None:
    node: Any = body
    for part, following in itertools.pairwise(path):
        if isinstance(part, int):
            # One list item of our own: index 0, keeping a base item's other fields.
            if not isinstance(node, list) or not node:
                raise LookupError(part)
            node = node[part]
            continue
        child = node.get(part)
        want_list = isinstance(following, int)
        if want_list:
            if not isinstance(child, list) or not child:
                child = [{}]
            elif part == "steps":
                child = [{}]  # one step with only the field under test
        elif not isinstance(child, dict):
            child = {}
        node[part] = child
        node = child
    node[path[-1]] = value


def field_path(path: Path) -> str:
    out = "spec"
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


SKIP = {("template",), ("strategy", "blueGreen")}
"""The pod template has cases of its own (below); blue-green is not implemented."""


ALWAYS = {
    "spec.strategy.canary.maxSurge=garbage",
    "spec.strategy.canary.maxUnavailable=garbage",
    "spec.strategy.canary.maxSurge=negative",
    "spec.strategy.canary.scaleDownDelaySeconds=int64-max",
    "spec.strategy.canary.steps[0].pause.duration=400-digits",
    "spec.strategy.canary.steps[0].pause.duration=int64-max",
    "spec.strategy.canary.steps[0].setWeight=negative",
    "spec.replicas=int32-overflow",
}
"""The issue's own findings, in the subset every time."""


def cases(base: JsonDict, *, every_value: bool = False) -> list[Case]:
    """One bad value per field (rotating through the kind's list, so every kind of value
    appears), plus ALWAYS and the template cases; `every_value`: all values for all fields."""
    found: list[Case] = []
    for index, (path, kind) in enumerate(fields(RolloutSpec)):
        if any(path[: len(s)] == s for s in SKIP):
            continue
        values = BAD_VALUES[kind]
        for position, (label, value) in enumerate(values):
            case_id = f"{field_path(path)}={label}"
            picked = position == index % len(values)
            if not (every_value or picked or case_id in ALWAYS):
                continue
            body = copy.deepcopy(base)
            _set(body["spec"], path, copy.deepcopy(value))
            leaf = next(str(p) for p in reversed(path) if isinstance(p, str))
            found.append(Case(case_id, field_path(path), leaf, body))
    for label, edit in TEMPLATE_CASES.items():
        body = copy.deepcopy(base)
        leaf = edit(body["spec"]["template"])
        found.append(Case(f"spec.template:{label}", "spec.template", leaf, body))
    return found


def _containers(template: JsonDict) -> list[JsonDict]:
    containers: list[JsonDict] = template["spec"]["containers"]
    return containers


def _spec_string(t: JsonDict) -> str:
    t["spec"] = "x"
    return "spec"


def _labels_list(t: JsonDict) -> str:
    t["metadata"]["labels"] = ["app"]
    return "labels"


def _containers_string(t: JsonDict) -> str:
    t["spec"]["containers"] = "demo"
    return "containers"


def _duplicate_containers(t: JsonDict) -> str:
    _containers(t).append(copy.deepcopy(_containers(t)[0]))
    return "containers"


def _no_image(t: JsonDict) -> str:
    del _containers(t)[0]["image"]
    return "image"


def _deep_spec(t: JsonDict) -> str:
    t["spec"]["extra"] = deep(300)
    return "spec"


def _huge_annotation(t: JsonDict) -> str:
    t["metadata"]["annotations"] = {"big": "x" * 400_000}
    return "annotations"


def _hostile_label(t: JsonDict) -> str:
    t["metadata"]["labels"]["evil"] = HOSTILE
    return "labels"


TEMPLATE_CASES = {
    "spec-string": _spec_string,
    "labels-list": _labels_list,
    "containers-string": _containers_string,
    "duplicate-container-names": _duplicate_containers,
    "container-without-image": _no_image,
    "deep-spec": _deep_spec,
    "huge-annotation": _huge_annotation,
    "hostile-label-value": _hostile_label,
}
