"""The Ambassador / Emissary-ingress traffic router: a weighted canary `Mapping` per mapping.

Configured as in Argo Rollouts: `trafficRouting.ambassador.mappings: [name, ...]`, the user's
Mappings that send traffic to the stable Service. Ambassador splits traffic between Mappings of
the same prefix: a Mapping with a `weight` gets that percentage, the ones without share the rest.
So for each base Mapping the router keeps a canary Mapping `<base>-canary` beside it (a copy of
the base with `service` pointing at the canary Service and `weight` the canary percentage), and
never writes the base Mapping. As in Argo, a base Mapping that defines a weight is refused.

Where rolloutd differs from Argo:

- The canary Mapping is owned by the Rollout (controller ownerReference) and carries the
  `argo-rollouts.argoproj.io/managed-by-rollouts` annotation: it goes away with the Rollout, and
  when the Rollout stops naming its base Mapping it is deleted (`release`). A Mapping of that
  name the Rollout does not own is refused, not overwritten.
- At weight 0 (the end of a rollout, an abort) the canary Mapping gets weight 0 and is then
  deleted in the same call: without it the base Mapping takes all the traffic, which is what
  weight 0 means. Argo deletes it five seconds after writing 0, sleeping in the reconcile;
  rolloutd never sleeps, and the controller's `scaleDownDelaySeconds` keeps the old pods while
  the data plane catches up.
- Only what differs is patched (JSON patch guarded by resourceVersion): the weight, and any field
  of the base Mapping's spec the copy no longer matches (Argo copies the base only once).
- Weights are verified by reading the canary Mapping back. Other weighted Mappings of the same
  prefix (someone else's) cannot be seen from the Rollout's configuration: their share is theirs,
  and `read_weight` reports stable as `100 - canary`.

Header and mirror routes are not supported (Argo ignores them; rolloutd says so), nor are
experiment destinations. Settings: `apiVersion`, default `getambassador.io/v3alpha1`
(`getambassador.io/v2` for Argo's default; `x.getambassador.io/...` for `AmbassadorMapping`).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from rolloutd.kube.client import ApiError, KubeClient
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
from rolloutd.traffic.kit import WeightsOnly, owned_by_rollout, read_back
from rolloutd.traffic.patching import JsonOp, apply_plan, pointer, set_op

FIELD = "spec.strategy.canary.trafficRouting.ambassador"
TOTAL = 100
DEFAULT_API_VERSION = "getambassador.io/v3alpha1"
MANAGED_BY = "argo-rollouts.argoproj.io/managed-by-rollouts"
MAX_BASE_NAME = 246  # Argo's limit, so that `<base>-canary` fits in 253 characters


def mapping_resource(api_version: str) -> Resource:
    """The Mapping kind for an `apiVersion` setting (group/version, or just a version)."""
    group, _, version = api_version.rpartition("/")
    group = group or "getambassador.io"
    if group == "x.getambassador.io":
        return Resource(group, version, "ambassadormappings", "AmbassadorMapping")
    return Resource(group, version, "mappings", "Mapping")


def canary_name(base: str) -> str:
    return f"{base[:MAX_BASE_NAME]}-canary"


@dataclass(frozen=True, slots=True)
class MappingRef:
    name: str
    field: str


def parse_mappings(config: Mapping[str, Any]) -> tuple[list[MappingRef], list[str]]:
    mappings = config.get("mappings")
    if not mappings or isinstance(mappings, str) or not isinstance(mappings, Sequence):
        return [], [f"{FIELD}.mappings: list at least one Ambassador Mapping name"]
    refs, problems = [], []
    for i, entry in enumerate(mappings):
        field = f"{FIELD}.mappings[{i}]"
        if not isinstance(entry, str) or not entry or "/" in entry:
            problems.append(f"{field}: must be the name of a Mapping in the Rollout's namespace")
            continue
        refs.append(MappingRef(entry, field))
    return refs, problems


def weight_of(mapping: Mapping[str, Any] | None) -> int:
    """A Mapping's weight; 0 for no Mapping or no weight."""
    if mapping is None:
        return 0
    value = (mapping.get("spec") or {}).get("weight")
    return 0 if value is None else int(value)


def canary_spec(base: Mapping[str, Any], stable: str, canary: str, weight: int) -> JsonDict:
    """The canary Mapping's spec: the base's, sent to the canary Service, with the weight."""
    spec = copy.deepcopy(dict(base.get("spec") or {}))
    spec["service"] = str(spec.get("service") or "").replace(stable, canary, 1)
    spec["weight"] = weight
    return spec


def spec_ops(current: Mapping[str, Any], wanted: Mapping[str, Any]) -> list[JsonOp]:
    """Top-level spec fields that differ: set or removed."""
    spec = current.get("spec") or {}
    ops: list[JsonOp] = []
    for key, value in wanted.items():
        if spec.get(key) != value or key not in spec:
            ops.append(set_op(pointer("spec", key), value, present=key in spec))
    ops.extend({"op": "remove", "path": pointer("spec", k)} for k in spec if k not in wanted)
    return ops


class Router(WeightsOnly):
    """Ambassador / Emissary Mapping router. See the module docstring."""

    ROUTER = "the Ambassador router"

    API_VERSION: ClassVar[int] = API_VERSION
    name: ClassVar[str] = "ambassador"

    def __init__(self, settings: Mapping[str, Any] | None = None) -> None:
        api_version = str((settings or {}).get("apiVersion") or DEFAULT_API_VERSION)
        self.mappings = mapping_resource(api_version)

    def watched_resources(self) -> Sequence[Resource]:
        return [self.mappings]

    def references(self, config: Mapping[str, Any], namespace: str) -> Sequence[ObjectRef]:
        refs, _ = parse_mappings(config)
        return [
            ObjectRef(self.mappings, namespace, name)
            for ref in refs
            for name in (ref.name, canary_name(ref.name))
        ]

    # -- helpers ------------------------------------------------------------------------------

    @staticmethod
    def _service_problems(ctx: RouterContext) -> list[str]:
        return [
            f"spec.strategy.canary.{field}: required by the Ambassador router"
            for field, value in (
                ("canaryService", ctx.canary_service),
                ("stableService", ctx.stable_service),
            )
            if not value
        ]

    @staticmethod
    def _owned(obj: Mapping[str, Any], ctx: RouterContext) -> bool:
        return any(
            ref.get("uid") == ctx.rollout_uid and ref.get("controller")
            for ref in (obj.get("metadata") or {}).get("ownerReferences") or []
        )

    def _problems(self, ctx: RouterContext, ref: MappingRef) -> list[str]:
        where = f"{self.mappings.kind} {ctx.namespace}/{ref.name}"
        base = ctx.objects.get(self.mappings, ctx.namespace, ref.name)
        if base is None:
            return [f"{ref.field}: {where} not found"]
        problems = []
        if (base.get("spec") or {}).get("weight") not in (None, 0):
            # Argo's rule: the base takes what the canary leaves, so it cannot have a weight.
            problems.append(f"{ref.field}: {where} can not define weight")
        service = str((base.get("spec") or {}).get("service") or "")
        if ctx.stable_service and ctx.stable_service not in service:
            problems.append(
                f"{ref.field}: {where} sends traffic to '{service}', which does not name the "
                f"stable Service '{ctx.stable_service}'"
            )
        name = canary_name(ref.name)
        existing = ctx.objects.get(self.mappings, ctx.namespace, name)
        if existing is not None and not self._owned(existing, ctx):
            problems.append(
                f"{ref.field}: {self.mappings.kind} {ctx.namespace}/{name} exists and is not "
                f"owned by Rollout {ctx.namespace}/{ctx.rollout_name}; rolloutd only edits a "
                f"canary Mapping it created (delete it, or rename the base Mapping)"
            )
        return problems

    def _refs(self, ctx: RouterContext) -> list[MappingRef]:
        refs, problems = parse_mappings(ctx.config)
        problems += self._service_problems(ctx)
        for ref in refs:
            problems += self._problems(ctx, ref)
        if problems:
            raise RouterError("; ".join(problems))
        return refs

    # -- the contract --------------------------------------------------------------------------

    def validate(self, ctx: RouterContext) -> Sequence[str]:
        refs, problems = parse_mappings(ctx.config)
        problems += self._service_problems(ctx)
        for ref in refs:
            problems += self._problems(ctx, ref)
        return problems

    def read_weight(self, ctx: RouterContext) -> Sequence[ObservedWeight]:
        refs, _ = parse_mappings(ctx.config)
        result = []
        for ref in refs:
            if ctx.objects.get(self.mappings, ctx.namespace, ref.name) is None:
                continue
            canary = weight_of(ctx.objects.get(self.mappings, ctx.namespace, canary_name(ref.name)))
            label = f"{self.mappings.kind} {ctx.namespace}/{ref.name} (+ {canary_name(ref.name)})"
            result.append(ObservedWeight(label, canary, TOTAL - canary, TOTAL))
        return result

    async def verify_weight(self, ctx: RouterContext, weight: int) -> VerifyResult:
        # Ambassador reports no per-Mapping status to wait for: the stored canary Mapping (or
        # its absence, at 0) is the check.
        if self.validate(ctx):
            return VerifyResult.NOT_VERIFIED
        return read_back(self.read_weight(ctx), weight)

    async def set_weight(
        self, ctx: RouterContext, weight: int, additional: Sequence[WeightDestination] = ()
    ) -> bool:
        if not 0 <= weight <= TOTAL:
            raise RouterError(f"canary weight {weight} is outside 0..{TOTAL}")
        if additional:
            raise RouterError(
                f"{FIELD}: the Ambassador router does not route to experiment services "
                f"({', '.join(d.service_name for d in additional)})"
            )
        refs = self._refs(ctx)  # every Mapping checked before the first write
        changed = False
        for ref in refs:
            changed = await self._set_one(ctx, ref, weight) or changed
        return changed

    async def _set_one(self, ctx: RouterContext, ref: MappingRef, weight: int) -> bool:
        base = ctx.objects.get(self.mappings, ctx.namespace, ref.name)
        assert base is not None  # checked by _refs
        name = canary_name(ref.name)
        current = ctx.objects.get(self.mappings, ctx.namespace, name)
        if weight == 0:
            if current is None:
                return False
            if weight_of(current) != 0:
                # Weight 0 first (the cache then holds what was written, so the read-back that
                # follows sees 0 before the watch reports the deletion), then the deletion.
                zero = [set_op("/spec/weight", 0, present=True)]
                await apply_plan(ctx.kube, ctx.objects, self.mappings, current, lambda _obj: zero)
            return await self._delete(ctx.kube, name, ctx.namespace) or weight_of(current) != 0
        wanted = canary_spec(base, ctx.stable_service, ctx.canary_service, weight)
        if current is None:
            body: JsonDict = {
                "apiVersion": self.mappings.api_version,
                "kind": self.mappings.kind,
                "metadata": {
                    "name": name,
                    "namespace": ctx.namespace,
                    "annotations": {MANAGED_BY: ctx.rollout_name},
                    "ownerReferences": owned_by_rollout(ctx),
                },
                "spec": wanted,
            }
            try:
                created = await ctx.kube.create(self.mappings, body, namespace=ctx.namespace)
            except ApiError as exc:
                if not exc.conflict:
                    raise
                # The cache was behind: read it and patch as usual (if it is ours).
                current = await ctx.kube.get(self.mappings, name, namespace=ctx.namespace)
                if not self._owned(current, ctx):
                    raise RouterError("; ".join(self._problems(ctx, ref))) from exc
            else:
                ctx.objects.remember(self.mappings, created)
                return True

        def plan(obj: JsonDict) -> list[JsonOp]:
            return spec_ops(obj, wanted)

        return await apply_plan(ctx.kube, ctx.objects, self.mappings, current, plan) is not None

    async def _delete(self, kube: KubeClient, name: str, namespace: str) -> bool:
        try:
            await kube.delete(self.mappings, name, namespace=namespace)
        except ApiError as exc:
            if exc.not_found:
                return False
            raise
        return True

    async def release(
        self,
        kube: KubeClient,
        objects: ObjectReader,
        resource: Resource,
        obj: JsonDict,
        rollout_name: str,
    ) -> bool:
        """A canary Mapping whose Rollout no longer names its base Mapping (or is gone): it
        was created by rolloutd for that Rollout, so it is deleted."""
        if resource != self.mappings:
            return False
        meta = obj.get("metadata") or {}
        ours = any(
            r.get("kind") == "Rollout" and r.get("name") == rollout_name and r.get("controller")
            for r in meta.get("ownerReferences") or []
        )
        if not ours:
            return False
        return await self._delete(kube, str(meta.get("name")), str(meta.get("namespace")))

    async def update_hash(
        self, ctx: RouterContext, canary_hash: str | None, stable_hash: str | None
    ) -> bool:
        return False  # Mappings point at Services; the controller moves their selectors
