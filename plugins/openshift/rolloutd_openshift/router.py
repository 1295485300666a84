"""The OpenShift Route traffic router (`route.openshift.io/v1` Route).

Configured like Argo's OpenShift plugin: `trafficRouting.plugins["argoproj-labs/openshift"]:
{routes: [name or namespace/name, ...]}`. The stable Service is the Route's `spec.to`; the
canary Service is one of `spec.alternateBackends` (added when the canary first gets traffic).

Weights on a Route are relative (integers 0..256; a backend's share is its weight over the sum
of all weights; a missing weight means 100, the API default). How we normalise:

- rolloutd keeps the Route's weights on a 0..100 scale: canary gets the percentage asked for and
  `spec.to` (stable) gets `100 - canary - the weights of the other backends`.
- Alternate backends that are not the canary are someone else's: their weights are kept exactly
  as written (never rescaled) and, since the total stays 100, read as percentages. Give such a
  backend its share on that scale (e.g. 10 for 10%). If the others already take more than
  `100 - canary`, the weight cannot be routed and that is an error naming the Route.
- `read_weight` reports each backend's share, `round(100 * weight / sum of weights)`, so a
  Route someone edited to another scale still reads correctly.
- At weight 0 the canary backend stays in the list with weight 0 (no new connections go to it)
  rather than being removed, so the list changes shape only once.

Unlike Argo's plugin we patch (JSON patch guarded by resourceVersion) instead of replacing the
Route, keep other alternate backends, honour `namespace/name` for reads and writes alike, repair
drift in `alternateBackends` too, and verify by reading back (plus the Route's `Admitted`
condition when a router has reported one).
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

ROUTES = Resource("route.openshift.io", "v1", "routes", "Route")
FIELD = "spec.strategy.canary.trafficRouting.plugins[argoproj-labs/openshift]"
TOTAL = 100
DEFAULT_WEIGHT = 100  # the API server's default for a backend without a weight
MAX_ALTERNATES = 3


@dataclass(frozen=True, slots=True)
class RouteRef:
    namespace: str
    name: str
    field: str

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.name}"


def parse_routes(config: Mapping[str, Any], namespace: str) -> tuple[list[RouteRef], list[str]]:
    """The Routes a config names (`name` or `namespace/name`), and problems with field paths."""
    routes = config.get("routes")
    if not routes or isinstance(routes, str) or not isinstance(routes, Sequence):
        return [], [f"{FIELD}.routes: list at least one Route (name or namespace/name)"]
    refs: list[RouteRef] = []
    problems: list[str] = []
    for i, entry in enumerate(routes):
        field = f"{FIELD}.routes[{i}]"
        if not isinstance(entry, str) or not entry.strip("/"):
            problems.append(f"{field}: must be a Route name or namespace/name")
            continue
        ns, _, name = entry.rpartition("/")
        refs.append(RouteRef(ns or namespace, name, field))
    return refs, problems


def _weight(backend: Mapping[str, Any]) -> int:
    value = backend.get("weight")
    return DEFAULT_WEIGHT if value is None else int(value)


def _is_service(backend: Mapping[str, Any], name: str) -> bool:
    return backend.get("name") == name and backend.get("kind", "Service") in ("Service", "")


def shares(route: Mapping[str, Any], canary: str) -> tuple[int, int, int]:
    """(canary %, stable %, raw total) of a Route; all zero when every weight is 0."""
    spec = route.get("spec") or {}
    to = spec.get("to") or {}
    alternates = spec.get("alternateBackends") or []
    stable_raw = _weight(to)
    canary_raw = sum(_weight(b) for b in alternates if _is_service(b, canary))
    total = stable_raw + sum(_weight(b) for b in alternates)
    if total <= 0:
        return 0, 0, 0
    return round(TOTAL * canary_raw / total), round(TOTAL * stable_raw / total), total


def weight_ops(
    route: Mapping[str, Any],
    ref: RouteRef,
    stable: str,
    canary: str,
    weight: int,
    additional: Mapping[str, int] | None = None,
) -> list[JsonOp]:
    """Ops that give the canary `weight` and stable the rest, other backends untouched."""
    if not 0 <= weight <= TOTAL:
        raise RouterError(f"canary weight {weight} is outside 0..{TOTAL}")
    spec = route.get("spec") or {}
    to = spec.get("to") or {}
    where = f"{ref.field}: Route {ref.ref}"
    if not _is_service(to, stable):
        raise RouterError(
            f"{where} sends spec.to to {to.get('kind', 'Service')} '{to.get('name')}', "
            f"not to the stable Service '{stable}'"
        )
    alternates: list[Mapping[str, Any]] = list(spec.get("alternateBackends") or [])
    extra = dict(additional or {})
    wanted: dict[str, int] = {canary: weight, **extra}
    foreign = sum(_weight(b) for b in alternates if b.get("name") not in wanted)
    stable_weight = TOTAL - weight - sum(extra.values()) - foreign
    if stable_weight < 0:
        raise RouterError(
            f"{where}: cannot route {weight}% to canary: other backends already take "
            f"{foreign} of {TOTAL}, so stable would get {stable_weight}"
        )

    ops: list[JsonOp] = []
    if to.get("weight") is None or int(to["weight"]) != stable_weight:
        ops.append(set_op("/spec/to/weight", stable_weight, present="weight" in to))
    missing: list[JsonDict] = []
    for service, w in wanted.items():
        index = next((i for i, b in enumerate(alternates) if _is_service(b, service)), None)
        if index is None:
            if w > 0:  # a backend at 0 that is not there yet needs no entry
                missing.append({"kind": "Service", "name": service, "weight": w})
            continue
        have = alternates[index].get("weight")
        if have is None or int(have) != w:
            path = pointer("spec", "alternateBackends", index, "weight")
            ops.append(set_op(path, w, present=have is not None))
    if missing:
        if len(alternates) + len(missing) > MAX_ALTERNATES:
            raise RouterError(
                f"{where}: a Route takes at most {MAX_ALTERNATES} alternateBackends; adding "
                f"{', '.join(m['name'] for m in missing)} would make "
                f"{len(alternates) + len(missing)}"
            )
        if "alternateBackends" in spec and spec["alternateBackends"] is not None:
            ops.extend(
                {"op": "add", "path": "/spec/alternateBackends/-", "value": m} for m in missing
            )
        else:
            ops.append({"op": "add", "path": "/spec/alternateBackends", "value": missing})
    return ops


def admitted(route: Mapping[str, Any]) -> bool:
    """False if any router that reported on the Route has not admitted it."""
    for ingress in (route.get("status") or {}).get("ingress") or []:
        for cond in ingress.get("conditions") or []:
            if cond.get("type") == "Admitted" and cond.get("status") != "True":
                return False
    return True


class Router:
    """OpenShift Route router. See the module docstring for the weight scale."""

    API_VERSION: ClassVar[int] = API_VERSION
    name: ClassVar[str] = "openshift"

    def __init__(self, settings: Mapping[str, Any] | None = None) -> None:
        self.settings = dict(settings or {})

    def watched_resources(self) -> Sequence[Resource]:
        return [ROUTES]

    def references(self, config: Mapping[str, Any], namespace: str) -> Sequence[ObjectRef]:
        return [ObjectRef(ROUTES, r.namespace, r.name) for r in parse_routes(config, namespace)[0]]

    def _refs(self, ctx: RouterContext) -> list[RouteRef]:
        refs, problems = parse_routes(ctx.config, ctx.namespace)
        problems += self._service_problems(ctx)
        if problems:
            raise RouterError("; ".join(problems))
        return refs

    @staticmethod
    def _service_problems(ctx: RouterContext) -> list[str]:
        return [
            f"spec.strategy.canary.{field}: required by the OpenShift Route router"
            for field, value in (
                ("canaryService", ctx.canary_service),
                ("stableService", ctx.stable_service),
            )
            if not value
        ]

    def validate(self, ctx: RouterContext) -> Sequence[str]:
        refs, problems = parse_routes(ctx.config, ctx.namespace)
        problems += self._service_problems(ctx)
        for ref in refs:
            route = ctx.objects.get(ROUTES, ref.namespace, ref.name)
            if route is None:
                problems.append(f"{ref.field}: Route {ref.ref} not found")
                continue
            to = (route.get("spec") or {}).get("to") or {}
            if ctx.stable_service and not _is_service(to, ctx.stable_service):
                problems.append(
                    f"{ref.field}: Route {ref.ref} must send spec.to to the stable Service "
                    f"'{ctx.stable_service}' (it names '{to.get('name')}')"
                )
        return problems

    def read_weight(self, ctx: RouterContext) -> Sequence[ObservedWeight]:
        refs, _ = parse_routes(ctx.config, ctx.namespace)
        result = []
        for ref in refs:
            route = ctx.objects.get(ROUTES, ref.namespace, ref.name)
            if route is not None:
                canary, stable, _ = shares(route, ctx.canary_service)
                result.append(ObservedWeight(f"Route {ref.ref}", canary, stable, TOTAL))
        return result

    async def verify_weight(self, ctx: RouterContext, weight: int) -> VerifyResult:
        refs, problems = parse_routes(ctx.config, ctx.namespace)
        if problems or not refs:
            return VerifyResult.NOT_VERIFIED
        for ref in refs:
            route = ctx.objects.get(ROUTES, ref.namespace, ref.name)
            if route is None or not admitted(route):
                return VerifyResult.NOT_VERIFIED
            canary, _, total = shares(route, ctx.canary_service)
            if canary != weight or total == 0:
                return VerifyResult.NOT_VERIFIED
        return VerifyResult.VERIFIED

    async def set_weight(
        self, ctx: RouterContext, weight: int, additional: Sequence[WeightDestination] = ()
    ) -> bool:
        refs = self._refs(ctx)
        extra = {d.service_name: d.weight for d in additional}
        found: list[tuple[RouteRef, JsonDict]] = []
        for ref in refs:
            route = ctx.objects.get(ROUTES, ref.namespace, ref.name)
            if route is None:
                raise RouterError(f"{ref.field}: Route {ref.ref} not found")
            # Plan every Route before writing any, so one bad Route leaves all as they were.
            weight_ops(route, ref, ctx.stable_service, ctx.canary_service, weight, extra)
            found.append((ref, route))
        changed = False
        for ref, route in found:

            def plan(obj: JsonDict, ref: RouteRef = ref) -> list[JsonOp]:
                return weight_ops(obj, ref, ctx.stable_service, ctx.canary_service, weight, extra)

            written = await apply_plan(ctx.kube, ctx.objects, ROUTES, route, plan)
            changed = changed or written is not None
        return changed

    async def update_hash(
        self, ctx: RouterContext, canary_hash: str | None, stable_hash: str | None
    ) -> bool:
        return False  # Routes point at Services; the controller moves the Services' selectors

    async def set_header_route(self, ctx: RouterContext, route: HeaderRoute) -> bool:
        if not route.match:
            return False  # removing a route that cannot exist
        raise RouterError(
            f"setHeaderRoute '{route.name}': OpenShift Routes cannot match on headers; "
            f"the OpenShift router does not support header routes"
        )

    async def set_mirror_route(self, ctx: RouterContext, route: MirrorRoute) -> bool:
        if not route.match:
            return False
        raise RouterError(
            f"setMirrorRoute '{route.name}': OpenShift Routes cannot mirror traffic; "
            f"the OpenShift router does not support mirror routes"
        )

    async def remove_managed_routes(self, ctx: RouterContext) -> bool:
        return False  # it never creates any
