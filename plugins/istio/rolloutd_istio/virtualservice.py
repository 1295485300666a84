"""Pure editing logic for Istio VirtualServices and DestinationRules: dicts in, patch ops out.

Nothing here does I/O, so every rule can be tested in milliseconds (tests/unit/routers/). The
router (`rolloutd_istio.router`) reads objects from the controller's cache, calls these
functions to plan a JSON patch, and sends it.

The rules, and where we differ from Argo Rollouts on purpose:

- A Rollout's `trafficRouting.istio` names VirtualServices (`virtualService` or
  `virtualServices[]`), each with HTTP routes by name (`routes`), TLS routes by port and SNI
  hosts (`tlsRoutes`) and TCP routes by port (`tcpRoutes`). With none of the three, the
  VirtualService must have exactly one HTTP route that is not a managed route, and that one is
  edited. Argo also edits `tls[0]`/`tcp[0]` when `tlsRoutes`/`tcpRoutes` are omitted; we leave
  routes the Rollout does not name alone (the seed's TLS route stays as it is).
- A destination is the canary (or stable) when its host, compared up to the first dot, is the
  canary (stable) Service; with a `destinationRule`, when its subset is the canary (stable)
  subset instead.
- Destinations we do not manage are kept with their weights (Argo deletes them). The stable
  destination gets `100 - canary - experiments - foreign`; if that would be negative the route
  cannot carry the weight asked for, and that is an error naming the route.
- Only weights that differ are written, as `replace` (or `add` where the field is missing).
- Experiment destinations (`additional`) get their weight, and are appended when missing
  (host-level routing only). rolloutd does not record which destinations it appended, so once
  an experiment is over its destination counts as foreign: the controller should pass it once
  more with weight 0 (Argo deletes every destination it does not know instead).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from rolloutd.traffic.contract import JsonDict, RouterError
from rolloutd.traffic.patching import JsonOp, pointer, set_op

FIELD = "spec.strategy.canary.trafficRouting.istio"
HASH_LABEL = "rollouts-pod-template-hash"
MANAGED_BY = "argo-rollouts.argoproj.io/managed-by-rollouts"
TOTAL = 100

RouteKind = Literal["http", "tls", "tcp"]
Role = Literal["canary", "stable"]


# -- configuration --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TlsSelector:
    port: int | None
    sni_hosts: frozenset[str] | None
    field: str


@dataclass(frozen=True, slots=True)
class TcpSelector:
    port: int | None
    field: str


@dataclass(frozen=True, slots=True)
class VirtualServiceConfig:
    """One entry of `virtualServices[]` (or the single `virtualService`)."""

    namespace: str
    name: str
    field: str
    routes: tuple[str, ...] | None
    tls_routes: tuple[TlsSelector, ...] | None
    tcp_routes: tuple[TcpSelector, ...] | None

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True, slots=True)
class DestinationRuleConfig:
    namespace: str
    name: str
    canary_subset: str
    stable_subset: str
    field: str = f"{FIELD}.destinationRule"

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True, slots=True)
class IstioConfig:
    virtual_services: tuple[VirtualServiceConfig, ...]
    destination_rule: DestinationRuleConfig | None
    problems: tuple[str, ...]


def split_name(ref: str, default_namespace: str) -> tuple[str, str]:
    """`name` or `name.namespace` (a trailing `.svc.cluster.local` or `.cluster.local` is
    dropped) to `(namespace, name)`; the namespace is the last dot-separated part."""
    for suffix in (".svc.cluster.local", ".cluster.local"):
        if ref.endswith(suffix):
            ref = ref[: -len(suffix)]
            break
    if "." in ref:
        name, namespace = ref.rsplit(".", 1)
        return namespace, name
    return default_namespace, ref


def _int_or_none(value: Any) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def parse_config(config: Mapping[str, Any], namespace: str) -> IstioConfig:
    """Read `trafficRouting.istio`; problems carry field paths."""
    problems: list[str] = []
    single, many = config.get("virtualService"), config.get("virtualServices")
    entries: list[tuple[str, Any]] = []
    if single and many:
        problems.append(f"{FIELD}: set either virtualService or virtualServices, not both")
    elif single:
        entries.append((f"{FIELD}.virtualService", single))
    elif many and isinstance(many, Sequence) and not isinstance(many, str):
        entries.extend((f"{FIELD}.virtualServices[{i}]", e) for i, e in enumerate(many))
    else:
        problems.append(f"{FIELD}: either virtualService or virtualServices must be configured")

    services: list[VirtualServiceConfig] = []
    for field, entry in entries:
        if not isinstance(entry, Mapping) or not entry.get("name"):
            problems.append(f"{field}.name: a VirtualService name is required")
            continue
        vs_ns, vs_name = split_name(str(entry["name"]), namespace)
        routes = entry.get("routes")
        tls = entry.get("tlsRoutes")
        tcp = entry.get("tcpRoutes")
        services.append(
            VirtualServiceConfig(
                namespace=vs_ns,
                name=vs_name,
                field=field,
                routes=tuple(str(r) for r in routes) if routes else None,
                tls_routes=tuple(
                    TlsSelector(
                        _int_or_none(t.get("port")),
                        frozenset(str(h) for h in t["sniHosts"]) if t.get("sniHosts") else None,
                        f"{field}.tlsRoutes[{i}]",
                    )
                    for i, t in enumerate(tls)
                    if isinstance(t, Mapping)
                )
                if tls
                else None,
                tcp_routes=tuple(
                    TcpSelector(_int_or_none(t.get("port")), f"{field}.tcpRoutes[{i}]")
                    for i, t in enumerate(tcp)
                    if isinstance(t, Mapping)
                )
                if tcp
                else None,
            )
        )

    rule: DestinationRuleConfig | None = None
    dr = config.get("destinationRule")
    if isinstance(dr, Mapping):
        field = f"{FIELD}.destinationRule"
        missing = [k for k in ("name", "canarySubsetName", "stableSubsetName") if not dr.get(k)]
        problems.extend(f"{field}.{k}: required" for k in missing)
        if not missing:
            dr_ns, dr_name = split_name(str(dr["name"]), namespace)
            rule = DestinationRuleConfig(
                dr_ns, dr_name, str(dr["canarySubsetName"]), str(dr["stableSubsetName"])
            )
    return IstioConfig(tuple(services), rule, tuple(problems))


# -- destinations ---------------------------------------------------------------------------


def short_host(host: str) -> str:
    """The part of a host before the first dot: `svc.ns.svc.cluster.local` -> `svc`."""
    return host.split(".", 1)[0]


@dataclass(frozen=True, slots=True)
class Roles:
    """How to tell the canary and stable destinations of a route apart."""

    canary_service: str
    stable_service: str
    canary_subset: str | None = None
    stable_subset: str | None = None

    @property
    def by_subset(self) -> bool:
        return self.canary_subset is not None

    def role_of(self, entry: Mapping[str, Any]) -> Role | None:
        dest = entry.get("destination") or {}
        if self.by_subset:
            subset = dest.get("subset")
            if subset == self.canary_subset:
                return "canary"
            if subset == self.stable_subset:
                return "stable"
            return None
        host = short_host(str(dest.get("host", "")))
        if host and host == short_host(self.canary_service):
            return "canary"
        if host and host == short_host(self.stable_service):
            return "stable"
        return None

    def describe(self, role: Role) -> str:
        if self.by_subset:
            subset = self.canary_subset if role == "canary" else self.stable_subset
            return f"{role.capitalize()} DestinationRule subset '{subset}'"
        service = self.canary_service if role == "canary" else self.stable_service
        return f"{role.capitalize()} Service '{service}'"


def weights(route: Mapping[str, Any]) -> list[int]:
    """The weight of each destination of a route, as Istio reads them.

    A lone destination without a weight takes all traffic; otherwise a missing weight is 0.
    """
    entries = route.get("route") or []
    if len(entries) == 1 and entries[0].get("weight") is None:
        return [TOTAL]
    return [int(e.get("weight") or 0) for e in entries]


@dataclass(frozen=True, slots=True)
class Target:
    """One route of one VirtualService whose weights the Rollout manages."""

    kind: RouteKind
    index: int
    label: str
    field: str
    mirror: bool = False
    """A managed mirror route, re-weighted along with the route it copies."""


def route_at(vs: Mapping[str, Any], target: Target) -> Mapping[str, Any]:
    return ((vs.get("spec") or {}).get(target.kind) or [])[target.index]  # type: ignore[no-any-return]


def observed(route: Mapping[str, Any], roles: Roles) -> tuple[int, int]:
    """(canary, stable) weight of a route."""
    canary = stable = 0
    for entry, weight in zip(route.get("route") or [], weights(route), strict=True):
        role = roles.role_of(entry)
        if role == "canary":
            canary += weight
        elif role == "stable":
            stable += weight
    return canary, stable


def destination_problems(
    route: Mapping[str, Any], roles: Roles, where: str, field: str
) -> list[str]:
    """Messages for a canary or stable destination missing (or doubled) in a route."""
    found: dict[Role, int] = {"canary": 0, "stable": 0}
    for entry in route.get("route") or []:
        seen = roles.role_of(entry)
        if seen:
            found[seen] += 1
    problems = []
    both: tuple[Role, Role] = ("canary", "stable")
    for role in both:
        if found[role] == 0:
            problems.append(f"{field}: {roles.describe(role)} not found in {where}")
        elif found[role] > 1:
            problems.append(
                f"{field}: {roles.describe(role)} appears {found[role]} times in {where}; "
                f"rolloutd needs exactly one destination for it"
            )
    return problems


# -- which routes -----------------------------------------------------------------------------


def _match_ports(route: Mapping[str, Any]) -> set[int | None]:
    return {_int_or_none(m.get("port")) for m in route.get("match") or []}


def _tls_matches(route: Mapping[str, Any], sel: TlsSelector) -> bool:
    ports = _match_ports(route)
    if len(ports) > 1:
        return False
    port = next(iter(ports), None)
    if sel.port is not None and port != sel.port:
        return False
    hosts = {str(h) for m in route.get("match") or [] for h in m.get("sniHosts") or []}
    return sel.sni_hosts is None or hosts == set(sel.sni_hosts)


def _tcp_matches(route: Mapping[str, Any], sel: TcpSelector) -> bool:
    ports = _match_ports(route)
    if len(ports) > 1:
        return False
    return sel.port is None or next(iter(ports), None) == sel.port


def resolve_targets(
    vs: Mapping[str, Any],
    cfg: VirtualServiceConfig,
    roles: Roles,
    managed_routes: Sequence[str] = (),
) -> tuple[list[Target], list[str]]:
    """The routes of `vs` the Rollout manages, and problems (with field paths) if any."""
    spec = vs.get("spec") or {}
    http: list[JsonDict] = list(spec.get("http") or [])
    tls: list[JsonDict] = list(spec.get("tls") or [])
    tcp: list[JsonDict] = list(spec.get("tcp") or [])
    where = f"the defined Virtual Service {cfg.ref}"
    targets: list[Target] = []
    problems: list[str] = []

    if cfg.routes is not None and "http" not in spec:
        # Argo checks the named HTTP routes only when the VirtualService has `spec.http`: a
        # TLS- or TCP-only VirtualService is managed through its TLS and TCP routes alone.
        pass
    elif cfg.routes is not None:
        for i, name in enumerate(cfg.routes):
            index = next((k for k, r in enumerate(http) if r.get("name") == name), None)
            if index is None:
                problems.append(
                    f"{cfg.field}.routes[{i}]: HTTP Route '{name}' is not found in {where}."
                )
            else:
                field = f"{cfg.field}.routes[{i}]"
                targets.append(Target("http", index, f"http route {name}", field))
    elif cfg.tls_routes is None and cfg.tcp_routes is None:
        own = [k for k, r in enumerate(http) if r.get("name") not in managed_routes]
        if len(own) != 1:
            problems.append(
                f"{cfg.field}.routes: spec.http[] should be set in VirtualService {cfg.ref} and "
                f"it must have exactly one route when omitting {cfg.field}.routes "
                f"(it has {len(own)})"
            )
        else:
            only = http[own[0]].get("name")
            label = f"http route {only}" if only else f"http route [{own[0]}]"
            targets.append(Target("http", own[0], label, cfg.field))

    for sel in cfg.tls_routes or ():
        found = [k for k, r in enumerate(tls) if _tls_matches(r, sel)]
        if not found:
            hosts = sorted(sel.sni_hosts or ())
            problems.append(
                f"{sel.field}: No matching TLS routes found in {where} "
                f"(port {sel.port}, sniHosts {hosts})."
            )
        targets.extend(Target("tls", k, f"tls route [{k}]", sel.field) for k in found)

    for tsel in cfg.tcp_routes or ():
        found = [k for k, r in enumerate(tcp) if _tcp_matches(r, tsel)]
        if not found:
            problems.append(
                f"{tsel.field}: No matching TCP routes found in {where} (port {tsel.port})."
            )
        targets.extend(Target("tcp", k, f"tcp route [{k}]", tsel.field) for k in found)

    # Mirror routes we manage carry a copy of the weighted destinations: keep them in step.
    for k, r in enumerate(http):
        if r.get("name") in managed_routes and r.get("mirror") and _has_both(r, roles):
            targets.append(
                Target("http", k, f"mirror route {r.get('name')}", cfg.field, mirror=True)
            )

    if not targets and not problems:
        # No spec.http and no TLS/TCP route selected: there would be nothing to shift.
        problems.append(
            f"{cfg.field}: {where} has no spec.http, and no tlsRoutes or tcpRoutes are set "
            "to select its TLS or TCP routes"
        )
    unique: list[Target] = []
    seen: set[tuple[str, int]] = set()
    for t in targets:
        if (t.kind, t.index) not in seen:
            seen.add((t.kind, t.index))
            unique.append(t)
    for t in unique:
        route = route_at(vs, t)
        problems.extend(destination_problems(route, roles, f"{t.label} of {cfg.ref}", t.field))
    return unique, problems


def _has_both(route: Mapping[str, Any], roles: Roles) -> bool:
    found = {roles.role_of(e) for e in route.get("route") or []}
    return {"canary", "stable"} <= found


# -- weights ------------------------------------------------------------------------------------


def weight_ops(
    route: Mapping[str, Any],
    base: str,
    roles: Roles,
    canary_weight: int,
    additional: Mapping[str, int] | None = None,
    *,
    where: str = "route",
) -> list[JsonOp]:
    """Ops that give a route `canary_weight` to canary, the rest (after others) to stable.

    `base` is the JSON pointer of the route (`/spec/http/0`). `additional` maps experiment
    Service names to their weights; a missing one is appended. Every other destination keeps
    its weight, so stable gets `100 - canary - sum(additional) - sum(others)`.
    """
    if not 0 <= canary_weight <= TOTAL:
        raise RouterError(f"canary weight {canary_weight} is outside 0..{TOTAL}")
    # Experiments are separate Services, so they only fit host-level routing.
    extra = {} if roles.by_subset else {short_host(k): v for k, v in (additional or {}).items()}
    entries: list[Mapping[str, Any]] = list(route.get("route") or [])
    current = weights(route)
    wanted: list[int | None] = []  # None: leave this destination alone
    stable_at: int | None = None
    foreign = 0
    seen_extra: set[str] = set()
    for i, entry in enumerate(entries):
        role = roles.role_of(entry)
        host = short_host(str((entry.get("destination") or {}).get("host", "")))
        if role == "canary":
            wanted.append(canary_weight)
        elif role == "stable":
            if stable_at is not None:
                raise RouterError(f"{where}: {roles.describe('stable')} appears more than once")
            stable_at = i
            wanted.append(None)
        elif host in extra and host not in seen_extra:
            seen_extra.add(host)
            wanted.append(extra[host])
        else:
            foreign += current[i]
            wanted.append(None)
    if stable_at is None:
        raise RouterError(f"{where}: {roles.describe('stable')} not found")
    if not any(roles.role_of(e) == "canary" for e in entries):
        raise RouterError(f"{where}: {roles.describe('canary')} not found")
    if sum(1 for e in entries if roles.role_of(e) == "canary") > 1:
        raise RouterError(f"{where}: {roles.describe('canary')} appears more than once")
    appended = {h: w for h, w in extra.items() if h not in seen_extra}
    stable = TOTAL - canary_weight - sum(extra.values()) - foreign
    if stable < 0:
        raise RouterError(
            f"{where}: cannot route {canary_weight}% to canary: destinations rolloutd does "
            f"not manage already take {foreign}% (and experiments "
            f"{sum(extra.values())}%), so stable would get {stable}%"
        )
    wanted[stable_at] = stable

    ops: list[JsonOp] = []
    for i, (entry, want) in enumerate(zip(entries, wanted, strict=True)):
        if want is None:
            continue
        have = entry.get("weight")
        if have is None or float(have) != want:
            ops.append(set_op(f"{base}/route/{i}/weight", want, present=have is not None))
    port = (entries[0].get("destination") or {}).get("port") if entries else None
    for host, w in sorted(appended.items()):
        dest: JsonDict = {"host": host}
        if port:
            dest["port"] = copy.deepcopy(port)
        entry = {"destination": dest, "weight": w}
        ops.append({"op": "add", "path": f"{base}/route/-", "value": entry})
    return ops


def virtual_service_weight_ops(
    vs: Mapping[str, Any],
    targets: Sequence[Target],
    roles: Roles,
    canary_weight: int,
    additional: Mapping[str, int] | None = None,
) -> list[JsonOp]:
    """Weight ops for every target route of one VirtualService."""
    meta = vs.get("metadata") or {}
    ref = f"{meta.get('namespace', '')}/{meta.get('name', '')}"
    ops: list[JsonOp] = []
    for t in targets:
        ops.extend(
            weight_ops(
                route_at(vs, t),
                pointer("spec", t.kind, t.index),
                roles,
                canary_weight,
                additional,
                where=f"{t.field}: {t.label} of VirtualService {ref}",
            )
        )
    return ops


def carries(route: Mapping[str, Any], roles: Roles, canary_weight: int) -> bool:
    """Whether a route sends `canary_weight` to canary and its weights add up to 100."""
    canary, _ = observed(route, roles)
    return canary == canary_weight and sum(weights(route)) == TOTAL


# -- managed routes (setHeaderRoute / setMirrorRoute) -------------------------------------------


def canary_destination(weighted: Mapping[str, Any], roles: Roles) -> JsonDict:
    """The destination a header or mirror route sends to: the weighted route's canary
    destination (host and subset), with the port of the weighted route's first destination."""
    entries = list(weighted.get("route") or [])
    canary = next((e for e in entries if roles.role_of(e) == "canary"), None)
    if canary is None:
        raise RouterError(f"{roles.describe('canary')} not found in the weighted route")
    source = canary.get("destination") or {}
    dest: JsonDict = {"host": source.get("host")}
    if source.get("subset"):
        dest["subset"] = source["subset"]
    port = (entries[0].get("destination") or {}).get("port")
    if port:
        dest["port"] = copy.deepcopy(port)
    return dest


def header_route(
    name: str, matches: Sequence[Mapping[str, str | None]], destination: Mapping[str, Any]
) -> JsonDict:
    """A route sending requests whose headers match (any one match block) 100% to canary.

    Each element of `matches` is `{"header": name, "exact"|"regex"|"prefix": value}`.
    """
    blocks: list[JsonDict] = []
    for m in matches:
        value = {k: m[k] for k in ("exact", "regex", "prefix") if m.get(k) is not None}
        if len(value) != 1:
            raise RouterError(
                f"setHeaderRoute '{name}': header '{m.get('header')}' needs exactly one of "
                f"exact, regex or prefix"
            )
        blocks.append({"headers": {str(m["header"]): value}})
    return {
        "name": name,
        "match": blocks,
        "route": [{"destination": copy.deepcopy(dict(destination)), "weight": TOTAL}],
    }


_MATCH_KEYS = {"path": "uri"}


def mirror_route(
    name: str,
    matches: Sequence[Mapping[str, Any]],
    percentage: float,
    weighted: Mapping[str, Any],
    mirror: Mapping[str, Any],
) -> JsonDict:
    """A route that keeps the weighted route's split for matching requests and mirrors
    `percentage` of them to canary. Argo's `path` becomes Istio's `uri`."""
    blocks = [{_MATCH_KEYS.get(k, k): copy.deepcopy(v) for k, v in m.items()} for m in matches]
    return {
        "name": name,
        "match": blocks,
        "route": copy.deepcopy(list(weighted.get("route") or [])),
        "mirror": copy.deepcopy(dict(mirror)),
        "mirrorPercentage": {"value": float(percentage)},
    }


def _same(a: Any, b: Any) -> bool:
    """Deep equality where 100 == 100.0 (the API server may return either)."""
    return bool(a == b)


def place_route_ops(
    http: Sequence[Mapping[str, Any]], route: Mapping[str, Any], managed_order: Sequence[str]
) -> list[JsonOp]:
    """Ops that put `route` in `spec.http` with the managed routes on top, in managedRoutes
    order, and the user's routes after them in their own order.

    Uses one `add` or `replace` of that route when that reaches the wanted order, else one
    `replace` of the whole list (a JSON patch is applied atomically, so Istio never sees a
    half-done list).
    """
    name = route.get("name")
    if name not in managed_order:
        raise RouterError(
            f"route '{name}' is not listed in spec.strategy.canary.trafficRouting.managedRoutes"
        )
    current = [dict(r) for r in http]
    others = [r for r in current if r.get("name") != name]
    rank = {n: i for i, n in enumerate(managed_order)}
    managed = sorted(
        [r for r in others if r.get("name") in rank] + [dict(route)],
        key=lambda r: rank[str(r.get("name"))],
    )
    wanted = managed + [r for r in others if r.get("name") not in rank]
    if _same(current, wanted):
        return []
    existing = next((i for i, r in enumerate(current) if r.get("name") == name), None)
    if existing is not None:
        candidate = [*current[:existing], dict(route), *current[existing + 1 :]]
        if _same(candidate, wanted):
            return [{"op": "replace", "path": f"/spec/http/{existing}", "value": dict(route)}]
    else:
        for pos in range(len(current) + 1):
            if _same([*current[:pos], dict(route), *current[pos:]], wanted):
                return [{"op": "add", "path": f"/spec/http/{pos}", "value": dict(route)}]
    return [set_op("/spec/http", wanted, present=bool(http))]


def remove_routes_ops(http: Sequence[Mapping[str, Any]], names: Sequence[str]) -> list[JsonOp]:
    """`remove` ops for the routes named `names`, last index first so indices stay valid."""
    doomed = [i for i, r in enumerate(http) if r.get("name") in set(names)]
    return [{"op": "remove", "path": f"/spec/http/{i}"} for i in reversed(doomed)]


# -- DestinationRule subsets ----------------------------------------------------------------------


def subset_ops(
    rule: Mapping[str, Any],
    hashes: Mapping[str, str | None],
    rollout_name: str,
    *,
    field: str = f"{FIELD}.destinationRule",
) -> list[JsonOp]:
    """Ops that put each subset's pod hash into its `labels` (None removes the label) and mark
    the rule as managed by the Rollout. Other subsets and fields are not touched."""
    subsets: list[Mapping[str, Any]] = list((rule.get("spec") or {}).get("subsets") or [])
    meta = rule.get("metadata") or {}
    ref = f"{meta.get('namespace', '')}/{meta.get('name', '')}"
    ops: list[JsonOp] = []
    for subset_name, pod_hash in hashes.items():
        index = next((i for i, s in enumerate(subsets) if s.get("name") == subset_name), None)
        if index is None:
            raise RouterError(f"{field}: subset '{subset_name}' not found in DestinationRule {ref}")
        labels = subsets[index].get("labels")
        base = pointer("spec", "subsets", index, "labels")
        if pod_hash:
            if labels is None:
                ops.append({"op": "add", "path": base, "value": {HASH_LABEL: pod_hash}})
            elif labels.get(HASH_LABEL) != pod_hash:
                ops.append(
                    set_op(base + pointer(HASH_LABEL), pod_hash, present=HASH_LABEL in labels)
                )
        elif labels and HASH_LABEL in labels:
            ops.append({"op": "remove", "path": base + pointer(HASH_LABEL)})
    annotations = meta.get("annotations")
    if annotations is None:
        value = {MANAGED_BY: rollout_name}
        ops.append({"op": "add", "path": "/metadata/annotations", "value": value})
    elif annotations.get(MANAGED_BY) != rollout_name:
        ops.append(
            set_op(
                pointer("metadata", "annotations", MANAGED_BY),
                rollout_name,
                present=MANAGED_BY in annotations,
            )
        )
    return ops


def release_ops(rule: Mapping[str, Any], rollout_name: str) -> list[JsonOp]:
    """Ops that give a DestinationRule back when `rollout_name` no longer uses it: remove the
    managed-by annotation and the pod-hash label of every subset, as Argo does. Nothing when
    the rule is not (or no longer) marked as that Rollout's."""
    meta = rule.get("metadata") or {}
    if (meta.get("annotations") or {}).get(MANAGED_BY) != rollout_name:
        return []
    ops: list[JsonOp] = [{"op": "remove", "path": pointer("metadata", "annotations", MANAGED_BY)}]
    subsets: list[Mapping[str, Any]] = list((rule.get("spec") or {}).get("subsets") or [])
    for index, subset in enumerate(subsets):
        if HASH_LABEL in (subset.get("labels") or {}):
            ops.append(
                {"op": "remove", "path": pointer("spec", "subsets", index, "labels", HASH_LABEL)}
            )
    return ops
