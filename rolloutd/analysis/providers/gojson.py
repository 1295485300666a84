"""How Go prints the numbers and JSON that end up in a measurement's `value`.

Argo formats floats with ``strconv.FormatFloat(f, 'f', -1, 64)`` (shortest round-trip digits,
never an exponent: ``10``, ``0.95``, ``1000000000000000000000``, ``NaN``, ``+Inf``) and JSON with
``encoding/json`` (compact, object keys sorted, numbers as float64 printed the shortest way).
Python's `repr` and `json.dumps` differ (``10.0``, ``1e+21``, ``Infinity``), so users' tools
that parse `value` would see other text; these helpers print it the Go way.
"""

from __future__ import annotations

import json
import math
from decimal import Decimal
from typing import Any


def format_float(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    text = format(Decimal(repr(float(value))), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def compact_json(value: Any) -> str:
    """`encoding/json` of a decoded JSON value: compact, sorted keys, Go's numbers."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return format_float(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, dict):
        items = (
            f"{json.dumps(str(k), ensure_ascii=False)}:{compact_json(v)}"
            for k, v in sorted(value.items())
        )
        return "{" + ",".join(items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(compact_json(v) for v in value) + "]"
    return json.dumps(str(value))
