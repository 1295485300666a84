"""The part of Kubernetes' JSONPath that web metrics use, with no dependency.

Argo hands a web metric's ``jsonPath`` to client-go's JSONPath template engine. What users write
in practice is a single path, with or without the template braces:

    {$.data.ok}    $.items[0].value    {.status}    $['weird key'].x    {$}
    $.items[*].value    $..value    $.items[-1].v    $.items[0:2]    $.items[?(@.name=="a")].v

`compile_path` parses that into steps; `find(path, document)` returns every match, in document
order. Unsupported syntax (several templates, ``range``, functions) is a `JsonPathError` whose
message names the position, so a metric with such a path ends in Error with a clear message.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

__all__ = ["JsonPathError", "compile_path", "find"]


class JsonPathError(ValueError):
    """The path cannot be parsed."""


@dataclass(frozen=True)
class _Key:
    name: str


@dataclass(frozen=True)
class _Index:
    index: int


@dataclass(frozen=True)
class _Slice:
    start: int | None
    stop: int | None


@dataclass(frozen=True)
class _Wildcard:
    pass


@dataclass(frozen=True)
class _Recurse:
    """`..`: the next step applies to the node and every node below it."""


@dataclass(frozen=True)
class _Filter:
    field: tuple[str, ...]
    op: str | None
    value: Any


_Step = _Key | _Index | _Slice | _Wildcard | _Recurse | _Filter
_NAME = re.compile(r"[A-Za-z0-9_\-$@]+")
_FILTER = re.compile(r"\?\(\s*@((?:\.[A-Za-z0-9_\-]+)*)\s*(?:(==|!=|<=|>=|<|>)\s*(.+?))?\s*\)\s*$")


def compile_path(text: str) -> tuple[_Step, ...]:
    path = text.strip()
    if path.startswith("{") and path.endswith("}"):
        path = path[1:-1].strip()
    if "{" in path or "}" in path:
        raise JsonPathError(f"unsupported JSONPath template {text!r}: use a single path")
    if path.startswith("$"):
        path = path[1:]
    steps: list[_Step] = []
    i = 0
    while i < len(path):
        ch = path[i]
        if path.startswith("..", i):
            steps.append(_Recurse())
            i += 2
            if i < len(path) and path[i] == "[":
                continue
            i = _name(path, i, steps, text)
        elif ch == ".":
            i = _name(path, i + 1, steps, text)
        elif ch == "[":
            end = _closing(path, i, text)
            steps.append(_bracket(path[i + 1 : end].strip(), text))
            i = end + 1
        elif i == 0:
            i = _name(path, i, steps, text)
        else:
            raise JsonPathError(f"unexpected {ch!r} at position {i + 1} in JSONPath {text!r}")
    return tuple(steps)


def _name(path: str, i: int, steps: list[_Step], text: str) -> int:
    if i < len(path) and path[i] == "*":
        steps.append(_Wildcard())
        return i + 1
    match = _NAME.match(path, i)
    if match is None:
        if i >= len(path):
            return i  # a trailing "." (as in "{.}") selects the current node
        raise JsonPathError(f"expected a field name at position {i + 1} in JSONPath {text!r}")
    steps.append(_Key(match.group()))
    return match.end()


def _closing(path: str, start: int, text: str) -> int:
    quote: str | None = None
    depth = 0
    for j in range(start, len(path)):
        ch = path[j]
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
            if depth == 0:
                return j
    raise JsonPathError(f"unclosed '[' at position {start + 1} in JSONPath {text!r}")


def _bracket(inner: str, text: str) -> _Step:
    if inner == "*":
        return _Wildcard()
    if len(inner) >= 2 and inner[0] == inner[-1] and inner[0] in "'\"":
        return _Key(inner[1:-1])
    if re.fullmatch(r"-?\d+", inner):
        return _Index(int(inner))
    slice_match = re.fullmatch(r"(-?\d*)\s*:\s*(-?\d*)", inner)
    if slice_match:
        start, stop = slice_match.groups()
        return _Slice(int(start) if start else None, int(stop) if stop else None)
    filter_match = _FILTER.match(inner)
    if filter_match:
        field, op, raw = filter_match.groups()
        return _Filter(tuple(p for p in field.split(".") if p), op, _literal(raw) if op else None)
    raise JsonPathError(f"unsupported JSONPath subscript [{inner}] in {text!r}")


def _literal(raw: str) -> Any:
    raw = raw.strip()
    if len(raw) >= 2 and raw[0] == raw[-1] == "'":
        return raw[1:-1]
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def find(path: str | tuple[_Step, ...], document: Any) -> list[Any]:
    steps = compile_path(path) if isinstance(path, str) else path
    nodes = [document]
    recurse = False
    for step in steps:
        if isinstance(step, _Recurse):
            recurse = True
            continue
        sources = [n for node in nodes for n in _descend(node)] if recurse else nodes
        recurse = False
        nodes = [child for node in sources for child in _apply(step, node)]
    return nodes


def _descend(node: Any) -> Iterator[Any]:
    yield node
    children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
    for child in children:
        yield from _descend(child)


def _apply(step: _Step, node: Any) -> Iterator[Any]:
    if isinstance(step, _Key):
        if isinstance(node, dict) and step.name in node:
            yield node[step.name]
    elif isinstance(step, _Index):
        if isinstance(node, list) and -len(node) <= step.index < len(node):
            yield node[step.index]
    elif isinstance(step, _Slice):
        if isinstance(node, list):
            yield from node[step.start : step.stop]
    elif isinstance(step, _Wildcard):
        if isinstance(node, dict):
            yield from node.values()
        elif isinstance(node, list):
            yield from node
    elif isinstance(step, _Filter) and isinstance(node, list):
        for item in node:
            if _matches(step, item):
                yield item


def _matches(step: _Filter, item: Any) -> bool:
    value = item
    for part in step.field:
        if not isinstance(value, dict) or part not in value:
            return False
        value = value[part]
    if step.op is None:
        return True
    try:
        if step.op == "==":
            return bool(value == step.value)
        if step.op == "!=":
            return bool(value != step.value)
        if step.op == "<":
            return bool(value < step.value)
        if step.op == ">":
            return bool(value > step.value)
        if step.op == "<=":
            return bool(value <= step.value)
        return bool(value >= step.value)
    except TypeError:
        return False
