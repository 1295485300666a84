"""The syntax tree of a condition: small immutable dataclasses, one per construct.

Every node records the half-open character span ``[start, end)`` it was parsed from, so a runtime
error can quote the exact fragment (``index 3 out of range for result[3]``) instead of a
re-rendered approximation. Nodes are frozen: a compiled `Expression` is shared across threads and
across every evaluation of the same template, and must not be changed by any of them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TypeAlias

__all__ = [
    "ArrayLiteral",
    "Binary",
    "Call",
    "Chain",
    "Conditional",
    "Identifier",
    "Literal",
    "LiteralValue",
    "MapLiteral",
    "Member",
    "Node",
    "Pointer",
    "Predicate",
    "Slice",
    "Unary",
    "children",
]

# The literal values the language can write down directly.
LiteralValue: TypeAlias = bool | int | float | str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Node:
    """Base of all nodes: where in the source text the node came from."""

    start: int
    end: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Literal(Node):
    """``nil``, ``true``, ``42``, ``0.5``, ``"text"``."""

    value: LiteralValue


@dataclass(frozen=True, slots=True, kw_only=True)
class Identifier(Node):
    """A name looked up in the environment, e.g. ``result``; ``$env`` is the whole environment."""

    name: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Pointer(Node):
    """Inside a predicate: ``#`` (name ``""``), ``#index`` or ``#acc``."""

    name: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Member(Node):
    """``target.key``, ``target[key]`` and their optional forms ``?.key`` / ``?.[key]``."""

    target: Node
    key: Node
    optional: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Slice(Node):
    """``target[lower:upper]``; a missing bound is None."""

    target: Node
    lower: Node | None
    upper: Node | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Unary(Node):
    """``-x``, ``+x``, ``!x`` (``not x`` is stored as ``!``)."""

    op: str
    operand: Node


@dataclass(frozen=True, slots=True, kw_only=True)
class Binary(Node):
    """Any infix operator. Word spellings are normalised: ``and`` is ``&&``, ``or`` is ``||``.

    ``a not in b`` is stored as ``Unary("!", Binary("in", a, b))``, which is what expr does.
    """

    op: str
    left: Node
    right: Node
    op_start: int
    """Where the operator itself is, for errors that are about the operator."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Conditional(Node):
    """``test ? then : otherwise``."""

    test: Node
    then: Node
    otherwise: Node


@dataclass(frozen=True, slots=True, kw_only=True)
class Predicate(Node):
    """The closure argument of ``all``/``filter``/``map``/...: ``{# > 0}`` or ``# > 0``."""

    body: Node


@dataclass(frozen=True, slots=True, kw_only=True)
class Call(Node):
    """``name(arg, ...)``; ``x | name(arg)`` is parsed into ``name(x, arg)``."""

    name: str
    args: tuple[Node, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class ArrayLiteral(Node):
    """``[a, b, c]``."""

    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class MapLiteral(Node):
    """``{key: value, ...}``; bare-word and number keys are already string literals."""

    entries: tuple[tuple[Node, Node], ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Chain(Node):
    """The boundary of an optional chain: a nil met by ``?.`` inside makes the whole chain nil."""

    inner: Node


def children(node: Node) -> Iterator[Node]:
    """The direct sub-nodes of `node`, in source order."""
    match node:
        case Member(target=target, key=key):
            yield target
            yield key
        case Slice(target=target, lower=lower, upper=upper):
            yield target
            if lower is not None:
                yield lower
            if upper is not None:
                yield upper
        case Unary(operand=operand):
            yield operand
        case Binary(left=left, right=right):
            yield left
            yield right
        case Conditional(test=test, then=then, otherwise=otherwise):
            yield test
            yield then
            yield otherwise
        case Predicate(body=body):
            yield body
        case Call(args=args):
            yield from args
        case ArrayLiteral(items=items):
            yield from items
        case MapLiteral(entries=entries):
            for key, value in entries:
                yield key
                yield value
        case Chain(inner=inner):
            yield inner
        case _:
            return
