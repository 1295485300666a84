"""Regular expressions for ``matches`` (and metric-name rules): RE2, as Go's regexp is.

Argo evaluates ``matches`` with Go's `regexp`, whose engine is RE2: it runs in time linear in
the input and refuses what cannot be matched that way (backreferences, lookaround). Python's
`re` backtracks, so a pattern such as ``^(a+)+$`` against ``"a" * 29 + "b"`` ran for half a
minute on the daemon's event loop. The `google-re2` binding gives the same engine and
semantics: ``\\d``, ``\\w``, ``\\s`` and ``\\b`` are ASCII-only, ``(?i)`` and friends work, and
a pattern RE2 rejects is a `RegexError` whose message is RE2's.

RE2 bounds its own memory per compiled program (`MAX_PROGRAM_BYTES`); a pattern whose program
would be larger (``(((a{100}){100}){100})``) is refused at compile time rather than built.
"""

from __future__ import annotations

import functools
from typing import Protocol, cast

import re2

__all__ = [
    "MAX_PATTERN_LENGTH",
    "MAX_PROGRAM_BYTES",
    "CompiledRegex",
    "RegexError",
    "compile_regex",
]

MAX_PATTERN_LENGTH = 4096
"""Longer patterns are refused: nobody writes a condition's regex that long by hand."""
MAX_PROGRAM_BYTES = 8 << 20
"""RE2's memory budget per compiled pattern (its own default; stated so it is deliberate)."""


class RegexError(ValueError):
    """The pattern is not a valid RE2 (Go regexp) pattern; the message says why."""


class CompiledRegex(Protocol):
    """The part of a compiled `re2` pattern rolloutd uses."""

    def search(self, text: str) -> object | None: ...


def _options() -> re2.Options:
    options = re2.Options()
    # RE2 logs every bad pattern to stderr itself; the caller reports it properly instead.
    options.log_errors = False
    options.max_mem = MAX_PROGRAM_BYTES
    return options


@functools.lru_cache(maxsize=256)
def compile_regex(pattern: str) -> CompiledRegex:
    """The compiled pattern; raises `RegexError` for one RE2 refuses (or one too long)."""
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise RegexError(f"pattern is longer than {MAX_PATTERN_LENGTH} characters")
    try:
        return cast(CompiledRegex, re2.compile(pattern, _options()))
    except re2.error as exc:
        detail = exc.args[0] if exc.args else exc
        if isinstance(detail, bytes):
            detail = detail.decode("utf-8", errors="replace")
        raise RegexError(str(detail)) from None
    except (TypeError, ValueError) as exc:  # e.g. a NUL the binding will not encode
        raise RegexError(str(exc)) from None
