"""Tokenizer for the expr-lang subset used by AnalysisTemplate conditions.

The token rules follow expr-lang's lexer (`parser/lexer/state.go`), because a condition that
Argo Rollouts accepts must tokenize the same way here:

* numbers: ``42``, ``1_000``, ``0x2A``, ``0o52``, ``0b1010``, ``0.5``, ``.5``, ``1e3``; a
  number followed directly by a letter (``3abc``) is an error, and ``1..3`` is a range, not a
  float;
* strings in ``'...'`` or ``"..."`` with Go-style escapes, or raw strings in backticks;
* ``//`` and ``/* */`` comments;
* ``#``, ``#index`` and ``#acc`` pointers, used inside predicates;
* the word operators ``and or not in matches contains startsWith endsWith``.

Positions are 0-based character offsets into the source; the error type turns them into
1-based columns.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from rolloutd.analysis.expr.errors import ExprSyntaxError

__all__ = ["Kind", "Token", "tokenize"]

INT64_MAX = 2**63 - 1

WORD_OPERATORS = frozenset(
    {"and", "or", "not", "in", "matches", "contains", "startsWith", "endsWith", "let", "if", "else"}
)

# Longest match first: every two-character operator is tried before its one-character prefix.
_TWO_CHAR_OPERATORS = ("&&", "||", "==", "!=", "<=", ">=", "**", "??", "?.", "..")
# "=" alone is not an operator, but lexing it lets the parser explain what was meant.
_ONE_CHAR_OPERATORS = frozenset("+-*/%^<>!?:,.|;=")
_BRACKETS = frozenset("()[]{}")

_SIMPLE_ESCAPES = {
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "\\": "\\",
    "'": "'",
    '"': '"',
    "`": "`",
    "?": "?",
}
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


class Kind(enum.Enum):
    """What a token is; the parser mostly dispatches on this plus the token's text."""

    NUMBER = "number"
    STRING = "string"
    IDENT = "identifier"
    OPERATOR = "operator"
    BRACKET = "bracket"
    POINTER = "pointer"
    EOF = "end of expression"


@dataclass(frozen=True, slots=True)
class Token:
    """One token. `value` is the decoded literal for numbers and strings, else the text."""

    kind: Kind
    text: str
    start: int
    end: int
    value: object = None

    def is_op(self, *texts: str) -> bool:
        return self.kind is Kind.OPERATOR and (not texts or self.text in texts)

    def is_bracket(self, text: str) -> bool:
        return self.kind is Kind.BRACKET and self.text == text

    def describe(self) -> str:
        """How the token is named in an error message."""
        if self.kind is Kind.EOF:
            return "end of expression"
        shown = self.text if len(self.text) <= 30 else self.text[:27] + "..."
        return f'"{shown}"' if '"' not in shown else f"'{shown}'"


def _is_ident_start(ch: str) -> bool:
    # expr accepts any Unicode letter, `_` and `$` (for `$env`).
    return ch == "_" or ch == "$" or ch.isalpha()


def _is_ident_part(ch: str) -> bool:
    return _is_ident_start(ch) or ch.isdecimal()


class _Lexer:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.tokens: list[Token] = []

    def error(self, message: str, offset: int) -> ExprSyntaxError:
        return ExprSyntaxError(message, text=self.text, offset=offset)

    def peek(self, ahead: int = 0) -> str:
        index = self.pos + ahead
        return self.text[index] if index < len(self.text) else ""

    def emit(self, kind: Kind, start: int, value: object = None) -> None:
        text = self.text[start : self.pos]
        self.tokens.append(Token(kind, text, start, self.pos, text if value is None else value))

    def run(self) -> list[Token]:
        text = self.text
        while self.pos < len(text):
            ch = text[self.pos]
            start = self.pos
            if ch.isspace():
                self.pos += 1
            elif ch == "/" and self.peek(1) == "/":
                newline = text.find("\n", self.pos)
                self.pos = len(text) if newline < 0 else newline + 1
            elif ch == "/" and self.peek(1) == "*":
                close = text.find("*/", self.pos + 2)
                if close < 0:
                    raise self.error("unclosed comment", start)
                self.pos = close + 2
            elif ch in "'\"":
                self.emit(Kind.STRING, start, self.quoted_string(ch))
            elif ch == "`":
                close = text.find("`", self.pos + 1)
                if close < 0:
                    raise self.error("unterminated raw string literal", start)
                self.pos = close + 1
                # Raw strings keep everything but normalise newlines, as expr does.
                raw = text[start + 1 : close].replace("\r\n", "\n").replace("\r", "\n")
                self.emit(Kind.STRING, start, raw)
            elif ("0" <= ch <= "9") or (ch == "." and "0" <= self.peek(1) <= "9"):
                self.number()
            elif ch == "#":
                self.pos += 1
                while self.pos < len(text) and _is_ident_part(text[self.pos]):
                    self.pos += 1
                self.emit(Kind.POINTER, start, text[start + 1 : self.pos])
            elif _is_ident_start(ch):
                while self.pos < len(text) and _is_ident_part(text[self.pos]):
                    self.pos += 1
                word = text[start : self.pos]
                self.emit(Kind.OPERATOR if word in WORD_OPERATORS else Kind.IDENT, start)
            elif ch in _BRACKETS:
                self.pos += 1
                self.emit(Kind.BRACKET, start)
            elif text.startswith(_TWO_CHAR_OPERATORS, self.pos):
                self.pos += 2
                self.emit(Kind.OPERATOR, start)
            elif ch in _ONE_CHAR_OPERATORS:
                self.pos += 1
                self.emit(Kind.OPERATOR, start)
            elif ch == "&":
                raise self.error('unexpected "&" (use "&&" or "and")', start)
            else:
                raise self.error(f"unexpected character {_show_char(ch)}", start)
        self.tokens.append(Token(Kind.EOF, "", len(text), len(text)))
        return self.tokens

    def quoted_string(self, quote: str) -> str:
        text = self.text
        start = self.pos
        self.pos += 1
        out: list[str] = []
        while True:
            if self.pos >= len(text):
                raise self.error("unterminated string literal", start)
            ch = text[self.pos]
            if ch == quote:
                self.pos += 1
                break
            if ch == "\r":
                # Like expr, a literal line break in the source is "\n" whatever the OS wrote;
                # an escaped "\r" (below) is kept as written.
                out.append("\n")
                self.pos += 2 if self.peek(1) == "\n" else 1
                continue
            if ch != "\\":
                out.append(ch)
                self.pos += 1
                continue
            escape_at = self.pos
            code = self.peek(1)
            if code == "":
                raise self.error("unterminated string literal", start)
            self.pos += 2
            if code in _SIMPLE_ESCAPES:
                out.append(_SIMPLE_ESCAPES[code])
            elif code in "xXuU":
                width = {"x": 2, "X": 2, "u": 4, "U": 8}[code]
                digits = text[self.pos : self.pos + width]
                if len(digits) != width or not set(digits) <= _HEX_DIGITS:
                    raise self.error(f"invalid escape sequence \\{code}", escape_at)
                point = int(digits, 16)
                if point > 0x10FFFF:
                    raise self.error(
                        f"escape \\{code}{digits} is not a valid code point", escape_at
                    )
                out.append(chr(point))
                self.pos += width
            elif code in "0123":
                digits = text[self.pos - 1 : self.pos + 2]
                if len(digits) != 3 or not all("0" <= d <= "7" for d in digits):
                    raise self.error("invalid octal escape sequence", escape_at)
                out.append(chr(int(digits, 8)))
                self.pos += 2
            else:
                shown = code if code.isprintable() else _show_char(code)
                raise self.error(f"unknown escape sequence \\{shown}", escape_at)
        return "".join(out)

    def number(self) -> None:
        text = self.text
        start = self.pos
        digits = "0123456789_"
        base = 10
        if text.startswith(("0x", "0X"), start):
            digits, base = "0123456789abcdefABCDEF_", 16
            self.pos += 2
        elif text.startswith(("0o", "0O"), start):
            digits, base = "01234567_", 8
            self.pos += 2
        elif text.startswith(("0b", "0B"), start):
            digits, base = "01_", 2
            self.pos += 2
        self.skip_run(digits)
        is_float = False
        if base == 10:
            # `1..3` is a range: the dot belongs to the `..` operator, not to the number.
            if self.peek() == "." and self.peek(1) != ".":
                is_float = True
                self.pos += 1
                self.skip_run(digits)
            # peek() is "" at the end, which is in no tuple below (it would be in a str).
            if self.peek() in ("e", "E"):
                is_float = True
                self.pos += 1
                if self.peek() in ("+", "-"):
                    self.pos += 1
                self.skip_run(digits)
        if self.pos < len(text) and _is_ident_part(text[self.pos]):
            end = self.pos + 1
            while end < len(text) and _is_ident_part(text[end]):
                end += 1
            raise self.error(f"bad number syntax {text[start:end]!r}", start)
        literal = text[start : self.pos]
        cleaned = literal.replace("_", "")
        value: int | float
        if is_float:
            try:
                value = float(cleaned)
            except ValueError:
                raise self.error(f"invalid float literal {literal!r}", start) from None
        else:
            body = cleaned if base == 10 else cleaned[2:]
            if not body:
                raise self.error(f"invalid integer literal {literal!r}", start)
            # More than 64 significant digits cannot fit in 64 bits in any base; refusing them
            # unconverted keeps a 5,000-digit literal from reaching int()'s own digit limit.
            significant = body.lstrip("0") or "0"
            value = int(significant, base) if len(significant) <= 64 else INT64_MAX + 1
            if value > INT64_MAX:
                shown = (
                    literal if len(literal) <= 40 else f"{literal[:20]}...({len(literal)} chars)"
                )
                raise self.error(f"integer literal {shown} is too large", start)
        self.emit(Kind.NUMBER, start, value)

    def skip_run(self, allowed: str) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in allowed:
            self.pos += 1


def _show_char(ch: str) -> str:
    if ch.isprintable() and ch not in "'\\":
        return f"'{ch}'"
    return f"U+{ord(ch):04X}"


def tokenize(text: str) -> list[Token]:
    """Split `text` into tokens, ending with an EOF token; raise `ExprSyntaxError` on bad input."""
    return _Lexer(text).run()
