"""Carries out a Plan: each action as one minimal, idempotent write.

Actions run in the planner's order and the first failure stops the plan (the caller retries
with backoff), so the status patch that follows is only written when everything before it
took effect. Router calls get a `RouterContext` built for each router the Rollout names.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from rolloutd.controller.failures import refusal
from rolloutd.kube.client import ApiError, KubeClient
from rolloutd.kube.informer import Informer
from rolloutd.kube.resources import ANALYSIS_RUNS, REPLICA_SETS, ROLLOUTS, SERVICES
from rolloutd.plan.types import (
    MANAGED_BY_ANNOTATION,
    POD_HASH_LABEL,
    Action,
    AnnotateReplicaSet,
    AnnotateRollout,
    CreateAnalysisRun,
    CreateReplicaSet,
    DeleteAnalysisRun,
    DeleteReplicaSet,
    RemoveManagedRoutes,
    ScaleReplicaSet,
    SetHeaderRoute,
    SetMirrorRoute,
    SetWeight,
    SwitchService,
    TerminateAnalysisRun,
    UpdateHash,
)
from rolloutd.traffic.contract import (
    HeaderMatch,
    HeaderRoute,
    MirrorRoute,
    RouterContext,
    RouterError,
    TrafficRouter,
    VerifyResult,
)

JsonDict = dict[str, Any]


class WeightNotVerified(Exception):
    """A router did not read back the weight it was asked to set."""


@dataclass
class BoundRouter:
    """A router and the context it acts in for one Rollout."""

    router: TrafficRouter
    ctx: RouterContext


@dataclass
class Outcome:
    """What executing a plan changed, for events and metrics."""

    writes: int = 0
    weight_changed: dict[str, bool] = field(default_factory=dict)


class Actuator:
    def __init__(
        self,
        kube: KubeClient,
        rollout: JsonDict,
        *,
        replica_sets: Informer,
        services: Informer,
        rollouts: Informer,
        routers: Sequence[BoundRouter],
        allowed: Callable[[], bool] = lambda: True,
        analysis_runs: Informer | None = None,
    ) -> None:
        self.analysis_runs = analysis_runs
        self.kube = kube
        self.rollout = rollout
        meta = rollout["metadata"]
        self.namespace: str = meta["namespace"]
        self.name: str = meta["name"]
        self.replica_sets = replica_sets
        self.services = services
        self.rollouts = rollouts
        self.routers = routers
        self.allowed = allowed
        self.outcome = Outcome()

    def _check_allowed(self) -> None:
        if not self.allowed():
            raise PermissionError("not the leader: refusing to write")

    async def run(self, actions: Sequence[Action], desired_weight: int | None) -> Outcome:
        for action in actions:
            self._check_allowed()
            try:
                await self._do(action)
            except ApiError as exc:
                # A refusal the user must fix names the object and the server's reason.
                refused = refusal(action, exc, self._router_names())
                if refused is None:
                    raise
                raise refused from exc
        if desired_weight is not None:
            for bound in self.routers:
                result = await bound.router.verify_weight(bound.ctx, desired_weight)
                if result is VerifyResult.NOT_VERIFIED:
                    raise WeightNotVerified(
                        f"traffic router {bound.router.name} did not read back canary weight "
                        f"{desired_weight}"
                    )
        return self.outcome

    def _router_names(self) -> str:
        return ", ".join(b.router.name for b in self.routers)

    async def _do(self, action: Action) -> None:
        ns = self.namespace
        if isinstance(action, CreateReplicaSet):
            try:
                created = await self.kube.create(REPLICA_SETS, action.body, namespace=ns)
            except ApiError as exc:
                if not exc.conflict:
                    raise
                # Created by a previous attempt whose status write did not land: adopt it.
                created = await self.kube.get(
                    REPLICA_SETS, action.body["metadata"]["name"], namespace=ns
                )
            self.replica_sets.remember(created)
        elif isinstance(action, ScaleReplicaSet):
            body: JsonDict = {"spec": {"replicas": action.replicas}}
            if action.annotations:
                body["metadata"] = {"annotations": dict(action.annotations)}
            self.replica_sets.remember(
                await self.kube.patch(REPLICA_SETS, action.name, body, namespace=ns)
            )
        elif isinstance(action, AnnotateReplicaSet):
            body = {"metadata": {"annotations": dict(action.annotations)}}
            self.replica_sets.remember(
                await self.kube.patch(REPLICA_SETS, action.name, body, namespace=ns)
            )
        elif isinstance(action, DeleteReplicaSet):
            try:
                await self.kube.delete(REPLICA_SETS, action.name, namespace=ns)
            except ApiError as exc:
                if not exc.not_found:
                    raise
        elif isinstance(action, SwitchService):
            body = {
                "metadata": {"annotations": {MANAGED_BY_ANNOTATION: self.name}},
                "spec": {"selector": {POD_HASH_LABEL: action.pod_hash}},
            }
            self.services.remember(
                await self.kube.patch(SERVICES, action.service, body, namespace=ns)
            )
        elif isinstance(action, AnnotateRollout):
            body = {"metadata": {"annotations": dict(action.annotations)}}
            self.rollouts.remember(await self.kube.patch(ROLLOUTS, self.name, body, namespace=ns))
        elif isinstance(action, SetWeight):
            for bound in self.routers:
                changed = await bound.router.set_weight(bound.ctx, action.weight)
                self.outcome.weight_changed[bound.router.name] = changed
        elif isinstance(action, UpdateHash):
            for bound in self.routers:
                bound.ctx = replace(
                    bound.ctx, canary_hash=action.canary_hash, stable_hash=action.stable_hash
                )
                await bound.router.update_hash(bound.ctx, action.canary_hash, action.stable_hash)
        elif isinstance(action, SetHeaderRoute):
            route = header_route(action.step)
            for bound in self.routers:
                await bound.router.set_header_route(bound.ctx, route)
        elif isinstance(action, SetMirrorRoute):
            mirror = mirror_route(action.step)
            for bound in self.routers:
                await bound.router.set_mirror_route(bound.ctx, mirror)
        elif isinstance(action, CreateAnalysisRun):
            try:
                created = await self.kube.create(ANALYSIS_RUNS, action.body, namespace=ns)
            except ApiError as exc:
                if not exc.conflict:
                    raise
                return  # created by an attempt whose status write did not land
            if self.analysis_runs is not None:
                self.analysis_runs.remember(created)
        elif isinstance(action, TerminateAnalysisRun):
            body = {"spec": {"terminate": True}}
            try:
                updated = await self.kube.patch(ANALYSIS_RUNS, action.name, body, namespace=ns)
            except ApiError as exc:
                if not exc.not_found:
                    raise
                return
            if self.analysis_runs is not None:
                self.analysis_runs.remember(updated)
        elif isinstance(action, DeleteAnalysisRun):
            try:
                await self.kube.delete(ANALYSIS_RUNS, action.name, namespace=ns)
            except ApiError as exc:
                if not exc.not_found:
                    raise
        elif isinstance(action, RemoveManagedRoutes):
            for bound in self.routers:
                await bound.router.remove_managed_routes(bound.ctx)
        else:  # pragma: no cover - the Action union is closed
            raise TypeError(f"unknown action {action!r}")


def header_route(step: Mapping[str, Any]) -> HeaderRoute:
    matches = []
    for m in step.get("match") or []:
        value = m.get("headerValue") or {}
        matches.append(
            HeaderMatch(
                header_name=m.get("headerName", ""),
                exact=value.get("exact"),
                regex=value.get("regex"),
                prefix=value.get("prefix"),
            )
        )
    return HeaderRoute(name=str(step.get("name") or ""), match=tuple(matches))


def mirror_route(step: Mapping[str, Any]) -> MirrorRoute:
    percentage = step.get("percentage")
    return MirrorRoute(
        name=str(step.get("name") or ""),
        match=tuple(step.get("match") or ()),
        percentage=100 if percentage is None else int(percentage),
    )


__all__ = ["Actuator", "BoundRouter", "RouterError", "WeightNotVerified", "header_route"]
