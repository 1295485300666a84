"""The two ways an analysis condition can go wrong, and how they are shown to a person.

A condition is written by hand in an AnalysisTemplate and read back by a human when a
measurement ends in `Error`, so every error carries enough to point at the mistake:

* `ExprSyntaxError` is raised while compiling. It knows the 1-based line and column and renders
  the offending line with a caret under it.
* `ExprEvalError` is raised while evaluating against one measurement's `result`. It names the
  source fragment that failed (for example ``result[0]``) when there is one.

Both derive from `ExprError`, so a caller that only wants "did the condition work" catches one
class.
"""

from __future__ import annotations

__all__ = ["ExprError", "ExprEvalError", "ExprSyntaxError", "line_and_column"]


def line_and_column(text: str, offset: int) -> tuple[int, int]:
    """Translate a 0-based character offset into a 1-based (line, column) pair."""
    offset = max(0, min(offset, len(text)))
    line = text.count("\n", 0, offset) + 1
    line_start = text.rfind("\n", 0, offset) + 1
    return line, offset - line_start + 1


class ExprError(Exception):
    """Base class of every error raised by the expression language."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ExprSyntaxError(ExprError):
    """The text is not a well-formed expression.

    `str()` gives a single line such as ``unexpected token ")" at column 14``; `render()` adds
    the source line and a caret, which is what a CLI or an event message should show.
    """

    def __init__(self, message: str, *, text: str, offset: int) -> None:
        self.text = text
        self.offset = max(0, min(offset, len(text)))
        self.line, self.column = line_and_column(text, self.offset)
        self.reason = message
        where = (
            f"at column {self.column}"
            if "\n" not in text
            else f"at line {self.line}, column {self.column}"
        )
        super().__init__(f"{message} {where}")

    def render(self, width: int = 100) -> str:
        """The message, the offending source line, and a caret under the column.

        A line longer than `width` is cut to a window around the column, marked with "...".
        """
        lines = self.text.splitlines()
        source_line = lines[self.line - 1] if self.line <= len(lines) else ""
        column = self.column
        if len(source_line) > width:
            begin = max(0, min(column - 1 - width // 2, len(source_line) - width))
            shown = source_line[begin : begin + width]
            prefix = "..." if begin > 0 else ""
            suffix = "..." if begin + width < len(source_line) else ""
            source_line = prefix + shown + suffix
            column = column - begin + len(prefix)
        # Tabs are kept as tabs in the caret line so the caret stays aligned in a terminal.
        pad = "".join("\t" if ch == "\t" else " " for ch in source_line[: column - 1])
        return f"{self.message}\n  {source_line}\n  {pad}^"


class ExprEvalError(ExprError):
    """Evaluation failed: a type mismatch, an index out of range, an unknown name, ...

    `fragment` is the source text of the sub-expression that failed and `column` its 1-based
    column in the original text, when known.
    """

    def __init__(self, message: str, *, fragment: str = "", column: int = 0) -> None:
        super().__init__(message)
        self.fragment = fragment
        self.column = column
