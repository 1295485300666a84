"""The Apache APISIX traffic router: backend weights in an `apisix.apache.org/v2` ApisixRoute.

Configured as in Argo Rollouts: `trafficRouting.apisix.route: {name, rules}`. `rules` names the
HTTP rules (`spec.http[].name`) whose backends carry the split; without it, the rule named like
the route. In each such rule the canary Service's backend gets the canary weight and the stable
Service's backend the rest.

Weights in an ApisixRoute are relative (the ingress controller turns them into an upstream's
weighted round robin; a backend without a weight counts as 100, its default). As the other
routers do, rolloutd keeps the managed rules on a 0..100 scale: backends it does not manage keep
their weights exactly and read as percentages, stable gets `100 - canary - others`, and
`read_weight` reports each backend's share of the rule's sum. Unlike Argo, which writes the
whole `spec.http` back with an update, only the weights that differ are patched (JSON patch
guarded by resourceVersion), and a weight someone changed by hand is put back.

Header routes (`setHeaderRoute`), as in Argo: a second ApisixRoute named after the managed
route, owned by the Rollout, holding the managed rules with the canary backend only (weight
100), the rule's priority plus one, and `match.exprs` built from the header matches (exact ->
`Equal`, regex and prefix -> `RegexMatch`; a prefix is escaped, Argo does not). Unlike Argo, the
copy holds only the managed rules, not every rule of the route, so other rules are not served
twice. An ApisixRoute of that name that the Rollout does not own is refused. It is deleted when
the step removes it, at the end of the rollout and on abort (`remove_managed_routes`), and with
the Rollout (ownerReference). Mirror routes are not supported (Argo ignores them; rolloutd says
so). Experiment destinations are refused with an error rather than ignored.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from rolloutd.kube.client import ApiError
from rolloutd.kube.resources import Resource
from rolloutd.traffic.contract import (
    API_VERSION,
    HeaderMatch,
    HeaderRoute,
    JsonDict,
    MirrorRoute,
    ObjectRef,
    ObservedWeight,
    RouterContext,
    RouterError,
    VerifyResult,
    WeightDestination,
)
from rolloutd.traffic.kit import owned_by_rollout
from rolloutd.traffic.patching import JsonOp, apply_plan, pointer, set_op

FIELD = "spec.strategy.canary.trafficRouting.apisix"
TOTAL = 100
DEFAULT_WEIGHT = 100  # the ingress controller's weight for a backend without one


@dataclass(frozen=True, slots=True)
class ApisixConfig:
    route: str
    rules: tuple[str, ...]
    problems: tuple[str, ...] = ()


def parse_config(config: Mapping[str, Any]) -> ApisixConfig:
    """The route and rules a config names, with problems naming their fields."""
    route = config.get("route")
    if (
        not isinstance(route, Mapping)
        or not isinstance(route.get("name"), str)
        or not route["name"]
    ):
        return ApisixConfig("", (), (f"{FIELD}.route.name: name the ApisixRoute to edit",))
    name = str(route["name"])
    rules = route.get("rules")
    if rules is None or rules == []:
        return ApisixConfig(name, (name,))
    if isinstance(rules, str) or not isinstance(rules, Sequence):
        return ApisixConfig(name, (), (f"{FIELD}.route.rules: must be a list of rule names",))
    problems = tuple(
        f"{FIELD}.route.rules[{i}]: must be a rule name"
        for i, r in enumerate(rules)
        if not isinstance(r, str) or not r
    )
    return ApisixConfig(name, tuple(str(r) for r in rules), problems)


def _weight(backend: Mapping[str, Any]) -> int:
    value = backend.get("weight")
    return DEFAULT_WEIGHT if value is None else int(value)


def _http(route: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return list((route.get("spec") or {}).get("http") or [])


def rule_index(route: Mapping[str, Any], rule: str) -> int | None:
    return next((i for i, r in enumerate(_http(route)) if r.get("name") == rule), None)


def rule_problems(
    route: Mapping[str, Any], cfg: ApisixConfig, stable: str, canary: str
) -> list[str]:
    """Each managed rule must exist and have a backend for the stable and canary Services."""
    where = f"ApisixRoute {(route.get('metadata') or {}).get('namespace')}/{cfg.route}"
    problems: list[str] = []
    for i, rule in enumerate(cfg.rules):
        field = f"{FIELD}.route.rules[{i}]" if cfg.rules != (cfg.route,) else f"{FIELD}.route"
        index = rule_index(route, rule)
        if index is None:
            problems.append(f"{field}: HTTP rule '{rule}' not found in {where} (spec.http)")
            continue
        names = [b.get("serviceName") for b in _http(route)[index].get("backends") or []]
        for role, service in (("stable", stable), ("canary", canary)):
            if service not in names:
                problems.append(
                    f"{field}: HTTP rule '{rule}' of {where} has no backend for the {role} "
                    f"Service '{service}'"
                )
    return problems


def shares(rule: Mapping[str, Any], stable: str, canary: str) -> tuple[int, int, int]:
    """(canary %, stable %, raw sum) of a rule's backends; zeros when all weights are 0."""
    backends = rule.get("backends") or []
    total = sum(_weight(b) for b in backends)
    if total <= 0:
        return 0, 0, 0
    canary_raw = sum(_weight(b) for b in backends if b.get("serviceName") == canary)
    stable_raw = sum(_weight(b) for b in backends if b.get("serviceName") == stable)
    return round(TOTAL * canary_raw / total), round(TOTAL * stable_raw / total), total


def weight_ops(
    route: Mapping[str, Any], cfg: ApisixConfig, stable: str, canary: str, weight: int
) -> list[JsonOp]:
    """Ops that give canary `weight` and stable the rest in every managed rule."""
    if not 0 <= weight <= TOTAL:
        raise RouterError(f"canary weight {weight} is outside 0..{TOTAL}")
    problems = rule_problems(route, cfg, stable, canary)
    if problems:
        raise RouterError("; ".join(problems))
    ops: list[JsonOp] = []
    http = _http(route)
    for rule in cfg.rules:
        index = rule_index(route, rule)
        assert index is not None  # checked above
        backends = list(http[index].get("backends") or [])
        foreign = sum(_weight(b) for b in backends if b.get("serviceName") not in (stable, canary))
        stable_weight = TOTAL - weight - foreign
        if stable_weight < 0:
            raise RouterError(
                f"{FIELD}.route: cannot route {weight}% to canary in HTTP rule '{rule}' of "
                f"ApisixRoute {cfg.route}: other backends already take {foreign} of {TOTAL}, "
                f"so stable would get {stable_weight}"
            )
        wanted = {canary: weight, stable: stable_weight}
        for b, backend in enumerate(backends):
            service = backend.get("serviceName")
            if service in wanted and backend.get("weight") != wanted[service]:
                path = pointer("spec", "http", index, "backends", b, "weight")
                ops.append(set_op(path, wanted[service], present="weight" in backend))
    return ops


def header_exprs(matches: Sequence[HeaderMatch]) -> list[JsonDict]:
    """APISIX `match.exprs` for header matches, as Argo writes them."""
    exprs: list[JsonDict] = []
    for m in matches:
        subject = {"scope": "Header", "name": m.header_name}
        if m.exact:
            exprs.append({"subject": dict(subject), "op": "Equal", "value": m.exact})
        if m.regex:
            exprs.append({"subject": dict(subject), "op": "RegexMatch", "value": m.regex})
        if m.prefix:
            value = f"^{re.escape(m.prefix)}.*"
            exprs.append({"subject": dict(subject), "op": "RegexMatch", "value": value})
    return exprs


def header_route_spec(
    route: Mapping[str, Any], cfg: ApisixConfig, canary: str, matches: Sequence[HeaderMatch]
) -> JsonDict:
    """The spec of the header ApisixRoute: the managed rules, canary only, matched on headers."""
    http: list[JsonDict] = []
    for rule in cfg.rules:
        index = rule_index(route, rule)
        if index is None:
            raise RouterError(f"{FIELD}.route: HTTP rule '{rule}' not found in {cfg.route}")
        copied = copy.deepcopy(dict(_http(route)[index]))
        backend = next(b for b in copied.get("backends") or [] if b.get("serviceName") == canary)
        copied["backends"] = [{**backend, "weight": TOTAL}]
        copied["priority"] = int(copied.get("priority") or 0) + 1
        match = dict(copied.get("match") or {})
        match["exprs"] = header_exprs(matches)
        copied["match"] = match
        http.append(copied)
    spec = copy.deepcopy(dict(route.get("spec") or {}))
    spec["http"] = http
    return spec


class Router:
    """ApisixRoute router. See the module docstring."""

    API_VERSION: ClassVar[int] = API_VERSION
    name: ClassVar[str] = "apisix"

    def __init__(self, settings: Mapping[str, Any] | None = None) -> None:
        version = str((settings or {}).get("apiVersion") or "v2").rsplit("/", 1)[-1]
        self.routes = Resource("apisix.apache.org", version, "apisixroutes", "ApisixRoute")

    def watched_resources(self) -> Sequence[Resource]:
        return [self.routes]

    def references(self, config: Mapping[str, Any], namespace: str) -> Sequence[ObjectRef]:
        cfg = parse_config(config)
        return [ObjectRef(self.routes, namespace, cfg.route)] if cfg.route else []

    # -- helpers ------------------------------------------------------------------------------

    @staticmethod
    def _service_problems(ctx: RouterContext) -> list[str]:
        return [
            f"spec.strategy.canary.{field}: required by the APISIX router"
            for field, value in (
                ("canaryService", ctx.canary_service),
                ("stableService", ctx.stable_service),
            )
            if not value
        ]

    def _config(self, ctx: RouterContext) -> ApisixConfig:
        cfg = parse_config(ctx.config)
        problems = list(cfg.problems) + self._service_problems(ctx)
        if problems:
            raise RouterError("; ".join(problems))
        return cfg

    def _route(self, ctx: RouterContext, cfg: ApisixConfig) -> JsonDict:
        route = ctx.objects.get(self.routes, ctx.namespace, cfg.route)
        if route is None:
            raise RouterError(
                f"{FIELD}.route.name: ApisixRoute {ctx.namespace}/{cfg.route} not found"
            )
        return route

    @staticmethod
    def _owned(obj: Mapping[str, Any], ctx: RouterContext) -> bool:
        return any(
            ref.get("uid") == ctx.rollout_uid and ref.get("controller")
            for ref in (obj.get("metadata") or {}).get("ownerReferences") or []
        )

    # -- the contract --------------------------------------------------------------------------

    def validate(self, ctx: RouterContext) -> Sequence[str]:
        cfg = parse_config(ctx.config)
        problems = list(cfg.problems) + self._service_problems(ctx)
        if problems:
            return problems
        route = ctx.objects.get(self.routes, ctx.namespace, cfg.route)
        if route is None:
            return [f"{FIELD}.route.name: ApisixRoute {ctx.namespace}/{cfg.route} not found"]
        return rule_problems(route, cfg, ctx.stable_service, ctx.canary_service)

    def read_weight(self, ctx: RouterContext) -> Sequence[ObservedWeight]:
        cfg = parse_config(ctx.config)
        route = ctx.objects.get(self.routes, ctx.namespace, cfg.route) if cfg.route else None
        if route is None or cfg.problems:
            return []
        result = []
        for rule in cfg.rules:
            index = rule_index(route, rule)
            if index is None:
                continue
            canary, stable, _ = shares(_http(route)[index], ctx.stable_service, ctx.canary_service)
            label = f"ApisixRoute {ctx.namespace}/{cfg.route}, HTTP rule {rule}"
            result.append(ObservedWeight(label, canary, stable, TOTAL))
        return result

    async def verify_weight(self, ctx: RouterContext, weight: int) -> VerifyResult:
        # The ingress controller takes the ApisixRoute as stored and reports no per-weight
        # status, so reading the stored weights back is the check.
        if self.validate(ctx):
            return VerifyResult.NOT_VERIFIED
        seen = self.read_weight(ctx)
        ok = bool(seen) and all(o.canary == weight and o.stable == TOTAL - weight for o in seen)
        return VerifyResult.VERIFIED if ok else VerifyResult.NOT_VERIFIED

    async def set_weight(
        self, ctx: RouterContext, weight: int, additional: Sequence[WeightDestination] = ()
    ) -> bool:
        cfg = self._config(ctx)
        if additional:
            raise RouterError(
                f"{FIELD}: the APISIX router does not route to experiment services "
                f"({', '.join(d.service_name for d in additional)})"
            )
        route = self._route(ctx, cfg)

        def plan(obj: JsonDict) -> list[JsonOp]:
            return weight_ops(obj, cfg, ctx.stable_service, ctx.canary_service, weight)

        plan(route)  # a problem raises before any write
        written = await apply_plan(ctx.kube, ctx.objects, self.routes, route, plan)
        return written is not None

    async def update_hash(
        self, ctx: RouterContext, canary_hash: str | None, stable_hash: str | None
    ) -> bool:
        return False  # backends are Services; the controller moves their selectors

    async def set_header_route(self, ctx: RouterContext, route: HeaderRoute) -> bool:
        cfg = self._config(ctx)
        existing = ctx.objects.get(self.routes, ctx.namespace, route.name)
        if existing is not None and not self._owned(existing, ctx):
            raise RouterError(
                f"setHeaderRoute '{route.name}': ApisixRoute {ctx.namespace}/{route.name} exists "
                f"and is not owned by Rollout {ctx.namespace}/{ctx.rollout_name}; rolloutd only "
                f"edits a header route it created (rename the managed route or delete it)"
            )
        if not route.match:
            return await self._delete(ctx, route.name, existing)
        main = self._route(ctx, cfg)
        problems = rule_problems(main, cfg, ctx.stable_service, ctx.canary_service)
        if problems:
            raise RouterError("; ".join(problems))
        spec = header_route_spec(main, cfg, ctx.canary_service, route.match)
        if existing is None:
            body: JsonDict = {
                "apiVersion": self.routes.api_version,
                "kind": self.routes.kind,
                "metadata": {
                    "name": route.name,
                    "namespace": ctx.namespace,
                    "labels": dict((main.get("metadata") or {}).get("labels") or {}),
                    "ownerReferences": owned_by_rollout(ctx),
                },
                "spec": spec,
            }
            try:
                created = await ctx.kube.create(self.routes, body, namespace=ctx.namespace)
            except ApiError as exc:
                if not exc.conflict:
                    raise
                raise RouterError(
                    f"setHeaderRoute '{route.name}': ApisixRoute {ctx.namespace}/{route.name} "
                    f"appeared meanwhile; will try again"
                ) from exc
            ctx.objects.remember(self.routes, created)
            return True

        def plan(obj: JsonDict) -> list[JsonOp]:
            # Ours entirely: the spec is replaced when it differs.
            return [] if obj.get("spec") == spec else [set_op("/spec", spec, present=True)]

        return await apply_plan(ctx.kube, ctx.objects, self.routes, existing, plan) is not None

    async def _delete(self, ctx: RouterContext, name: str, existing: JsonDict | None) -> bool:
        if existing is None or not self._owned(existing, ctx):
            return False
        try:
            await ctx.kube.delete(self.routes, name, namespace=ctx.namespace)
        except ApiError as exc:
            if exc.not_found:
                return False
            raise
        return True

    async def set_mirror_route(self, ctx: RouterContext, route: MirrorRoute) -> bool:
        if not route.match:
            return False
        raise RouterError(
            f"setMirrorRoute '{route.name}': the APISIX router does not support mirror routes"
        )

    async def remove_managed_routes(self, ctx: RouterContext) -> bool:
        changed = False
        for name in ctx.managed_routes:
            existing = ctx.objects.get(self.routes, ctx.namespace, name)
            changed = await self._delete(ctx, name, existing) or changed
        return changed
