"""Finding metric providers: entry points in `rolloutd.metric_providers`, one instance each.

A metric names its provider the Argo way, by the single key it sets under `provider`:

- ``prometheus: {...}``, ``web: {...}``, ``job: {...}`` (or any other key): the key is the entry
  point's name;
- ``plugin: {"<org>/<name>": {...}}``: looked up as written, then by the part after the `/`
  (so ``acme/influx`` finds an entry point named ``influx``), then lower-cased.

`provider_block` does that mapping without importing anything; `ProviderRegistry` loads each
provider on first use with its controller-wide settings and refuses one that is not installed
or speaks another version of the contract, with a message that says what to do.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Any, cast

from rolloutd.analysis.providers.contract import API_VERSION, MetricProvider

GROUP = "rolloutd.metric_providers"


class ProviderUnavailable(Exception):
    """The metric names a provider this process cannot use; the message says why."""


@dataclass(frozen=True)
class ProviderBlock:
    """The provider a metric names: candidate entry-point names, and its config block."""

    key: str
    """As written in the metric: `prometheus`, or `plugin/acme/influx`."""
    candidates: tuple[str, ...]
    config: Mapping[str, Any]


def provider_block(provider: Mapping[str, Any]) -> ProviderBlock:
    """The one provider a metric's `provider` object names (validation ensured there is one)."""
    for key, value in provider.items():
        if value is None:
            continue
        if key == "plugin" and isinstance(value, Mapping):
            for name, config in value.items():
                names = [str(name)]
                if "/" in name:
                    names.append(str(name).rsplit("/", 1)[1])
                names += [n.lower() for n in names if n.lower() not in names]
                return ProviderBlock(
                    f"plugin/{name}", tuple(names), config if isinstance(config, Mapping) else {}
                )
            continue
        return ProviderBlock(key, (key,), value if isinstance(value, Mapping) else {})
    raise ProviderUnavailable("no provider specified")


class ProviderRegistry:
    """The providers installed in this process; see the module docstring."""

    def __init__(
        self,
        settings: Mapping[str, Mapping[str, Any]]
        | Callable[[], Mapping[str, Mapping[str, Any]]]
        | None = None,
        *,
        installed: Iterable[EntryPoint] | None = None,
    ) -> None:
        """`settings`: per provider name; a callable is read at each measurement, so a
        configuration change applies to the next one."""
        self._source = settings if callable(settings) else None
        self._settings = {} if callable(settings) else dict(settings or {})
        found = installed if installed is not None else entry_points(group=GROUP)
        self._entry_points: dict[str, EntryPoint] = {ep.name: ep for ep in found}
        self._providers: dict[str, MetricProvider] = {}

    @property
    def available(self) -> list[str]:
        return sorted(self._entry_points)

    def settings(self, name: str) -> Mapping[str, Any]:
        if self._source is not None:
            return self._source().get(name, {})
        return self._settings.get(name, {})

    def resolve(self, block: ProviderBlock) -> str:
        for candidate in block.candidates:
            if candidate in self._entry_points:
                return candidate
        have = ", ".join(self.available) or "none"
        raise ProviderUnavailable(
            f"metric provider '{block.key}' is not installed: install the distribution that "
            f"registers an entry point named '{block.candidates[-1]}' in the group '{GROUP}' "
            f"(installed providers: {have})"
        )

    def provider(self, name: str) -> MetricProvider:
        """The instance for an installed entry-point name (created on first use)."""
        if name in self._providers:
            return self._providers[name]
        entry = self._entry_points.get(name)
        if entry is None:
            raise ProviderUnavailable(f"metric provider '{name}' is not installed")
        try:
            cls = entry.load()
        except Exception as exc:  # a broken plugin must not take the controller down
            raise ProviderUnavailable(
                f"metric provider '{name}' ({entry.value}) failed to load: {exc}"
            ) from exc
        version = getattr(cls, "API_VERSION", None)
        if version != API_VERSION:
            raise ProviderUnavailable(
                f"metric provider '{name}' ({entry.value}) implements provider contract version "
                f"{version}, but this rolloutd speaks version {API_VERSION}: install a version "
                "of the provider made for this rolloutd"
            )
        try:
            instance = cast(MetricProvider, cls(self.settings(name)))
        except Exception as exc:
            raise ProviderUnavailable(
                f"metric provider '{name}' refused its settings: {exc}"
            ) from exc
        self._providers[name] = instance
        return instance

    def for_metric(self, provider: Mapping[str, Any]) -> tuple[str, MetricProvider, ProviderBlock]:
        """(entry-point name, instance, block) for a metric's `provider` object."""
        block = provider_block(provider)
        name = self.resolve(block)
        return name, self.provider(name), block

    def type_name(self, provider: Mapping[str, Any]) -> str:
        """The `type` label of a metric (Argo's provider `Type()`), without loading anything
        that is not loaded already."""
        try:
            block = provider_block(provider)
        except ProviderUnavailable:
            return "Unknown Provider"
        if block.key.startswith("plugin/"):
            return "RPCPlugin"
        known = {"prometheus": "Prometheus", "web": "Web", "job": "Job"}
        if block.key in known:
            return known[block.key]
        loaded = self._providers.get(block.key)
        return loaded.TYPE if loaded is not None else block.key
