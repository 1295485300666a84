"""Go `text/template`, the subset Argo's notification templates use, rendered safely.

Supported: `{{.a.b}}` fields of maps, `$` and `$var` (with `:=` and `=`), `if / else if / else`,
`range` (with `$i, $v :=`, over lists and maps in key order, with `else`), `with`, pipelines
`a | f x`, parentheses, string / raw-string / number / bool / nil literals, `{{-` and `-}}`
trimming, `{{/* comments */}}`, Go's builtins (`and or not len index print printf println eq ne
lt le gt ge`) and the sprig functions the documented templates use (`add sub mul div mod
toJson toPrettyJson upper lower title trim trimPrefix trimSuffix replace contains hasPrefix
hasSuffix default empty quote squote join split toString int b64enc b64dec`).

Not supported, by design: `define`/`template`/`block`, `call` and `time`-like functions, and
anything that reaches outside the data given: a template can only read the values it is
passed. A parse error or an unknown function raises `TemplateError` naming the template;
evaluation is bounded in steps and output size so a hostile template cannot hang or fill
memory. Pure: no I/O, no clock.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

MAX_STEPS = 100_000
MAX_OUTPUT = 256 * 1024
NO_VALUE = "<no value>"
_SPACE = " \t\r\n"


class TemplateError(Exception):
    """A template that cannot be parsed or executed; the message names it."""


# -- lexer ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tok:
    kind: str  # field var ident str num bool nil ( ) | := = , kw
    value: Any
    spaced: bool  # whitespace before it (Go needs it to tell `(x).f` from `(x) .f`)


KEYWORDS = {"if", "else", "end", "range", "with", "define", "template", "block", "break",
            "continue"}  # fmt: skip
_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
_TOKEN = re.compile(
    rf"""
    (?P<ws>\s+)
  | (?P<field>(?:\.{_IDENT})+|\.)
  | (?P<var>\$(?:{_IDENT})?(?:\.{_IDENT})*)
  | (?P<str>"(?:[^"\\\n]|\\.)*")
  | (?P<raw>`[^`]*`)
  | (?P<num>[+-]?(?:0[xX][0-9a-fA-F]+|\d+\.\d*(?:[eE][+-]?\d+)?|\d+(?:[eE][+-]?\d+)?|\.\d+))
  | (?P<decl>:=)
  | (?P<punct>[()|=,])
  | (?P<ident>{_IDENT})
    """,
    re.VERBOSE,
)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "'": "'", "a": "\a",
            "b": "\b", "f": "\f", "v": "\v", "0": "\0"}  # fmt: skip


def _unquote(text: str) -> str:
    out: list[str] = []
    i = 1
    while i < len(text) - 1:
        ch = text[i]
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        nxt = text[i + 1]
        if nxt in ("u", "U", "x"):
            width = {"u": 4, "U": 8, "x": 2}[nxt]
            digits = text[i + 2 : i + 2 + width]
            try:
                out.append(chr(int(digits, 16)))
            except ValueError:
                raise ValueError(f"bad escape \\{nxt}{digits}") from None
            i += 2 + width
        elif nxt in _ESCAPES:
            out.append(_ESCAPES[nxt])
            i += 2
        else:
            raise ValueError(f"unknown escape sequence \\{nxt}")
    return "".join(out)


def _lex_action(src: str) -> list[Tok]:
    toks: list[Tok] = []
    pos = 0
    spaced = True
    while pos < len(src):
        m = _TOKEN.match(src, pos)
        if m is None:
            raise ValueError(f"unexpected {src[pos]!r} in action")
        pos = m.end()
        kind = m.lastgroup or ""
        text = m.group()
        if kind == "ws":
            spaced = True
            continue
        if kind == "field":
            toks.append(Tok("field", [] if text == "." else text[1:].split("."), spaced))
        elif kind == "var":
            name, *chain = text.split(".")
            toks.append(Tok("var", (name, chain), spaced))
        elif kind == "str":
            toks.append(Tok("str", _unquote(text), spaced))
        elif kind == "raw":
            toks.append(Tok("str", text[1:-1], spaced))
        elif kind == "num":
            toks.append(Tok("num", _number(text), spaced))
        elif kind == "decl":
            toks.append(Tok(":=", text, spaced))
        elif kind == "punct":
            toks.append(Tok(text, text, spaced))
        elif text in ("true", "false"):
            toks.append(Tok("bool", text == "true", spaced))
        elif text == "nil":
            toks.append(Tok("nil", None, spaced))
        elif text in KEYWORDS:
            toks.append(Tok("kw", text, spaced))
        else:
            toks.append(Tok("ident", text, spaced))
        spaced = False
    return toks


def _number(text: str) -> int | float:
    if re.fullmatch(r"[+-]?0[xX][0-9a-fA-F]+", text):
        return int(text, 16)
    if re.fullmatch(r"[+-]?\d+", text):
        return int(text)
    return float(text)


# -- syntax tree ----------------------------------------------------------------------------


@dataclass
class Operand:
    kind: str  # field var ident lit pipe
    value: Any
    chain: list[str] = field(default_factory=list)


@dataclass
class Pipeline:
    decl: list[str]
    assign: bool  # `=` rather than `:=`
    cmds: list[list[Operand]]


@dataclass
class Text:
    text: str


@dataclass
class Action:
    pipe: Pipeline


@dataclass
class Branch:
    kind: str  # if range with
    pipe: Pipeline
    body: list[Node]
    orelse: list[Node]


@dataclass
class Loop:
    kind: str  # break continue


Node = Text | Action | Branch | Loop


class _Parser:
    def __init__(self, name: str, src: str) -> None:
        self.name = name
        self.pending: list[Tok] = []
        self.items = self._split(src)
        self.i = 0

    def fail(self, msg: str) -> TemplateError:
        return TemplateError(f"template {self.name}: {msg}")

    def _split(self, src: str) -> list[tuple[str, Any]]:
        """Text and actions, with `{{-`/`-}}` trimming applied; comments dropped."""
        items: list[tuple[str, Any]] = []
        pos = 0
        trim_next = False
        while True:
            start = src.find("{{", pos)
            text = src[pos:] if start < 0 else src[pos:start]
            if trim_next:
                text = text.lstrip()
            if start < 0:
                if text:
                    items.append(("text", text))
                return items
            line = src.count("\n", 0, start) + 1
            j = start + 2
            trim_left = src[j : j + 1] == "-" and src[j + 1 : j + 2] in _SPACE
            if trim_left:
                j += 1
                text = text.rstrip()
            if text:
                items.append(("text", text))
            end = self._close(src, j, line)
            body = src[j:end]
            trim_next = len(body) >= 2 and body[-1] == "-" and body[-2] in _SPACE
            if trim_next:
                body = body[:-1]
            pos = end + 2
            stripped = body.strip()
            if stripped.startswith("/*"):
                continue
            try:
                items.append(("action", _lex_action(body)))
            except ValueError as exc:
                raise self.fail(f"line {line}: {exc}") from None

    def _close(self, src: str, j: int, line: int) -> int:
        """Index of the `}}` closing the action that starts at `j` (not one inside a string)."""
        k = j
        while k < len(src) and src[k] in _SPACE:
            k += 1
        if src.startswith("/*", k):
            close = src.find("*/", k + 2)
            if close < 0:
                raise self.fail(f"line {line}: unclosed comment")
            end = src.find("}}", close + 2)
            if end < 0 or src[close + 2 : end].strip() not in ("", "-"):
                raise self.fail(f"line {line}: comment ends before closing delimiter")
            return end
        quote = ""
        while k < len(src):
            ch = src[k]
            if quote:
                if ch == "\\" and quote == '"':
                    k += 2
                    continue
                if ch == quote:
                    quote = ""
                elif ch == "\n" and quote == '"':
                    break
            elif ch in ('"', "`"):
                quote = ch
            elif src.startswith("}}", k):
                return k
            k += 1
        raise self.fail(f"line {line}: unclosed action")

    def parse(self) -> list[Node]:
        nodes, stop = self._list()
        if stop is not None:
            raise self.fail(f"unexpected {{{{{stop}}}}}")
        return nodes

    def _list(self) -> tuple[list[Node], str | None]:
        """Nodes up to an `end`/`else` (returned, not consumed beyond the keyword)."""
        nodes: list[Node] = []
        while self.i < len(self.items):
            kind, value = self.items[self.i]
            self.i += 1
            if kind == "text":
                nodes.append(Text(value))
                continue
            toks: list[Tok] = value
            if not toks:
                raise self.fail("missing value for command")
            head = toks[0]
            if head.kind == "kw":
                kw = head.value
                if kw in ("end", "else"):
                    self.pending = toks[1:]
                    return nodes, kw
                if kw in ("if", "range", "with"):
                    nodes.append(self._branch(kw, toks[1:]))
                elif kw in ("break", "continue"):
                    nodes.append(Loop(kw))
                else:
                    raise self.fail(f"{{{{{kw}}}}} is not supported")
            else:
                nodes.append(Action(self._pipeline(toks, allow_decl=True)))
        return nodes, None

    def _branch(self, kw: str, toks: list[Tok]) -> Branch:
        pipe = self._pipeline(toks, allow_decl=True)
        body, stop = self._list()
        orelse: list[Node] = []
        if stop is None:
            raise self.fail(f"unexpected EOF: {{{{{kw}}}}} without {{{{end}}}}")
        if stop == "else":
            rest = self.pending
            if rest and rest[0].kind == "kw" and rest[0].value in ("if", "with"):
                # `else if` / `else with`: a nested branch that shares our `end`.
                orelse = [self._branch(rest[0].value, rest[1:])]
                return Branch(kw, pipe, body, orelse)
            if rest:
                raise self.fail("unexpected tokens after {{else}}")
            orelse, stop = self._list()
            if stop != "end":
                raise self.fail(f"{{{{{kw}}}}} without {{{{end}}}}")
        elif self.pending:
            raise self.fail("unexpected tokens after {{end}}")
        return Branch(kw, pipe, body, orelse)

    def _pipeline(self, toks: list[Tok], *, allow_decl: bool) -> Pipeline:
        decl: list[str] = []
        assign = False
        pos = 0
        # `$x :=`, `$i, $v :=`, `$x =`
        if allow_decl and toks and toks[0].kind == "var" and not toks[0].value[1]:
            names = [toks[0].value[0]]
            j = 1
            if j + 1 < len(toks) and toks[j].kind == "," and toks[j + 1].kind == "var":
                names.append(toks[j + 1].value[0])
                j += 2
            if j < len(toks) and toks[j].kind in (":=", "="):
                decl, assign, pos = names, toks[j].kind == "=", j + 1
        cmds: list[list[Operand]] = [[]]
        while pos < len(toks):
            tok = toks[pos]
            if tok.kind == "|":
                if not cmds[-1]:
                    raise self.fail("missing command before |")
                cmds.append([])
                pos += 1
                continue
            operand, pos = self._operand(toks, pos)
            cmds[-1].append(operand)
        if not cmds[-1]:
            raise self.fail("missing value for command")
        return Pipeline(decl, assign, cmds)

    def _operand(self, toks: list[Tok], pos: int) -> tuple[Operand, int]:
        tok = toks[pos]
        pos += 1
        if tok.kind == "(":
            depth, j = 1, pos
            while j < len(toks) and depth:
                depth += {"(": 1, ")": -1}.get(toks[j].kind, 0)
                j += 1
            if depth:
                raise self.fail("unclosed left paren")
            op = Operand("pipe", self._pipeline(toks[pos : j - 1], allow_decl=False))
            pos = j
            if pos < len(toks) and toks[pos].kind == "field" and not toks[pos].spaced:
                op.chain = toks[pos].value
                pos += 1
            return op, pos
        if tok.kind == "field":
            return Operand("field", None, tok.value), pos
        if tok.kind == "var":
            return Operand("var", tok.value[0], tok.value[1]), pos
        if tok.kind == "ident":
            if tok.value not in FUNCS:
                raise self.fail(f'function "{tok.value}" not defined')
            return Operand("ident", tok.value), pos
        if tok.kind in ("str", "num", "bool", "nil"):
            return Operand("lit", tok.value), pos
        raise self.fail(f"unexpected {tok.value!r} in operand")


# -- evaluation -----------------------------------------------------------------------------


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


def truth(value: Any) -> bool:
    """Go's truth: false, 0, nil, and empty strings, lists and maps are false."""
    if value is None or value is False:
        return False
    if isinstance(value, bool):
        return True
    if isinstance(value, int | float):
        return value != 0
    if isinstance(value, str | list | tuple | dict):
        return len(value) > 0
    return True


def go_str(value: Any) -> str:
    """What `{{x}}` prints (fmt's %v)."""
    if value is None:
        return NO_VALUE
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if value == int(value) and abs(value) < 1e21:
            return str(int(value))
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + " ".join(_inner_str(v) for v in value) + "]"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{_inner_str(value[k])}" for k in sorted(value)) + "]"
    return str(value)


def _inner_str(value: Any) -> str:
    return "<nil>" if value is None else go_str(value)


class _Exec:
    def __init__(self, name: str, max_steps: int, max_output: int) -> None:
        self.name = name
        self.steps = 0
        self.max_steps = max_steps
        self.max_output = max_output
        self.out: list[str] = []
        self.size = 0

    def fail(self, msg: str) -> TemplateError:
        return TemplateError(f"template {self.name}: {msg}")

    def tick(self) -> None:
        self.steps += 1
        if self.steps > self.max_steps:
            raise self.fail(f"too many steps (more than {self.max_steps})")

    def write(self, text: str) -> None:
        self.size += len(text)
        if self.size > self.max_output:
            raise self.fail(f"output longer than {self.max_output} characters")
        self.out.append(text)

    def run(self, nodes: list[Node], dot: Any, scope: list[dict[str, Any]]) -> None:
        for node in nodes:
            self.tick()
            if isinstance(node, Text):
                self.write(node.text)
            elif isinstance(node, Action):
                value = self.pipeline(node.pipe, dot, scope)
                if not node.pipe.decl:
                    self.write(go_str(value))
            elif isinstance(node, Loop):
                raise _Break() if node.kind == "break" else _Continue()
            else:
                self.branch(node, dot, scope)

    def branch(self, node: Branch, dot: Any, scope: list[dict[str, Any]]) -> None:
        inner = [*scope, {}]
        if node.kind == "range":
            value = self.pipeline(node.pipe, dot, inner, declare=False)
            items: list[tuple[Any, Any]]
            if value is None:
                items = []
            elif isinstance(value, dict):
                items = [(k, value[k]) for k in sorted(value)]
            elif isinstance(value, list | tuple):
                items = list(enumerate(value))
            elif isinstance(value, int) and not isinstance(value, bool):
                items = [(i, i) for i in range(max(0, min(value, self.max_steps)))]
            else:
                raise self.fail(f"range can't iterate over {go_str(value)}")
            if not items:
                self.run(node.orelse, dot, [*scope, {}])
                return
            for key, item in items:
                frame: dict[str, Any] = {}
                decl = node.pipe.decl
                if len(decl) == 1:
                    frame[decl[0]] = item
                elif len(decl) == 2:
                    frame[decl[0]], frame[decl[1]] = key, item
                try:
                    self.run(node.body, item, [*scope, frame])
                except _Break:
                    break
                except _Continue:
                    continue
            return
        value = self.pipeline(node.pipe, dot, inner)
        if truth(value):
            self.run(node.body, value if node.kind == "with" else dot, inner)
        else:
            self.run(node.orelse, dot, [*scope, {}])

    def pipeline(
        self, pipe: Pipeline, dot: Any, scope: list[dict[str, Any]], declare: bool = True
    ) -> Any:
        value: Any = None
        for i, cmd in enumerate(pipe.cmds):
            value = self.command(cmd, dot, scope, piped=(value,) if i else ())
        if declare and pipe.decl:
            if pipe.assign:
                for frame in reversed(scope):
                    if pipe.decl[0] in frame:
                        frame[pipe.decl[0]] = value
                        break
                else:
                    raise self.fail(f"undefined variable: {pipe.decl[0]}")
            else:
                scope[-1][pipe.decl[0]] = value
        return value

    def command(
        self, cmd: list[Operand], dot: Any, scope: list[dict[str, Any]], piped: tuple[Any, ...]
    ) -> Any:
        self.tick()
        head = cmd[0]
        if head.kind == "ident":
            name = head.value
            if name in ("and", "or"):
                return self.logic(name, cmd[1:], dot, scope, piped)
            args = [self.operand(op, dot, scope) for op in cmd[1:]] + list(piped)
            try:
                return FUNCS[name](*args)
            except TemplateError:
                raise
            except (TypeError, ValueError, KeyError, IndexError, ZeroDivisionError) as exc:
                raise self.fail(f"error calling {name}: {exc}") from None
        if len(cmd) > 1 or piped:
            raise self.fail(f"can't give argument to non-function {self.describe(head)}")
        return self.operand(head, dot, scope)

    def logic(
        self,
        name: str,
        ops: list[Operand],
        dot: Any,
        scope: list[dict[str, Any]],
        piped: tuple[Any, ...],
    ) -> Any:
        # Short-circuit, as Go does since 1.18: later operands are not evaluated.
        items: list[Operand | tuple[Any]] = [*ops, *((v,) for v in piped)]
        if not items:
            raise self.fail(f"wrong number of args for {name}: want at least 1 got 0")
        value: Any = None
        for item in items:
            value = item[0] if isinstance(item, tuple) else self.operand(item, dot, scope)
            if truth(value) == (name == "or"):
                return value
        return value

    def operand(self, op: Operand, dot: Any, scope: list[dict[str, Any]]) -> Any:
        if op.kind == "lit":
            return op.value
        if op.kind == "field":
            return self.walk(dot, op.chain, "")
        if op.kind == "var":
            for frame in reversed(scope):
                if op.value in frame:
                    return self.walk(frame[op.value], op.chain, op.value)
            raise self.fail(f"undefined variable: {op.value}")
        if op.kind == "pipe":
            return self.walk(self.pipeline(op.value, dot, scope), op.chain, "(...)")
        raise self.fail(f'function "{op.value}" needs to be called, not used as a value')

    def walk(self, value: Any, chain: list[str], base: str) -> Any:
        path = base
        for name in chain:
            self.tick()
            if isinstance(value, Mapping):
                value = value.get(name)
            elif value is None:
                raise self.fail(f"nil pointer evaluating {path or '.'}.{name}")
            else:
                raise self.fail(f"can't evaluate field {name} in {type(value).__name__} {path}")
            path = f"{path}.{name}"
        return value

    @staticmethod
    def describe(op: Operand) -> str:
        if op.kind == "field":
            return "." + ".".join(op.chain)
        if op.kind == "var":
            return ".".join([op.value, *op.chain])
        return go_str(op.value)


@dataclass(frozen=True)
class Template:
    name: str
    nodes: list[Node]

    def render(self, data: Any, *, max_steps: int = MAX_STEPS, max_output: int = MAX_OUTPUT) -> str:
        ex = _Exec(self.name, max_steps, max_output)
        try:
            ex.run(self.nodes, data, [{"$": data}])
        except (_Break, _Continue):
            raise ex.fail("{{break}} or {{continue}} outside {{range}}") from None
        except RecursionError:
            raise ex.fail("nested too deeply") from None
        return "".join(ex.out)


def parse(name: str, src: str) -> Template:
    """Parse `src`; a syntax error or an unknown function raises TemplateError naming `name`."""
    try:
        return Template(name, _Parser(name, src).parse())
    except RecursionError:
        raise TemplateError(f"template {name}: nested too deeply") from None


def render(name: str, src: str, data: Any) -> str:
    return parse(name, src).render(data)


# -- functions ------------------------------------------------------------------------------


def _int(v: Any) -> int:
    """sprig's toInt64: numbers, numeric strings, bools; anything else is 0."""
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, int):
        return v
    if isinstance(v, float):
        return int(v)
    if isinstance(v, str):
        try:
            return int(float(v)) if v.strip() else 0
        except ValueError:
            return 0
    return 0


def _len(v: Any) -> int:
    if isinstance(v, str | list | tuple | dict):
        return len(v)
    raise TypeError(f"len of {'nil pointer' if v is None else type(v).__name__}")


def _index(v: Any, *keys: Any) -> Any:
    for key in keys:
        if isinstance(v, dict):
            v = v.get(key)
        elif isinstance(v, list | tuple | str):
            if not isinstance(key, int) or isinstance(key, bool):
                raise TypeError(f"cannot index slice/array with {go_str(key)}")
            if not 0 <= key < len(v):
                raise IndexError(f"index out of range: {key}")
            v = v[key]
        elif v is None:
            raise TypeError("index of untyped nil")
        else:
            raise TypeError(f"can't index item of type {type(v).__name__}")
    return v


def _go_json(value: Any, indent: int | None = None) -> str:
    # Go's encoding/json sorts map keys and escapes <, > and & for HTML safety.
    text = json.dumps(
        value,
        sort_keys=True,
        ensure_ascii=False,
        indent=indent,
        separators=(",", ": ") if indent else (",", ":"),
    )
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


_VERB = re.compile(r"%([-+# 0]*)(\d+|\*)?(?:\.(\d+))?([a-zA-Z%])")


def _printf(fmt: str, *args: Any) -> str:
    out: list[str] = []
    pos = 0
    it = iter(args)
    missing = object()
    for m in _VERB.finditer(fmt):
        out.append(fmt[pos : m.start()])
        pos = m.end()
        flags, width, prec, verb = m.groups()
        if verb == "%":
            out.append("%")
            continue
        arg = next(it, missing)
        if arg is missing:
            out.append(f"%!{verb}(MISSING)")
            continue
        spec = f"{flags.replace('#', '')}{width or ''}"
        if verb in ("v", "s"):
            text = go_str(arg)
            if prec is not None and verb == "s":
                text = text[: int(prec)]
            out.append(format(text, ">" + spec.lstrip("-") if "-" not in spec else "<" + spec[1:]))
        elif verb == "d":
            out.append(format(_int(arg), spec))
        elif verb in ("f", "F", "e", "g"):
            number = float(arg) if isinstance(arg, int | float) else 0.0
            out.append(format(number, f"{spec}{'.' + prec if prec else ''}{verb.lower()}"))
        elif verb == "q":
            out.append(json.dumps(go_str(arg), ensure_ascii=False))
        elif verb == "t":
            out.append(go_str(bool(arg)))
        elif verb in ("x", "X"):
            out.append(format(_int(arg), verb) if isinstance(arg, int) else str(arg).encode().hex())
        else:
            out.append(f"%!{verb}({go_str(arg)})")
    out.append(fmt[pos:])
    rest = list(it)
    if rest:
        out.append("%!(EXTRA " + ", ".join(go_str(r) for r in rest) + ")")
    return "".join(out)


def _cmp(op: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    def compare(a: Any, b: Any) -> bool:
        if isinstance(a, int | float) and isinstance(b, int | float):
            return op(a, b)
        if isinstance(a, str) and isinstance(b, str):
            return op(a, b)
        raise TypeError("incompatible types for comparison")

    return compare


def _eq(a: Any, *others: Any) -> bool:
    if not others:
        raise TypeError("missing argument for comparison")
    return any(a == b for b in others)


def _default(default: Any, *given: Any) -> Any:
    return given[0] if given and truth(given[0]) else default


def _print(*args: Any) -> str:
    # Go's fmt.Sprint: a space between operands when neither is a string.
    out = ""
    for i, arg in enumerate(args):
        if i and not isinstance(arg, str) and not isinstance(args[i - 1], str):
            out += " "
        out += go_str(arg)
    return out


FUNCS: dict[str, Callable[..., Any]] = {
    # Go builtins
    "and": lambda *a: None,  # evaluated lazily in _Exec.logic
    "or": lambda *a: None,
    "not": lambda v: not truth(v),
    "len": _len,
    "index": _index,
    "print": _print,
    "println": lambda *a: " ".join(go_str(x) for x in a) + "\n",
    "printf": _printf,
    "eq": _eq,
    "ne": lambda a, b: a != b,
    "lt": _cmp(lambda a, b: a < b),
    "le": _cmp(lambda a, b: a <= b),
    "gt": _cmp(lambda a, b: a > b),
    "ge": _cmp(lambda a, b: a >= b),
    # sprig: numbers
    "add": lambda *a: sum(_int(x) for x in a),
    "add1": lambda a: _int(a) + 1,
    "sub": lambda a, b: _int(a) - _int(b),
    "mul": lambda *a: _mul(a),
    "div": lambda a, b: int(_int(a) / _int(b)),
    "mod": lambda a, b: _int(a) % _int(b),
    "max": lambda *a: max(_int(x) for x in a),
    "min": lambda *a: min(_int(x) for x in a),
    "int": _int,
    "int64": _int,
    # sprig: strings
    "toString": lambda v: go_str(v) if not isinstance(v, str) else v,
    "upper": lambda s: str(s).upper(),
    "lower": lambda s: str(s).lower(),
    "title": lambda s: str(s).title(),
    "trim": lambda s: str(s).strip(),
    "trimPrefix": lambda p, s: s[len(p) :] if str(s).startswith(p) else s,
    "trimSuffix": lambda p, s: s[: -len(p)] if p and str(s).endswith(p) else s,
    "trimAll": lambda c, s: str(s).strip(c),
    "replace": lambda old, new, s: str(s).replace(old, new),
    "contains": lambda sub, s: sub in str(s),
    "hasPrefix": lambda p, s: str(s).startswith(p),
    "hasSuffix": lambda p, s: str(s).endswith(p),
    "repeat": lambda n, s: str(s) * max(0, min(_int(n), MAX_OUTPUT)),
    "quote": lambda *a: " ".join(json.dumps(go_str(x) if x is not None else "") for x in a),
    "squote": lambda *a: " ".join(f"'{go_str(x) if x is not None else ''}'" for x in a),
    "join": lambda sep, items: str(sep).join(go_str(x) for x in (items or [])),
    "split": lambda sep, s: {f"_{i}": p for i, p in enumerate(str(s).split(sep))},
    "splitList": lambda sep, s: str(s).split(sep),
    "b64enc": lambda s: base64.b64encode(go_str(s).encode()).decode(),
    "b64dec": lambda s: base64.b64decode(str(s)).decode(errors="replace"),
    # sprig: data
    "default": _default,
    "empty": lambda v: not truth(v),
    "toJson": lambda v: _go_json(v),
    "toPrettyJson": lambda v: _go_json(v, indent=2),
    "toRawJson": lambda v: json.dumps(v, sort_keys=True, ensure_ascii=False, separators=(",", ":")),
    "list": lambda *a: list(a),
    "dict": lambda *a: {str(a[i]): a[i + 1] if i + 1 < len(a) else "" for i in range(0, len(a), 2)},
    "hasKey": lambda d, k: isinstance(d, dict) and k in d,
    "keys": lambda *ds: [k for d in ds for k in (d or {})],
    "first": lambda xs: xs[0] if xs else None,
    "last": lambda xs: xs[-1] if xs else None,
}


def _mul(args: tuple[Any, ...]) -> int:
    product = 1
    for x in args:
        product *= _int(x)
    return product
