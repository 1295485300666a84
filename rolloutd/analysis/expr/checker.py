"""A deliberately small static type check, run once at compile time.

expr-lang type-checks a program before running it. Most of what its checker rejects also fails
at run time here, with the same outcome for the measurement (Error). The exception is equality:
at run time ``1.1 == "1.1"`` is simply false, but when both sides' types are known up front expr
refuses to compile it (``invalid operation: == (mismatched types float64 and string)``, see
Argo's ``TestEvaluateAsFloatError``). A measurement would then be Error under Argo and Failed
here, which changes which limit it counts against. So this checker infers types where they are
certain (literals, operators, built-ins with fixed result types) and rejects ``==``/``!=``
between incompatible known types. Anything involving ``result`` or another name is "unknown" and
always allowed, exactly as in expr, whose environment types ``result`` as ``interface{}``.
"""

from __future__ import annotations

from rolloutd.analysis.expr.errors import ExprSyntaxError
from rolloutd.analysis.expr.nodes import (
    ArrayLiteral,
    Binary,
    Call,
    Conditional,
    Literal,
    MapLiteral,
    Node,
    Unary,
    children,
)
from rolloutd.analysis.expr.values import type_name

__all__ = ["check"]

UNKNOWN = "unknown"

# Built-ins whose result type does not depend on their arguments.
_RESULT_TYPES = {
    "len": "int",
    "asInt": "int",
    "int": "int",
    "count": "int",
    "indexOf": "int",
    "lastIndexOf": "int",
    "asFloat": "float",
    "float": "float",
    "ceil": "float",
    "floor": "float",
    "round": "float",
    "mean": "float",
    "median": "float",
    "isNaN": "bool",
    "isInf": "bool",
    "isNil": "bool",
    "all": "bool",
    "any": "bool",
    "none": "bool",
    "one": "bool",
    "hasPrefix": "bool",
    "hasSuffix": "bool",
    "string": "string",
    "type": "string",
    "upper": "string",
    "lower": "string",
    "trim": "string",
    "trimPrefix": "string",
    "trimSuffix": "string",
    "join": "string",
    "replace": "string",
    "repeat": "string",
    "filter": "array",
    "map": "array",
    "split": "array",
    "take": "array",
    "keys": "array",
    "values": "array",
    "duration": "duration",
    "date": "time",
}
_BOOLEAN_OPERATORS = frozenset(
    {"&&", "||", "==", "!=", "<", "<=", ">", ">=", "in", "matches", "contains"}
    | {"startsWith", "endsWith"}
)
_NUMBERS = frozenset({"int", "float"})


def _infer(node: Node, types: dict[int, str]) -> str:
    """The static type of `node`, given the already-inferred types of its children."""
    match node:
        case Literal(value=value):
            return type_name(value)
        case ArrayLiteral():
            return "array"
        case MapLiteral():
            return "map"
        case Unary(op="!"):
            return "bool"
        case Unary(operand=operand):
            kind = types[id(operand)]
            return kind if kind in _NUMBERS else UNKNOWN
        case Binary(op=op, left=left, right=right):
            a, b = types[id(left)], types[id(right)]
            if op in _BOOLEAN_OPERATORS:
                return "bool"
            if op in ("+", "-", "*") and a in _NUMBERS and b in _NUMBERS:
                return "int" if a == b == "int" else "float"
            if op == "+" and a == b == "string":
                return "string"
            if op in ("/", "**") and a in _NUMBERS and b in _NUMBERS:
                return "float"
            if op == "%" and a == b == "int":
                return "int"
            if op == "..":
                return "array"
            if op == "+" and {a, b} == {"time", "duration"}:
                return "time"
            if op == "-" and (a, b) == ("time", "duration"):
                return "time"
            if op == "-" and a == b == "time":
                return "duration"
            if op in ("+", "-") and a == b == "duration":
                return "duration"
            return UNKNOWN
        case Conditional(then=then, otherwise=otherwise):
            a, b = types[id(then)], types[id(otherwise)]
            return a if a == b else UNKNOWN
        case Call(name=name):
            return _RESULT_TYPES.get(name, UNKNOWN)
        case _:
            return UNKNOWN


def _comparable(a: str, b: str) -> bool:
    if UNKNOWN in (a, b) or "nil" in (a, b):
        return True
    return a == b or (a in _NUMBERS and b in _NUMBERS)


def check(root: Node, text: str) -> None:
    """Raise `ExprSyntaxError` for ``==``/``!=`` between statically incompatible types."""
    types: dict[int, str] = {}
    # Iterative post-order walk, so a child's type is known before its parent's.
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, expanded = stack.pop()
        if not expanded:
            stack.append((node, True))
            stack.extend((child, False) for child in children(node))
            continue
        if isinstance(node, Binary) and node.op in ("==", "!="):
            a, b = types[id(node.left)], types[id(node.right)]
            if not _comparable(a, b):
                raise ExprSyntaxError(
                    f"invalid operation: {node.op} (mismatched types {a} and {b})",
                    text=text,
                    offset=node.op_start,
                )
        types[id(node)] = _infer(node, types)
