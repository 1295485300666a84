"""The controller-wide configuration, from the `rolloutd-config` ConfigMap.

The ConfigMap holds one key, `config.yaml`:

```yaml
logLevel: info            # debug | info | warn | error; applied at once
workers: 10               # concurrent reconciles; applied on the next start
routers:                  # which traffic routers run, and their settings; applied at once
  istio: {enabled: true, apiVersion: v1alpha3}
  smi: {enabled: false, apiVersion: v1alpha1}
analysis:                 # metric limits and the web provider's egress; applied at once
  web: {maxResponseBytes: 1048576, allow: [10.0.0.0/8], deny: []}
```

A missing ConfigMap means the defaults: every installed router enabled with its own defaults.
A bad ConfigMap is reported (the error names the field) and the last good configuration
stays in force.
"""

from __future__ import annotations

from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from rolloutd.analysis.settings import AnalysisSettings
from rolloutd.logs import LEVELS
from rolloutd.model.base import validation_messages

CONFIG_KEY = "config.yaml"


class RouterSettings(BaseModel):
    """`enabled` plus whatever settings the router itself reads (kept as given)."""

    model_config = ConfigDict(extra="allow", frozen=True)
    enabled: bool = True

    def settings(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    log_level: str = Field(default="info", alias="logLevel")
    workers: int = Field(default=10, ge=1, le=200)
    routers: dict[str, RouterSettings] | None = None
    """None: every installed router, enabled, with default settings."""

    # -- analysis (rolloutd.analysis.settings): limits and web egress, beyond Argo ------------
    analysis: AnalysisSettings = Field(default_factory=AnalysisSettings)

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        if value.lower() not in LEVELS:
            raise ValueError(f"must be one of {', '.join(sorted(LEVELS))}")
        return value.lower()

    def enabled_routers(self, installed: list[str]) -> list[str]:
        if self.routers is None:
            return list(installed)
        return [name for name, s in self.routers.items() if s.enabled]

    def router_settings(self) -> dict[str, dict[str, Any]]:
        return {name: s.settings() for name, s in (self.routers or {}).items()}


class ConfigError(Exception):
    """The ConfigMap could not be used; `errors` name the fields."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


def parse_config_map(config_map: dict[str, Any] | None) -> Config:
    """The configuration a ConfigMap object holds (defaults for None); raises ConfigError."""
    if config_map is None:
        return Config()
    text = (config_map.get("data") or {}).get(CONFIG_KEY)
    if text is None:
        return Config()
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError([f"data.{CONFIG_KEY}: not valid YAML{where}"]) from None
    if raw is None:
        return Config()
    if not isinstance(raw, dict):
        raise ConfigError([f"data.{CONFIG_KEY}: must be a mapping, got {type(raw).__name__}"])
    try:
        return Config.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(validation_messages(exc, root=f"data.{CONFIG_KEY}")) from None
