"""The Istio traffic router: weights in VirtualService routes, hashes in DestinationRule subsets.

It reads the objects from the controller's cache (`ctx.objects`), plans each change with the
pure functions in `rolloutd_istio.virtualservice` (see there for the editing rules and where we
differ from Argo Rollouts), and writes it as a minimal JSON patch guarded by the object's
resourceVersion (`rolloutd.traffic.patching`). All VirtualServices are planned before the first
write, so a problem in the second one does not leave the first one half way.

Settings (controller-wide, from the rolloutd ConfigMap): `apiVersion` of `networking.istio.io`
to use, default `v1alpha3` (the version the seed's manifests use; every Istio serves it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

from rolloutd.kube.client import KubeClient
from rolloutd.kube.resources import Resource
from rolloutd.traffic.contract import (
    API_VERSION,
    HeaderRoute,
    JsonDict,
    MirrorRoute,
    ObjectReader,
    ObjectRef,
    ObservedWeight,
    RouterContext,
    RouterError,
    VerifyResult,
    WeightDestination,
)
from rolloutd.traffic.patching import JsonOp, Plan, apply_plan
from rolloutd_istio import virtualservice as vsedit
from rolloutd_istio.virtualservice import (
    IstioConfig,
    Roles,
    Target,
    VirtualServiceConfig,
)

RouteBuilder = Callable[[Mapping[str, Any], Roles], JsonDict]
"""Makes a managed route from the weighted route it goes with."""

GROUP = "networking.istio.io"
DEFAULT_VERSION = "v1alpha3"


class Router:
    """Istio VirtualService (and DestinationRule subset) router. See the module docstring."""

    API_VERSION: ClassVar[int] = API_VERSION
    name: ClassVar[str] = "istio"

    def __init__(self, settings: Mapping[str, Any] | None = None) -> None:
        version = str((settings or {}).get("apiVersion") or DEFAULT_VERSION)
        version = version.rsplit("/", 1)[-1]  # accept "networking.istio.io/v1beta1" too
        self.virtual_services = Resource(GROUP, version, "virtualservices", "VirtualService")
        self.destination_rules = Resource(GROUP, version, "destinationrules", "DestinationRule")

    # -- what to watch ------------------------------------------------------------------------

    def watched_resources(self) -> Sequence[Resource]:
        return [self.virtual_services, self.destination_rules]

    def references(self, config: Mapping[str, Any], namespace: str) -> Sequence[ObjectRef]:
        cfg = vsedit.parse_config(config, namespace)
        refs = [
            ObjectRef(self.virtual_services, vs.namespace, vs.name) for vs in cfg.virtual_services
        ]
        if cfg.destination_rule:
            dr = cfg.destination_rule
            refs.append(ObjectRef(self.destination_rules, dr.namespace, dr.name))
        return refs

    # -- reading ----------------------------------------------------------------------------

    def _config(self, ctx: RouterContext) -> IstioConfig:
        cfg = vsedit.parse_config(ctx.config, ctx.namespace)
        problems = list(cfg.problems) + self._role_problems(ctx, cfg)
        if problems:
            raise RouterError("; ".join(problems))
        return cfg

    @staticmethod
    def _role_problems(ctx: RouterContext, cfg: IstioConfig) -> list[str]:
        if cfg.destination_rule:
            return []
        return [
            f"spec.strategy.canary.{field}: required for Istio host-level traffic splitting"
            for field, value in (
                ("canaryService", ctx.canary_service),
                ("stableService", ctx.stable_service),
            )
            if not value
        ]

    @staticmethod
    def _roles(ctx: RouterContext, cfg: IstioConfig) -> Roles:
        dr = cfg.destination_rule
        if dr:
            return Roles(ctx.canary_service, ctx.stable_service, dr.canary_subset, dr.stable_subset)
        return Roles(ctx.canary_service, ctx.stable_service)

    def _vs(self, ctx: RouterContext, vs: VirtualServiceConfig) -> JsonDict:
        obj = ctx.objects.get(self.virtual_services, vs.namespace, vs.name)
        if obj is None:
            raise RouterError(f"{vs.field}.name: VirtualService {vs.ref} not found")
        return obj

    def validate(self, ctx: RouterContext) -> Sequence[str]:
        cfg = vsedit.parse_config(ctx.config, ctx.namespace)
        problems = list(cfg.problems) + self._role_problems(ctx, cfg)
        if problems:
            return problems
        roles = self._roles(ctx, cfg)
        for vs in cfg.virtual_services:
            obj = ctx.objects.get(self.virtual_services, vs.namespace, vs.name)
            if obj is None:
                problems.append(f"{vs.field}.name: VirtualService {vs.ref} not found")
                continue
            problems.extend(vsedit.resolve_targets(obj, vs, roles, ctx.managed_routes)[1])
        dr = cfg.destination_rule
        if dr:
            rule = ctx.objects.get(self.destination_rules, dr.namespace, dr.name)
            if rule is None:
                problems.append(f"{dr.field}.name: DestinationRule {dr.ref} not found")
            else:
                names = {s.get("name") for s in (rule.get("spec") or {}).get("subsets") or []}
                for key, subset in (
                    ("canarySubsetName", dr.canary_subset),
                    ("stableSubsetName", dr.stable_subset),
                ):
                    if subset not in names:
                        problems.append(
                            f"{dr.field}.{key}: subset '{subset}' not found in "
                            f"DestinationRule {dr.ref}"
                        )
        return problems

    def _observe(self, ctx: RouterContext) -> list[tuple[str, Mapping[str, Any], Roles]]:
        """(label, route, roles) for every managed route that can be read now."""
        try:
            cfg = self._config(ctx)
        except RouterError:
            return []
        roles = self._roles(ctx, cfg)
        found: list[tuple[str, Mapping[str, Any], Roles]] = []
        for vs in cfg.virtual_services:
            obj = ctx.objects.get(self.virtual_services, vs.namespace, vs.name)
            if obj is None:
                continue
            targets, _ = vsedit.resolve_targets(obj, vs, roles, ctx.managed_routes)
            for t in targets:
                route = vsedit.route_at(obj, t)
                if not t.mirror and not vsedit.destination_problems(route, roles, "", ""):
                    found.append((f"VirtualService {vs.ref}, {t.label}", route, roles))
        return found

    def read_weight(self, ctx: RouterContext) -> Sequence[ObservedWeight]:
        result = []
        for label, route, roles in self._observe(ctx):
            canary, stable = vsedit.observed(route, roles)
            result.append(ObservedWeight(label, canary, stable, vsedit.TOTAL))
        return result

    async def verify_weight(self, ctx: RouterContext, weight: int) -> VerifyResult:
        # Istio takes a VirtualService as it is stored (there is no status to wait for without
        # istiod's optional distribution tracking), so reading the stored weights back is the
        # check: every managed route must carry the weight, and its weights must sum to 100.
        try:
            cfg = self._config(ctx)
        except RouterError:
            return VerifyResult.NOT_VERIFIED
        roles = self._roles(ctx, cfg)
        checked = 0
        for vs in cfg.virtual_services:
            obj = ctx.objects.get(self.virtual_services, vs.namespace, vs.name)
            if obj is None:
                return VerifyResult.NOT_VERIFIED
            targets, problems = vsedit.resolve_targets(obj, vs, roles, ctx.managed_routes)
            if problems:
                return VerifyResult.NOT_VERIFIED
            for t in targets:
                if not vsedit.carries(vsedit.route_at(obj, t), roles, weight):
                    return VerifyResult.NOT_VERIFIED
                checked += 1
        return VerifyResult.VERIFIED if checked else VerifyResult.NOT_VERIFIED

    # -- writing ------------------------------------------------------------------------------

    async def _write_all(self, ctx: RouterContext, plans: Sequence[tuple[JsonDict, Plan]]) -> bool:
        # Plan every object from the cache first: a problem anywhere raises before any write.
        for obj, plan in plans:
            plan(obj)
        changed = False
        for obj, plan in plans:
            written = await apply_plan(ctx.kube, ctx.objects, self.virtual_services, obj, plan)
            changed = changed or written is not None
        return changed

    async def set_weight(
        self, ctx: RouterContext, weight: int, additional: Sequence[WeightDestination] = ()
    ) -> bool:
        cfg = self._config(ctx)
        roles = self._roles(ctx, cfg)
        extra = {d.service_name: d.weight for d in additional}

        def planner(vs: VirtualServiceConfig) -> Plan:
            def plan(obj: JsonDict) -> list[JsonOp]:
                targets, problems = vsedit.resolve_targets(obj, vs, roles, ctx.managed_routes)
                if problems:
                    raise RouterError("; ".join(problems))
                return vsedit.virtual_service_weight_ops(obj, targets, roles, weight, extra)

            return plan

        return await self._write_all(
            ctx, [(self._vs(ctx, vs), planner(vs)) for vs in cfg.virtual_services]
        )

    async def update_hash(
        self, ctx: RouterContext, canary_hash: str | None, stable_hash: str | None
    ) -> bool:
        cfg = self._config(ctx)
        dr = cfg.destination_rule
        if dr is None:
            return False  # host-level routing: the controller points the Services instead
        rule = ctx.objects.get(self.destination_rules, dr.namespace, dr.name)
        if rule is None:
            raise RouterError(f"{dr.field}.name: DestinationRule {dr.ref} not found")
        hashes = {dr.canary_subset: canary_hash, dr.stable_subset: stable_hash}

        def plan(obj: JsonDict) -> list[JsonOp]:
            return vsedit.subset_ops(obj, hashes, ctx.rollout_name, field=dr.field)

        written = await apply_plan(ctx.kube, ctx.objects, self.destination_rules, rule, plan)
        return written is not None

    async def release(
        self,
        kube: KubeClient,
        objects: ObjectReader,
        resource: Resource,
        obj: JsonDict,
        rollout_name: str,
    ) -> bool:
        """A DestinationRule the Rollout no longer names: drop our annotation and hash labels
        (Argo's IstioController does the same when the Rollout is gone or lets go of it)."""
        if resource != self.destination_rules:
            return False

        def plan(current: JsonDict) -> list[JsonOp]:
            return vsedit.release_ops(current, rollout_name)

        written = await apply_plan(kube, objects, self.destination_rules, obj, plan)
        return written is not None

    def _weighted_route(
        self, ctx: RouterContext, obj: JsonDict, vs: VirtualServiceConfig, roles: Roles
    ) -> Mapping[str, Any] | None:
        """The first HTTP route whose weights the Rollout manages (None: this VirtualService
        has no HTTP route in the Rollout's care, e.g. a TLS-only entry)."""
        targets, problems = vsedit.resolve_targets(obj, vs, roles, ctx.managed_routes)
        http: list[Target] = [t for t in targets if t.kind == "http" and not t.mirror]
        if not http:
            return None
        if problems:
            raise RouterError("; ".join(problems))
        return vsedit.route_at(obj, http[0])

    async def _place_managed(self, ctx: RouterContext, build: RouteBuilder, what: str) -> bool:
        cfg = self._config(ctx)
        roles = self._roles(ctx, cfg)
        plans: list[tuple[JsonDict, Plan]] = []
        for vs in cfg.virtual_services:
            obj = self._vs(ctx, vs)
            if self._weighted_route(ctx, obj, vs, roles) is None:
                continue

            def plan(current: JsonDict, vs: VirtualServiceConfig = vs) -> list[JsonOp]:
                weighted = self._weighted_route(ctx, current, vs, roles)
                if weighted is None:
                    return []
                route = build(weighted, roles)
                http = (current.get("spec") or {}).get("http") or []
                return vsedit.place_route_ops(http, route, ctx.managed_routes)

            plans.append((obj, plan))
        if not plans:
            raise RouterError(
                f"{vsedit.FIELD}: {what} needs an HTTP route in a VirtualService, and none of "
                f"the configured ones has one"
            )
        return await self._write_all(ctx, plans)

    async def set_header_route(self, ctx: RouterContext, route: HeaderRoute) -> bool:
        if not route.match:
            return await self._remove(ctx, [route.name])
        matches = [
            {"header": m.header_name, "exact": m.exact, "regex": m.regex, "prefix": m.prefix}
            for m in route.match
        ]

        def build(weighted: Mapping[str, Any], roles: Roles) -> JsonDict:
            dest = vsedit.canary_destination(weighted, roles)
            return vsedit.header_route(route.name, matches, dest)

        return await self._place_managed(ctx, build, f"setHeaderRoute '{route.name}'")

    async def set_mirror_route(self, ctx: RouterContext, route: MirrorRoute) -> bool:
        if not route.match:
            return await self._remove(ctx, [route.name])

        def build(weighted: Mapping[str, Any], roles: Roles) -> JsonDict:
            mirror = vsedit.canary_destination(weighted, roles)
            return vsedit.mirror_route(route.name, route.match, route.percentage, weighted, mirror)

        return await self._place_managed(ctx, build, f"setMirrorRoute '{route.name}'")

    async def remove_managed_routes(self, ctx: RouterContext) -> bool:
        return await self._remove(ctx, list(ctx.managed_routes))

    async def _remove(self, ctx: RouterContext, names: Sequence[str]) -> bool:
        if not names:
            return False
        cfg = self._config(ctx)

        def plan(obj: JsonDict) -> list[JsonOp]:
            return vsedit.remove_routes_ops((obj.get("spec") or {}).get("http") or [], names)

        return await self._write_all(
            ctx, [(self._vs(ctx, vs), plan) for vs in cfg.virtual_services]
        )
