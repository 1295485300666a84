"""Argo Rollouts' pod-template hash, bit for bit, and the hash of a steps list.

Argo (`utils/hash/hash.go`) decodes `spec.template` into the typed `corev1.PodTemplateSpec`,
encodes it again with Go's `encoding/json`, hashes those bytes with FNV-1a 32 (then the
collision count, if set, as 8 bytes little-endian), and writes the decimal number through
Kubernetes' `SafeEncodeString`. To give ReplicaSets the names Argo gives them we redo that
decode/encode from a dict: the field order, JSON names and omitempty/omitzero flags come from
`gofields.py`, generated from the Go types by `tools/gotypes`; unknown fields are dropped, a
JSON null is the Go zero value, maps are written with sorted keys, `resource.Quantity` in
its canonical form, `IntOrString` and `metav1.Time` as their MarshalJSON writes them, and
strings with Go's HTML escaping. `tests/parity` checks all of it against Argo's own function.

`status.currentStepHash` is Argo's `ComputeStepHash` (`utils/conditions`): FNV-1a 32 of
`json.Marshal` of the Rollout's `[]CanaryStep`, SafeEncoded, with the same encoder compiled
from `gostepfields.py` (Argo's v1alpha1 types). rolloutd once wrote a BLAKE2b hash there;
`step_hash_matches` still accepts it, so that status is not read as "steps changed".

The encoders are compiled once from the table into closures, and hashes are cached by the
template's canonical JSON, so a reconcile that asks twice pays the Go-order encoding and the
FNV-1a (in C, fnv-hash-fast) once.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from fractions import Fraction
from functools import lru_cache
from json.encoder import encode_basestring
from typing import Any

from fnv_hash_fast import fnv1a_32

from rolloutd.model.constants import POD_HASH_LABEL
from rolloutd.plan.gofields import ROOT, STRUCTS
from rolloutd.plan.gostepfields import ROOT as STEPS_ROOT
from rolloutd.plan.gostepfields import STRUCTS as STEP_STRUCTS

_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_HASH_LABEL = POD_HASH_LABEL


class TemplateEncodingError(ValueError):
    """A pod template that Go would refuse to decode into corev1.PodTemplateSpec."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


def fnv1a32(data: bytes) -> int:
    """FNV-1a 32 of `data`, as Go's hash/fnv New32a (in C: a pure-Python loop costs ~0.1 µs
    a byte, more than the whole encoding)."""
    return fnv1a_32(data)


def safe_encode(text: str) -> str:
    return "".join(_ALPHABET[ord(ch) % len(_ALPHABET)] for ch in text)


# --- Go's encoding/json, the parts a PodTemplateSpec needs -----------------------------------

# Go escapes these even inside strings (HTMLEscape); none of them can occur outside a string
# in JSON, so one pass over the whole document is exact.
_HTML_ESCAPES = (
    ("<", "\\u003c"),
    (">", "\\u003e"),
    ("&", "\\u0026"),
    ("\u2028", "\\u2028"),
    ("\u2029", "\\u2029"),
)
_SURROGATES = re.compile("[\ud800-\udfff]")
_dumps_str: Callable[[str], str] = encode_basestring  # C; escapes as Go does, but for HTML

Encoder = Callable[[Any], str]


def _enc_string(v: Any) -> str:
    if v is None:
        return '""'
    if type(v) is not str:
        raise TemplateEncodingError("", f"expected a string, got {_kind(v)}")
    return _dumps_str(v)


def _enc_bool(v: Any) -> str:
    if v is None:
        return "false"
    if type(v) is not bool:
        raise TemplateEncodingError("", f"expected a boolean, got {_kind(v)}")
    return "true" if v else "false"


def _int_encoder(bits: int) -> Encoder:
    low, high = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1

    def enc(v: Any) -> str:
        if v is None:
            return "0"
        if type(v) is not int:
            raise TemplateEncodingError("", f"expected an integer, got {_kind(v)}")
        if not low <= v <= high:
            raise TemplateEncodingError("", f"{v} does not fit in an int{bits}")
        return str(v)

    return enc


def _enc_intstr(v: Any) -> str:
    # IntOrString.UnmarshalJSON reads anything but a string (null too) as the int32 part.
    if type(v) is str:
        return _dumps_str(v)
    return _enc_int32(v)


_enc_int32 = _int_encoder(32)


def _enc_raw(v: Any) -> str:
    # metav1.FieldsV1 keeps the raw JSON it was given; encoding/json compacts it on output.
    return json.dumps(v, ensure_ascii=False, separators=(",", ":"))


def _parse_time(v: Any) -> datetime | None:
    if v is None:
        return None
    if type(v) is not str:
        raise TemplateEncodingError("", f"expected an RFC 3339 time, got {_kind(v)}")
    try:
        t = datetime.fromisoformat(v)
    except ValueError:
        raise TemplateEncodingError("", f"{v!r} is not an RFC 3339 time") from None
    if t.tzinfo is None or "T" not in v:
        raise TemplateEncodingError("", f"{v!r} is not an RFC 3339 time")
    t = t.astimezone(UTC)
    return None if t == _ZERO_TIME else t


_ZERO_TIME = datetime(1, 1, 1, tzinfo=UTC)


def _enc_time(v: Any) -> str:
    t = _parse_time(v)
    return "null" if t is None else t.strftime('"%Y-%m-%dT%H:%M:%SZ"')


def _kind(v: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}.get(
        type(v), f"a {type(v).__name__}"
    )


# --- resource.Quantity: ParseQuantity then MarshalJSON (k8s.io/apimachinery) -----------------

_DEC_SUFFIXES = {"": 0, "n": -9, "u": -6, "m": -3, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15}
_DEC_SUFFIXES["E"] = 18
_BIN_SUFFIXES = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_DEC_BY_EXP = {e: s for s, e in _DEC_SUFFIXES.items()}
_BIN_BY_EXP = {e // 10: s for s, e in _BIN_SUFFIXES.items()}
_BIN_BY_EXP[0] = ""
_QUANTITY = re.compile(r"([+-]?)(0*)([0-9]*)(?:\.([0-9]*))?([eEinumkKMGTP]*(?:[+-]?[0-9]*))")
_EXPONENT = re.compile(r"[+-]?[0-9]+")
_NANO = Fraction(1, 10**9)
_MAX_INT64 = 2**63 - 1
_GO_SPACE = " \t\n\v\f\r\x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
_GO_SPACE += "\u2009\u200a\u2028\u2029\u202f\u205f\u3000"


@lru_cache(maxsize=4096)
def canonical_quantity(text: str) -> str:
    """What Go's `resource.Quantity` writes after parsing `text` (ParseQuantity, MarshalJSON)."""
    s = text.strip(_GO_SPACE)
    if s == "0":
        return s
    m = _QUANTITY.fullmatch(s)
    if not s or m is None:
        raise TemplateEncodingError(
            "",
            f"quantity {text!r}: quantities must match the regular "
            "expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'",
        )
    sign, zeros, num, denom, suffix = m.groups()
    any_digit = bool(zeros or num or denom)
    num = num or "0"
    denom = denom or ""
    if suffix in _DEC_SUFFIXES:
        base, exponent, fmt = 10, _DEC_SUFFIXES[suffix], "DecimalSI"
    elif suffix in _BIN_SUFFIXES:
        base, exponent, fmt = 2, _BIN_SUFFIXES[suffix], "BinarySI"
    elif len(suffix) > 1 and suffix[0] in "eE" and _EXPONENT.fullmatch(suffix[1:]):
        base, exponent, fmt = 10, int(suffix[1:]), "DecimalExponent"
        if not -(2**31) <= exponent < 2**31:
            raise TemplateEncodingError("", f"quantity {text!r}: unable to parse quantity's suffix")
    else:
        raise TemplateEncodingError("", f"quantity {text!r}: unable to parse quantity's suffix")
    shifted = num + denom
    # ParseQuantity's int64 fast path keeps the string as given when it is already canonical.
    if fmt == "BinarySI":
        fast = not denom and 15 - len(num) - int(exponent * 3 / 10) - 1 >= 0
        if fast and int(shifted) & 7:
            return s
    else:
        fast = len(shifted) <= 18 and exponent - len(denom) >= -9
        scale = exponent - len(denom)
        if fast and scale % 3 == 0 and not shifted.endswith("000") and shifted[0] != "0":
            return s
    if not fast and not any_digit:  # inf.Dec does not read a number with no digit
        raise TemplateEncodingError("", f"quantity {text!r}: unable to parse numeric part")
    value = Fraction(int(shifted)) / 10 ** len(denom) * Fraction(base) ** exponent
    if value:
        # Round away from zero to nanos: "if you want some resources, you should get some".
        value = -((-value) // _NANO) * _NANO
    if fmt == "BinarySI" and value > _MAX_INT64:
        value = Fraction(_MAX_INT64)
    if fmt == "BinarySI" and 0 < value < 1:
        fmt = "DecimalSI"
    if sign == "-":
        value = -value
    if value == 0:
        return "0"
    if fmt == "BinarySI" and (-1024 < value < 1024 or value.denominator != 1):
        fmt = "DecimalSI"
    if fmt == "BinarySI":
        n, k = int(value), 0
        while abs(n) >= 1024 and n % 1024 == 0:
            n, k = n // 1024, k + 1
        return f"{n}{_BIN_BY_EXP.get(k, '')}"
    # value = mantissa * 10**e, with the exponent lowered to a multiple of 3.
    e = 0
    while value.denominator != 1:
        value, e = value * 10, e - 1
    n = int(value)
    while n % 10 == 0:
        n, e = n // 10, e + 1
    e3 = e // 3 * 3
    n *= 10 ** (e - e3)
    if fmt == "DecimalSI":
        return f"{n}{_DEC_BY_EXP.get(e3, '')}"
    return f"{n}e{e3}" if e3 else str(n)


def _enc_quantity(v: Any) -> str:
    if v is None:
        return '"0"'
    if type(v) is str:
        return _dumps_str(canonical_quantity(v))
    if type(v) is int:
        return f'"{canonical_quantity(str(v))}"'
    if type(v) is float:
        return f'"{canonical_quantity(repr(v))}"'
    raise TemplateEncodingError("", f"expected a quantity, got {_kind(v)}")


# --- compiling the field table ---------------------------------------------------------------

_SCALARS: dict[str, Encoder] = {
    "string": _enc_string,
    "bool": _enc_bool,
    "int32": _int_encoder(32),
    "int64": _int_encoder(64),
    "intstr": _enc_intstr,
    "quantity": _enc_quantity,
    "time": _enc_time,
    "raw": _enc_raw,
}
_compiled: dict[str, Encoder] = {}
# One table: the step types use meta/v1 structs of the pod table, generated identically.
_TABLE = {**STRUCTS, **STEP_STRUCTS}


def _encoder(spec: str) -> Encoder:
    if spec in _SCALARS:
        return _SCALARS[spec]
    if spec in _compiled:
        return _compiled[spec]
    kind, _, rest = spec.partition(":")
    if kind == "ptr":
        inner = _encoder(rest)

        def enc(v: Any) -> str:
            return "null" if v is None else inner(v)

    elif kind == "slice":
        item = _encoder(rest)

        def enc(v: Any) -> str:
            if v is None:
                return "null"
            if type(v) is not list:
                raise TemplateEncodingError("", f"expected an array, got {_kind(v)}")
            parts = []
            for i, x in enumerate(v):
                try:
                    parts.append(item(x))
                except TemplateEncodingError as err:
                    raise TemplateEncodingError(f"[{i}]{err.path}", err.message) from None
            return "[" + ",".join(parts) + "]"

    elif kind == "map":
        value = _encoder(rest)

        def enc(v: Any) -> str:
            if v is None:
                return "null"
            if type(v) is not dict:
                raise TemplateEncodingError("", f"expected an object, got {_kind(v)}")
            parts = []
            for k in sorted(v):
                try:
                    parts.append(_dumps_str(k) + ":" + value(v[k]))
                except TemplateEncodingError as err:
                    raise TemplateEncodingError(f"[{k!r}]{err.path}", err.message) from None
            return "{" + ",".join(parts) + "}"

    elif kind == "struct":
        return _struct_encoder(rest)
    else:
        raise ValueError(f"gofields: unknown type {spec!r}")
    _compiled[spec] = enc
    return enc


# How a field with omitempty/omitzero is left out, by the kind of its Go type.
_OMIT_NEVER, _OMIT_FALSY, _OMIT_NIL, _OMIT_ZERO_TIME = range(4)


def _struct_encoder(name: str) -> Encoder:
    # Only the keys a template has are visited (a PodSpec has 41 fields, a template a few),
    # then put in Go's order; fields that Go always writes are added with their zero value.
    index: dict[str, tuple[int, str, str, Encoder, int]] = {}
    always: list[tuple[int, str, str]] = []

    def enc(v: Any) -> str:
        if v is None:
            return zero
        if type(v) is not dict:
            raise TemplateEncodingError("", f"expected an object, got {_kind(v)}")
        found = []
        for key, x in v.items():
            f = index.get(key)
            if f is None or (x is None and f[3] is not _enc_raw):
                continue
            pos, key, prefix, fenc, omit = f
            if omit == _OMIT_FALSY and not x and type(x) in (str, bool, int, list, dict):
                continue
            try:
                text = fenc(x)
            except TemplateEncodingError as err:
                raise TemplateEncodingError(f".{key}{err.path}", err.message) from None
            if omit == _OMIT_ZERO_TIME and text == "null":
                continue
            found.append((pos, prefix + text))
        for pos, key, zero_text in always:
            if v.get(key) is None:
                found.append((pos, zero_text))
        found.sort()
        return "{" + ",".join([text for _, text in found]) + "}"

    _compiled["struct:" + name] = enc  # before the fields: the types may be recursive
    for pos, (key, spec, flags) in enumerate(_TABLE[name]):
        kind = spec.partition(":")[0]
        if flags & 2 and spec == "time":
            omit = _OMIT_ZERO_TIME
        elif flags & 2:
            raise ValueError(f"gofields: omitzero on {name}.{key} ({spec}) is not handled")
        elif not flags & 1 or kind == "struct" or spec in ("quantity", "intstr", "time"):
            omit = _OMIT_NEVER  # omitempty never leaves out a struct
        elif kind == "ptr" or spec == "raw":
            omit = _OMIT_NIL
        else:
            omit = _OMIT_FALSY
        index[key] = (pos, key, _dumps_str(key) + ":", _encoder(spec), omit)
    for pos, key, prefix, fenc, omit in index.values():
        if omit == _OMIT_NEVER:
            always.append((pos, key, prefix + fenc(None)))
    zero = "{" + ",".join(text for _, _, text in always) + "}"
    return enc


_encode_template = _encoder(ROOT)


def go_json(template: dict[str, Any]) -> bytes:
    """`json.Marshal` of the `corev1.PodTemplateSpec` that Go decodes from `template`."""
    try:
        text = _encode_template(template)
    except TemplateEncodingError as err:
        raise TemplateEncodingError(f"spec.template{err.path}", err.message) from None
    for char, escaped in _HTML_ESCAPES:  # str.replace is a C scan; translate() is slower
        if char in text:
            text = text.replace(char, escaped)
    try:
        return text.encode()
    except UnicodeEncodeError:
        # A lone surrogate (from a "\ud800" escape) is decoded by Go as U+FFFD.
        return _SURROGATES.sub("\ufffd", text).encode()


_cache: dict[tuple[str, int | None], str] = {}
_CACHE_MAX = 4096


def pod_template_hash(template: dict[str, Any], collision_count: int | None = None) -> str:
    """Argo's `rollouts-pod-template-hash` of a Rollout's `spec.template`.

    Raises TemplateEncodingError, naming the field, for a template Go could not decode.
    """
    key = (json.dumps(template, sort_keys=True), collision_count)
    cached = _cache.get(key)
    if cached is not None:
        return cached
    data = go_json(template)
    if collision_count is not None:
        data += (collision_count & 0xFFFFFFFF).to_bytes(4, "little") + bytes(4)
    h = fnv1a32(data)
    result = safe_encode(str(h))
    if len(_cache) >= _CACHE_MAX:
        _cache.clear()
    _cache[key] = result
    return result


def _canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


_encode_steps = _encoder(STEPS_ROOT)


def go_steps_json(steps: list[dict[str, Any]] | None) -> bytes:
    """`json.Marshal` of the `[]v1alpha1.CanaryStep` Go decodes from `steps` (None: nil)."""
    try:
        text = _encode_steps(steps)
    except TemplateEncodingError as err:
        raise TemplateEncodingError(f"spec.strategy.canary.steps{err.path}", err.message) from None
    for char, escaped in _HTML_ESCAPES:
        if char in text:
            text = text.replace(char, escaped)
    try:
        return text.encode()
    except UnicodeEncodeError:
        return _SURROGATES.sub("\ufffd", text).encode()


def steps_hash(steps: list[dict[str, Any]] | None) -> str:
    """Argo's `status.currentStepHash` of `spec.strategy.canary.steps` (None when unset)."""
    return safe_encode(str(fnv1a32(go_steps_json(steps))))


def legacy_steps_hash(steps: list[dict[str, Any]] | None) -> str:
    """The BLAKE2b step hash earlier rolloutd versions wrote to `status.currentStepHash`."""
    digest = hashlib.blake2b(_canonical(steps or []), digest_size=4).digest()
    return safe_encode(str(int.from_bytes(digest, "little")))


def step_hash_matches(recorded: str | None, steps: list[dict[str, Any]] | None) -> bool:
    """Whether a `currentStepHash` found in status stands for `steps`: Argo's value, or the
    legacy one of an earlier rolloutd (so upgrading rolloutd does not restart the steps)."""
    if recorded is None:
        return False
    return recorded == steps_hash(steps) or recorded == legacy_steps_hash(steps)
