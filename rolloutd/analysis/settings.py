"""The `analysis` block of the controller's ConfigMap: limits and the web provider's egress.

```yaml
analysis:
  web:
    maxResponseBytes: 1048576  # a response body larger than this is an Error measurement
    maxRedirects: 3            # each hop is checked against the policy again
    allow: [10.0.0.0/8, "*.monitoring.svc"]   # CIDRs or host names ("*." for a suffix)
    deny: [10.1.2.3/32]
```

None of this exists in Argo Rollouts, whose web provider reads any body whole and fetches any
address; see docs/analysis-safety.md. Applied at once: each measurement reads the settings in
force (`ProviderRegistry` hands them to the provider).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from rolloutd.analysis.egress import parse_rule

__all__ = [
    "DEFAULT_MAX_REDIRECTS",
    "DEFAULT_MAX_RESPONSE_BYTES",
    "MAX_VALUE_BYTES",
    "AnalysisSettings",
    "WebSettings",
    "bounded_text",
]

DEFAULT_MAX_RESPONSE_BYTES = 1 << 20
DEFAULT_MAX_REDIRECTS = 3
MAX_VALUE_BYTES = 4096
"""A measurement's `value` and `message` in the status, at most (UTF-8 bytes, marker included):
a few of them per metric times `measurementRetention` must fit in one status patch."""


class WebSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    max_response_bytes: int = Field(
        default=DEFAULT_MAX_RESPONSE_BYTES,
        alias="maxResponseBytes",
        ge=1,
        le=256 << 20,
        strict=True,
    )
    max_redirects: int = Field(
        default=DEFAULT_MAX_REDIRECTS, alias="maxRedirects", ge=0, le=20, strict=True
    )
    allow: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()

    @field_validator("allow", "deny")
    @classmethod
    def _rules(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for rule in value:
            parse_rule(rule)  # raises ValueError naming the entry
        return value

    def provider_settings(self) -> dict[str, Any]:
        """What the web provider receives as its controller-wide settings."""
        return {
            "maxResponseBytes": self.max_response_bytes,
            "maxRedirects": self.max_redirects,
            "allow": list(self.allow),
            "deny": list(self.deny),
        }


class AnalysisSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    web: WebSettings = Field(default_factory=WebSettings)

    def provider_settings(self) -> dict[str, dict[str, Any]]:
        """Controller-wide settings per provider entry-point name."""
        return {"web": self.web.provider_settings()}


def bounded_text(text: str, limit: int = MAX_VALUE_BYTES) -> str:
    """`text` if it fits in `limit` UTF-8 bytes, else its head and a marker saying how much was
    cut (never a split character)."""
    encoded = text.encode("utf-8", errors="replace")
    if len(encoded) <= limit:
        return text
    marker = f"...[truncated: {len(encoded)} bytes, first {{}} shown]"
    keep = limit - len(marker.format(limit)) - 2
    head = encoded[:keep].decode("utf-8", errors="ignore")
    return head + marker.format(len(head.encode("utf-8")))
