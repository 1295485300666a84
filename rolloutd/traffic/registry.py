"""Finding traffic routers: entry points, Argo's names for them, and one instance each.

A router is a class published under the entry-point group `rolloutd.traffic_routers`; the entry
point's name is the router's short name (`istio`, `openshift`, `smi`, `gatewayapi`, or whatever
a third party chooses). Installing a distribution is all it takes to make a router available.

A Rollout names its routers the Argo way, in `spec.strategy.canary.trafficRouting`:

- a built-in block such as `istio: {...}` or `smi: {...}`: the key is the router name;
- `plugins: {"<org>/<name>": {...}}`: Argo's plugin names map to ours
  (`argoproj-labs/openshift` -> `openshift`, `argoproj-labs/gatewayAPI` -> `gatewayapi`);
  any other key is looked up as an entry point as written, then by the part after the `/`
  (so both `acme/contour` and `contour` find an entry point named `contour`).

`routers_in(traffic_routing)` does that mapping without importing anything (it is pure, for the
planner and for validation); `RouterRegistry` loads and instantiates the routers, once per
process, each with its controller-wide settings, and refuses a router that is not installed or
that was written for another version of the contract, with a message that says what to do.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Any, cast

from rolloutd.traffic.contract import API_VERSION, TrafficRouter

GROUP = "rolloutd.traffic_routers"
FIELD = "spec.strategy.canary.trafficRouting"

ARGO_PLUGIN_NAMES: Mapping[str, str] = {
    "argoproj-labs/openshift": "openshift",
    "argoproj-labs/gatewayAPI": "gatewayapi",
}
"""Argo Rollouts plugin names (the keys under `trafficRouting.plugins`) and our routers."""

NOT_ROUTERS = frozenset({"plugins", "managedRoutes", "maxTrafficWeight"})
"""Keys of `trafficRouting` that configure routing in general rather than name a router."""

DISTRIBUTIONS: Mapping[str, str] = {
    "istio": "rolloutd-istio",
    "openshift": "rolloutd-openshift",
    "smi": "rolloutd-smi",
    "gatewayapi": "rolloutd-gatewayapi",
    "apisix": "rolloutd-apisix",
    "ambassador": "rolloutd-ambassador",
    "appMesh": "rolloutd-appmesh",
    "nginx": "rolloutd-nginx",
    "alb": "rolloutd-alb",
    "traefik": "rolloutd-traefik",
}
"""Where the routers we know of come from, for the "not installed" message."""


class RouterUnavailable(Exception):
    """A Rollout names a router this process cannot use; the message says why and what to do."""

    def __init__(self, name: str, field: str, message: str) -> None:
        super().__init__(message)
        self.name = name
        self.field = field


class RouterNotInstalled(RouterUnavailable):
    """No entry point of that name in `rolloutd.traffic_routers`."""


class RouterVersionMismatch(RouterUnavailable):
    """The router was written for another `rolloutd.traffic.contract.API_VERSION`."""


@dataclass(frozen=True, slots=True)
class RouterBlock:
    """One router a Rollout names: our router name, its config block, and where it was named.

    It unpacks like the pair `(name, config)`: `for name, config in routers_in(tr): ...`.
    """

    name: str
    config: Mapping[str, Any]
    field: str
    """The field path of the block, e.g. `spec.strategy.canary.trafficRouting.istio`."""
    candidates: tuple[str, ...] = ()
    """Entry-point names to try, in order (the first is `name`)."""

    def __iter__(self) -> Iterator[Any]:
        return iter((self.name, self.config))


def routers_in(traffic_routing: Mapping[str, Any] | None) -> list[RouterBlock]:
    """The routers a `trafficRouting` block names, in the order it names them."""
    blocks: list[RouterBlock] = []
    for key, value in (traffic_routing or {}).items():
        if key in NOT_ROUTERS or value is None:
            continue
        config = value if isinstance(value, Mapping) else {}
        blocks.append(RouterBlock(key, config, f"{FIELD}.{key}", (key,)))
    plugins = (traffic_routing or {}).get("plugins") or {}
    if isinstance(plugins, Mapping):
        for key, value in plugins.items():
            config = value if isinstance(value, Mapping) else {}
            candidates = _plugin_candidates(str(key))
            blocks.append(RouterBlock(candidates[0], config, f"{FIELD}.plugins[{key}]", candidates))
    return blocks


def _plugin_candidates(key: str) -> tuple[str, ...]:
    if key in ARGO_PLUGIN_NAMES:
        return (ARGO_PLUGIN_NAMES[key],)
    names = [key]
    if "/" in key:
        names.append(key.rsplit("/", 1)[1])
    lowered = [n.lower() for n in names if n.lower() not in names]
    return tuple(names + lowered)


class RouterRegistry:
    """The routers installed in this process, each instantiated once with its settings.

    `settings` maps a router name to its controller-wide settings (from the rolloutd
    ConfigMap); a router with no entry gets `{}`. `installed` can replace entry-point discovery
    (tests hand in their own entry points).
    """

    def __init__(
        self,
        settings: Mapping[str, Mapping[str, Any]] | None = None,
        *,
        installed: Iterable[EntryPoint] | None = None,
    ) -> None:
        self._settings = dict(settings or {})
        found = installed if installed is not None else entry_points(group=GROUP)
        self._entry_points: dict[str, EntryPoint] = {ep.name: ep for ep in found}
        self._routers: dict[str, TrafficRouter] = {}

    @property
    def available(self) -> list[str]:
        """Names of the installed routers."""
        return sorted(self._entry_points)

    def resolve(self, block: RouterBlock) -> str:
        """The entry-point name that serves `block`, or `RouterNotInstalled`."""
        for candidate in block.candidates or (block.name,):
            if candidate in self._entry_points:
                return candidate
        hint = DISTRIBUTIONS.get(block.name)
        where = block.field.rsplit("[", 1)[0] if "[" in block.field else block.field
        install = (
            f"pip install {hint}"
            if hint
            else f"install the distribution that registers an entry point named "
            f"'{block.name}' in the group '{GROUP}'"
        )
        have = ", ".join(self.available) or "none"
        raise RouterNotInstalled(
            block.name,
            block.field,
            f"traffic router '{block.name}' named in {where} is not installed: {install} "
            f"(installed routers: {have})",
        )

    def router(self, name: str, *, field: str = FIELD) -> TrafficRouter:
        """The router instance for an installed entry-point name (created on first use)."""
        if name in self._routers:
            return self._routers[name]
        entry = self._entry_points.get(name)
        if entry is None:
            self.resolve(RouterBlock(name, {}, field, (name,)))  # raises RouterNotInstalled
            raise AssertionError("unreachable")
        try:
            cls = entry.load()
        except Exception as exc:  # a broken plugin must not take the controller down
            raise RouterUnavailable(
                name, field, f"traffic router '{name}' ({entry.value}) failed to load: {exc}"
            ) from exc
        version = getattr(cls, "API_VERSION", None)
        if version != API_VERSION:
            raise RouterVersionMismatch(
                name,
                field,
                f"traffic router '{name}' ({entry.value}) implements router contract version "
                f"{version}, but this rolloutd speaks version {API_VERSION}: install a "
                f"version of the router made for this rolloutd",
            )
        try:
            instance = cast(TrafficRouter, cls(self._settings.get(name, {})))
        except Exception as exc:  # bad settings are a configuration error, not a crash
            raise RouterUnavailable(
                name, field, f"traffic router '{name}' refused its settings: {exc}"
            ) from exc
        self._routers[name] = instance
        return instance

    def routers_for(
        self, traffic_routing: Mapping[str, Any] | None
    ) -> list[tuple[TrafficRouter, RouterBlock]]:
        """Every router a Rollout names, ready to call; raises on the first unavailable one."""
        return [
            (self.router(self.resolve(block), field=block.field), block)
            for block in routers_in(traffic_routing)
        ]
