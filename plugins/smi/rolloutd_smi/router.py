"""The SMI traffic router: a `split.smi-spec.io` TrafficSplit that the Rollout owns.

As in Argo Rollouts, the router creates the TrafficSplit itself (named `trafficSplitName`,
default the Rollout's name; apex Service `rootService`, default the stable Service) with a
controller ownerReference to the Rollout, so it goes away with the Rollout. A TrafficSplit of
that name that the Rollout does not own is refused with an error rather than taken over.

Unlike Argo, which rewrites the whole `spec`, it patches only the weights (and the apex service)
that differ, and keeps backends it does not manage. Weights are relative; rolloutd keeps them
on a 0..100 scale (canary gets its percentage, stable `100 - canary - experiments - others`),
so another backend's weight reads as a percentage, and `read_weight` reports each backend's
share of the sum.

The API version is a controller-wide setting (`apiVersion`: `v1alpha1`, the default, or
`v1alpha2`/`v1alpha3`). In v1alpha1 a weight is a Kubernetes quantity: rolloutd writes strings
such as `"20"` (as Argo does) and reads `"500m"` as 0.5; in later versions weights are integers.
A backend without a weight counts as 0 (v1alpha2+ clients omit zero weights). SMI itself was
archived by the CNCF in 2023; Gateway API is the successor (see the gatewayapi sample router).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar

from rolloutd.kube.client import ApiError
from rolloutd.kube.resources import SERVICES, Resource
from rolloutd.traffic.contract import (
    API_VERSION,
    JsonDict,
    ObjectRef,
    ObservedWeight,
    RouterContext,
    RouterError,
    VerifyResult,
    WeightDestination,
)
from rolloutd.traffic.kit import WeightsOnly, owned_by_rollout, read_back
from rolloutd.traffic.patching import JsonOp, apply_plan, pointer, set_op

GROUP = "split.smi-spec.io"
VERSIONS = ("v1alpha1", "v1alpha2", "v1alpha3")
FIELD = "spec.strategy.canary.trafficRouting.smi"
TOTAL = 100

_QUANTITY = re.compile(
    r"^(?P<num>[+-]?(?:\d+(?:\.\d*)?|\.\d+))(?:[eE](?P<exp>[+-]?\d+))?"
    r"(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E)?$"
)
_SUFFIX = {
    "": Decimal(1),
    "m": Decimal("0.001"),
    "k": Decimal(10) ** 3,
    "M": Decimal(10) ** 6,
    "G": Decimal(10) ** 9,
    "T": Decimal(10) ** 12,
    "P": Decimal(10) ** 15,
    "E": Decimal(10) ** 18,
    "Ki": Decimal(2) ** 10,
    "Mi": Decimal(2) ** 20,
    "Gi": Decimal(2) ** 30,
    "Ti": Decimal(2) ** 40,
    "Pi": Decimal(2) ** 50,
    "Ei": Decimal(2) ** 60,
}


def parse_quantity(value: Any) -> Decimal:
    """A Kubernetes quantity (`20`, `"20"`, `"500m"`, `"1k"`, `"1e3"`) as a Decimal."""
    if value is None:
        return Decimal(0)
    if isinstance(value, bool):
        raise ValueError(f"not a quantity: {value!r}")
    if isinstance(value, int | float):
        return Decimal(str(value))
    match = _QUANTITY.match(str(value).strip())
    if not match:
        raise ValueError(f"not a quantity: {value!r}")
    try:
        number = Decimal(match["num"]) * _SUFFIX[match["suffix"] or ""]
    except InvalidOperation as exc:
        raise ValueError(f"not a quantity: {value!r}") from exc
    if match["exp"]:
        number *= Decimal(10) ** int(match["exp"])
    return number


def format_weight(value: Decimal, version: str) -> str | int:
    """A weight as `version` stores it: a quantity string for v1alpha1, else an integer."""
    if version == "v1alpha1":
        if value == value.to_integral_value():
            return str(int(value))
        return f"{int(value * 1000)}m"
    return int(value)


class Router(WeightsOnly):
    """SMI TrafficSplit router. See the module docstring."""

    ROUTER = "the SMI router"

    API_VERSION: ClassVar[int] = API_VERSION
    name: ClassVar[str] = "smi"

    def __init__(self, settings: Mapping[str, Any] | None = None) -> None:
        version = str((settings or {}).get("apiVersion") or "v1alpha1").rsplit("/", 1)[-1]
        if version not in VERSIONS:
            raise ValueError(
                f"Unsupported TrafficSplit API version '{version}' (use one of "
                f"{', '.join(VERSIONS)})"
            )
        self.version = version
        self.traffic_splits = Resource(GROUP, version, "trafficsplits", "TrafficSplit")

    def watched_resources(self) -> Sequence[Resource]:
        # Services too: validation checks that the apex, canary and stable Services exist.
        return [self.traffic_splits, SERVICES]

    def references(self, config: Mapping[str, Any], namespace: str) -> Sequence[ObjectRef]:
        # The split's name defaults to the Rollout's, which only the context knows; the
        # controller maps events on owned TrafficSplits back through the ownerReference.
        name = config.get("trafficSplitName")
        return [ObjectRef(self.traffic_splits, namespace, str(name))] if name else []

    # -- helpers ------------------------------------------------------------------------------

    @staticmethod
    def _split_name(ctx: RouterContext) -> str:
        return str(ctx.config.get("trafficSplitName") or ctx.rollout_name)

    @staticmethod
    def _root(ctx: RouterContext) -> str:
        return str(ctx.config.get("rootService") or ctx.stable_service)

    @staticmethod
    def _owned(obj: Mapping[str, Any], ctx: RouterContext) -> bool:
        return any(
            ref.get("uid") == ctx.rollout_uid and ref.get("controller")
            for ref in (obj.get("metadata") or {}).get("ownerReferences") or []
        )

    def _not_owned(self, ctx: RouterContext) -> str:
        return (
            f"{FIELD}.trafficSplitName: TrafficSplit {ctx.namespace}/{self._split_name(ctx)} "
            f"exists and is not owned by Rollout {ctx.namespace}/{ctx.rollout_name}; rolloutd "
            f"only edits a TrafficSplit it created (delete it, or set another trafficSplitName)"
        )

    @staticmethod
    def _service_problems(ctx: RouterContext) -> list[str]:
        return [
            f"spec.strategy.canary.{field}: required by the SMI router"
            for field, value in (
                ("canaryService", ctx.canary_service),
                ("stableService", ctx.stable_service),
            )
            if not value
        ]

    def _weights(self, obj: Mapping[str, Any]) -> dict[int, Decimal]:
        result: dict[int, Decimal] = {}
        for i, backend in enumerate((obj.get("spec") or {}).get("backends") or []):
            try:
                result[i] = parse_quantity(backend.get("weight"))
            except ValueError as exc:
                raise RouterError(f"TrafficSplit backend {backend.get('service')}: {exc}") from exc
        return result

    def _wanted(
        self,
        obj: Mapping[str, Any] | None,
        ctx: RouterContext,
        weight: int,
        extra: Mapping[str, int],
    ) -> dict[str, Decimal]:
        """Weight per managed backend Service; stable takes what the others leave."""
        if not 0 <= weight <= TOTAL:
            raise RouterError(f"canary weight {weight} is outside 0..{TOTAL}")
        managed = {ctx.canary_service, ctx.stable_service, *extra}
        foreign = Decimal(0)
        if obj is not None:
            backends = (obj.get("spec") or {}).get("backends") or []
            weights = self._weights(obj)
            foreign = sum(
                (weights[i] for i, b in enumerate(backends) if b.get("service") not in managed),
                Decimal(0),
            )
        stable = TOTAL - weight - sum(extra.values()) - foreign
        if stable < 0:
            raise RouterError(
                f"{FIELD}: cannot route {weight}% to canary: other backends of TrafficSplit "
                f"{ctx.namespace}/{self._split_name(ctx)} already take {foreign} of {TOTAL}, "
                f"so stable would get {stable}"
            )
        wanted = {ctx.canary_service: Decimal(weight)}
        wanted.update({k: Decimal(v) for k, v in extra.items()})
        wanted[ctx.stable_service] = stable
        return wanted

    def _ops(
        self, obj: JsonDict, ctx: RouterContext, weight: int, extra: Mapping[str, int]
    ) -> list[JsonOp]:
        if not self._owned(obj, ctx):
            raise RouterError(self._not_owned(ctx))
        spec = obj.get("spec") or {}
        ops: list[JsonOp] = []
        root = self._root(ctx)
        if spec.get("service") != root:
            ops.append(set_op("/spec/service", root, present="service" in spec))
        backends: list[Mapping[str, Any]] = list(spec.get("backends") or [])
        weights = self._weights(obj)
        for service, want in self._wanted(obj, ctx, weight, extra).items():
            index = next((i for i, b in enumerate(backends) if b.get("service") == service), None)
            value = format_weight(want, self.version)
            if index is None:
                entry = {"service": service, "weight": value}
                if "backends" in spec and spec["backends"] is not None:
                    ops.append({"op": "add", "path": "/spec/backends/-", "value": entry})
                else:
                    ops.append({"op": "add", "path": "/spec/backends", "value": [entry]})
                    spec = {**spec, "backends": [entry]}
            elif weights[index] != want:
                present = backends[index].get("weight") is not None
                ops.append(
                    set_op(pointer("spec", "backends", index, "weight"), value, present=present)
                )
        return ops

    # -- the contract --------------------------------------------------------------------------

    def validate(self, ctx: RouterContext) -> Sequence[str]:
        problems = self._service_problems(ctx)
        root_field = (
            f"{FIELD}.rootService"
            if ctx.config.get("rootService")
            else "spec.strategy.canary.stableService"
        )
        for field, service in (
            (root_field, self._root(ctx)),
            ("spec.strategy.canary.canaryService", ctx.canary_service),
        ):
            if service and ctx.objects.get(SERVICES, ctx.namespace, service) is None:
                problems.append(f"{field}: Service {ctx.namespace}/{service} not found")
        split = ctx.objects.get(self.traffic_splits, ctx.namespace, self._split_name(ctx))
        if split is not None and not self._owned(split, ctx):
            problems.append(self._not_owned(ctx))
        return problems

    def read_weight(self, ctx: RouterContext) -> Sequence[ObservedWeight]:
        split = ctx.objects.get(self.traffic_splits, ctx.namespace, self._split_name(ctx))
        if split is None:
            return []
        try:
            weights = self._weights(split)
        except RouterError:
            return []
        backends = (split.get("spec") or {}).get("backends") or []
        total = sum(weights.values(), Decimal(0))

        def share(service: str) -> int:
            raw = sum(
                (weights[i] for i, b in enumerate(backends) if b.get("service") == service),
                Decimal(0),
            )
            return int((TOTAL * raw / total).to_integral_value()) if total > 0 else 0

        label = f"TrafficSplit {ctx.namespace}/{self._split_name(ctx)}"
        return [ObservedWeight(label, share(ctx.canary_service), share(ctx.stable_service), TOTAL)]

    async def verify_weight(self, ctx: RouterContext, weight: int) -> VerifyResult:
        return read_back(self.read_weight(ctx), weight)

    async def set_weight(
        self, ctx: RouterContext, weight: int, additional: Sequence[WeightDestination] = ()
    ) -> bool:
        problems = self._service_problems(ctx)
        if problems:
            raise RouterError("; ".join(problems))
        extra = {d.service_name: d.weight for d in additional}
        name = self._split_name(ctx)
        split = ctx.objects.get(self.traffic_splits, ctx.namespace, name)
        if split is None:
            created = await self._create(ctx, name, weight, extra)
            if created:
                return True
            # It existed after all (the cache was behind): read it and patch as usual.
            split = await ctx.kube.get(self.traffic_splits, name, namespace=ctx.namespace)

        def plan(obj: JsonDict) -> list[JsonOp]:
            return self._ops(obj, ctx, weight, extra)

        written = await apply_plan(ctx.kube, ctx.objects, self.traffic_splits, split, plan)
        return written is not None

    async def _create(
        self, ctx: RouterContext, name: str, weight: int, extra: Mapping[str, int]
    ) -> bool:
        wanted = self._wanted(None, ctx, weight, extra)
        body: JsonDict = {
            "apiVersion": self.traffic_splits.api_version,
            "kind": "TrafficSplit",
            "metadata": {
                "name": name,
                "namespace": ctx.namespace,
                "ownerReferences": owned_by_rollout(ctx),
            },
            "spec": {
                "service": self._root(ctx),
                "backends": [
                    {"service": service, "weight": format_weight(w, self.version)}
                    for service, w in wanted.items()
                ],
            },
        }
        try:
            created = await ctx.kube.create(self.traffic_splits, body, namespace=ctx.namespace)
        except ApiError as exc:
            if exc.conflict:
                return False
            raise
        ctx.objects.remember(self.traffic_splits, created)
        return True

    async def update_hash(
        self, ctx: RouterContext, canary_hash: str | None, stable_hash: str | None
    ) -> bool:
        return False  # backends are Services; the controller moves their selectors
