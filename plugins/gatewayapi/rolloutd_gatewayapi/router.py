"""A sample third-party traffic router: Gateway API `HTTPRoute` backendRefs weights.

It lives outside rolloutd's workspace on purpose: it is what a plugin author writes, and it is
installed like any plugin (`pip install plugins/gatewayapi`). It uses only the router contract
(`rolloutd.traffic`), rolloutd's API client types (`rolloutd.kube`) and the stdlib.

Configuration follows Argo's Gateway API plugin, under
`trafficRouting.plugins["argoproj-labs/gatewayAPI"]`:

    {httpRoute: <name>, namespace: <ns>}                        # one route
    {httpRoutes: [{name: <name>, useHeaderRoutes: true}], ...}  # several

In each HTTPRoute, every rule whose `backendRefs` name the stable or the canary Service is
managed (and must name both). The canary gets the percentage asked for, stable gets
`100 - canary - the weights of the rule's other backendRefs`; those other backendRefs are kept
as they are (Argo's plugin drops them). Gateway API weights are relative, with a default of 1,
so `read_weight` reports shares of each rule's sum. Header and mirror routes are not supported
by this sample.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from rolloutd.kube.resources import Resource
from rolloutd.traffic.contract import (
    API_VERSION,
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
from rolloutd.traffic.patching import JsonOp, apply_plan, pointer, set_op

GROUP = "gateway.networking.k8s.io"
FIELD = "spec.strategy.canary.trafficRouting.plugins[argoproj-labs/gatewayAPI]"
TOTAL = 100
DEFAULT_WEIGHT = 1  # Gateway API's default for a backendRef without a weight


@dataclass(frozen=True, slots=True)
class RouteRef:
    namespace: str
    name: str
    field: str

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.name}"


def parse_config(config: Mapping[str, Any], namespace: str) -> tuple[list[RouteRef], list[str]]:
    """The HTTPRoutes a config names, and problems with field paths."""
    ns = str(config.get("namespace") or namespace)
    if config.get("httpRoute"):
        return [RouteRef(ns, str(config["httpRoute"]), f"{FIELD}.httpRoute")], []
    routes = config.get("httpRoutes")
    if not routes or not isinstance(routes, Sequence) or isinstance(routes, str):
        return [], [f"{FIELD}: set httpRoute or httpRoutes"]
    refs: list[RouteRef] = []
    problems: list[str] = []
    for i, entry in enumerate(routes):
        field = f"{FIELD}.httpRoutes[{i}]"
        if not isinstance(entry, Mapping) or not entry.get("name"):
            problems.append(f"{field}.name: required")
        else:
            refs.append(RouteRef(ns, str(entry["name"]), f"{field}.name"))
    return refs, problems


def _names(ref: Mapping[str, Any], service: str, route_ns: str) -> bool:
    """Whether a backendRef points at the Service `service` in the route's namespace."""
    return (
        ref.get("name") == service
        and ref.get("kind", "Service") == "Service"
        and ref.get("group", "") in ("", None)
        and ref.get("namespace", route_ns) == route_ns
    )


def _weight(ref: Mapping[str, Any]) -> int:
    value = ref.get("weight")
    return DEFAULT_WEIGHT if value is None else int(value)


@dataclass(frozen=True, slots=True)
class Rule:
    index: int
    label: str
    canary: int | None  # index of the canary backendRef
    stable: int | None


def managed_rules(route: Mapping[str, Any], stable: str, canary: str) -> list[Rule]:
    """The rules that name the stable or canary Service."""
    ns = str((route.get("metadata") or {}).get("namespace", ""))
    found = []
    for i, rule in enumerate((route.get("spec") or {}).get("rules") or []):
        refs = rule.get("backendRefs") or []
        c = next((k for k, r in enumerate(refs) if _names(r, canary, ns)), None)
        s = next((k for k, r in enumerate(refs) if _names(r, stable, ns)), None)
        if c is not None or s is not None:
            label = f"rule {rule['name']}" if rule.get("name") else f"rule [{i}]"
            found.append(Rule(i, label, c, s))
    return found


def rule_problems(route: Mapping[str, Any], ref: RouteRef, stable: str, canary: str) -> list[str]:
    rules = managed_rules(route, stable, canary)
    where = f"{ref.field}: HTTPRoute {ref.ref}"
    if not rules:
        return [f"{where} has no rule with backendRefs to Service '{stable}' or '{canary}'"]
    problems = []
    for rule in rules:
        for role, index, service in (
            ("canary", rule.canary, canary),
            ("stable", rule.stable, stable),
        ):
            if index is None:
                problems.append(
                    f"{where}, {rule.label}: {role} Service '{service}' not found in backendRefs"
                )
    return problems


def weight_ops(
    route: Mapping[str, Any], ref: RouteRef, stable: str, canary: str, weight: int
) -> list[JsonOp]:
    """Ops that set canary/stable weights in every managed rule, other backendRefs kept."""
    if not 0 <= weight <= TOTAL:
        raise RouterError(f"canary weight {weight} is outside 0..{TOTAL}")
    problems = rule_problems(route, ref, stable, canary)
    if problems:
        raise RouterError("; ".join(problems))
    rules_spec = (route.get("spec") or {}).get("rules") or []
    ops: list[JsonOp] = []
    for rule in managed_rules(route, stable, canary):
        assert rule.canary is not None and rule.stable is not None  # checked above
        refs = rules_spec[rule.index].get("backendRefs") or []
        foreign = sum(_weight(r) for k, r in enumerate(refs) if k not in (rule.canary, rule.stable))
        stable_weight = TOTAL - weight - foreign
        if stable_weight < 0:
            raise RouterError(
                f"{ref.field}: HTTPRoute {ref.ref}, {rule.label}: cannot route {weight}% to "
                f"canary: other backendRefs already take {foreign} of {TOTAL}"
            )
        for index, want in ((rule.canary, weight), (rule.stable, stable_weight)):
            have = refs[index].get("weight")
            if have is None or int(have) != want:
                path = pointer("spec", "rules", rule.index, "backendRefs", index, "weight")
                ops.append(set_op(path, want, present=have is not None))
    return ops


def shares(route: Mapping[str, Any], stable: str, canary: str) -> list[tuple[str, int, int, int]]:
    """(label, canary %, stable %, raw total) per managed rule that names both Services."""
    rules_spec = (route.get("spec") or {}).get("rules") or []
    result = []
    for rule in managed_rules(route, stable, canary):
        refs = rules_spec[rule.index].get("backendRefs") or []
        total = sum(_weight(r) for r in refs)
        c = _weight(refs[rule.canary]) if rule.canary is not None else 0
        s = _weight(refs[rule.stable]) if rule.stable is not None else 0
        if total > 0:
            result.append((rule.label, round(TOTAL * c / total), round(TOTAL * s / total), total))
        else:
            result.append((rule.label, 0, 0, 0))
    return result


class Router:
    """Gateway API HTTPRoute router (sample third-party plugin)."""

    API_VERSION: ClassVar[int] = API_VERSION
    name: ClassVar[str] = "gatewayapi"

    def __init__(self, settings: Mapping[str, Any] | None = None) -> None:
        version = str((settings or {}).get("apiVersion") or "v1").rsplit("/", 1)[-1]
        self.http_routes = Resource(GROUP, version, "httproutes", "HTTPRoute")

    def watched_resources(self) -> Sequence[Resource]:
        return [self.http_routes]

    def references(self, config: Mapping[str, Any], namespace: str) -> Sequence[ObjectRef]:
        refs, _ = parse_config(config, namespace)
        return [ObjectRef(self.http_routes, r.namespace, r.name) for r in refs]

    def validate(self, ctx: RouterContext) -> Sequence[str]:
        refs, problems = parse_config(ctx.config, ctx.namespace)
        for ref in refs:
            route = ctx.objects.get(self.http_routes, ref.namespace, ref.name)
            if route is None:
                problems.append(f"{ref.field}: HTTPRoute {ref.ref} not found")
            else:
                problems += rule_problems(route, ref, ctx.stable_service, ctx.canary_service)
        return problems

    def read_weight(self, ctx: RouterContext) -> Sequence[ObservedWeight]:
        refs, _ = parse_config(ctx.config, ctx.namespace)
        result = []
        for ref in refs:
            route = ctx.objects.get(self.http_routes, ref.namespace, ref.name)
            if route is None:
                continue
            for label, c, s, _ in shares(route, ctx.stable_service, ctx.canary_service):
                result.append(ObservedWeight(f"HTTPRoute {ref.ref}, {label}", c, s, TOTAL))
        return result

    async def verify_weight(self, ctx: RouterContext, weight: int) -> VerifyResult:
        # Reading back is the check. (A fuller router would also wait for the Gateway
        # controller's `Accepted` condition for the route's current generation.)
        refs, problems = parse_config(ctx.config, ctx.namespace)
        if problems or not refs:
            return VerifyResult.NOT_VERIFIED
        for ref in refs:
            route = ctx.objects.get(self.http_routes, ref.namespace, ref.name)
            if route is None or rule_problems(route, ref, ctx.stable_service, ctx.canary_service):
                return VerifyResult.NOT_VERIFIED
            for _, c, _, total in shares(route, ctx.stable_service, ctx.canary_service):
                if c != weight or total == 0:
                    return VerifyResult.NOT_VERIFIED
        return VerifyResult.VERIFIED

    async def set_weight(
        self, ctx: RouterContext, weight: int, additional: Sequence[WeightDestination] = ()
    ) -> bool:
        refs, problems = parse_config(ctx.config, ctx.namespace)
        if problems:
            raise RouterError("; ".join(problems))
        if additional:
            raise RouterError(f"{FIELD}: this sample router does not route to experiments")
        found: list[tuple[RouteRef, JsonDict]] = []
        for ref in refs:
            route = ctx.objects.get(self.http_routes, ref.namespace, ref.name)
            if route is None:
                raise RouterError(f"{ref.field}: HTTPRoute {ref.ref} not found")
            # Plan all routes before writing any: one bad route leaves every route as it was.
            weight_ops(route, ref, ctx.stable_service, ctx.canary_service, weight)
            found.append((ref, route))
        changed = False
        for ref, route in found:

            def plan(obj: JsonDict, ref: RouteRef = ref) -> list[JsonOp]:
                return weight_ops(obj, ref, ctx.stable_service, ctx.canary_service, weight)

            written = await apply_plan(ctx.kube, ctx.objects, self.http_routes, route, plan)
            changed = changed or written is not None
        return changed

    async def update_hash(
        self, ctx: RouterContext, canary_hash: str | None, stable_hash: str | None
    ) -> bool:
        return False

    async def set_header_route(self, ctx: RouterContext, route: HeaderRoute) -> bool:
        if not route.match:
            return False
        raise RouterError(f"setHeaderRoute '{route.name}': not supported by the gatewayapi sample")

    async def set_mirror_route(self, ctx: RouterContext, route: MirrorRoute) -> bool:
        if not route.match:
            return False
        raise RouterError(f"setMirrorRoute '{route.name}': not supported by the gatewayapi sample")

    async def remove_managed_routes(self, ctx: RouterContext) -> bool:
        return False
