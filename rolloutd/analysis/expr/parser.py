"""Precedence-climbing parser: tokens in, a `nodes` tree out.

The structure deliberately follows expr-lang's own parser (``parser/parser.go``) rather than a
textbook grammar, because the oddities are part of the language users write against:

* unary ``!``/``not`` (precedence 50) bind looser than ``* / % **`` but tighter than
  ``+ -`` and comparisons: ``!a * b`` is ``!(a * b)``, while ``!a == b`` is ``(!a) == b``;
  unary ``-`` (90) binds looser than ``**``: ``-2 ** 2`` is ``-4``;
* comparisons chain: ``1 < x < 3`` means ``1 < x && x < 3``;
* ``??`` binds tightest of all and cannot be mixed with another operator without parentheses;
* the ternary ``a ? b : c`` (and ``a ?: b``) is only recognised at the lowest precedence;
* ``x | f(y)`` is ``f(x, y)``;
* inside a predicate, ``.name`` abbreviates ``#.name``.

Operator precedences (higher binds tighter), from expr's ``parser/operator/operator.go``:

====  ==================================================================
 0    ``|`` (pipe)
 10   ``||`` ``or``
 15   ``&&`` ``and``
 20   ``==`` ``!=`` ``<`` ``<=`` ``>`` ``>=`` ``in`` ``matches`` ``contains``
      ``startsWith`` ``endsWith`` (and their ``not`` forms)
 25   ``..``
 30   ``+`` ``-``
 50   unary ``!`` ``not``
 60   ``*`` ``/`` ``%``
 90   unary ``-`` ``+``
 100  ``**`` ``^`` (right-associative)
 500  ``??``
====  ==================================================================

Nesting is capped (`MAX_NESTING`) so hostile or generated input gets a syntax error instead of
exhausting the Python stack.
"""

from __future__ import annotations

from typing import NoReturn

from rolloutd.analysis.expr.builtins import FUNCTIONS, PREDICATE_FUNCTIONS
from rolloutd.analysis.expr.checker import check as check_types
from rolloutd.analysis.expr.errors import ExprSyntaxError
from rolloutd.analysis.expr.lexer import WORD_OPERATORS, Kind, Token, tokenize
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
    children,
)
from rolloutd.analysis.expr.regex import RegexError, compile_regex

__all__ = ["MAX_HEIGHT", "MAX_NESTING", "parse"]

# Real conditions nest a handful of levels. Each level costs a few Python frames here and in
# the evaluator, so these keep the worst case far below the default recursion limit (1000).
# MAX_NESTING bounds the parser's own recursion (parentheses, brackets, calls, unary operators);
# MAX_HEIGHT bounds the finished tree, which long flat chains such as `a || b || c ...` deepen
# without recursing in the parser, and which the evaluator walks recursively.
MAX_NESTING = 64
MAX_HEIGHT = 160

_UNARY = {"not": 50, "!": 50, "-": 90, "+": 90}
_BINARY = {
    "|": 0,
    "or": 10,
    "||": 10,
    "and": 15,
    "&&": 15,
    "==": 20,
    "!=": 20,
    "<": 20,
    ">": 20,
    ">=": 20,
    "<=": 20,
    "in": 20,
    "matches": 20,
    "contains": 20,
    "startsWith": 20,
    "endsWith": 20,
    "..": 25,
    "+": 30,
    "-": 30,
    "*": 60,
    "/": 60,
    "%": 60,
    "**": 100,
    "^": 100,
    "??": 500,
}
_RIGHT_ASSOCIATIVE = frozenset({"**", "^"})
_COMPARISON = 20
_NEGATABLE = frozenset({"in", "matches", "contains", "startsWith", "endsWith"})
_CANONICAL = {"and": "&&", "or": "||", "not": "!", "^": "**"}
_POINTER_NAMES = frozenset({"", "index", "acc"})


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.position = 0
        self.current = self.tokens[0]
        self.nesting = 0
        self.predicate_depth = 0

    # --- token plumbing -----------------------------------------------------------------------

    def fail(self, message: str, token: Token | None = None) -> NoReturn:
        token = token or self.current
        raise ExprSyntaxError(message, text=self.text, offset=token.start)

    def unexpected(self, token: Token | None = None) -> NoReturn:
        token = token or self.current
        if token.kind is Kind.EOF:
            self.fail("unexpected end of expression", token)
        self.fail(f"unexpected token {token.describe()}", token)

    def advance(self) -> Token:
        token = self.current
        if self.position < len(self.tokens) - 1:
            self.position += 1
            self.current = self.tokens[self.position]
        return token

    def peek(self) -> Token:
        return self.tokens[min(self.position + 1, len(self.tokens) - 1)]

    def expect_bracket(self, text: str, opened: Token | None = None) -> Token:
        if self.current.is_bracket(text):
            return self.advance()
        if opened is not None and self.current.kind is Kind.EOF:
            self.fail(f'missing "{text}" to close "{opened.text}"', opened)
        self.fail(f'expected "{text}" but found {self.current.describe()}')

    def expect_op(self, text: str) -> Token:
        if self.current.is_op(text):
            return self.advance()
        self.fail(f'expected "{text}" but found {self.current.describe()}')

    # --- expressions --------------------------------------------------------------------------

    def parse(self) -> Node:
        node = self.expression(0)
        if self.current.kind is not Kind.EOF:
            self.unexpected()
        return node

    def expression(self, precedence: int) -> Node:
        self.nesting += 1
        if self.nesting > MAX_NESTING:
            self.fail(f"expression is nested too deeply (more than {MAX_NESTING} levels)")
        try:
            return self._expression(precedence)
        finally:
            self.nesting -= 1

    def _expression(self, precedence: int) -> Node:
        if precedence == 0 and self.current.is_op("let", "if", "else"):
            self.fail(f'"{self.current.text}" is not supported in analysis conditions')
        left = self.primary()
        previous = ""
        while self.current.kind is Kind.OPERATOR:
            token = self.current
            negate = False
            if token.text == "=":
                self.fail('unexpected "=" (use "==" to compare)')
            if token.text == "not":
                following = self.peek()
                if not following.is_op(*_NEGATABLE):
                    self.fail(
                        'expected in, matches, contains, startsWith or endsWith after "not", '
                        f"found {following.describe()}",
                        following,
                    )
                if _BINARY[following.text] < precedence:
                    break
                negate = True
                self.advance()
                token = self.current
            op_precedence = _BINARY.get(token.text)
            if op_precedence is None or op_precedence < precedence:
                break
            self.advance()
            if token.text == "|":
                name = self.current
                if name.kind is not Kind.IDENT:
                    self.fail(f'expected a function name after "|" but found {name.describe()}')
                self.advance()
                left = self.call(name, [left], start=left.start)
                previous = "|"
                continue
            if previous == "??" and token.text != "??":
                self.fail(
                    f'operator "{token.text}" and "??" cannot be mixed; '
                    "wrap one of them in parentheses",
                    token,
                )
            if op_precedence == _COMPARISON:
                left = self.comparison(left, token, negate)
            else:
                if token.text in _RIGHT_ASSOCIATIVE:
                    right = self.expression(op_precedence)
                else:
                    right = self.expression(op_precedence + 1)
                op = _CANONICAL.get(token.text, token.text)
                left = Binary(
                    op=op,
                    left=left,
                    right=right,
                    op_start=token.start,
                    start=left.start,
                    end=right.end,
                )
            previous = token.text
        if precedence == 0:
            left = self.conditional(left)
        return left

    def comparison(self, left: Node, token: Token, negate: bool) -> Node:
        """Parse ``a < b < c`` into ``a < b && b < c``, as expr does."""
        root: Node | None = None
        while True:
            right = self.expression(_COMPARISON + 1)
            node: Node = Binary(
                op=token.text,
                left=left,
                right=right,
                op_start=token.start,
                start=left.start,
                end=right.end,
            )
            if negate:
                node = Unary(op="!", operand=node, start=node.start, end=node.end)
            if root is None:
                root = node
            else:
                root = Binary(
                    op="&&",
                    left=root,
                    right=node,
                    op_start=token.start,
                    start=root.start,
                    end=node.end,
                )
            left = right
            token = self.current
            negate = False
            if not (token.is_op() and _BINARY.get(token.text) == _COMPARISON):
                return root
            self.advance()

    def conditional(self, test: Node) -> Node:
        while self.current.is_op("?"):
            self.advance()
            if self.current.is_op(":"):
                # `a ?: b` is expr's short form of `a ? a : b`.
                self.advance()
                then = test
            else:
                then = self.expression(0)
                self.expect_op(":")
            otherwise = self.expression(0)
            test = Conditional(
                test=test, then=then, otherwise=otherwise, start=test.start, end=otherwise.end
            )
        return test

    def primary(self) -> Node:
        token = self.current
        if token.kind is Kind.OPERATOR and token.text in _UNARY:
            self.advance()
            operand = self.expression(_UNARY[token.text])
            op = _CANONICAL.get(token.text, token.text)
            node: Node = Unary(op=op, operand=operand, start=token.start, end=operand.end)
            return self.postfix(node)
        if token.is_bracket("("):
            self.advance()
            inner = self.expression(0)
            self.expect_bracket(")", opened=token)
            return self.postfix(inner, start=token.start)
        if token.kind is Kind.POINTER or token.is_op("."):
            if self.predicate_depth == 0:
                self.fail(
                    f"{token.describe()} can only be used inside a predicate, "
                    "e.g. all(result, {# > 0})"
                )
            if token.kind is Kind.POINTER:
                name = str(token.value)
                if name not in _POINTER_NAMES:
                    self.fail(f'unknown pointer "#{name}" (expected #, #index or #acc)')
                self.advance()
                return self.postfix(Pointer(name=name, start=token.start, end=token.end))
            # `.field` inside a predicate is `#.field`: leave the dot for postfix() to read.
            return self.postfix(Pointer(name="", start=token.start, end=token.start))
        return self.secondary()

    def secondary(self) -> Node:
        token = self.current
        node: Node
        if token.kind is Kind.IDENT:
            self.advance()
            if token.text in ("true", "false", "nil"):
                value = None if token.text == "nil" else token.text == "true"
                return Literal(value=value, start=token.start, end=token.end)
            if self.current.is_bracket("("):
                node = self.call(token, [], start=token.start)
            else:
                node = Identifier(name=token.text, start=token.start, end=token.end)
        elif token.kind is Kind.NUMBER:
            self.advance()
            assert isinstance(token.value, int | float)
            return Literal(value=token.value, start=token.start, end=token.end)
        elif token.kind is Kind.STRING:
            self.advance()
            node = Literal(value=str(token.value), start=token.start, end=token.end)
        elif token.is_bracket("["):
            node = self.array()
        elif token.is_bracket("{"):
            node = self.map()
        else:
            self.unexpected()
        return self.postfix(node)

    def postfix(self, node: Node, *, start: int | None = None) -> Node:
        """Member access, indexing and slicing after a primary, e.g. ``result.items[0:2]``."""
        # After parentheses the span starts at "(", so a message quotes "(a + b)[0]" whole.
        start = node.start if start is None else start
        optional_seen = False
        while True:
            token = self.current
            if token.is_op(".", "?."):
                optional = token.text == "?."
                self.advance()
                if optional and self.current.is_bracket("["):
                    optional_seen = True
                    node = self.subscript(node, start, optional=True)
                    continue
                name = self.current
                if not (
                    name.kind is Kind.IDENT
                    or (name.kind is Kind.OPERATOR and name.text in WORD_OPERATORS)
                ):
                    self.fail(f'expected a field name after "{token.text}"', name)
                self.advance()
                if self.current.is_bracket("("):
                    self.fail(f'method calls such as ".{name.text}()" are not supported', name)
                key = Literal(value=name.text, start=name.start, end=name.end)
                node = Member(target=node, key=key, optional=optional, start=start, end=name.end)
                optional_seen = optional_seen or optional
            elif token.is_bracket("["):
                node = self.subscript(node, start, optional=False)
            else:
                break
        return Chain(inner=node, start=node.start, end=node.end) if optional_seen else node

    def subscript(self, target: Node, start: int, *, optional: bool) -> Node:
        opened = self.expect_bracket("[")
        if self.current.is_op(":"):
            self.advance()
            upper = None if self.current.is_bracket("]") else self.expression(0)
            close = self.expect_bracket("]", opened)
            return Slice(target=target, lower=None, upper=upper, start=start, end=close.end)
        if self.current.is_bracket("]"):
            self.fail("expected an index or a slice inside []")
        lower = self.expression(0)
        if self.current.is_op(":"):
            self.advance()
            upper = None if self.current.is_bracket("]") else self.expression(0)
            close = self.expect_bracket("]", opened)
            return Slice(target=target, lower=lower, upper=upper, start=start, end=close.end)
        close = self.expect_bracket("]", opened)
        return Member(target=target, key=lower, optional=optional, start=start, end=close.end)

    # --- calls and literals -------------------------------------------------------------------

    def call(self, name: Token, leading: list[Node], *, start: int) -> Node:
        """``name(args)``; `leading` holds the piped-in value of ``x | name(...)``, if any."""
        opened = self.expect_bracket("(")
        args = list(leading)
        shape = PREDICATE_FUNCTIONS.get(name.text)
        if shape is not None:
            remaining = shape[len(leading) :]
            required = sum(1 for _, optional in shape if not optional)
            for position, (kind, optional) in enumerate(remaining):
                if self.current.is_bracket(")"):
                    if optional:
                        break
                    self.fail(f"{name.text}() expects at least {required} arguments")
                if position > 0:
                    self.expect_op(",")
                args.append(self.expression(0) if kind == "expr" else self.predicate())
            if self.current.is_op(","):
                self.advance()
        else:
            while not self.current.is_bracket(")"):
                if len(args) > len(leading):
                    if self.current.kind is Kind.EOF:
                        break
                    self.expect_op(",")
                    if self.current.is_bracket(")"):
                        break
                args.append(self.expression(0))
        close = self.expect_bracket(")", opened)
        self.check_arity(name, len(args))
        return Call(name=name.text, args=tuple(args), start=start, end=close.end)

    def check_arity(self, name: Token, count: int) -> None:
        signature = FUNCTIONS.get(name.text)
        if signature is None:
            return
        _, least, most = signature
        if least <= count and (most is None or count <= most):
            return
        if most == least:
            expected = f"{least} argument{'s' if least != 1 else ''}"
        elif most is None:
            expected = f"at least {least} argument{'s' if least != 1 else ''}"
        else:
            expected = f"{least} to {most} arguments"
        self.fail(f"{name.text}() takes {expected}, got {count}", name)

    def predicate(self) -> Node:
        opened = self.current
        braced = opened.is_bracket("{")
        if braced:
            self.advance()
        self.predicate_depth += 1
        try:
            body = self.expression(0)
        finally:
            self.predicate_depth -= 1
        end = body.end
        if braced:
            end = self.expect_bracket("}", opened).end
        return Predicate(body=body, start=opened.start, end=end)

    def array(self) -> Node:
        opened = self.expect_bracket("[")
        items: list[Node] = []
        while not self.current.is_bracket("]"):
            if items:
                if self.current.kind is Kind.EOF:
                    break
                self.expect_op(",")
                if self.current.is_bracket("]"):
                    break
            items.append(self.expression(0))
        close = self.expect_bracket("]", opened)
        return ArrayLiteral(items=tuple(items), start=opened.start, end=close.end)

    def map(self) -> Node:
        opened = self.expect_bracket("{")
        entries: list[tuple[Node, Node]] = []
        while not self.current.is_bracket("}"):
            if entries:
                if self.current.kind is Kind.EOF:
                    break
                self.expect_op(",")
                if self.current.is_bracket("}"):
                    break
            token = self.current
            key: Node
            if token.kind in (Kind.NUMBER, Kind.IDENT):
                # expr turns `{a: 1}` and `{1: 1}` into string keys "a" and "1".
                self.advance()
                key = Literal(value=token.text, start=token.start, end=token.end)
            elif token.kind is Kind.STRING:
                self.advance()
                key = Literal(value=str(token.value), start=token.start, end=token.end)
            elif token.is_bracket("("):
                key = self.expression(0)
            else:
                self.fail(
                    "a map key must be a quoted string, a number, a name, or an expression "
                    f"in parentheses, not {token.describe()}"
                )
            self.expect_op(":")
            value = self.expression(0)
            entries.append((key, value))
        close = self.expect_bracket("}", opened)
        return MapLiteral(entries=tuple(entries), start=opened.start, end=close.end)


def parse(text: str) -> Node:
    """Parse `text` into a syntax tree, or raise `ExprSyntaxError`."""
    node = _Parser(text).parse()
    _check_height(node, text)
    _check_literal_patterns(node, text)
    check_types(node, text)
    return node


def _check_height(root: Node, text: str) -> None:
    # Iterative post-order walk: this check must not recurse, it guards against recursion.
    heights: dict[int, int] = {}
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, expanded = stack.pop()
        if not expanded:
            stack.append((node, True))
            stack.extend((child, False) for child in children(node))
            continue
        height = 1 + max((heights[id(child)] for child in children(node)), default=0)
        if height > MAX_HEIGHT:
            raise ExprSyntaxError(
                f"expression is too complex (its syntax tree is deeper than {MAX_HEIGHT} levels)",
                text=text,
                offset=node.start,
            )
        heights[id(node)] = height


def _check_literal_patterns(root: Node, text: str) -> None:
    """Reject ``x matches "("`` at compile time, as expr does for constant patterns."""
    stack = [root]
    while stack:
        node = stack.pop()
        if (
            isinstance(node, Binary)
            and node.op == "matches"
            and isinstance(node.right, Literal)
            and isinstance(node.right.value, str)
        ):
            try:
                compile_regex(node.right.value)
            except RegexError as error:
                raise ExprSyntaxError(
                    f"invalid regular expression {node.right.value!r}: {error}",
                    text=text,
                    offset=node.right.start,
                ) from None
        stack.extend(children(node))
