"""Tree-walking evaluator for parsed conditions.

One `Evaluation` is created per `Expression.evaluate` call and thrown away afterwards, so a
compiled expression holds no mutable state and can be evaluated from many threads at once.

Safety properties, relied on by the AnalysisRun controller:

* nothing from the environment is ever called, imported or reached through ``getattr``: only
  mappings and sequences are looked into; host callables must be passed separately
  (``functions=``) and are the host's responsibility;
* every fault is an `ExprEvalError` that quotes the failing fragment of the source;
* work is bounded: each element created or visited (ranges, ``map``/``filter`` iterations, string
  repetition, ...) is charged to a budget of `STEP_BUDGET` units, the counterpart of expr-lang's
  memory budget, so ``map(0..999999, map(0..999999, #))`` fails quickly instead of running for
  hours;
* recursion is bounded by the parser's height limit on the tree.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NoReturn

from rolloutd.analysis.expr.builtins import FUNCTIONS, PREDICATE_FUNCTIONS, sum_values
from rolloutd.analysis.expr.errors import ExprEvalError, line_and_column
from rolloutd.analysis.expr.nodes import (
    ArrayLiteral,
    Binary,
    Call,
    Chain,
    Conditional,
    Identifier,
    Literal,
    MapLiteral,
    Member,
    Node,
    Pointer,
    Predicate,
    Slice,
    Unary,
)
from rolloutd.analysis.expr.regex import RegexError, compile_regex
from rolloutd.analysis.expr.values import (
    add,
    compare,
    describe,
    divide,
    equal,
    is_array,
    is_int,
    is_map,
    is_number,
    modulo,
    multiply,
    power,
    subtract,
    type_name,
    wrap_int,
)

__all__ = ["STEP_BUDGET", "Evaluation", "compile_regex"]

STEP_BUDGET = 1_000_000

HostFunction = Callable[..., Any]


class _NilInChain(Exception):
    """Raised by ``a?.b`` when ``a`` is nil; caught by the enclosing `Chain` node."""


class _Scope:
    """The loop state of one predicate: ``#``, ``#index`` and, in ``reduce``, ``#acc``."""

    __slots__ = ("acc", "has_acc", "index", "item")

    def __init__(self) -> None:
        self.item: Any = None
        self.index = 0
        self.acc: Any = None
        self.has_acc = False


class Evaluation:
    """The state of one evaluation of one tree against one environment."""

    def __init__(
        self,
        text: str,
        env: Mapping[str, Any],
        functions: Mapping[str, HostFunction] | None = None,
    ) -> None:
        self.text = text
        self.env = env
        self.functions: Mapping[str, HostFunction] = functions or {}
        self.scopes: list[_Scope] = []
        self.budget = STEP_BUDGET

    # --- Context protocol for the built-ins ---------------------------------------------------

    @property
    def result(self) -> Any:
        return self.env.get("result")

    def spend(self, amount: int) -> None:
        self.budget -= max(0, amount)
        if self.budget < 0:
            raise ExprEvalError(
                f"evaluation exceeded its budget of {STEP_BUDGET} steps "
                "(it builds or walks too much data)"
            )

    # --- errors -------------------------------------------------------------------------------

    def fragment(self, node: Node) -> str:
        return self.text[node.start : node.end]

    def fail(self, node: Node, message: str) -> NoReturn:
        _, column = line_and_column(self.text, node.start)
        raise ExprEvalError(message, fragment=self.fragment(node), column=column)

    def _located(self, node: Node, error: ExprEvalError) -> ExprEvalError:
        """Attach the node's position to an error raised below it without one."""
        if error.fragment:
            return error
        _, column = line_and_column(self.text, node.start)
        return ExprEvalError(error.message, fragment=self.fragment(node), column=column)

    # --- dispatch -----------------------------------------------------------------------------

    def run(self, node: Node) -> Any:
        return self.visit(node)

    def visit(self, node: Node) -> Any:
        return _DISPATCH[type(node)](self, node)

    def literal(self, node: Literal) -> Any:
        return node.value

    def identifier(self, node: Identifier) -> Any:
        name = node.name
        if name in self.env:
            return self.env[name]
        if name == "$env":
            return self.env
        hint = ""
        close = difflib.get_close_matches(name, [str(k) for k in self.env], n=1, cutoff=0.6)
        if close:
            hint = f' (did you mean "{close[0]}"?)'
        elif name in FUNCTIONS or name in PREDICATE_FUNCTIONS:
            hint = f" ({name} is a function: call it as {name}(...))"
        self.fail(node, f'unknown name "{name}"{hint}')

    def pointer(self, node: Pointer) -> Any:
        # The parser only accepts pointers inside predicates, so a scope always exists here.
        scope = self.scopes[-1]
        if node.name == "":
            return scope.item
        if node.name == "index":
            return scope.index
        if not scope.has_acc:
            self.fail(node, "#acc can only be used inside reduce()")
        return scope.acc

    def chain(self, node: Chain) -> Any:
        try:
            return self.visit(node.inner)
        except _NilInChain:
            return None

    def member(self, node: Member) -> Any:
        target = self.visit(node.target)
        if target is None and node.optional:
            raise _NilInChain
        key = self.visit(node.key)
        return self.fetch(node, target, key)

    def fetch(self, node: Member, target: Any, key: Any) -> Any:
        if is_map(target):
            try:
                return target.get(key)
            except TypeError:
                self.fail(node, f"{type_name(key)} {describe(key, 30)} cannot be used as a map key")
        what = self.fragment(node.target)
        if is_array(target) or isinstance(target, str):
            index = _to_index(key)
            if index is None:
                self.fail(
                    node,
                    f"cannot index {what} ({type_name(target)}) with {type_name(key)} "
                    f"{describe(key, 30)}",
                )
            length = len(target)
            position = index + length if index < 0 else index
            if not 0 <= position < length:
                self.fail(node, f"index {index} out of range for {what} of length {length}")
            return target[position]
        if target is None:
            self.fail(node, f"cannot fetch {describe(key, 30)} from nil ({what} is nil)")
        self.fail(node, f"cannot fetch {describe(key, 30)} from {type_name(target)} {what}")

    def slice(self, node: Slice) -> Any:
        target = self.visit(node.target)
        if not (is_array(target) or isinstance(target, str)):
            self.fail(node, f"cannot slice {self.fragment(node.target)} ({type_name(target)})")
        length = len(target)
        lower = self.slice_bound(node.lower, 0)
        upper = self.slice_bound(node.upper, length)
        # expr's runtime.Slice: negative bounds count from the end, then everything is clamped.
        if lower < 0:
            lower = max(0, lower + length)
        if upper < 0:
            upper = max(0, upper + length)
        upper = min(upper, length)
        lower = min(lower, upper)
        if isinstance(target, str):
            return target[lower:upper]
        self.spend(upper - lower)
        return list(target[lower:upper])

    def slice_bound(self, node: Node | None, default: int) -> int:
        if node is None:
            return default
        value = self.visit(node)
        index = _to_index(value)
        if index is None:
            self.fail(node, f"slice bound must be an integer, got {type_name(value)}")
        return index

    def unary(self, node: Unary) -> Any:
        value = self.visit(node.operand)
        if node.op == "!":
            if not isinstance(value, bool):
                self.fail(
                    node, f"operator ! needs a bool, got {type_name(value)} {describe(value, 30)}"
                )
            return not value
        if not is_number(value):
            self.fail(
                node,
                f"operator {node.op} needs a number, got {type_name(value)} {describe(value, 30)}",
            )
        if node.op == "-":
            return wrap_int(-value) if isinstance(value, int) else -value
        return value

    def boolean_operand(self, node: Node, op: str, side: str) -> bool:
        value = self.visit(node)
        if not isinstance(value, bool):
            self.fail(
                node,
                f"the {side} side of {op} must be a bool, got {type_name(value)} "
                f"{describe(value, 30)} ({self.fragment(node)})",
            )
        return value

    def binary(self, node: Binary) -> Any:
        op = node.op
        # The three lazy operators evaluate their right side only when needed.
        if op == "&&":
            if not self.boolean_operand(node.left, op, "left"):
                return False
            return self.boolean_operand(node.right, op, "right")
        if op == "||":
            if self.boolean_operand(node.left, op, "left"):
                return True
            return self.boolean_operand(node.right, op, "right")
        if op == "??":
            left = self.visit(node.left)
            return left if left is not None else self.visit(node.right)
        left = self.visit(node.left)
        right = self.visit(node.right)
        try:
            return _BINARY_OPERATIONS[op](self, node, left, right)
        except ExprEvalError as error:
            hint = self.vector_hint(node, left, right)
            if hint and not error.fragment:
                error = ExprEvalError(f"{error.message}; {hint}")
            raise self._located(node, error) from None

    def vector_hint(self, node: Binary, left: Any, right: Any) -> str:
        """Explain the classic mistake of comparing a whole Prometheus vector with a number."""
        if node.op not in ("<", "<=", ">", ">=", "+", "-", "*", "/"):
            return ""
        if is_array(left) and is_number(right):
            array_node, other = node.left, self.fragment(node.right)
        elif is_number(left) and is_array(right):
            array_node, other = node.right, self.fragment(node.left)
        else:
            return ""
        name = self.fragment(array_node)
        if node.op not in ("<", "<=", ">", ">="):
            return f"{name} is a list: pick an element such as {name}[0]"
        return (
            f"{name} is a list: compare one element ({name}[0] {node.op} {other}) "
            f"or all of them (all({name}, # {node.op} {other}))"
        )

    def conditional(self, node: Conditional) -> Any:
        test = self.visit(node.test)
        if not isinstance(test, bool):
            self.fail(
                node.test,
                f"the condition of ?: must be a bool, got {type_name(test)} {describe(test, 30)}",
            )
        return self.visit(node.then if test else node.otherwise)

    def array_literal(self, node: ArrayLiteral) -> list[Any]:
        self.spend(len(node.items))
        return [self.visit(item) for item in node.items]

    def map_literal(self, node: MapLiteral) -> dict[Any, Any]:
        self.spend(len(node.entries))
        out: dict[Any, Any] = {}
        for key_node, value_node in node.entries:
            key = self.visit(key_node)
            value = self.visit(value_node)
            try:
                out[key] = value
            except TypeError:
                self.fail(
                    key_node, f"{type_name(key)} {describe(key, 30)} cannot be used as a map key"
                )
        return out

    def predicate(self, node: Predicate) -> Any:
        # A predicate is only meaningful as a function argument; the parser never puts one
        # anywhere else.
        self.fail(node, "a predicate can only be used as a function argument")

    # --- calls --------------------------------------------------------------------------------

    def call(self, node: Call) -> Any:
        name = node.name
        try:
            if name in PREDICATE_FUNCTIONS:
                return self.predicate_call(node)
            if name in FUNCTIONS:
                function = FUNCTIONS[name][0]
                return function(self, [self.visit(arg) for arg in node.args])
        except ExprEvalError as error:
            raise self._located(node, error) from None
        host = self.functions.get(name)
        if host is None:
            candidates = [*FUNCTIONS, *PREDICATE_FUNCTIONS, *self.functions]
            close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
            hint = f' (did you mean "{close[0]}"?)' if close else ""
            if name == "now":
                # Reading the clock is the host's decision, not the language's.
                hint = " (now() must be provided by the caller: functions={'now': ...})"
            self.fail(node, f'unknown function "{name}"{hint}')
        args = [self.visit(arg) for arg in node.args]
        try:
            return host(*args)
        except ExprEvalError as error:
            raise self._located(node, error) from None
        except Exception as error:
            # A host function's failure is a failed evaluation, never a crash of the caller.
            self.fail(node, f"{name}() failed: {error}")

    def predicate_call(self, node: Call) -> Any:
        name = node.name
        items_node = node.args[0]
        items = self.visit(items_node)
        if not is_array(items):
            self.fail(
                items_node,
                f"{name}() expects an array, got {type_name(items)} {describe(items, 30)} "
                f"({self.fragment(items_node)})",
            )
        body = (
            node.args[1].body
            if len(node.args) > 1 and isinstance(node.args[1], Predicate)
            else None
        )
        if body is None:
            # count(xs) and sum(xs) without a predicate.
            if name == "count":
                return sum(1 for item in items if self.truth(items_node, item, name))
            return sum_values(items)
        scope = _Scope()
        if name == "reduce":
            return self.reduce(node, items, body, scope)
        self.scopes.append(scope)
        try:
            return self.loop(name, items, body, scope)
        finally:
            self.scopes.pop()

    def loop(self, name: str, items: Sequence[Any], body: Node, scope: _Scope) -> Any:
        backwards = name in ("findLast", "findLastIndex")
        order = range(len(items) - 1, -1, -1) if backwards else range(len(items))
        collected: list[Any] = []
        matches = 0
        total: Any = 0
        for index in order:
            self.spend(1)
            scope.item = items[index]
            scope.index = index
            if name == "map":
                collected.append(self.visit(body))
                continue
            if name == "sum":
                total = add(total, self.visit(body))
                continue
            if not self.truth(body, self.visit(body), name):
                if name == "all":
                    return False
                continue
            if name == "any":
                return True
            if name == "none":
                return False
            if name in ("find", "findLast"):
                return items[index]
            if name in ("findIndex", "findLastIndex"):
                return index
            if name == "filter":
                collected.append(items[index])
            matches += 1
        if name in ("all", "none"):
            return True
        if name == "any":
            return False
        if name in ("map", "filter"):
            return collected
        if name == "sum":
            return total
        if name == "count":
            return matches
        if name == "one":
            return matches == 1
        return None  # find* found nothing

    def reduce(self, node: Call, items: Sequence[Any], body: Node, scope: _Scope) -> Any:
        scope.has_acc = True
        start = 0
        if len(node.args) > 2:
            scope.acc = self.visit(node.args[2])
        elif items:
            scope.acc = items[0]
            start = 1
        else:
            self.fail(node, "reduce() of an empty array needs an initial value")
        self.scopes.append(scope)
        try:
            for index in range(start, len(items)):
                self.spend(1)
                scope.item = items[index]
                scope.index = index
                scope.acc = self.visit(body)
            return scope.acc
        finally:
            self.scopes.pop()

    def truth(self, node: Node, value: Any, name: str) -> bool:
        if not isinstance(value, bool):
            self.fail(
                node,
                f"the predicate of {name}() must return a bool, got {type_name(value)} "
                f"{describe(value, 30)}",
            )
        return value


def _to_index(value: Any) -> int | None:
    """expr's ``runtime.ToInt`` for indexes: ints as they are, finite floats truncated."""
    if is_int(value):
        return int(value)
    if isinstance(value, float) and math.isfinite(value):
        return int(value)
    return None


# --- the eager binary operators ---------------------------------------------------------------


def _in(evaluation: Evaluation, node: Binary, needle: Any, haystack: Any) -> bool:
    if haystack is None:
        return False
    if is_array(haystack):
        evaluation.spend(len(haystack))
        return any(equal(needle, item, spend=evaluation.spend) for item in haystack)
    if is_map(haystack):
        try:
            return needle in haystack
        except TypeError:
            return False
    evaluation.fail(
        node,
        f'operator "in" needs an array or a map on its right, got {type_name(haystack)} '
        f"({evaluation.fragment(node.right)})",
    )


def _strings(evaluation: Evaluation, node: Binary, left: Any, right: Any) -> tuple[str, str]:
    if not (isinstance(left, str) and isinstance(right, str)):
        evaluation.fail(
            node,
            f"operator {node.op} needs two strings, got {type_name(left)} {describe(left, 30)} "
            f"and {type_name(right)} {describe(right, 30)}",
        )
    return left, right


def _matches(evaluation: Evaluation, node: Binary, left: Any, right: Any) -> bool:
    text, pattern = _strings(evaluation, node, left, right)
    try:
        regex = compile_regex(pattern)
    except RegexError as error:
        evaluation.fail(node.right, f"invalid regular expression {pattern!r}: {error}")
    # RE2 is linear in the input, so the text's length is the work; a byte costs RE2 far less
    # than a step of this evaluator, so a whole capped response (1 MiB) can still be matched.
    evaluation.spend(len(text) // 8)
    # Go's regexp.MatchString finds a match anywhere, like re.search (not re.match).
    return regex.search(text) is not None


def _range(evaluation: Evaluation, node: Binary, low: Any, high: Any) -> list[int]:
    if not (is_int(low) and is_int(high)):
        evaluation.fail(
            node, f"operator .. needs two integers, got {type_name(low)} and {type_name(high)}"
        )
    evaluation.spend(max(0, high - low + 1))
    return list(range(low, high + 1))


def _plus(evaluation: Evaluation, node: Binary, left: Any, right: Any) -> Any:
    if isinstance(left, str) and isinstance(right, str):
        # Charge concatenation by length, or `reduce(1..60, #acc + #acc, 'x')` eats the memory.
        evaluation.spend(len(left) + len(right))
    return add(left, right)


_BinaryOperation = Callable[[Evaluation, Binary, Any, Any], Any]

_BINARY_OPERATIONS: dict[str, _BinaryOperation] = {
    "==": lambda e, _n, a, b: equal(a, b, spend=e.spend),
    "!=": lambda e, _n, a, b: not equal(a, b, spend=e.spend),
    "<": lambda _e, n, a, b: compare(n.op, a, b),
    "<=": lambda _e, n, a, b: compare(n.op, a, b),
    ">": lambda _e, n, a, b: compare(n.op, a, b),
    ">=": lambda _e, n, a, b: compare(n.op, a, b),
    "+": _plus,
    "-": lambda _e, _n, a, b: subtract(a, b),
    "*": lambda _e, _n, a, b: multiply(a, b),
    "/": lambda _e, _n, a, b: divide(a, b),
    "%": lambda _e, _n, a, b: modulo(a, b),
    "**": lambda _e, _n, a, b: power(a, b),
    "in": _in,
    "matches": _matches,
    "contains": lambda e, n, a, b: (lambda s: s[1] in s[0])(_strings(e, n, a, b)),
    "startsWith": lambda e, n, a, b: (lambda s: s[0].startswith(s[1]))(_strings(e, n, a, b)),
    "endsWith": lambda e, n, a, b: (lambda s: s[0].endswith(s[1]))(_strings(e, n, a, b)),
    "..": _range,
}

_DISPATCH: dict[type[Node], Callable[[Evaluation, Any], Any]] = {
    Literal: Evaluation.literal,
    Identifier: Evaluation.identifier,
    Pointer: Evaluation.pointer,
    Chain: Evaluation.chain,
    Member: Evaluation.member,
    Slice: Evaluation.slice,
    Unary: Evaluation.unary,
    Binary: Evaluation.binary,
    Conditional: Evaluation.conditional,
    ArrayLiteral: Evaluation.array_literal,
    MapLiteral: Evaluation.map_literal,
    Predicate: Evaluation.predicate,
    Call: Evaluation.call,
}
