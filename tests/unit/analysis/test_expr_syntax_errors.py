"""Malformed conditions: each must raise `ExprSyntaxError` pointing at a sensible column.

Columns are 1-based. Where the problem is an unclosed bracket, the column points at the bracket
that was opened, because that is what the author has to find; everywhere else it points at the
first token or character that cannot be right.
"""

from __future__ import annotations

import pytest

from rolloutd.analysis import ExprError, ExprSyntaxError, compile_expression

# (text, line, column, a fragment of the message)
MALFORMED: list[tuple[str, int, int, str]] = [
    ("", 1, 1, "unexpected end of expression"),
    ("   ", 1, 4, "unexpected end of expression"),
    ("result[0] >=", 1, 13, "unexpected end of expression"),
    ("result[0] >= 0.95 )", 1, 19, 'unexpected token ")"'),
    ("(result[0] >= 0.95", 1, 1, 'missing ")" to close "("'),
    ("result[0", 1, 7, 'missing "]" to close "["'),
    ("result[0]]", 1, 10, 'unexpected token "]"'),
    ("len(result", 1, 4, 'missing ")" to close "("'),
    ("len(result,", 1, 12, "unexpected end of expression"),
    ("len(result 1)", 1, 12, 'expected "," but found "1"'),
    ("result[0] > 0.5 &", 1, 17, 'unexpected "&" (use "&&" or "and")'),
    ("result[0] > 0.5 |", 1, 18, 'expected a function name after "|" but'),
    ("a = 1", 1, 3, 'unexpected "=" (use "==" to compare)'),
    ("result.", 1, 8, 'expected a field name after "."'),
    ("result.[0]", 1, 8, 'expected a field name after "."'),
    ("result.1", 1, 7, 'unexpected token ".1"'),
    ("1 +* 2", 1, 4, 'unexpected token "*"'),
    ("* 2", 1, 1, 'unexpected token "*"'),
    ("1 2", 1, 3, 'unexpected token "2"'),
    ("result result", 1, 8, 'unexpected token "result"'),
    ("'unterminated", 1, 1, "unterminated string literal"),
    ('"unterminated', 1, 1, "unterminated string literal"),
    ("`raw", 1, 1, "unterminated raw string literal"),
    ("'bad escape \\q'", 1, 13, "unknown escape sequence \\q"),
    ("'bad hex \\xZZ'", 1, 10, "invalid escape sequence \\x"),
    ("'bad unicode \\u12'", 1, 14, "invalid escape sequence \\u"),
    ("'bad octal \\19'", 1, 12, "invalid octal escape sequence"),
    ("3abc", 1, 1, "bad number syntax '3abc'"),
    ("0x", 1, 1, "invalid integer literal '0x'"),
    ("0b102", 1, 1, "bad number syntax '0b102'"),
    ("1e", 1, 1, "invalid float literal '1e'"),
    ("1e+", 1, 1, "invalid float literal '1e+'"),
    ("99999999999999999999", 1, 1, "integer literal 99999999999999999999 i"),
    ("1 @ 2", 1, 3, "unexpected character '@'"),
    ("result ~ 1", 1, 8, "unexpected character '~'"),
    ("#", 1, 1, '"#" can only be used inside a predicat'),
    ("# > 0", 1, 1, '"#" can only be used inside a predicat'),
    (".field", 1, 1, '"." can only be used inside a predicat'),
    ("#foo", 1, 1, '"#foo" can only be used inside a predi'),
    ("all(result, #foo > 1)", 1, 13, 'unknown pointer "#foo" (expected #, #i'),
    ("all(result, {# > 0)", 1, 19, 'expected "}" but found ")"'),
    ("all(result)", 1, 11, "all() expects at least 2 arguments"),
    ("true ? 1", 1, 9, 'expected ":" but found end of expressi'),
    ("true ? 1 :", 1, 11, "unexpected end of expression"),
    ("? 1 : 2", 1, 1, 'unexpected token "?"'),
    ("a not b", 1, 7, "expected in, matches, contains, starts"),
    ("a not", 1, 6, "expected in, matches, contains, starts"),
    ("not", 1, 4, "unexpected end of expression"),
    ("!", 1, 2, "unexpected end of expression"),
    ("[1, 2", 1, 1, 'missing "]" to close "["'),
    ("[1 2]", 1, 4, 'expected "," but found "2"'),
    ("[,]", 1, 2, 'unexpected token ","'),
    ("{a 1}", 1, 4, 'expected ":" but found "1"'),
    ("{a: 1", 1, 1, 'missing "}" to close "{"'),
    ("{[1]: 2}", 1, 2, "a map key must be a quoted string, a n"),
    ("{a: 1,, b: 2}", 1, 7, "a map key must be a quoted string, a n"),
    ("result ?? 1 + 1", 1, 13, 'operator "+" and "??" cannot be mixed;'),
    ("result ?? 1 > 0", 1, 13, 'operator ">" and "??" cannot be mixed;'),
    ("/* unclosed", 1, 1, "unclosed comment"),
    ("result | 1", 1, 10, 'expected a function name after "|" but'),
    ("result | len", 1, 13, 'expected "(" but found end of expressi'),
    ("let x = 1; x", 1, 1, '"let" is not supported in analysis con'),
    ("if true { 1 } else { 2 }", 1, 1, '"if" is not supported in analysis cond'),
    ("result.Name() == 'hi'", 1, 8, 'method calls such as ".Name()" are not'),
    ("len(1, 2)", 1, 1, "len() takes 1 argument, got 2"),
    ("default(result)", 1, 1, "default() takes 2 arguments, got 1"),
    ("'x' matches '('", 1, 13, "invalid regular expression '(': missin"),
    ("1 == 'a'", 1, 3, "invalid operation: == (mismatched type"),
    ("len(result) == '0'", 1, 13, "invalid operation: == (mismatched type"),
    ("result[0] >= 0.95 &&\n  result[1] <", 2, 14, "unexpected end of expression"),
    ("result[]", 1, 8, "expected an index or a slice inside []"),
    ("nil.x", 1, 4, 'unexpected token "."'),
    ("1..", 1, 4, "unexpected end of expression"),
    ("result[0] €", 1, 11, "unexpected character '€'"),
]


@pytest.mark.parametrize(("text", "line", "column", "message"), MALFORMED)
def test_malformed_expression(text: str, line: int, column: int, message: str) -> None:
    with pytest.raises(ExprSyntaxError) as caught:
        compile_expression(text)
    error = caught.value
    assert (error.line, error.column) == (line, column)
    assert message in error.reason
    assert str(error).startswith(error.reason)
    assert str(error).endswith(
        f"at column {column}" if "\n" not in text else f"at line {line}, column {column}"
    )


@pytest.mark.parametrize(("text", "line", "column", "message"), MALFORMED)
def test_rendered_caret_sits_under_the_column(
    text: str, line: int, column: int, message: str
) -> None:
    with pytest.raises(ExprSyntaxError) as caught:
        compile_expression(text)
    _, source, caret = caught.value.render().split("\n")
    assert caret.strip() == "^"
    # Both lines carry the same two-space indent, so the caret's index is the column's.
    assert caret.index("^") - 2 == column - 1
    assert source[2:] == (text.splitlines() or [""])[line - 1][:100]


def test_the_corpus_is_large_enough() -> None:
    assert len(MALFORMED) >= 40


def test_syntax_errors_are_expr_errors() -> None:
    with pytest.raises(ExprError):
        compile_expression("1 +")
