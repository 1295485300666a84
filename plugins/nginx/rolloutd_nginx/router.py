"""The NGINX Ingress traffic router: a canary Ingress with `canary-weight`, as Argo makes it.

Configured as in Argo Rollouts: `trafficRouting.nginx: {stableIngress | stableIngresses,
annotationPrefix, additionalIngressAnnotations, canaryIngressAnnotations}`. For each stable
Ingress (in the Rollout's namespace, left exactly as it is) the router keeps a canary Ingress
named `<rollout>-<stable ingress>-canary` (the prefix cut to fit 253 characters), made from the
stable one as Argo makes it:

- the rules that have a path to the stable Service, with those paths sent to the canary Service
  (the stable Ingress must have at least one: "ingress `x` has no rules using service y
  backend"); `tls`, `ingressClassName` and the `kubernetes.io/ingress.class` annotation copied;
- annotations `<prefix>/canary: "true"` and `<prefix>/canary-weight: "<weight>"` (prefix
  default `nginx.ingress.kubernetes.io`), each `additionalIngressAnnotations` entry under the
  prefix (`canary-by-header: X-Canary` becomes `<prefix>/canary-by-header`: header and cookie
  canaries come this way), and `canaryIngressAnnotations` as written (they win a collision);
- a controller ownerReference to the Rollout (so it goes with the Rollout) and the
  `argo-rollouts.argoproj.io/managed-by-rollouts` mark.

The canary Ingress stays at weight 0 between rollouts, as in Argo (recreating it each time
would make NGINX reload twice per rollout). When the Rollout stops naming a stable Ingress, or
is deleted, its canary Ingress is deleted (`release`). A canary Ingress of that name that
another object controls is refused, not taken over ("canary ingress `x` controlled by
different object").

Differences from Argo: only what differs is JSON-patched (guarded by resourceVersion), never
the whole object; annotations someone else put on the canary Ingress are kept (as in Argo).
Verification is a read-back of the canary Ingress's annotations: NGINX reports nothing about
the configuration it loaded, so what it actually routes is out of reach. `setHeaderRoute` and
`setMirrorRoute` are refused (Argo's validation refuses them with NGINX too); header and
cookie canaries are the annotations above. `maxTrafficWeight` is not passed to routers here,
so `canary-weight-total` is read (a weight is `canary-weight / canary-weight-total`) but not
written.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from rolloutd.kube.client import ApiError, KubeClient
from rolloutd.kube.resources import INGRESSES, Resource
from rolloutd.traffic.contract import (
    API_VERSION,
    HeaderRoute,
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

FIELD = "spec.strategy.canary.trafficRouting.nginx"
DEFAULT_PREFIX = "nginx.ingress.kubernetes.io"
CLASS_ANNOTATION = "kubernetes.io/ingress.class"
MANAGED_BY = "argo-rollouts.argoproj.io/managed-by-rollouts"
SUFFIX = "-canary"
MAX_NAME = 253
TOTAL = 100
OWNED_SPEC = ("rules", "tls", "ingressClassName")
"""The canary Ingress's spec fields the router derives from the stable Ingress."""


@dataclass(frozen=True, slots=True)
class StableRef:
    name: str
    field: str


def canary_ingress_name(rollout: str, stable_ingress: str) -> str:
    """Argo's name for the canary Ingress: `<rollout>-<stable>-canary`, cut to 253."""
    prefix = f"{rollout}-{stable_ingress}"[: MAX_NAME - len(SUFFIX)]
    return prefix + SUFFIX


def parse_stable(config: Mapping[str, Any]) -> tuple[list[StableRef], list[str]]:
    single, many = config.get("stableIngress"), config.get("stableIngresses")
    if single and many:
        return [], [f"{FIELD}: set either stableIngress or stableIngresses, not both"]
    if many:
        if not isinstance(many, list) or not all(isinstance(n, str) and n for n in many):
            return [], [f"{FIELD}.stableIngresses: must be a list of Ingress names"]
        return [StableRef(n, f"{FIELD}.stableIngresses[{i}]") for i, n in enumerate(many)], []
    if isinstance(single, str) and single:
        return [StableRef(single, f"{FIELD}.stableIngress")], []
    return [], [f"{FIELD}.stableIngress: name the stable Ingress (or list stableIngresses)"]


def prefix_of(config: Mapping[str, Any]) -> str:
    return str(config.get("annotationPrefix") or DEFAULT_PREFIX)


def _string_map(config: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = config.get(key)
    return value if isinstance(value, Mapping) else {}


def desired_annotations(
    config: Mapping[str, Any], stable: Mapping[str, Any], weight: int, rollout: str
) -> dict[str, str]:
    prefix = prefix_of(config)
    wanted: dict[str, str] = {}
    stable_annotations = (stable.get("metadata") or {}).get("annotations") or {}
    if CLASS_ANNOTATION in stable_annotations:
        wanted[CLASS_ANNOTATION] = str(stable_annotations[CLASS_ANNOTATION])
    for key, value in _string_map(config, "additionalIngressAnnotations").items():
        name = key if str(key).startswith(prefix) else f"{prefix}/{key}"
        wanted[name] = str(value)
    for key, value in _string_map(config, "canaryIngressAnnotations").items():
        wanted[str(key)] = str(value)
    wanted[f"{prefix}/canary"] = "true"
    wanted[f"{prefix}/canary-weight"] = str(weight)
    wanted[MANAGED_BY] = rollout
    return wanted


def desired_spec(
    stable: Mapping[str, Any], stable_service: str, canary_service: str, where: str
) -> JsonDict:
    """The canary Ingress's spec, derived from the stable Ingress (pure)."""
    spec = stable.get("spec") or {}
    rules = []
    for rule in spec.get("rules") or []:
        rule = copy.deepcopy(rule)
        uses_stable = False
        for path in ((rule or {}).get("http") or {}).get("paths") or []:
            service = ((path or {}).get("backend") or {}).get("service") or {}
            if service.get("name") == stable_service:
                service["name"] = canary_service
                uses_stable = True
        if uses_stable:
            rules.append(rule)
    if not rules:
        raise RouterError(
            f"{where}: ingress `{(stable.get('metadata') or {}).get('name')}` has "
            f"no rules using service {stable_service} backend"
        )
    wanted: JsonDict = {"rules": rules}
    if spec.get("tls") is not None:
        wanted["tls"] = copy.deepcopy(spec["tls"])
    if spec.get("ingressClassName") is not None:
        wanted["ingressClassName"] = spec["ingressClassName"]
    return wanted


def controlled_by(obj: Mapping[str, Any], uid: str) -> bool:
    return any(
        ref.get("uid") == uid and ref.get("controller")
        for ref in (obj.get("metadata") or {}).get("ownerReferences") or []
    )


def canary_ops(
    current: Mapping[str, Any], annotations: Mapping[str, str], spec: Mapping[str, Any]
) -> list[JsonOp]:
    """Ops bringing an existing canary Ingress to the wanted annotations and spec (pure).

    Annotations the router does not set are kept; of the spec, only `OWNED_SPEC` is compared.
    """
    ops: list[JsonOp] = []
    have = (current.get("metadata") or {}).get("annotations")
    if have is None:
        ops.append({"op": "add", "path": "/metadata/annotations", "value": dict(annotations)})
    else:
        for key, value in annotations.items():
            if have.get(key) != value:
                ops.append(
                    set_op(pointer("metadata", "annotations", key), value, present=key in have)
                )
    current_spec = current.get("spec") or {}
    for key in OWNED_SPEC:
        if key in spec:
            if current_spec.get(key) != spec[key]:
                ops.append(set_op(pointer("spec", key), spec[key], present=key in current_spec))
        elif key in current_spec:
            ops.append({"op": "remove", "path": pointer("spec", key)})
    return ops


def observed(canary: Mapping[str, Any] | None, prefix: str) -> int:
    """The canary's percentage a canary Ingress holds (0 when absent or not a canary)."""
    if canary is None:
        return 0
    annotations = (canary.get("metadata") or {}).get("annotations") or {}
    if annotations.get(f"{prefix}/canary") != "true":
        return 0
    try:
        weight = int(annotations.get(f"{prefix}/canary-weight") or 0)
        total = int(annotations.get(f"{prefix}/canary-weight-total") or TOTAL)
    except ValueError:
        return 0
    if total <= 0:
        return 0
    return round(TOTAL * max(0, min(weight, total)) / total)


class Router(WeightsOnly):
    """NGINX Ingress router. See the module docstring."""

    ROUTER = "the NGINX router"

    API_VERSION: ClassVar[int] = API_VERSION
    name: ClassVar[str] = "nginx"

    def __init__(self, settings: Mapping[str, Any] | None = None) -> None:
        self.settings = dict(settings or {})

    def watched_resources(self) -> Sequence[Resource]:
        return [INGRESSES]

    def references(self, config: Mapping[str, Any], namespace: str) -> Sequence[ObjectRef]:
        return [ObjectRef(INGRESSES, namespace, s.name) for s in parse_stable(config)[0]]

    def owned_references(
        self, config: Mapping[str, Any], namespace: str, rollout_name: str
    ) -> Sequence[ObjectRef]:
        """The canary Ingresses this Rollout has (their names derive from the Rollout's)."""
        return [
            ObjectRef(INGRESSES, namespace, canary_ingress_name(rollout_name, s.name))
            for s in parse_stable(config)[0]
        ]

    @staticmethod
    def _service_problems(ctx: RouterContext) -> list[str]:
        return [
            f"spec.strategy.canary.{field}: required by the NGINX router"
            for field, value in (
                ("canaryService", ctx.canary_service),
                ("stableService", ctx.stable_service),
            )
            if not value
        ]

    def _not_controlled(self, ctx: RouterContext, ref: StableRef, name: str) -> str:
        return (
            f"{ref.field}: canary ingress `{name}` controlled by different object (rolloutd "
            f"only edits a canary Ingress that Rollout {ctx.namespace}/{ctx.rollout_name} "
            f"controls; delete it or rename the Rollout)"
        )

    def _plans(
        self, ctx: RouterContext, weight: int
    ) -> list[tuple[StableRef, str, JsonDict, JsonDict | None]]:
        """(stable ref, canary name, wanted body, cached canary) per stable Ingress."""
        refs, problems = parse_stable(ctx.config)
        problems += self._service_problems(ctx)
        if problems:
            raise RouterError("; ".join(problems))
        result = []
        for ref in refs:
            stable = ctx.objects.get(INGRESSES, ctx.namespace, ref.name)
            if stable is None:
                raise RouterError(f"{ref.field}: Ingress {ctx.namespace}/{ref.name} not found")
            name = canary_ingress_name(ctx.rollout_name, ref.name)
            body: JsonDict = {
                "apiVersion": INGRESSES.api_version,
                "kind": "Ingress",
                "metadata": {
                    "name": name,
                    "namespace": ctx.namespace,
                    "annotations": desired_annotations(
                        ctx.config, stable, weight, ctx.rollout_name
                    ),
                    "ownerReferences": owned_by_rollout(ctx),
                },
                "spec": desired_spec(stable, ctx.stable_service, ctx.canary_service, ref.field),
            }
            canary = ctx.objects.get(INGRESSES, ctx.namespace, name)
            if canary is not None and not controlled_by(canary, ctx.rollout_uid):
                raise RouterError(self._not_controlled(ctx, ref, name))
            result.append((ref, name, body, canary))
        return result

    def validate(self, ctx: RouterContext) -> Sequence[str]:
        refs, problems = parse_stable(ctx.config)
        problems += self._service_problems(ctx)
        if problems:
            return problems
        for ref in refs:
            stable = ctx.objects.get(INGRESSES, ctx.namespace, ref.name)
            if stable is None:
                problems.append(f"{ref.field}: Ingress {ctx.namespace}/{ref.name} not found")
                continue
            try:
                desired_spec(stable, ctx.stable_service, ctx.canary_service, ref.field)
            except RouterError as exc:
                problems.append(str(exc))
            name = canary_ingress_name(ctx.rollout_name, ref.name)
            canary = ctx.objects.get(INGRESSES, ctx.namespace, name)
            if canary is not None and not controlled_by(canary, ctx.rollout_uid):
                problems.append(self._not_controlled(ctx, ref, name))
        return problems

    def read_weight(self, ctx: RouterContext) -> Sequence[ObservedWeight]:
        refs, _ = parse_stable(ctx.config)
        prefix = prefix_of(ctx.config)
        result = []
        for ref in refs:
            if ctx.objects.get(INGRESSES, ctx.namespace, ref.name) is None:
                continue
            name = canary_ingress_name(ctx.rollout_name, ref.name)
            weight = observed(ctx.objects.get(INGRESSES, ctx.namespace, name), prefix)
            result.append(
                ObservedWeight(f"Ingress {ctx.namespace}/{name}", weight, TOTAL - weight, TOTAL)
            )
        return result

    async def verify_weight(self, ctx: RouterContext, weight: int) -> VerifyResult:
        return read_back(self.read_weight(ctx), weight)

    async def set_weight(
        self, ctx: RouterContext, weight: int, additional: Sequence[WeightDestination] = ()
    ) -> bool:
        if not 0 <= weight <= TOTAL:
            raise RouterError(f"canary weight {weight} is outside 0..{TOTAL}")
        if additional:
            raise RouterError(
                f"{FIELD}: the NGINX router cannot route to extra destinations (experiment weights)"
            )
        changed = False
        for ref, name, body, canary in self._plans(ctx, weight):
            if canary is None:
                try:
                    created = await ctx.kube.create(INGRESSES, body, namespace=ctx.namespace)
                except ApiError as exc:
                    if not exc.conflict:
                        raise
                    canary = await ctx.kube.get(INGRESSES, name, namespace=ctx.namespace)
                else:
                    ctx.objects.remember(INGRESSES, created)
                    changed = True
                    continue

            def plan(
                obj: JsonDict, ref: StableRef = ref, name: str = name, body: JsonDict = body
            ) -> list[JsonOp]:
                if not controlled_by(obj, ctx.rollout_uid):
                    raise RouterError(self._not_controlled(ctx, ref, name))
                return canary_ops(obj, body["metadata"]["annotations"], body["spec"])

            written = await apply_plan(ctx.kube, ctx.objects, INGRESSES, canary, plan)
            changed = changed or written is not None
        return changed

    async def release(
        self,
        kube: KubeClient,
        objects: ObjectReader,
        resource: Resource,
        obj: JsonDict,
        rollout_name: str,
    ) -> bool:
        """A canary Ingress the Rollout no longer names (or whose Rollout is gone): delete it."""
        meta = obj.get("metadata") or {}
        owned = any(
            ref.get("kind") == "Rollout"
            and ref.get("name") == rollout_name
            and ref.get("controller")
            for ref in meta.get("ownerReferences") or []
        )
        if resource != INGRESSES or not owned:
            return False
        if (meta.get("annotations") or {}).get(MANAGED_BY) != rollout_name:
            return False
        try:
            await kube.delete(INGRESSES, str(meta.get("name")), namespace=meta.get("namespace"))
        except ApiError as exc:
            if exc.not_found:
                return False
            raise
        return True

    async def update_hash(
        self, ctx: RouterContext, canary_hash: str | None, stable_hash: str | None
    ) -> bool:
        return False  # Ingress backends are Services; the controller moves their selectors

    async def set_header_route(self, ctx: RouterContext, route: HeaderRoute) -> bool:
        if not route.match:
            return False
        raise RouterError(
            f"setHeaderRoute '{route.name}': the NGINX router does not support header route "
            f"steps; use {FIELD}.additionalIngressAnnotations (canary-by-header, "
            f"canary-by-cookie) instead"
        )
