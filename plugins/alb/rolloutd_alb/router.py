"""The AWS ALB traffic router: the AWS Load Balancer Controller's forward-action annotation.

Configured as in Argo Rollouts: `trafficRouting.alb: {ingress | ingresses, servicePort,
rootService, annotationPrefix, stickinessConfig}`. Each named Ingress (in the Rollout's
namespace) must have a rule whose backend is the action Service (`rootService`, default the
stable Service) on port `use-annotation`; the router writes the annotation
`<annotationPrefix>/actions.<action service>` (prefix default `alb.ingress.kubernetes.io`)
with Argo's JSON, a forward action whose target groups are the canary, the stable Service and
any other target group already there:

    {"Type":"forward","ForwardConfig":{"TargetGroups":[
      {"ServiceName":"canary","ServicePort":"80","Weight":20},
      {"ServiceName":"stable","ServicePort":"80","Weight":80}]}}

and, as Argo does, records the keys it manages in `rollouts.argoproj.io/managed-alb-annotations`
(`{"<rollout>": ["<key>", ...]}`), besides `argo-rollouts.argoproj.io/managed-by-rollouts`.

Differences from Argo: a target group that is neither canary nor stable (another Service, or a
`TargetGroupARN`) keeps its weight and stable takes `100 - canary - the others` (Argo drops
them); only the annotations that differ are JSON-patched (guarded by resourceVersion), and the
action is compared as JSON, so an equal action written with other spacing is not rewritten.

Weight verification: Argo checks the target groups' weights through the AWS API when
`--aws-verify-target-group` is on. There is no AWS here, so `verify_weight` is a documented
no-op (`NOT_IMPLEMENTED`, with a warning in the log once per Rollout); what the router does
verify is the annotation, by reading back the object each write returns (a mutating webhook
that rewrote it makes the write an error).

Header routes (`setHeaderRoute`, exact values only, as in Argo): an action
`actions.<route name>` forwarding everything to the canary, a condition
`conditions.<route name>` with one `http-header` condition per header name, and a `/*` path to
`<route name>:use-annotation` first in every rule; removed again by an empty match and at the
end. Mirror routes are not an ALB feature and are refused.

When a Rollout no longer names an Ingress it marked (or is deleted), its actions are reset to
forward 100% to the action Service (Argo's ingress controller does the same), its header
actions, conditions and paths are removed and its marks are taken off.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from rolloutd.kube.client import KubeClient
from rolloutd.kube.resources import INGRESSES, Resource
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
from rolloutd.traffic.patching import JsonOp, apply_plan, pointer, set_op

FIELD = "spec.strategy.canary.trafficRouting.alb"
DEFAULT_PREFIX = "alb.ingress.kubernetes.io"
MANAGED_ANNOTATIONS = "rollouts.argoproj.io/managed-alb-annotations"
MANAGED_BY = "argo-rollouts.argoproj.io/managed-by-rollouts"
USE_ANNOTATION = "use-annotation"
TOTAL = 100
MAX_STICKINESS = 604800  # seconds: the AWS API's limit for TargetGroupStickinessConfig

log = logging.getLogger("rolloutd.traffic.alb")


@dataclass(frozen=True, slots=True)
class IngressRef:
    namespace: str
    name: str
    field: str

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True, slots=True)
class Config:
    ingresses: list[IngressRef]
    port: int
    prefix: str
    root: str | None
    stickiness: JsonDict | None


def parse_config(config: Mapping[str, Any], namespace: str) -> tuple[Config | None, list[str]]:
    """The ALB block, or the problems with it (each naming its field)."""
    problems: list[str] = []
    single, many = config.get("ingress"), config.get("ingresses")
    refs: list[IngressRef] = []
    if single and many:
        problems.append(f"{FIELD}: set either ingress or ingresses, not both")
    elif many:
        if not isinstance(many, list) or not all(isinstance(n, str) and n for n in many):
            problems.append(f"{FIELD}.ingresses: must be a list of Ingress names")
        else:
            refs = [IngressRef(namespace, n, f"{FIELD}.ingresses[{i}]") for i, n in enumerate(many)]
    elif isinstance(single, str) and single:
        refs = [IngressRef(namespace, single, f"{FIELD}.ingress")]
    else:
        problems.append(f"{FIELD}.ingress: name the Ingress (or list them in ingresses)")
    port = config.get("servicePort")
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        problems.append(f"{FIELD}.servicePort: must be a port number (1..65535), got {port!r}")
    prefix = config.get("annotationPrefix") or DEFAULT_PREFIX
    root = config.get("rootService") or None
    stickiness: JsonDict | None = None
    sticky = config.get("stickinessConfig")
    if isinstance(sticky, Mapping) and sticky.get("enabled"):
        duration = sticky.get("durationSeconds")
        if isinstance(duration, bool) or not isinstance(duration, int):
            duration = -1
        if not 1 <= duration <= MAX_STICKINESS:
            problems.append(
                f"{FIELD}.stickinessConfig.durationSeconds: TargetGroupStickinessConfig's "
                f"duration must be between 1 and {MAX_STICKINESS} seconds (7 days)"
            )
        stickiness = {"Enabled": True, "DurationSeconds": duration}
    if problems:
        return None, problems
    assert isinstance(port, int)
    return Config(refs, port, str(prefix), str(root) if root else None, stickiness), []


def action_key(prefix: str, service: str) -> str:
    return f"{prefix}/actions.{service}"


def condition_key(prefix: str, service: str) -> str:
    return f"{prefix}/conditions.{service}"


def _annotations(obj: Mapping[str, Any]) -> Mapping[str, str]:
    return (obj.get("metadata") or {}).get("annotations") or {}


def parse_action(text: str | None) -> JsonDict | None:
    """The forward action an annotation holds; None when absent or not a JSON object."""
    if not text:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def target_groups(action: Mapping[str, Any] | None) -> list[JsonDict]:
    groups = ((action or {}).get("ForwardConfig") or {}).get("TargetGroups") or []
    return [g for g in groups if isinstance(g, dict)]


def _tg_weight(group: Mapping[str, Any]) -> int:
    try:
        return int(group.get("Weight") or 0)
    except (TypeError, ValueError):
        return 0


def backend_services(ingress: Mapping[str, Any]) -> list[tuple[int, int, str]]:
    """(rule index, path index, Service name) of every path backend of an Ingress."""
    found = []
    for r, rule in enumerate((ingress.get("spec") or {}).get("rules") or []):
        for p, path in enumerate(((rule or {}).get("http") or {}).get("paths") or []):
            service = ((path or {}).get("backend") or {}).get("service") or {}
            if service.get("name"):
                found.append((r, p, str(service["name"])))
    return found


def desired_action(
    current: Mapping[str, Any] | None,
    cfg: Config,
    stable: str,
    canary: str,
    weight: int,
    extra: Mapping[str, int],
    where: str,
) -> JsonDict:
    """Argo's forward action for `weight`, keeping target groups that are not ours (pure)."""
    if not 0 <= weight <= TOTAL:
        raise RouterError(f"canary weight {weight} is outside 0..{TOTAL}")
    port = str(cfg.port)
    ours = {canary, stable, *extra}
    foreign = [g for g in target_groups(current) if g.get("ServiceName") not in ours]
    rest = TOTAL - weight - sum(extra.values()) - sum(_tg_weight(g) for g in foreign)
    if rest < 0:
        raise RouterError(
            f"{where}: cannot route {weight}% to canary: other target groups already take "
            f"{sum(_tg_weight(g) for g in foreign)} of {TOTAL}, so stable would get {rest}"
        )
    groups: list[JsonDict] = [{"ServiceName": canary, "ServicePort": port, "Weight": weight}]
    groups += [{"ServiceName": s, "ServicePort": port, "Weight": w} for s, w in extra.items()]
    groups += foreign
    groups.append({"ServiceName": stable, "ServicePort": port, "Weight": rest})
    forward: JsonDict = {"TargetGroups": groups}
    if cfg.stickiness is not None:
        forward["TargetGroupStickinessConfig"] = dict(cfg.stickiness)
    return {"Type": "forward", "ForwardConfig": forward}


def dump(value: Any) -> str:
    """JSON as Go's encoding/json writes it (no spaces), so Argo and rolloutd agree byte-wise."""
    return json.dumps(value, separators=(",", ":"))


def managed_keys(annotations: Mapping[str, str]) -> dict[str, list[str]]:
    try:
        value = json.loads(annotations.get(MANAGED_ANNOTATIONS) or "{}")
    except ValueError:
        return {}
    if not isinstance(value, dict):
        return {}
    return {str(k): [str(x) for x in v] for k, v in value.items() if isinstance(v, list)}


def annotation_ops(
    obj: Mapping[str, Any],
    wanted: Mapping[str, str | None],
    rollout: str,
    *,
    add: bool,
    forget: bool = False,
) -> list[JsonOp]:
    """Ops setting (None: removing) annotations and keeping both marks up to date (pure).

    `add` records the keys as the Rollout's in the managed-annotations mark; `forget` drops the
    Rollout from it altogether (when the Ingress is given back).
    """
    meta = obj.get("metadata") or {}
    have = dict(meta.get("annotations") or {})
    ops: list[JsonOp] = []
    managed = managed_keys(have)
    keys = list(managed.get(rollout, []))
    for key, value in wanted.items():
        path = pointer("metadata", "annotations", key)
        if value is None:
            if key in have:
                ops.append({"op": "remove", "path": path})
            if key in keys:
                keys.remove(key)
        else:
            if not _same(have.get(key), value):
                ops.append(set_op(path, value, present=key in have))
            if add and key not in keys:
                keys.append(key)
    if keys and not forget:
        managed[rollout] = keys
    else:
        managed.pop(rollout, None)
    marks = pointer("metadata", "annotations", MANAGED_ANNOTATIONS)
    if managed:
        if MANAGED_ANNOTATIONS not in have or managed != managed_keys(have):
            ops.append(set_op(marks, dump(managed), present=MANAGED_ANNOTATIONS in have))
    elif MANAGED_ANNOTATIONS in have:
        ops.append({"op": "remove", "path": marks})
    mark = pointer("metadata", "annotations", MANAGED_BY)
    if rollout in managed:
        if MANAGED_BY not in have:
            ops.append({"op": "add", "path": mark, "value": rollout})
    elif have.get(MANAGED_BY) == rollout:
        ops.append({"op": "remove", "path": mark})
    if ops and meta.get("annotations") is None:
        ops.insert(0, {"op": "add", "path": "/metadata/annotations", "value": {}})
    return ops


def _same(have: str | None, want: str) -> bool:
    """Equal annotations; two JSON texts that parse to the same value are equal too."""
    if have == want:
        return True
    if have is None:
        return False
    try:
        return bool(json.loads(have) == json.loads(want))
    except ValueError:
        return False


class Router:
    """AWS ALB router. See the module docstring."""

    API_VERSION: ClassVar[int] = API_VERSION
    name: ClassVar[str] = "alb"

    def __init__(self, settings: Mapping[str, Any] | None = None) -> None:
        self.settings = dict(settings or {})
        self._warned: set[tuple[str, str]] = set()

    def watched_resources(self) -> Sequence[Resource]:
        return [INGRESSES]

    def references(self, config: Mapping[str, Any], namespace: str) -> Sequence[ObjectRef]:
        cfg, _ = parse_config(config, namespace)
        return [ObjectRef(INGRESSES, r.namespace, r.name) for r in (cfg.ingresses if cfg else [])]

    # -- helpers ------------------------------------------------------------------------------

    @staticmethod
    def _service_problems(ctx: RouterContext) -> list[str]:
        return [
            f"spec.strategy.canary.{field}: required by the ALB router"
            for field, value in (
                ("canaryService", ctx.canary_service),
                ("stableService", ctx.stable_service),
            )
            if not value
        ]

    def _config(self, ctx: RouterContext) -> Config:
        cfg, problems = parse_config(ctx.config, ctx.namespace)
        problems += self._service_problems(ctx)
        if problems or cfg is None:
            raise RouterError("; ".join(problems))
        return cfg

    @staticmethod
    def _root(cfg: Config, ctx: RouterContext) -> str:
        return cfg.root or ctx.stable_service

    def _ingresses(self, ctx: RouterContext, cfg: Config) -> list[tuple[IngressRef, JsonDict]]:
        found = []
        root = self._root(cfg, ctx)
        for ref in cfg.ingresses:
            obj = ctx.objects.get(INGRESSES, ref.namespace, ref.name)
            if obj is None:
                raise RouterError(f"{ref.field}: Ingress {ref.ref} not found")
            if root not in {s for _, _, s in backend_services(obj)}:
                raise RouterError(
                    f"{ref.field}: Ingress {ref.ref} does not have service `{root}` in rules "
                    f"(a path to {root}:{USE_ANNOTATION} is needed for the action)"
                )
            found.append((ref, obj))
        return found

    async def _patch(
        self, ctx: RouterContext, found: Sequence[tuple[IngressRef, JsonDict]], plan_for: Any
    ) -> bool:
        for _, obj in found:
            plan_for(obj)  # plan every Ingress before writing any: one bad one changes nothing
        changed = False
        for ref, obj in found:
            written = await apply_plan(ctx.kube, ctx.objects, INGRESSES, obj, plan_for)
            if written is not None:
                changed = True
                if plan_for(written):
                    raise RouterError(
                        f"{ref.field}: Ingress {ref.ref} does not hold what rolloutd wrote "
                        f"(read back after the write); is a webhook rewriting its annotations?"
                    )
        return changed

    # -- the contract --------------------------------------------------------------------------

    def validate(self, ctx: RouterContext) -> Sequence[str]:
        cfg, problems = parse_config(ctx.config, ctx.namespace)
        problems += self._service_problems(ctx)
        if cfg is None or problems:
            return problems
        root = self._root(cfg, ctx)
        for ref in cfg.ingresses:
            obj = ctx.objects.get(INGRESSES, ref.namespace, ref.name)
            if obj is None:
                problems.append(f"{ref.field}: Ingress {ref.ref} not found")
            elif root not in {s for _, _, s in backend_services(obj)}:
                problems.append(
                    f"{ref.field}: Ingress {ref.ref} does not have service `{root}` in rules"
                )
        return problems

    def read_weight(self, ctx: RouterContext) -> Sequence[ObservedWeight]:
        cfg, problems = parse_config(ctx.config, ctx.namespace)
        if cfg is None or problems:
            return []
        result = []
        key = action_key(cfg.prefix, self._root(cfg, ctx))
        for ref in cfg.ingresses:
            obj = ctx.objects.get(INGRESSES, ref.namespace, ref.name)
            if obj is None:
                continue
            groups = target_groups(parse_action(_annotations(obj).get(key)))
            total = sum(_tg_weight(g) for g in groups)
            if total <= 0:
                continue

            def share(service: str, groups: list[JsonDict] = groups, total: int = total) -> int:
                raw = sum(_tg_weight(g) for g in groups if g.get("ServiceName") == service)
                return round(TOTAL * raw / total)

            result.append(
                ObservedWeight(
                    f"Ingress {ref.ref}, {key}",
                    share(ctx.canary_service),
                    share(ctx.stable_service),
                    TOTAL,
                )
            )
        return result

    async def verify_weight(self, ctx: RouterContext, weight: int) -> VerifyResult:
        key = (ctx.namespace, ctx.rollout_name)
        if key not in self._warned:
            self._warned.add(key)
            log.warning(
                "ALB target group weights are not verified: rolloutd has no AWS API access; "
                "the action annotation is verified by read-back instead (rollout %s/%s)",
                ctx.namespace,
                ctx.rollout_name,
            )
        return VerifyResult.NOT_IMPLEMENTED

    async def set_weight(
        self, ctx: RouterContext, weight: int, additional: Sequence[WeightDestination] = ()
    ) -> bool:
        cfg = self._config(ctx)
        found = self._ingresses(ctx, cfg)
        extra = {d.service_name: d.weight for d in additional}
        key = action_key(cfg.prefix, self._root(cfg, ctx))

        def plan(obj: JsonDict) -> list[JsonOp]:
            where = f"{FIELD}: Ingress {(obj.get('metadata') or {}).get('name')}"
            current = parse_action(_annotations(obj).get(key))
            action = desired_action(
                current, cfg, ctx.stable_service, ctx.canary_service, weight, extra, where
            )
            return annotation_ops(obj, {key: dump(action)}, ctx.rollout_name, add=True)

        return await self._patch(ctx, found, plan)

    async def update_hash(
        self, ctx: RouterContext, canary_hash: str | None, stable_hash: str | None
    ) -> bool:
        return False  # target groups are Services; the controller moves their selectors

    async def set_header_route(self, ctx: RouterContext, route: HeaderRoute) -> bool:
        cfg = self._config(ctx)
        field = f"setHeaderRoute '{route.name}'"
        conditions: list[JsonDict] = []
        for match in route.match:
            if match.exact is None or match.regex is not None or match.prefix is not None:
                raise RouterError(
                    f"{field}: SetHeaderRoute match value invalid. ALB supports 'exact' "
                    f"value only (header {match.header_name})"
                )
            same = next(
                (
                    c
                    for c in conditions
                    if c["httpHeaderConfig"]["httpHeaderName"] == match.header_name
                ),
                None,
            )
            if same is not None:
                same["httpHeaderConfig"]["values"].append(match.exact)
            else:
                conditions.append(
                    {
                        "field": "http-header",
                        "httpHeaderConfig": {
                            "httpHeaderName": match.header_name,
                            "values": [match.exact],
                        },
                    }
                )
        found = self._ingresses(ctx, cfg)
        action: JsonDict = {
            "Type": "forward",
            "ForwardConfig": {
                "TargetGroups": [
                    {"ServiceName": ctx.canary_service, "ServicePort": str(cfg.port), "Weight": 100}
                ]
            },
        }
        if cfg.stickiness is not None:
            action["ForwardConfig"]["TargetGroupStickinessConfig"] = dict(cfg.stickiness)
        add = bool(route.match)
        wanted: dict[str, str | None] = {
            action_key(cfg.prefix, route.name): dump(action) if add else None,
            condition_key(cfg.prefix, route.name): dump(conditions) if add else None,
        }

        def plan(obj: JsonDict) -> list[JsonOp]:
            ops = annotation_ops(obj, wanted, ctx.rollout_name, add=add)
            return ops + path_ops(obj, route.name, add=add)

        return await self._patch(ctx, found, plan)

    async def set_mirror_route(self, ctx: RouterContext, route: MirrorRoute) -> bool:
        if not route.match:
            return False
        raise RouterError(
            f"setMirrorRoute '{route.name}': the ALB router does not support mirror routes"
        )

    async def remove_managed_routes(self, ctx: RouterContext) -> bool:
        changed = False
        for name in ctx.managed_routes:
            changed = await self.set_header_route(ctx, HeaderRoute(name)) or changed
        return changed

    async def release(
        self,
        kube: KubeClient,
        objects: ObjectReader,
        resource: Resource,
        obj: JsonDict,
        rollout_name: str,
    ) -> bool:
        """Reset this Rollout's actions to 100% to their Service; drop its routes and marks."""
        if resource != INGRESSES or rollout_name not in managed_keys(_annotations(obj)):
            return False
        return (
            await apply_plan(kube, objects, resource, obj, lambda o: release_ops(o, rollout_name))
            is not None
        )


def path_ops(obj: Mapping[str, Any], service: str, *, add: bool) -> list[JsonOp]:
    """Put a `/*` path to `<service>:use-annotation` first in every rule, or take it out."""
    ops: list[JsonOp] = []
    rules = (obj.get("spec") or {}).get("rules") or []
    for r, rule in enumerate(rules):
        paths = ((rule or {}).get("http") or {}).get("paths")
        if paths is None:
            continue
        at = [
            p
            for p, path in enumerate(paths)
            if (((path or {}).get("backend") or {}).get("service") or {}).get("name") == service
        ]
        if add and not at:
            entry = {
                "path": "/*",
                "pathType": "ImplementationSpecific",
                "backend": {"service": {"name": service, "port": {"name": USE_ANNOTATION}}},
            }
            ops.append(
                {
                    "op": "add",
                    "path": pointer("spec", "rules", r, "http", "paths", 0),
                    "value": entry,
                }
            )
        elif not add:
            ops.extend(
                {"op": "remove", "path": pointer("spec", "rules", r, "http", "paths", p)}
                for p in reversed(at)
            )
    return ops


def release_ops(obj: Mapping[str, Any], rollout: str) -> list[JsonOp]:
    """What giving an Ingress back takes: see `Router.release` (pure)."""
    annotations = _annotations(obj)
    keys = managed_keys(annotations).get(rollout)
    if keys is None:
        return []
    wanted: dict[str, str | None] = {}
    paths: list[JsonOp] = []
    for key in keys:
        if "/actions." in key:
            service = key.split("/actions.", 1)[1]
            groups = target_groups(parse_action(annotations.get(key)))
            own = next((g for g in groups if g.get("ServiceName") == service), None)
            if own is not None:
                forward: JsonDict = {
                    "TargetGroups": [
                        {
                            "ServiceName": service,
                            "ServicePort": own.get("ServicePort"),
                            "Weight": 100,
                        }
                    ]
                }
                sticky = (
                    (parse_action(annotations.get(key)) or {})
                    .get("ForwardConfig", {})
                    .get("TargetGroupStickinessConfig")
                )
                if sticky:
                    forward["TargetGroupStickinessConfig"] = sticky
                wanted[key] = dump({"Type": "forward", "ForwardConfig": forward})
            else:  # a header route's action: it forwards to the canary only
                wanted[key] = None
                paths += path_ops(obj, service, add=False)
        else:
            wanted[key] = None
    return annotation_ops(obj, wanted, rollout, add=False, forget=True) + paths
