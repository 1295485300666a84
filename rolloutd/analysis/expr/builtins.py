"""Built-in functions: expr-lang's that conditions use, plus Argo Rollouts' helpers.

Functions here receive already-evaluated arguments. The predicate functions (``all``, ``filter``,
``map``, ...) need their closure unevaluated, so they live in the evaluator; only their call
shapes are declared here, for the parser.

Argo Rollouts adds six helpers to expr's environment (``utils/evaluate/evaluate.go``). Two of them
are famous traps, reproduced on purpose so a template behaves exactly as it does under Argo:

* ``isNil(x)`` ignores ``x`` and tells whether ``result`` itself is nil;
* ``default(x, d)`` ignores ``x`` and returns ``d`` if ``result`` is nil, else ``result``.

`rolloutd.analysis.expr.expression` warns at compile time when either is called with a first
argument other than ``result``, since that is almost always a mistake.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from rolloutd.analysis.expr.errors import ExprEvalError
from rolloutd.analysis.expr.timefns import parse_go_date, parse_go_duration
from rolloutd.analysis.expr.values import (
    add,
    compare,
    describe,
    go_format,
    is_array,
    is_int,
    is_map,
    is_number,
    type_name,
    wrap_int,
)

__all__ = [
    "FUNCTIONS",
    "PREDICATE_FUNCTIONS",
    "Context",
    "Function",
    "fetch_or_nil",
    "parse_go_float",
    "parse_go_int",
    "sum_values",
]

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1


class Context(Protocol):
    """What a built-in may ask of the running evaluation."""

    @property
    def result(self) -> Any:
        """The environment's ``result`` (nil if absent), for ``isNil`` and ``default``."""

    def spend(self, amount: int) -> None:
        """Charge `amount` units against the evaluation's memory/step budget."""


Function = Callable[[Context, Sequence[Any]], Any]

# Call shapes of the predicate functions: ("expr" | "predicate", optional). Mirrors the table
# in expr-lang's parser, so `count(xs)` and `sum(xs)` may omit the predicate.
PREDICATE_FUNCTIONS: dict[str, tuple[tuple[str, bool], ...]] = {
    "all": (("expr", False), ("predicate", False)),
    "any": (("expr", False), ("predicate", False)),
    "none": (("expr", False), ("predicate", False)),
    "one": (("expr", False), ("predicate", False)),
    "filter": (("expr", False), ("predicate", False)),
    "map": (("expr", False), ("predicate", False)),
    "count": (("expr", False), ("predicate", True)),
    "sum": (("expr", False), ("predicate", True)),
    "find": (("expr", False), ("predicate", False)),
    "findIndex": (("expr", False), ("predicate", False)),
    "findLast": (("expr", False), ("predicate", False)),
    "findLastIndex": (("expr", False), ("predicate", False)),
    "reduce": (("expr", False), ("predicate", False), ("expr", True)),
}


# --- helpers ----------------------------------------------------------------------------------


def _want(name: str, expected: str, value: object) -> ExprEvalError:
    return ExprEvalError(
        f"{name}() expects {expected}, got {type_name(value)} {describe(value, 40)}"
    )


def _number(name: str, value: object) -> int | float:
    if not is_number(value):
        raise _want(name, "a number", value)
    return value  # type: ignore[return-value]


def _string(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise _want(name, "a string", value)
    return value


def _integer(name: str, value: object) -> int:
    if not is_int(value):
        raise _want(name, "an integer", value)
    return value  # type: ignore[return-value]


def _array(name: str, value: object) -> Sequence[Any]:
    if not is_array(value):
        raise _want(name, "an array", value)
    return value  # type: ignore[return-value]


def _go_quote(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


_GO_INT = re.compile(r"[+-]?[0-9]+")
_GO_FLOAT = re.compile(
    r"[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|(?i:inf|infinity|nan))"
)


def parse_go_int(text: str) -> int:
    """Go's ``strconv.ParseInt(text, 10, 64)``, with Go's error text (which Argo users see)."""
    if not _GO_INT.fullmatch(text):
        raise ExprEvalError(f"strconv.ParseInt: parsing {_go_quote(text)}: invalid syntax")
    # 19 digits hold every int64; a longer number is out of range without converting it (a
    # metric can return thousands of digits, past int()'s own limit).
    digits = text.lstrip("+-").lstrip("0") or "0"
    value = (
        (-1 if text.startswith("-") else 1) * int(digits) if len(digits) <= 19 else INT64_MAX + 1
    )
    if not INT64_MIN <= value <= INT64_MAX:
        raise ExprEvalError(f"strconv.ParseInt: parsing {_go_quote(text)}: value out of range")
    return value


def parse_go_float(text: str) -> float:
    """Go's ``strconv.ParseFloat(text, 64)``: strict (no spaces or underscores, unlike float())."""
    if not _GO_FLOAT.fullmatch(text):
        raise ExprEvalError(f"strconv.ParseFloat: parsing {_go_quote(text)}: invalid syntax")
    value = float(text)
    if math.isinf(value) and "n" not in text.lower():
        raise ExprEvalError(f"strconv.ParseFloat: parsing {_go_quote(text)}: value out of range")
    return value


def _float_to_int(name: str, value: float) -> int:
    if math.isnan(value) or math.isinf(value):
        raise ExprEvalError(f"{name}() cannot convert {describe(value)} to an integer")
    return wrap_int(int(value))


def fetch_or_nil(container: object, key: object) -> object:
    """``get(container, key)``: an element or entry, or nil for anything that is not there."""
    if is_map(container):
        assert isinstance(container, Mapping)
        try:
            return container.get(key)
        except TypeError:
            return None
    if is_array(container) or isinstance(container, str):
        assert isinstance(container, list | tuple | str)
        if is_int(key):
            index: int = key  # type: ignore[assignment]
        elif isinstance(key, float) and math.isfinite(key):
            index = int(key)
        else:
            return None
        if index < 0:
            index += len(container)
        return container[index] if 0 <= index < len(container) else None
    return None


def _flatten_numbers(name: str, args: Sequence[Any]) -> list[int | float]:
    """min/max/mean/median accept numbers, arrays of numbers, or a mix of both."""
    numbers: list[int | float] = []
    for arg in args:
        items = arg if is_array(arg) else [arg]
        for item in items:
            numbers.append(_number(name, item))
    return numbers


# --- the functions ----------------------------------------------------------------------------


def _len(_: Context, args: Sequence[Any]) -> int:
    (value,) = args
    if isinstance(value, str) or is_array(value) or is_map(value):
        return len(value)
    raise _want("len", "an array, a map or a string", value)


def _abs(_: Context, args: Sequence[Any]) -> int | float:
    value = _number("abs", args[0])
    return wrap_int(abs(value)) if isinstance(value, int) else abs(value)


def _rounding(name: str, operation: Callable[[float], float]) -> Function:
    # ceil/floor/round always answer a float, as expr's do (`ceil(1.5) == 2.0`).
    def function(_: Context, args: Sequence[Any]) -> float:
        value = _safe_float(_number(name, args[0]))
        return operation(value) if math.isfinite(value) else value

    return function


def _round_half_away(value: float) -> float:
    # Go's math.Round rounds half away from zero; Python's round() rounds half to even.
    whole = math.trunc(value)
    if abs(value - whole) >= 0.5:
        whole += int(math.copysign(1, value))
    return math.copysign(float(whole), value)


def _extreme(name: str, pick_greater: bool) -> Function:
    def function(_: Context, args: Sequence[Any]) -> int | float:
        numbers = _flatten_numbers(name, args)
        if not numbers:
            raise ExprEvalError(f"{name}() needs at least one number")
        best = numbers[0]
        for number in numbers[1:]:
            if compare(">" if pick_greater else "<", number, best):
                best = number
        return best

    return function


def _mean(_: Context, args: Sequence[Any]) -> float:
    numbers = _flatten_numbers("mean", args)
    if not numbers:
        return 0.0
    return math.fsum(float(n) for n in numbers) / len(numbers)


def _median(_: Context, args: Sequence[Any]) -> float:
    numbers = sorted(float(n) for n in _flatten_numbers("median", args))
    if not numbers:
        return 0.0
    middle = len(numbers) // 2
    if len(numbers) % 2:
        return numbers[middle]
    return (numbers[middle - 1] + numbers[middle]) / 2


def _first(_: Context, args: Sequence[Any]) -> object:
    return fetch_or_nil(args[0], 0)


def _last(_: Context, args: Sequence[Any]) -> object:
    return fetch_or_nil(args[0], -1)


def _take(_: Context, args: Sequence[Any]) -> list[Any]:
    items = _array("take", args[0])
    count = _integer("take", args[1])
    if count < 0:
        raise ExprEvalError(f"take() needs a count >= 0, got {count}")
    return list(items[:count])


def _get(_: Context, args: Sequence[Any]) -> object:
    return fetch_or_nil(args[0], args[1])


def _keys(_: Context, args: Sequence[Any]) -> list[Any]:
    if not is_map(args[0]):
        raise _want("keys", "a map", args[0])
    return list(args[0])


def _values(_: Context, args: Sequence[Any]) -> list[Any]:
    if not is_map(args[0]):
        raise _want("values", "a map", args[0])
    return list(args[0].values())


def _int(_: Context, args: Sequence[Any]) -> int:
    (value,) = args
    if is_int(value):
        return value  # type: ignore[no-any-return]
    if isinstance(value, float):
        return _float_to_int("int", value)
    if isinstance(value, str):
        return parse_go_int(value)
    raise _want("int", "a number or a numeric string", value)


def _float(_: Context, args: Sequence[Any]) -> float:
    (value,) = args
    if is_number(value):
        return _safe_float(value)
    if isinstance(value, str):
        return parse_go_float(value)
    raise _want("float", "a number or a numeric string", value)


def _safe_float(value: int | float) -> float:
    try:
        return float(value)
    except OverflowError:
        raise ExprEvalError(f"{describe(value)} is too large for a float") from None


def _string_of(context: Context, args: Sequence[Any]) -> str:
    return go_format(args[0], spend=context.spend)


def _type(_: Context, args: Sequence[Any]) -> str:
    name = type_name(args[0])
    known = {"nil", "bool", "int", "float", "string", "array", "map", "time", "duration"}
    return name if name in known else "unknown"


def _string_function(name: str, operation: Callable[[str], object]) -> Function:
    def function(_: Context, args: Sequence[Any]) -> object:
        return operation(_string(name, args[0]))

    return function


def _trim(_: Context, args: Sequence[Any]) -> str:
    text = _string("trim", args[0])
    if len(args) == 1:
        return text.strip()
    return text.strip(_string("trim", args[1]))


def _trim_prefix(_: Context, args: Sequence[Any]) -> str:
    return _string("trimPrefix", args[0]).removeprefix(_string("trimPrefix", args[1]))


def _trim_suffix(_: Context, args: Sequence[Any]) -> str:
    return _string("trimSuffix", args[0]).removesuffix(_string("trimSuffix", args[1]))


def _split(context: Context, args: Sequence[Any]) -> list[str]:
    text = _string("split", args[0])
    separator = _string("split", args[1])
    limit = _integer("split", args[2]) if len(args) == 3 else -1
    # Go's strings.SplitN: n == 0 gives nothing, n < 0 everything, n > 0 at most n parts.
    if limit == 0:
        return []
    if separator == "":
        parts = list(text)
        if 0 < limit < len(parts):
            parts = [*parts[: limit - 1], "".join(parts[limit - 1 :])]
    else:
        parts = text.split(separator, limit - 1) if limit > 0 else text.split(separator)
    context.spend(len(parts))
    return parts


def _join(_: Context, args: Sequence[Any]) -> str:
    items = _array("join", args[0])
    separator = _string("join", args[1]) if len(args) == 2 else ""
    return separator.join(_string("join", item) for item in items)


def _replace(context: Context, args: Sequence[Any]) -> str:
    text, old, new = (_string("replace", arg) for arg in args)
    context.spend(len(text) + len(new) * (len(text) + 1))
    return text.replace(old, new)


def _repeat(context: Context, args: Sequence[Any]) -> str:
    text = _string("repeat", args[0])
    count = _integer("repeat", args[1])
    if count < 0:
        raise ExprEvalError(f"repeat() needs a count >= 0, got {count}")
    context.spend(len(text) * count)
    return text * count


def _index_of(_: Context, args: Sequence[Any]) -> int:
    return _string("indexOf", args[0]).find(_string("indexOf", args[1]))


def _last_index_of(_: Context, args: Sequence[Any]) -> int:
    return _string("lastIndexOf", args[0]).rfind(_string("lastIndexOf", args[1]))


def _has_prefix(_: Context, args: Sequence[Any]) -> bool:
    return _string("hasPrefix", args[0]).startswith(_string("hasPrefix", args[1]))


def _has_suffix(_: Context, args: Sequence[Any]) -> bool:
    return _string("hasSuffix", args[0]).endswith(_string("hasSuffix", args[1]))


def _duration(_: Context, args: Sequence[Any]) -> object:
    return parse_go_duration(_string("duration", args[0]))


def _date(_: Context, args: Sequence[Any]) -> object:
    text, *rest = (_string("date", arg) for arg in args)
    return parse_go_date(text, *rest)


# --- Argo Rollouts' helpers -------------------------------------------------------------------


def _not_supported(name: str, value: object) -> ExprEvalError:
    return ExprEvalError(f"{name}() not supported on {type_name(value)} {describe(value, 40)}")


def _as_int(_: Context, args: Sequence[Any]) -> int:
    (value,) = args
    if is_int(value):
        return wrap_int(value)
    if isinstance(value, float):
        return _float_to_int("asInt", value)
    if isinstance(value, str):
        return parse_go_int(value)
    raise _not_supported("asInt", value)


def _as_float(_: Context, args: Sequence[Any]) -> float:
    (value,) = args
    if is_number(value):
        return _safe_float(value)
    if isinstance(value, str):
        return parse_go_float(value)
    raise _not_supported("asFloat", value)


def _is_nan(_: Context, args: Sequence[Any]) -> bool:
    value = _number("isNaN", args[0])
    return isinstance(value, float) and math.isnan(value)


def _is_inf(_: Context, args: Sequence[Any]) -> bool:
    value = _number("isInf", args[0])
    return isinstance(value, float) and math.isinf(value)


def _is_nil(context: Context, _args: Sequence[Any]) -> bool:
    # Argo's isNil ignores its argument and looks at `result` (see the module docstring).
    return context.result is None


def _default(context: Context, args: Sequence[Any]) -> object:
    # Argo's default ignores its first argument and looks at `result` (see the module docstring).
    result = context.result
    return args[1] if result is None else result


def sum_values(values: Sequence[Any]) -> object:
    """``sum(xs)``: expr adds from the integer 0, so ints stay ints and strings are refused."""
    total: object = 0
    for value in values:
        total = add(total, value)
    return total


FUNCTIONS: dict[str, tuple[Function, int, int | None]] = {
    # name: (implementation, minimum arguments, maximum arguments or None for "any")
    "len": (_len, 1, 1),
    "abs": (_abs, 1, 1),
    "ceil": (_rounding("ceil", lambda x: float(math.ceil(x))), 1, 1),
    "floor": (_rounding("floor", lambda x: float(math.floor(x))), 1, 1),
    "round": (_rounding("round", _round_half_away), 1, 1),
    "min": (_extreme("min", pick_greater=False), 1, None),
    "max": (_extreme("max", pick_greater=True), 1, None),
    "mean": (_mean, 1, None),
    "median": (_median, 1, None),
    "first": (_first, 1, 1),
    "last": (_last, 1, 1),
    "take": (_take, 2, 2),
    "get": (_get, 2, 2),
    "keys": (_keys, 1, 1),
    "values": (_values, 1, 1),
    "int": (_int, 1, 1),
    "float": (_float, 1, 1),
    "string": (_string_of, 1, 1),
    "type": (_type, 1, 1),
    "upper": (_string_function("upper", str.upper), 1, 1),
    "lower": (_string_function("lower", str.lower), 1, 1),
    "trim": (_trim, 1, 2),
    "trimPrefix": (_trim_prefix, 2, 2),
    "trimSuffix": (_trim_suffix, 2, 2),
    "split": (_split, 2, 3),
    "join": (_join, 1, 2),
    "replace": (_replace, 3, 3),
    "repeat": (_repeat, 2, 2),
    "indexOf": (_index_of, 2, 2),
    "lastIndexOf": (_last_index_of, 2, 2),
    "hasPrefix": (_has_prefix, 2, 2),
    "hasSuffix": (_has_suffix, 2, 2),
    "duration": (_duration, 1, 1),
    "date": (_date, 1, 3),
    "asInt": (_as_int, 1, 1),
    "asFloat": (_as_float, 1, 1),
    "isNaN": (_is_nan, 1, 1),
    "isInf": (_is_inf, 1, 1),
    "isNil": (_is_nil, 1, 1),
    "default": (_default, 2, 2),
}
