"""The AWS App Mesh traffic router: weighted targets of a VirtualRouter, hashes on VirtualNodes.

Configured as in Argo Rollouts (`trafficRouting.appMesh`):

    virtualService: {name, routes: [route name, ...]}   # routes: optional filter
    virtualNodeGroup:
      canaryVirtualNodeRef: {name}
      stableVirtualNodeRef: {name}

The `appmesh.k8s.aws` VirtualService names its VirtualRouter (`spec.provider.virtualRouter.
virtualRouterRef`); in that router's `spec.routes`, the routes named in `routes` (all of them
when it is empty) carry the split in `<type>.action.weightedTargets` (type `httpRoute`,
`http2Route`, `grpcRoute` or `tcpRoute`): the canary VirtualNode's target gets the canary
weight, the stable VirtualNode's the rest. Without a filter, a route that has no target for the
stable VirtualNode is someone else's and is left alone; with one, every named route must have
both targets. `update_hash` puts the pod-template hashes into the VirtualNodes'
`spec.podSelector.matchLabels` (`rollouts-pod-template-hash`) and annotates them with
`argo-rollouts.argoproj.io/managed-by-rollouts`, as Argo does, including Argo's stand-ins
`stable-hash` / `canary-hash` when a hash is missing or both are the same (the App Mesh webhook
refuses two VirtualNodes with the same selector).

Where rolloutd differs from Argo: targets that are neither canary nor stable keep their weights
(stable gets `100 - canary - theirs`; Argo ignores them and can exceed 100), only the weights
and labels that differ are patched (JSON patch guarded by resourceVersion, instead of updates),
weights are verified by reading them back, and a VirtualNode the Rollout no longer names gets
the annotation removed (`release`); its selector keeps the hash label, since without it the two
VirtualNodes would select the same pods. Header and mirror routes and experiment destinations are
not supported (Argo ignores them; rolloutd says so).

The VirtualRouter's name is known only from the VirtualService, so an edit of the VirtualRouter
alone does not wake the Rollout at once: it is put back at the Rollout's next reconcile. Settings:
`apiVersion`, default `v1beta2` (Argo's `--appmesh-crd-version`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
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

FIELD = "spec.strategy.canary.trafficRouting.appMesh"
TOTAL = 100
GROUP = "appmesh.k8s.aws"
ROUTE_TYPES = ("httpRoute", "tcpRoute", "http2Route", "grpcRoute")
HASH_LABEL = "rollouts-pod-template-hash"
MANAGED_BY = "argo-rollouts.argoproj.io/managed-by-rollouts"
DEFAULT_STABLE_HASH = "stable-hash"
DEFAULT_CANARY_HASH = "canary-hash"


@dataclass(frozen=True, slots=True)
class AppMeshConfig:
    virtual_service: str
    routes: tuple[str, ...]
    canary_node: str
    stable_node: str
    problems: tuple[str, ...] = ()


def _name_at(config: Mapping[str, Any], *path: str) -> str:
    node: Any = config
    for key in path:
        node = node.get(key) if isinstance(node, Mapping) else None
    return node if isinstance(node, str) else ""


def parse_config(config: Mapping[str, Any]) -> AppMeshConfig:
    """The objects a config names, with problems naming their fields."""
    vs = _name_at(config, "virtualService", "name")
    canary = _name_at(config, "virtualNodeGroup", "canaryVirtualNodeRef", "name")
    stable = _name_at(config, "virtualNodeGroup", "stableVirtualNodeRef", "name")
    problems = [
        f"{FIELD}.{field}: required"
        for field, value in (
            ("virtualService.name", vs),
            ("virtualNodeGroup.canaryVirtualNodeRef.name", canary),
            ("virtualNodeGroup.stableVirtualNodeRef.name", stable),
        )
        if not value
    ]
    if canary and canary == stable:
        problems.append(
            f"{FIELD}.virtualNodeGroup: the canary and stable VirtualNodes must differ "
            f"(both are '{canary}')"
        )
    raw = (config.get("virtualService") or {}).get("routes") if vs else None
    routes: tuple[str, ...] = ()
    if raw:
        if isinstance(raw, str) or not isinstance(raw, Sequence):
            problems.append(f"{FIELD}.virtualService.routes: must be a list of route names")
        else:
            routes = tuple(str(r) for r in raw)
    return AppMeshConfig(vs, routes, canary, stable, tuple(problems))


def route_rule(route: Mapping[str, Any]) -> tuple[str, Mapping[str, Any]] | None:
    """The (type, rule) of a VirtualRouter route, for the types that split traffic."""
    for kind in ROUTE_TYPES:
        rule = route.get(kind)
        if isinstance(rule, Mapping):
            return kind, rule
    return None


def _targets(route: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    found = route_rule(route)
    if found is None:
        return []
    return list((found[1].get("action") or {}).get("weightedTargets") or [])


def _is_node(target: Mapping[str, Any], name: str, namespace: str) -> bool:
    ref = target.get("virtualNodeRef") or {}
    return ref.get("name") == name and (ref.get("namespace") or namespace) == namespace


@dataclass(frozen=True, slots=True)
class Managed:
    index: int
    name: str
    kind: str


def managed_routes(
    router: Mapping[str, Any], cfg: AppMeshConfig, namespace: str
) -> tuple[list[Managed], list[str]]:
    """The routes whose weights the Rollout manages, and problems naming the field."""
    where = f"VirtualRouter {(router.get('metadata') or {}).get('namespace')}/" + str(
        (router.get("metadata") or {}).get("name")
    )
    routes = list((router.get("spec") or {}).get("routes") or [])
    if not routes:
        return [], [f"{FIELD}.virtualService: {where} has no spec.routes"]
    found: list[Managed] = []
    problems: list[str] = []
    names = [r.get("name") for r in routes]
    for i, wanted in enumerate(cfg.routes):
        if wanted not in names:
            problems.append(
                f"{FIELD}.virtualService.routes[{i}]: route '{wanted}' not found in {where}"
            )
    for index, route in enumerate(routes):
        name = str(route.get("name") or "")
        if cfg.routes and name not in cfg.routes:
            continue
        rule = route_rule(route)
        targets = _targets(route)
        has_stable = any(_is_node(t, cfg.stable_node, namespace) for t in targets)
        if not cfg.routes and not has_stable:
            continue  # someone else's route
        if rule is None:
            problems.append(
                f"{FIELD}.virtualService.routes: route '{name}' of {where} is not one of "
                f"{', '.join(ROUTE_TYPES)}"
            )
            continue
        for role, node in (("stable", cfg.stable_node), ("canary", cfg.canary_node)):
            if not any(_is_node(t, node, namespace) for t in targets):
                problems.append(
                    f"{FIELD}.virtualNodeGroup.{role}VirtualNodeRef: route '{name}' of {where} "
                    f"has no weightedTargets entry for VirtualNode '{node}'"
                )
        found.append(Managed(index, name, rule[0]))
    if not found and not problems:
        problems.append(
            f"{FIELD}.virtualNodeGroup.stableVirtualNodeRef: no route of {where} sends "
            f"traffic to VirtualNode '{cfg.stable_node}'"
        )
    return found, problems


def shares(route: Mapping[str, Any], cfg: AppMeshConfig, namespace: str) -> tuple[int, int, int]:
    targets = _targets(route)
    total = sum(int(t.get("weight") or 0) for t in targets)
    if total <= 0:
        return 0, 0, 0
    canary = sum(
        int(t.get("weight") or 0) for t in targets if _is_node(t, cfg.canary_node, namespace)
    )
    stable = sum(
        int(t.get("weight") or 0) for t in targets if _is_node(t, cfg.stable_node, namespace)
    )
    return round(TOTAL * canary / total), round(TOTAL * stable / total), total


def weight_ops(
    router: Mapping[str, Any], cfg: AppMeshConfig, namespace: str, weight: int
) -> list[JsonOp]:
    if not 0 <= weight <= TOTAL:
        raise RouterError(f"canary weight {weight} is outside 0..{TOTAL}")
    found, problems = managed_routes(router, cfg, namespace)
    if problems:
        raise RouterError("; ".join(problems))
    routes = (router.get("spec") or {}).get("routes") or []
    ops: list[JsonOp] = []
    for m in found:
        targets = _targets(routes[m.index])
        foreign = sum(
            int(t.get("weight") or 0)
            for t in targets
            if not _is_node(t, cfg.canary_node, namespace)
            and not _is_node(t, cfg.stable_node, namespace)
        )
        stable = TOTAL - weight - foreign
        if stable < 0:
            raise RouterError(
                f"{FIELD}: cannot route {weight}% to canary in route '{m.name}': other targets "
                f"already take {foreign} of {TOTAL}, so stable would get {stable}"
            )
        for t, target in enumerate(targets):
            if _is_node(target, cfg.canary_node, namespace):
                want = weight
            elif _is_node(target, cfg.stable_node, namespace):
                want = stable
            else:
                continue
            if target.get("weight") != want:
                path = pointer(
                    "spec", "routes", m.index, m.kind, "action", "weightedTargets", t, "weight"
                )
                ops.append(set_op(path, want, present="weight" in target))
    return ops


def hash_ops(node: Mapping[str, Any], pod_hash: str, rollout_name: str) -> list[JsonOp]:
    """Ops that put `pod_hash` into a VirtualNode's pod selector and annotate it as ours."""
    meta = node.get("metadata") or {}
    annotations = meta.get("annotations")
    ops: list[JsonOp] = []
    if annotations is None:
        ops.append(
            {"op": "add", "path": "/metadata/annotations", "value": {MANAGED_BY: rollout_name}}
        )
    elif annotations.get(MANAGED_BY) != rollout_name:
        ops.append(
            set_op(
                pointer("metadata", "annotations", MANAGED_BY),
                rollout_name,
                present=MANAGED_BY in annotations,
            )
        )
    spec = node.get("spec") or {}
    selector = spec.get("podSelector")
    if selector is None:
        ops.append(
            set_op("/spec/podSelector", {"matchLabels": {HASH_LABEL: pod_hash}}, present=False)
        )
        return ops
    labels = selector.get("matchLabels")
    if labels is None:
        ops.append(set_op("/spec/podSelector/matchLabels", {HASH_LABEL: pod_hash}, present=False))
    elif labels.get(HASH_LABEL) != pod_hash:
        path = pointer("spec", "podSelector", "matchLabels", HASH_LABEL)
        ops.append(set_op(path, pod_hash, present=HASH_LABEL in labels))
    return ops


class Router(WeightsOnly):
    """App Mesh VirtualRouter / VirtualNode router. See the module docstring."""

    ROUTER = "the App Mesh router"

    API_VERSION: ClassVar[int] = API_VERSION
    name: ClassVar[str] = "appMesh"

    def __init__(self, settings: Mapping[str, Any] | None = None) -> None:
        version = str((settings or {}).get("apiVersion") or "v1beta2").rsplit("/", 1)[-1]
        self.virtual_services = Resource(GROUP, version, "virtualservices", "VirtualService")
        self.virtual_routers = Resource(GROUP, version, "virtualrouters", "VirtualRouter")
        self.virtual_nodes = Resource(GROUP, version, "virtualnodes", "VirtualNode")

    def watched_resources(self) -> Sequence[Resource]:
        return [self.virtual_services, self.virtual_routers, self.virtual_nodes]

    def references(self, config: Mapping[str, Any], namespace: str) -> Sequence[ObjectRef]:
        cfg = parse_config(config)
        refs = [ObjectRef(self.virtual_services, namespace, cfg.virtual_service)]
        refs += [
            ObjectRef(self.virtual_nodes, namespace, n) for n in (cfg.canary_node, cfg.stable_node)
        ]
        return [r for r in refs if r.name]

    # -- reading ------------------------------------------------------------------------------

    def _router(self, ctx: RouterContext, cfg: AppMeshConfig) -> tuple[JsonDict | None, list[str]]:
        """The VirtualRouter behind the VirtualService, or the problems finding it."""
        where = f"VirtualService {ctx.namespace}/{cfg.virtual_service}"
        vs = ctx.objects.get(self.virtual_services, ctx.namespace, cfg.virtual_service)
        if vs is None:
            return None, [f"{FIELD}.virtualService.name: {where} not found"]
        ref = (((vs.get("spec") or {}).get("provider") or {}).get("virtualRouter") or {}).get(
            "virtualRouterRef"
        ) or {}
        if not ref.get("name"):
            return None, [
                f"{FIELD}.virtualService.name: {where} is not provided by a virtual router "
                f"(spec.provider.virtualRouter.virtualRouterRef)"
            ]
        namespace = str(ref.get("namespace") or ctx.namespace)
        router = ctx.objects.get(self.virtual_routers, namespace, str(ref["name"]))
        if router is None:
            return None, [
                f"{FIELD}.virtualService.name: VirtualRouter {namespace}/{ref['name']} "
                f"(the provider of {where}) not found"
            ]
        return router, []

    def _problems(self, ctx: RouterContext) -> tuple[AppMeshConfig, JsonDict | None, list[str]]:
        cfg = parse_config(ctx.config)
        problems = list(cfg.problems)
        if problems:
            return cfg, None, problems
        for role, node in (("canary", cfg.canary_node), ("stable", cfg.stable_node)):
            if ctx.objects.get(self.virtual_nodes, ctx.namespace, node) is None:
                problems.append(
                    f"{FIELD}.virtualNodeGroup.{role}VirtualNodeRef.name: VirtualNode "
                    f"{ctx.namespace}/{node} not found"
                )
        router, found = self._router(ctx, cfg)
        problems += found
        if router is not None:
            problems += managed_routes(router, cfg, ctx.namespace)[1]
        return cfg, router, problems

    def validate(self, ctx: RouterContext) -> Sequence[str]:
        return self._problems(ctx)[2]

    def read_weight(self, ctx: RouterContext) -> Sequence[ObservedWeight]:
        cfg = parse_config(ctx.config)
        if cfg.problems:
            return []
        router, _ = self._router(ctx, cfg)
        if router is None:
            return []
        found, _ = managed_routes(router, cfg, ctx.namespace)
        routes = (router.get("spec") or {}).get("routes") or []
        meta = router.get("metadata") or {}
        result = []
        for m in found:
            canary, stable, _ = shares(routes[m.index], cfg, ctx.namespace)
            label = f"VirtualRouter {meta.get('namespace')}/{meta.get('name')}, route {m.name}"
            result.append(ObservedWeight(label, canary, stable, TOTAL))
        return result

    async def verify_weight(self, ctx: RouterContext, weight: int) -> VerifyResult:
        # The App Mesh controller's status on the VirtualRouter says whether AWS accepted the
        # object, not which weights Envoy has; reading the stored weights back is the check.
        if self.validate(ctx):
            return VerifyResult.NOT_VERIFIED
        return read_back(self.read_weight(ctx), weight)

    # -- writing ------------------------------------------------------------------------------

    async def set_weight(
        self, ctx: RouterContext, weight: int, additional: Sequence[WeightDestination] = ()
    ) -> bool:
        if additional:
            raise RouterError(
                f"{FIELD}: the App Mesh router does not route to experiment services "
                f"({', '.join(d.service_name for d in additional)})"
            )
        cfg, router, problems = self._problems(ctx)
        if problems or router is None:
            raise RouterError("; ".join(problems))

        def plan(obj: JsonDict) -> list[JsonOp]:
            return weight_ops(obj, cfg, ctx.namespace, weight)

        written = await apply_plan(ctx.kube, ctx.objects, self.virtual_routers, router, plan)
        return written is not None

    async def update_hash(
        self, ctx: RouterContext, canary_hash: str | None, stable_hash: str | None
    ) -> bool:
        cfg = parse_config(ctx.config)
        if cfg.problems:
            raise RouterError("; ".join(cfg.problems))
        stable = stable_hash or DEFAULT_STABLE_HASH
        canary = canary_hash if canary_hash and canary_hash != stable else DEFAULT_CANARY_HASH
        changed = False
        # Stable first, as Argo does.
        for role, node, pod_hash in (
            ("stable", cfg.stable_node, stable),
            ("canary", cfg.canary_node, canary),
        ):
            obj = ctx.objects.get(self.virtual_nodes, ctx.namespace, node)
            if obj is None:
                raise RouterError(
                    f"{FIELD}.virtualNodeGroup.{role}VirtualNodeRef.name: VirtualNode "
                    f"{ctx.namespace}/{node} not found"
                )

            def plan(current: JsonDict, pod_hash: str = pod_hash) -> list[JsonOp]:
                return hash_ops(current, pod_hash, ctx.rollout_name)

            written = await apply_plan(ctx.kube, ctx.objects, self.virtual_nodes, obj, plan)
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
        """A VirtualNode the Rollout no longer names: drop our annotation (the hash label
        stays, see the module docstring)."""
        if resource != self.virtual_nodes:
            return False

        def plan(current: JsonDict) -> list[JsonOp]:
            annotations = (current.get("metadata") or {}).get("annotations") or {}
            if annotations.get(MANAGED_BY) != rollout_name:
                return []
            return [{"op": "remove", "path": pointer("metadata", "annotations", MANAGED_BY)}]

        written = await apply_plan(kube, objects, self.virtual_nodes, obj, plan)
        return written is not None
