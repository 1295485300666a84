"""The router contract: what a traffic router is, and the narrow context it is given.

A router is a class registered under the entry-point group `rolloutd.traffic_routers`. The
controller makes one instance per process (with the router's controller-wide settings from the
ConfigMap) and calls it with a `RouterContext` for one Rollout at a time. A router never sees
the whole Rollout: only its own configuration block, the service names and pod hashes, a
read-only view of the objects the controller watches for it, and the API client to write with.

Rules every router keeps (the conformance kit in `rolloutd_dev.testing` checks them):

- Every method is idempotent. A write happens only when the object differs from what is wanted,
  and it is the smallest patch that makes the change; nothing else in the object is touched.
- Destinations and routes the Rollout does not manage are kept as they are. Weights the router
  writes always add up to the router's total (100 unless it says otherwise).
- `read_weight` reports what the routing object holds now, not what was last written.
- Errors that a user can fix (a missing object, route or destination) raise `RouterError` with
  a message that names the object and the field; the controller turns it into a condition and
  an event and keeps running.

`API_VERSION` is the version of this contract. A router declares the version it was written
for; the controller refuses one with a different major version, with a clear message.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, runtime_checkable

from rolloutd.kube.client import KubeClient
from rolloutd.kube.resources import Resource

API_VERSION = 1

JsonDict = dict[str, Any]


class RouterError(Exception):
    """A problem the user can fix (missing object, route or destination); names the field."""


class VerifyResult(enum.Enum):
    VERIFIED = "verified"
    NOT_VERIFIED = "not-verified"
    NOT_IMPLEMENTED = "not-implemented"


@runtime_checkable
class ObjectReader(Protocol):
    """A read-only view of the objects the controller watches (its informer caches)."""

    def get(self, resource: Resource, namespace: str, name: str) -> JsonDict | None:
        """The cached object, or None when it does not exist (or is not watched)."""
        ...

    def remember(self, resource: Resource, obj: JsonDict) -> None:
        """Record an object a write just returned, so the next read does not see stale data."""
        ...


@dataclass(frozen=True, slots=True)
class WeightDestination:
    """An extra destination (an experiment's service), with its own weight."""

    service_name: str
    pod_template_hash: str
    weight: int


@dataclass(frozen=True, slots=True)
class ObservedWeight:
    """The weights one routing object holds now: one entry per object (and route) managed."""

    object: str  # e.g. "VirtualService default/rollouts-demo-vsvc, http route primary"
    canary: int
    stable: int
    total: int = 100


@dataclass(frozen=True, slots=True)
class HeaderMatch:
    header_name: str
    exact: str | None = None
    regex: str | None = None
    prefix: str | None = None


@dataclass(frozen=True, slots=True)
class HeaderRoute:
    """A `setHeaderRoute` step: send requests that match to the canary. Empty match: remove."""

    name: str
    match: Sequence[HeaderMatch] = ()


@dataclass(frozen=True, slots=True)
class MirrorRoute:
    """A `setMirrorRoute` step: mirror matching requests to the canary. Empty match: remove."""

    name: str
    match: Sequence[Mapping[str, Any]] = ()
    percentage: int = 100


@dataclass(frozen=True)
class RouterContext:
    """Everything a router may know about the Rollout it is acting for."""

    namespace: str
    rollout_name: str
    rollout_uid: str
    config: Mapping[str, Any]
    """This router's block of `spec.strategy.canary.trafficRouting` (e.g. the `istio` map)."""
    stable_service: str
    canary_service: str
    stable_hash: str | None
    canary_hash: str | None
    kube: KubeClient
    objects: ObjectReader
    managed_routes: Sequence[str] = ()
    settings: Mapping[str, Any] = field(default_factory=dict)
    """Controller-wide settings for this router, from the rolloutd ConfigMap."""


@dataclass(frozen=True, slots=True)
class ObjectRef:
    """An object a Rollout's routing refers to; its changes wake that Rollout up."""

    resource: Resource
    namespace: str
    name: str


class TrafficRouter(Protocol):
    """What the controller calls. See the module docstring for the rules."""

    API_VERSION: ClassVar[int]
    name: ClassVar[str]

    def watched_resources(self) -> Sequence[Resource]:
        """Kinds the controller should list+watch so drift is seen at once."""
        ...

    def references(self, config: Mapping[str, Any], namespace: str) -> Sequence[ObjectRef]:
        """The objects one Rollout's configuration names (to map their events back to it)."""
        ...

    def validate(self, ctx: RouterContext) -> Sequence[str]:
        """Problems with the configuration and the objects it names, read from the cache.

        Each message names the field, e.g. `spec.strategy.canary.trafficRouting.istio.
        virtualServices[0].routes[1]: HTTP route "x" not found in VirtualService default/vs`.
        An empty list means the router can act.
        """
        ...

    async def set_weight(
        self, ctx: RouterContext, weight: int, additional: Sequence[WeightDestination] = ()
    ) -> bool:
        """Route `weight` percent to canary (the rest to stable). True if anything changed."""
        ...

    def read_weight(self, ctx: RouterContext) -> Sequence[ObservedWeight]:
        """The weights the routing objects hold now, from the cache."""
        ...

    async def verify_weight(self, ctx: RouterContext, weight: int) -> VerifyResult:
        """Whether the data plane is known to carry `weight` (by reading back, at least)."""
        ...

    async def update_hash(
        self, ctx: RouterContext, canary_hash: str | None, stable_hash: str | None
    ) -> bool:
        """Point subset-style routing at these pod hashes. True if anything changed."""
        ...

    async def set_header_route(self, ctx: RouterContext, route: HeaderRoute) -> bool: ...

    async def set_mirror_route(self, ctx: RouterContext, route: MirrorRoute) -> bool: ...

    async def remove_managed_routes(self, ctx: RouterContext) -> bool: ...


class ReleasingRouter(Protocol):
    """Optional: a router that marks objects as a Rollout's gives them back.

    The controller indexes the objects of every watched kind by the
    `argo-rollouts.argoproj.io/managed-by-rollouts` annotation. When a Rollout no longer names
    an object annotated with its name (its routing changed, or it was deleted), the object is
    passed here: undo what the router put on it (the annotation, pod-hash labels) and return
    whether anything was written. Objects of kinds the router does not mark: return False.
    """

    async def release(
        self,
        kube: KubeClient,
        objects: ObjectReader,
        resource: Resource,
        obj: JsonDict,
        rollout_name: str,
    ) -> bool: ...


class NamingRouter(Protocol):
    """Optional: a router that creates objects whose names derive from the Rollout's name.

    `references` sees only the router's config, so it cannot name such objects (NGINX's
    `<rollout>-<stable ingress>-canary` Ingress). The controller adds what this returns to the
    objects the Rollout names, so their events wake the Rollout and `release` is not asked to
    give them back while the Rollout still uses them.
    """

    def owned_references(
        self, config: Mapping[str, Any], namespace: str, rollout_name: str
    ) -> Sequence[ObjectRef]: ...
