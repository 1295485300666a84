"""The controller-wide configuration, from the `rolloutd-config` ConfigMap.

The ConfigMap holds one key, `config.yaml`:

```yaml
logLevel: info            # debug | info | warn | error; applied at once
workers: 10               # concurrent reconciles; applied on the next start
shards: 0                 # 0: off; else the replicas share this many shards (next start)
routers:                  # which traffic routers run, and their settings; applied at once
  istio: {enabled: true, apiVersion: v1alpha3}
  smi: {enabled: false, apiVersion: v1alpha1}
analysis:                 # metric limits and the web provider's egress; applied at once
  web: {maxResponseBytes: 1048576, allow: [10.0.0.0/8], deny: []}
```

A missing ConfigMap means the defaults: every installed router enabled with its own defaults.
A bad ConfigMap is reported (the error names the field) and the last good configuration
stays in force. Parsing is bounded (`MAX_CONFIG_BYTES`, `MAX_CONFIG_DEPTH`, no YAML aliases)
and types are strict (`workers: true` is refused, not read as 1): whatever the ConfigMap
holds, parsing ends in a `Config` or a `ConfigError`, never another exception.
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
    enabled: bool = Field(default=True, strict=True)

    def settings(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    log_level: str = Field(default="info", alias="logLevel")
    workers: int = Field(default=10, ge=1, le=200, strict=True)
    shards: int = Field(default=0, ge=0, le=4096, strict=True)
    """Shard count shared by the replicas (docs/scale-out.md); 0 is off. Read at start."""
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

    def unknown_routers(self, installed: list[str]) -> list[str]:
        """Router names under `routers` that no installed router answers to (typos, mostly)."""
        return sorted(name for name in self.routers or {} if name not in installed)


class ConfigError(Exception):
    """The ConfigMap could not be used; `errors` name the fields."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


MAX_CONFIG_BYTES = 256 * 1024
"""Far above any real configuration; bounds the parser's time and memory."""
MAX_CONFIG_DEPTH = 32
"""Nesting levels of mappings and lists. PyYAML builds nodes recursively, so a deep document
raises RecursionError (not a YAMLError); the bound is checked on the event stream first, which
PyYAML produces without recursion."""


def parse_config_map(config_map: dict[str, Any] | None) -> Config:
    """The configuration a ConfigMap object holds (defaults for None); raises ConfigError
    and nothing else."""
    try:
        return _parse(config_map)
    except ConfigError:
        raise
    except Exception as exc:  # whatever it is (RecursionError, MemoryError...), not fatal
        raise ConfigError(
            [f"data.{CONFIG_KEY}: cannot be read ({type(exc).__name__}: {exc})"[:500]]
        ) from None


def _parse(config_map: dict[str, Any] | None) -> Config:
    if config_map is None:
        return Config()
    text = (config_map.get("data") or {}).get(CONFIG_KEY)
    if text is None:
        return Config()
    if not isinstance(text, str):
        raise ConfigError([f"data.{CONFIG_KEY}: must be a string, got {type(text).__name__}"])
    size = len(text.encode("utf-8", errors="replace"))
    if size > MAX_CONFIG_BYTES:
        raise ConfigError(
            [f"data.{CONFIG_KEY}: {size} bytes, more than the {MAX_CONFIG_BYTES} allowed"]
        )
    try:
        _check_shape(text)
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


def _check_shape(text: str) -> None:
    """Refuse documents nested deeper than MAX_CONFIG_DEPTH, and aliases (an alias bomb is
    small text that expands into a huge structure once compared or copied)."""
    depth = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.AliasEvent):
            line = event.start_mark.line + 1 if event.start_mark else 0
            raise ConfigError([f"data.{CONFIG_KEY}: YAML aliases are not allowed (line {line})"])
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_CONFIG_DEPTH:
                line = event.start_mark.line + 1 if event.start_mark else 0
                raise ConfigError(
                    [
                        f"data.{CONFIG_KEY}: nested more than {MAX_CONFIG_DEPTH} levels deep "
                        f"(line {line})"
                    ]
                )
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
