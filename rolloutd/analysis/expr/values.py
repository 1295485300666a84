"""The runtime value model: what a Python value means to the expression language.

A metric provider hands us plain Python data decoded from JSON (or built by the provider):

=========================  ===========================================
Python                     expr type
=========================  ===========================================
``None``                   ``nil``
``bool``                   ``bool`` (never a number, although Python says otherwise)
``int``                    ``int`` (64-bit: arithmetic wraps as in Go)
``float``                  ``float`` (IEEE double, like Go's float64)
``str``                    ``string``
``list`` / ``tuple``       ``array``
any ``Mapping``            ``map``
``datetime.datetime``      ``time`` (naive means UTC)
``datetime.timedelta``     ``duration``
=========================  ===========================================

Anything else is an opaque value: it can be passed around and compared for identity, but every
operator on it is an `ExprEvalError`. Values are never inspected with ``getattr``; only mappings
are looked into, which keeps host objects out of reach of a condition.

Arithmetic and comparison follow expr-lang's runtime (``vm/runtime``): ``/`` always yields a
float, ``%`` is integer-only with Go's truncated remainder, ``**``/``^`` are float powers with
Go's special cases (no Python exceptions), and int/float mix freely.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
from collections.abc import Callable, Mapping
from typing import Any

from rolloutd.analysis.expr.errors import ExprEvalError
from rolloutd.analysis.expr.timefns import aware, format_go_duration, format_go_time

__all__ = [
    "MAX_VALUE_DEPTH",
    "add",
    "category",
    "compare",
    "describe",
    "divide",
    "equal",
    "format_float",
    "go_format",
    "is_array",
    "is_int",
    "is_map",
    "is_number",
    "modulo",
    "multiply",
    "power",
    "subtract",
    "type_name",
    "wrap_int",
]

# How deep equality and formatting may descend into a value before giving up. JSON results are
# shallow; the limit only exists so a self-referential list cannot exhaust the Python stack.
MAX_VALUE_DEPTH = 64

Spend = Callable[[int], None]
"""Charges work against an evaluation's budget; raises `ExprEvalError` when it runs out."""

_INT64_SPAN = 2**64
_INT64_MIN = -(2**63)


def wrap_int(value: int) -> int:
    """Reduce an integer to int64 the way Go's arithmetic overflows (two's complement)."""
    return (value - _INT64_MIN) % _INT64_SPAN + _INT64_MIN


def is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def is_array(value: object) -> bool:
    return isinstance(value, list | tuple)


def is_map(value: object) -> bool:
    return isinstance(value, Mapping)


def type_name(value: object) -> str:
    """The expr-level name of a value's type, used in every error message."""
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if is_array(value):
        return "array"
    if is_map(value):
        return "map"
    if isinstance(value, dt.datetime):
        return "time"
    if isinstance(value, dt.timedelta):
        return "duration"
    return type(value).__name__


def category(value: object) -> str:
    """Like `type_name`, but ints and floats are both "number" (they compare with each other)."""
    return "number" if is_number(value) else type_name(value)


# --- formatting -------------------------------------------------------------------------------


def format_float(value: float) -> str:
    """Format a float as Go's ``fmt`` does for ``%v``.

    That is ``strconv.FormatFloat(value, 'g', -1, 64)``: the shortest digits that round-trip,
    in exponent form when the decimal exponent is below -4 or at least 6 (Go fixes the
    threshold at 6 for the shortest precision), so 123456.0 is "123456" but 1e6 is "1e+06".
    """
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    # repr() gives the shortest digits that round-trip; Decimal lays them out without loss.
    exact = decimal.Decimal(repr(value)).normalize()
    sign, digits, exponent = exact.as_tuple()
    assert isinstance(exponent, int)
    scientific = len(digits) - 1 + exponent
    prefix = "-" if sign else ""
    if scientific < -4 or scientific >= 6:
        mantissa = str(digits[0])
        if len(digits) > 1:
            mantissa += "." + "".join(map(str, digits[1:]))
        return f"{prefix}{mantissa}e{'-' if scientific < 0 else '+'}{abs(scientific):02d}"
    return format(exact, "f")


def _quote(text: str, limit: int) -> str:
    if len(text) > limit:
        text = text[:limit] + "..."
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def describe(value: object, limit: int = 60) -> str:
    """A short, expr-flavoured rendering of a value for error messages; never huge."""
    out = _describe(value, limit, 0)
    return out if len(out) <= limit + 10 else out[:limit] + "..."


def _describe(value: object, limit: int, depth: int) -> str:
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        # str() of a huge int is slow and may even be refused (sys.int_max_str_digits).
        return str(value) if value.bit_length() <= 100 else f"<int of {value.bit_length()} bits>"
    if isinstance(value, float):
        return format_float(value)
    if isinstance(value, str):
        return _quote(value, limit)
    if isinstance(value, dt.datetime):
        return format_go_time(value)
    if isinstance(value, dt.timedelta):
        return format_go_duration(value)
    if depth >= 3:
        return "[...]" if is_array(value) else "{...}" if is_map(value) else type_name(value)
    if is_array(value):
        assert isinstance(value, list | tuple)
        parts: list[str] = []
        for item in value[:8]:
            parts.append(_describe(item, limit // 2, depth + 1))
        if len(value) > 8:
            parts.append("...")
        return "[" + ", ".join(parts) + "]"
    if is_map(value):
        assert isinstance(value, Mapping)
        parts = []
        for count, key in enumerate(value):
            if count == 8:
                parts.append("...")
                break
            parts.append(
                f"{_describe(key, limit // 2, depth + 1)}: "
                f"{_describe(value[key], limit // 2, depth + 1)}"
            )
        return "{" + ", ".join(parts) + "}"
    return f"<{type(value).__name__}>"


def _free(_: int) -> None:
    """The default budget: no limit (callers outside an evaluation)."""


def go_format(value: object, depth: int = 0, spend: Spend = _free) -> str:
    """Format like Go's ``fmt.Sprint`` (``%v``), which is what expr's ``string()`` returns.

    `spend` is charged for every element visited, so a value that shares sub-structures
    (``reduce(1..40, [#acc, #acc], 0)`` has 2**40 leaves but 40 lists) cannot run away.
    """
    if depth > MAX_VALUE_DEPTH:
        raise ExprEvalError("value is nested too deeply to format")
    spend(1)
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        if value.bit_length() > 64:
            raise ExprEvalError(f"integer {describe(value)} does not fit in 64 bits")
        return str(value)
    if isinstance(value, float):
        return format_float(value)
    if isinstance(value, str):
        return value
    if isinstance(value, dt.datetime):
        return format_go_time(value)
    if isinstance(value, dt.timedelta):
        return format_go_duration(value)
    if is_array(value):
        assert isinstance(value, list | tuple)
        return "[" + " ".join(go_format(item, depth + 1, spend) for item in value) + "]"
    if is_map(value):
        assert isinstance(value, Mapping)
        # Go's fmt prints map keys sorted; sort by their rendering to stay total and safe.
        rendered = sorted(
            (go_format(k, depth + 1, spend), go_format(v, depth + 1, spend))
            for k, v in value.items()
        )
        return "map[" + " ".join(f"{k}:{v}" for k, v in rendered) + "]"
    raise ExprEvalError(f"cannot format a value of type {type_name(value)}")


# --- equality and ordering --------------------------------------------------------------------


def equal(left: object, right: object, depth: int = 0, spend: Spend = _free) -> bool:
    """``==`` as expr evaluates it at run time: numbers by value, containers deeply, else False.

    Mismatched types are simply unequal (``1 == "1"`` is false), which is expr's behaviour for
    untyped values such as `result`. `spend` is charged per element, as in `go_format`.
    """
    if depth > MAX_VALUE_DEPTH:
        raise ExprEvalError("value is nested too deeply to compare")
    spend(1)
    if left is None or right is None:
        return left is None and right is None
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left == right
    if is_number(left) or is_number(right):
        # Python compares int with float exactly and NaN unequal to everything, as Go does.
        return is_number(left) and is_number(right) and left == right
    if isinstance(left, str) or isinstance(right, str):
        return isinstance(left, str) and isinstance(right, str) and left == right
    if isinstance(left, dt.datetime) and isinstance(right, dt.datetime):
        return aware(left) == aware(right)
    if isinstance(left, dt.timedelta) and isinstance(right, dt.timedelta):
        return left == right
    if is_array(left) and is_array(right):
        assert isinstance(left, list | tuple) and isinstance(right, list | tuple)
        return len(left) == len(right) and all(
            equal(a, b, depth + 1, spend) for a, b in zip(left, right, strict=True)
        )
    if is_map(left) and is_map(right):
        assert isinstance(left, Mapping) and isinstance(right, Mapping)
        if len(left) != len(right):
            return False
        for key, value in left.items():
            try:
                if key not in right:
                    return False
            except TypeError:
                return False
            if not equal(value, right[key], depth + 1, spend):
                return False
        return True
    # Opaque host values: only the very same object is equal to itself.
    return left is right


def compare(op: str, left: object, right: object) -> bool:
    """``<``, ``<=``, ``>``, ``>=`` on two numbers or two strings; anything else is an error."""
    if is_number(left) and is_number(right):
        a: Any = left
        b: Any = right
    elif isinstance(left, str) and isinstance(right, str):
        a, b = left, right
    elif isinstance(left, dt.datetime) and isinstance(right, dt.datetime):
        a, b = aware(left), aware(right)
    elif isinstance(left, dt.timedelta) and isinstance(right, dt.timedelta):
        a, b = left, right
    else:
        raise ExprEvalError(
            f"cannot compare {category(left)} with {category(right)} "
            f"({describe(left, 30)} {op} {describe(right, 30)})"
        )
    # NaN makes every ordering false, which Python's float comparisons already do.
    if op == "<":
        return bool(a < b)
    if op == "<=":
        return bool(a <= b)
    if op == ">":
        return bool(a > b)
    return bool(a >= b)


# --- arithmetic -------------------------------------------------------------------------------


def _mismatch(op: str, left: object, right: object) -> ExprEvalError:
    return ExprEvalError(
        f"invalid operation: {type_name(left)} {op} {type_name(right)} "
        f"({describe(left, 30)} {op} {describe(right, 30)})"
    )


def _as_float(value: int | float) -> float:
    try:
        return float(value)
    except OverflowError:
        # Only a host-supplied int beyond float range gets here; Go has no such ints.
        return math.inf if value > 0 else -math.inf


def _time_arithmetic(op: str, left: object, right: object) -> object:
    """time ± duration, time - time, duration ± duration; NotImplemented for anything else."""
    try:
        if isinstance(left, dt.datetime) and isinstance(right, dt.timedelta):
            return aware(left) + right if op == "+" else aware(left) - right
        if op == "+" and isinstance(left, dt.timedelta) and isinstance(right, dt.datetime):
            return aware(right) + left
        if op == "-" and isinstance(left, dt.datetime) and isinstance(right, dt.datetime):
            return aware(left) - aware(right)
        if isinstance(left, dt.timedelta) and isinstance(right, dt.timedelta):
            return left + right if op == "+" else left - right
    except OverflowError:
        raise ExprEvalError(
            f"time out of range: {describe(left, 40)} {op} {describe(right, 40)}"
        ) from None
    return NotImplemented


def add(left: object, right: object) -> object:
    if is_int(left) and is_int(right):
        return wrap_int(left + right)  # type: ignore[operator]
    if is_number(left) and is_number(right):
        return _as_float(left) + _as_float(right)  # type: ignore[arg-type]
    if isinstance(left, str) and isinstance(right, str):
        return left + right
    timed = _time_arithmetic("+", left, right)
    if timed is not NotImplemented:
        return timed
    raise _mismatch("+", left, right)


def subtract(left: object, right: object) -> object:
    if is_int(left) and is_int(right):
        return wrap_int(left - right)  # type: ignore[operator]
    if is_number(left) and is_number(right):
        return _as_float(left) - _as_float(right)  # type: ignore[arg-type]
    timed = _time_arithmetic("-", left, right)
    if timed is not NotImplemented:
        return timed
    raise _mismatch("-", left, right)


def multiply(left: object, right: object) -> object:
    if is_int(left) and is_int(right):
        return wrap_int(left * right)  # type: ignore[operator]
    if is_number(left) and is_number(right):
        a, b = _as_float(left), _as_float(right)  # type: ignore[arg-type]
        # inf * 0 is NaN in both Go and Python; nothing else can raise here.
        return a * b
    raise _mismatch("*", left, right)


def divide(left: object, right: object) -> float:
    """``/``: always a float, and division by zero gives ±Inf or NaN as in Go, never an error."""
    if not (is_number(left) and is_number(right)):
        raise _mismatch("/", left, right)
    a, b = _as_float(left), _as_float(right)  # type: ignore[arg-type]
    if b == 0:
        if a == 0 or math.isnan(a):
            return math.nan
        return math.copysign(math.inf, a) * math.copysign(1.0, b)
    return a / b


def modulo(left: object, right: object) -> int:
    """``%`` on integers only, with Go's sign rule (the result has the sign of the dividend)."""
    if not (is_int(left) and is_int(right)):
        raise _mismatch("%", left, right)
    a: int = left  # type: ignore[assignment]
    b: int = right  # type: ignore[assignment]
    if b == 0:
        raise ExprEvalError("integer divide by zero")
    remainder = abs(a) % abs(b)
    return wrap_int(-remainder if a < 0 else remainder)


def power(left: object, right: object) -> float:
    """``**`` and ``^``: Go's ``math.Pow`` on float64, including its answers for edge cases."""
    if not (is_number(left) and is_number(right)):
        raise _mismatch("**", left, right)
    x, y = _as_float(left), _as_float(right)  # type: ignore[arg-type]
    try:
        return math.pow(x, y)
    except OverflowError:
        odd_integer = y.is_integer() and abs(y) < 2**53 and int(y) % 2 == 1
        return -math.inf if x < 0 and odd_integer else math.inf
    except ValueError:
        # math.pow refuses (±0)**negative and negative**fraction; Go answers ±Inf and NaN.
        if x == 0 and y < 0:
            odd_integer = y.is_integer() and abs(y) < 2**53 and int(y) % 2 == 1
            return math.copysign(math.inf, x) if odd_integer else math.inf
        return math.nan
