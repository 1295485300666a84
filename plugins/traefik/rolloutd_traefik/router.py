"""The Traefik traffic router: the weights of a weighted `TraefikService`.

Configured as in Argo Rollouts: `trafficRouting.traefik.weightedTraefikServiceName` names a
TraefikService (`traefik.io/v1alpha1`; the group/version is the controller-wide setting
`apiVersion`, e.g. `traefik.containo.us/v1alpha1` for Traefik 2) in the Rollout's namespace whose
`spec.weighted.services` lists the stable and the canary Service. The user creates it; the
router only moves the two weights.

Weights in Traefik are relative. rolloutd keeps them on a 0..100 scale: canary gets the
percentage asked for, stable `100 - canary - the other entries`. Entries that are neither (a
third Service, another TraefikService) are someone else's and keep their weight exactly, so
they read as percentages. `read_weight` reports each Service's share of the sum, so an object
edited to another scale still reads correctly.

Unlike Argo, which sets stable to `100 - canary` and writes the whole object back, the router
JSON-patches only the weights that differ (guarded by resourceVersion) and keeps the other
entries' share. It marks the object with `argo-rollouts.argoproj.io/managed-by-rollouts`; when
the Rollout stops naming it (or is deleted) the mark is removed and the weights are left as the
last step set them (0 to canary once a rollout has ended or aborted). Traefik publishes no
status for a TraefikService, so verification is a read-back of the object: what Traefik itself
loaded is out of reach.
Traefik's weighted services have no header matching or mirroring here (Argo's Traefik router
supports neither), so `setHeaderRoute` and `setMirrorRoute` are refused with a message.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from rolloutd.kube.client import KubeClient
from rolloutd.kube.resources import Resource
from rolloutd.traffic.contract import (
    API_VERSION,
    JsonDict,
    ObjectReader,
    ObjectRef,
    ObservedWeight,
    RouterContext,
    RouterError,
    VerifyResult,
    WeightDestination,
)
from rolloutd.traffic.kit import WeightsOnly, read_back
from rolloutd.traffic.patching import JsonOp, apply_plan, pointer, set_op

FIELD = "spec.strategy.canary.trafficRouting.traefik"
NAME_FIELD = f"{FIELD}.weightedTraefikServiceName"
DEFAULT_API_VERSION = "traefik.io/v1alpha1"
MANAGED_BY = "argo-rollouts.argoproj.io/managed-by-rollouts"
TOTAL = 100


def traefik_services(api_version: str) -> Resource:
    group, _, version = api_version.rpartition("/")
    if not group or not version:
        raise ValueError(
            f"apiVersion '{api_version}' must be group/version, e.g. {DEFAULT_API_VERSION}"
        )
    return Resource(group, version, "traefikservices", "TraefikService")


def _weight(entry: Mapping[str, Any]) -> int:
    value = entry.get("weight")
    return 0 if value is None else int(value)


def _services(obj: Mapping[str, Any]) -> list[Mapping[str, Any]] | None:
    weighted = (obj.get("spec") or {}).get("weighted")
    if not isinstance(weighted, Mapping):
        return None
    services = weighted.get("services")
    return list(services) if isinstance(services, list) else None


def _is_service(entry: Mapping[str, Any], name: str) -> bool:
    # An entry without a kind is a Service; kind TraefikService names another weighted service.
    return entry.get("name") == name and entry.get("kind", "Service") in ("Service", "")


def weight_ops(
    obj: Mapping[str, Any],
    where: str,
    stable: str,
    canary: str,
    weight: int,
    extra: Mapping[str, int],
    *,
    mark: str | None,
) -> list[JsonOp]:
    """Ops giving canary `weight` and stable the rest, other entries untouched (pure)."""
    if not 0 <= weight <= TOTAL:
        raise RouterError(f"canary weight {weight} is outside 0..{TOTAL}")
    services = _services(obj)
    if services is None:
        raise RouterError(f"{NAME_FIELD}: {where} has no spec.weighted.services list")
    wanted = {canary: weight, **extra}
    index: dict[str, int] = {}
    for service in (stable, *wanted):
        found = next((i for i, e in enumerate(services) if _is_service(e, service)), None)
        if found is None:
            role = "stable" if service == stable else "canary" if service == canary else "extra"
            raise RouterError(
                f"{NAME_FIELD}: {where} has no {role} Service '{service}' in "
                f"spec.weighted.services (list it there, with its port)"
            )
        index[service] = found
    managed = set(index.values())
    foreign = sum(_weight(e) for i, e in enumerate(services) if i not in managed)
    rest = TOTAL - weight - sum(extra.values()) - foreign
    if rest < 0:
        raise RouterError(
            f"{NAME_FIELD}: {where}: cannot route {weight}% to canary: other services already "
            f"take {foreign} of {TOTAL}, so stable would get {rest}"
        )
    wanted[stable] = rest
    ops: list[JsonOp] = []
    for service, want in wanted.items():
        entry = services[index[service]]
        if entry.get("weight") is None or int(entry["weight"]) != want:
            path = pointer("spec", "weighted", "services", index[service], "weight")
            ops.append(set_op(path, want, present=entry.get("weight") is not None))
    annotations = (obj.get("metadata") or {}).get("annotations")
    # The mark rides along with a weight change: a write of the mark alone would be a write
    # that changes no traffic (and the conformance kit counts those).
    if ops and mark is not None and (annotations or {}).get(MANAGED_BY) != mark:
        if annotations is None:
            ops.append({"op": "add", "path": "/metadata/annotations", "value": {MANAGED_BY: mark}})
        else:
            path = pointer("metadata", "annotations", MANAGED_BY)
            ops.append(set_op(path, mark, present=MANAGED_BY in annotations))
    return ops


def shares(obj: Mapping[str, Any], canary: str, stable: str) -> tuple[int, int] | None:
    """(canary %, stable %) of the weights' sum; None when there is no list or all are 0."""
    services = _services(obj)
    if services is None:
        return None
    total = sum(_weight(e) for e in services)
    if total <= 0:
        return None
    c = sum(_weight(e) for e in services if _is_service(e, canary))
    s = sum(_weight(e) for e in services if _is_service(e, stable))
    return round(TOTAL * c / total), round(TOTAL * s / total)


class Router(WeightsOnly):
    """Traefik weighted TraefikService router. See the module docstring."""

    ROUTER = "the Traefik router"

    API_VERSION: ClassVar[int] = API_VERSION
    name: ClassVar[str] = "traefik"

    def __init__(self, settings: Mapping[str, Any] | None = None) -> None:
        self.resource = traefik_services(
            str((settings or {}).get("apiVersion") or DEFAULT_API_VERSION)
        )

    def watched_resources(self) -> Sequence[Resource]:
        return [self.resource]

    @staticmethod
    def _name(config: Mapping[str, Any]) -> str | None:
        name = config.get("weightedTraefikServiceName")
        return name if isinstance(name, str) and name else None

    def references(self, config: Mapping[str, Any], namespace: str) -> Sequence[ObjectRef]:
        name = self._name(config)
        return [ObjectRef(self.resource, namespace, name)] if name else []

    def _problems(self, ctx: RouterContext) -> list[str]:
        problems = [
            f"spec.strategy.canary.{field}: required by the Traefik router"
            for field, value in (
                ("canaryService", ctx.canary_service),
                ("stableService", ctx.stable_service),
            )
            if not value
        ]
        if self._name(ctx.config) is None:
            problems.append(f"{NAME_FIELD}: name the weighted TraefikService")
        return problems

    def _where(self, ctx: RouterContext) -> str:
        return f"TraefikService {ctx.namespace}/{self._name(ctx.config)}"

    def validate(self, ctx: RouterContext) -> Sequence[str]:
        problems = self._problems(ctx)
        name = self._name(ctx.config)
        if problems or name is None:
            return problems
        obj = ctx.objects.get(self.resource, ctx.namespace, name)
        if obj is None:
            return [f"{NAME_FIELD}: {self._where(ctx)} not found"]
        try:
            weight_ops(
                obj, self._where(ctx), ctx.stable_service, ctx.canary_service, 0, {}, mark=None
            )
        except RouterError as exc:
            problems.append(str(exc))
        return problems

    def read_weight(self, ctx: RouterContext) -> Sequence[ObservedWeight]:
        name = self._name(ctx.config)
        obj = ctx.objects.get(self.resource, ctx.namespace, name) if name else None
        seen = shares(obj, ctx.canary_service, ctx.stable_service) if obj else None
        if seen is None:
            return []
        return [ObservedWeight(self._where(ctx), seen[0], seen[1], TOTAL)]

    async def verify_weight(self, ctx: RouterContext, weight: int) -> VerifyResult:
        return read_back(self.read_weight(ctx), weight)

    async def set_weight(
        self, ctx: RouterContext, weight: int, additional: Sequence[WeightDestination] = ()
    ) -> bool:
        problems = self._problems(ctx)
        name = self._name(ctx.config)
        if problems or name is None:
            raise RouterError("; ".join(problems))
        obj = ctx.objects.get(self.resource, ctx.namespace, name)
        if obj is None:
            raise RouterError(f"{NAME_FIELD}: {self._where(ctx)} not found")
        extra = {d.service_name: d.weight for d in additional}
        where = self._where(ctx)

        def plan(current: JsonDict) -> list[JsonOp]:
            return weight_ops(
                current,
                where,
                ctx.stable_service,
                ctx.canary_service,
                weight,
                extra,
                mark=ctx.rollout_name,
            )

        plan(obj)  # refuse before writing anything
        written = await apply_plan(ctx.kube, ctx.objects, self.resource, obj, plan)
        return written is not None

    async def release(
        self,
        kube: KubeClient,
        objects: ObjectReader,
        resource: Resource,
        obj: JsonDict,
        rollout_name: str,
    ) -> bool:
        """The Rollout no longer names this TraefikService: take the mark off.

        Without the Rollout there is no telling which entry was its canary, so the weights stay
        as they are (after a rollout ends or aborts the canary is at 0 anyway).
        """
        if resource != self.resource:
            return False
        annotations = (obj.get("metadata") or {}).get("annotations") or {}
        if annotations.get(MANAGED_BY) != rollout_name:
            return False

        def plan(current: JsonDict) -> list[JsonOp]:
            now = (current.get("metadata") or {}).get("annotations") or {}
            if now.get(MANAGED_BY) != rollout_name:
                return []
            return [{"op": "remove", "path": pointer("metadata", "annotations", MANAGED_BY)}]

        return await apply_plan(kube, objects, resource, obj, plan) is not None

    async def update_hash(
        self, ctx: RouterContext, canary_hash: str | None, stable_hash: str | None
    ) -> bool:
        return False  # entries are Services; the controller moves their selectors
