"""The base of every typed view of a Kubernetes object: camelCase JSON, field-path errors.

Models accept Argo's JSON as it is (camelCase keys, unknown keys ignored) and describe it
precisely enough to generate the CRD schemas from them, so the schema and the code that
reads the objects cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

INT32_MAX = 2**31 - 1
INT32_MIN = -(2**31)

Int32 = Annotated[int, Field(ge=INT32_MIN, le=INT32_MAX, json_schema_extra={"format": "int32"})]
"""A Kubernetes int32 (most counts in Argo's types.go): bounded here and in the CRD, so an
int64 (or a 400-digit number) is refused by the API server or reported as the field's error,
and never reaches the planner's date arithmetic."""

NonNegativeInt32 = Annotated[int, Field(ge=0, le=INT32_MAX, json_schema_extra={"format": "int32"})]
"""An int32 count or number of seconds, which cannot be negative."""

IntOrString = Annotated[int | str, Field(json_schema_extra={"x-kubernetes-int-or-string": True})]
"""Kubernetes' IntOrString (e.g. maxSurge: 1 or "25%")."""

JsonObject = Annotated[
    dict[str, Any], Field(json_schema_extra={"x-kubernetes-preserve-unknown-fields": True})
]
"""A free-form object kept as it is (a pod template, a router's own configuration)."""


class Model(BaseModel):
    """Base for all models: camelCase aliases, frozen, unknown fields ignored."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        frozen=True,
        extra="ignore",
        serialize_by_alias=True,
    )

    def to_json(self) -> dict[str, Any]:
        """The object as Kubernetes JSON: camelCase keys, unset fields left out."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


def field_path(loc: Sequence[str | int], root: str = "") -> str:
    """`("spec", "canary", "steps", 2, "setWeight")` -> `spec.canary.steps[2].setWeight`."""
    path = root
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else part
    return path


def validation_messages(error: ValidationError, root: str = "") -> list[str]:
    """One `field.path: problem` line per pydantic error."""
    messages = []
    for item in error.errors():
        # pydantic adds the union member or the validator name to loc; keep only real fields.
        loc = [p for p in item["loc"] if isinstance(p, int) or not _is_internal(p)]
        message = item["msg"]
        if item["type"] == "value_error":
            message = message.removeprefix("Value error, ")
        messages.append(f"{field_path(loc, root)}: {message}")
    return messages


def _is_internal(part: str) -> bool:
    return part in {"int", "str", "bool", "float"} or part.startswith(("function-", "tagged-"))
