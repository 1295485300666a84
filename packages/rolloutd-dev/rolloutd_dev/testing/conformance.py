"""The router conformance kit: one test suite every traffic router must pass.

A router author subclasses `RouterConformance` in a test module and provides six fixtures;
the kit brings the cluster (`sandbox`/`kube`/`namespace` of the opt-in pytest plugin
`rolloutd_dev.testing.plugin`), a stable/canary pair of Services and ReplicaSets, and the tests:

    from rolloutd_dev.testing.conformance import RouterConformance

    class TestMyRouterConformance(RouterConformance):
        @pytest.fixture
        def router(self): return Router({})                 # the router, with its settings
        @pytest.fixture
        def router_config(self, service_pair): ...          # its trafficRouting block
        @pytest.fixture
        def create_routing(self): ...                       # makes the routing object(s)
        @pytest.fixture
        def read_backends(self): ...                        # raw weights, straight from the API
        @pytest.fixture
        def tamper(self): ...                               # edits weights behind its back
        @pytest.fixture
        def missing_config(self, service_pair): ...         # (config naming a missing object,
                                                            #  the field path validate names)

`create_routing(kube, pair, foreign, rollout)` creates whatever the router routes with (a
VirtualService, a Route, ...) sending 100% to `pair.stable`, 0 to `pair.canary`, and, for each
`ForeignBackend(service, weight)`, `weight` to a backend the router does not manage (stable then
gets `100 - sum(foreign)`). A router that creates its own object (SMI) may create nothing when
there are no foreign backends; with some, it creates the object as the router would have (owned
by `rollout`) with a backend added by hand. `read_backends(kube, pair)` returns
`{service name: raw weight}` read from the API server, not through the router (`{}` when the
object does not exist yet). `tamper(kube, pair, canary_weight)` sets the canary to
`canary_weight` and stable to what makes 100, the way a person with kubectl (or a GitOps sync)
would.

What the kit checks (the rules in `rolloutd.traffic.contract`):

- weights 0, 1, 50, 99 and 100 are written and read back (`read_weight`) exactly;
- a second identical `set_weight` returns False and makes no write to the API server;
- an edit behind the router's back is put right by the next `set_weight`;
- backends the router does not manage keep their weights;
- `verify_weight` says VERIFIED after a write and NOT_VERIFIED after a tamper;
- `validate` reports a missing object with a field path.

The kit reads objects through `ApiObjectReader`, the test kit's stand-in for the controller's
informer cache: it lists the router's watched kinds in the test namespace on `refresh()`. The
harness refreshes it before every router call, as an informer would have caught up by then.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pytest
import pytest_asyncio

from rolloutd.kube.client import ApiError, KubeClient, Request
from rolloutd.kube.resources import ROLLOUTS, Resource
from rolloutd.traffic.contract import (
    JsonDict,
    ObjectRef,
    ObservedWeight,
    RouterContext,
    TrafficRouter,
    VerifyResult,
)
from rolloutd_dev.testing.objects import ServicePair, create_service, create_service_pair

WRITE_VERBS = frozenset({"create", "update", "patch", "delete"})


@dataclass(frozen=True, slots=True)
class ForeignBackend:
    """A backend the router does not manage, with its weight (percent of 100)."""

    service: str
    weight: int


@dataclass(frozen=True, slots=True)
class RolloutRef:
    """The Rollout the router acts for (a real, paused one, so ownerReferences hold)."""

    name: str
    uid: str


CreateRouting = Callable[
    [KubeClient, ServicePair, Sequence[ForeignBackend], RolloutRef], Awaitable[None]
]
ReadBackends = Callable[[KubeClient, ServicePair], Awaitable[dict[str, int]]]
Tamper = Callable[[KubeClient, ServicePair, int], Awaitable[None]]


class ApiObjectReader:
    """The test kit's ObjectReader: a snapshot of objects listed from the API server.

    Not the controller's cache. `refresh()` lists every watched kind in the namespace and gets
    each extra reference (objects in other namespaces); `get` answers from that snapshot, and
    `remember` stores what a write returned, as the controller's cache does.
    """

    def __init__(
        self,
        kube: KubeClient,
        resources: Sequence[Resource],
        namespace: str,
        extra: Sequence[ObjectRef] = (),
    ) -> None:
        self.kube = kube
        self.resources = list(resources)
        self.namespace = namespace
        self.extra = list(extra)
        self._objects: dict[tuple[Resource, str, str], JsonDict] = {}

    async def refresh(self) -> None:
        objects: dict[tuple[Resource, str, str], JsonDict] = {}
        for res in self.resources:
            try:
                listed = await self.kube.list_all(res, namespace=self.namespace)
            except ApiError as exc:
                if exc.not_found:  # the kind is not served (CRD missing): nothing cached
                    continue
                raise
            for item in listed.get("items") or []:
                meta = item.get("metadata") or {}
                objects[(res, str(meta.get("namespace", "")), str(meta.get("name")))] = item
        for ref in self.extra:
            try:
                obj = await self.kube.get(ref.resource, ref.name, namespace=ref.namespace)
            except ApiError as exc:
                if exc.not_found:
                    continue
                raise
            objects[(ref.resource, ref.namespace, ref.name)] = obj
        self._objects = objects

    def get(self, resource: Resource, namespace: str, name: str) -> JsonDict | None:
        return self._objects.get((resource, namespace, name))

    def remember(self, resource: Resource, obj: JsonDict) -> None:
        meta = obj.get("metadata") or {}
        self._objects[(resource, str(meta.get("namespace", "")), str(meta.get("name")))] = obj


@contextmanager
def count_writes(kube: KubeClient) -> Iterator[list[tuple[str, str, int]]]:
    """Record every write request (create/update/patch/delete) made while in the block."""
    seen: list[tuple[str, str, int]] = []

    def observe(request: Request) -> None:
        if request.verb in WRITE_VERBS:
            seen.append((request.verb, request.resource, request.status))

    kube.observers.append(observe)
    try:
        yield seen
    finally:
        kube.observers.remove(observe)


async def create_rollout_owner(kube: KubeClient, namespace: str, name: str) -> str:
    """A paused, empty Rollout to own what a router creates (its uid); a made-up uid when the
    Rollout kind is not served (then the garbage collector cannot resolve the owner, and leaves
    the dependents alone)."""
    body = {
        "apiVersion": ROLLOUTS.api_version,
        "kind": "Rollout",
        "metadata": {"name": name, "labels": {"rolloutd.test/owner-only": "true"}},
        "spec": {
            "replicas": 0,
            "paused": True,
            "selector": {"matchLabels": {"app": f"{name}-owner"}},
            "template": {
                "metadata": {"labels": {"app": f"{name}-owner"}},
                "spec": {"containers": [{"name": "app", "image": "argoproj/rollouts-demo:blue"}]},
            },
            "strategy": {"canary": {}},
        },
    }
    try:
        created = await kube.create(ROLLOUTS, body, namespace=namespace)
    except ApiError as exc:
        if exc.not_found:
            return str(uuid.uuid4())
        raise
    return str(created["metadata"]["uid"])


@dataclass
class Harness:
    """One router, one stable/canary pair, and a reader; calls the router the way the
    controller does (reader refreshed first)."""

    kube: KubeClient
    pair: ServicePair
    router: TrafficRouter
    config: Mapping[str, Any]
    create_routing: CreateRouting
    read_backends_fn: ReadBackends
    tamper_fn: Tamper
    rollout_name: str
    rollout_uid: str
    reader: ApiObjectReader = field(init=False)

    def __post_init__(self) -> None:
        self.reader = self.reader_for(self.config)

    def reader_for(self, config: Mapping[str, Any]) -> ApiObjectReader:
        """A reader that sees what the router watches for `config`."""
        refs = self.router.references(config, self.pair.namespace)
        other = [r for r in refs if r.namespace != self.pair.namespace]
        return ApiObjectReader(
            self.kube, self.router.watched_resources(), self.pair.namespace, other
        )

    def context(self, config: Mapping[str, Any] | None = None) -> RouterContext:
        return RouterContext(
            namespace=self.pair.namespace,
            rollout_name=self.rollout_name,
            rollout_uid=self.rollout_uid,
            config=self.config if config is None else config,
            stable_service=self.pair.stable,
            canary_service=self.pair.canary,
            stable_hash=self.pair.stable_hash,
            canary_hash=self.pair.canary_hash,
            kube=self.kube,
            objects=self.reader,
        )

    async def create(self, foreign: Sequence[ForeignBackend] = ()) -> None:
        for backend in foreign:
            await create_service(self.kube, self.pair.namespace, backend.service)
        rollout = RolloutRef(self.rollout_name, self.rollout_uid)
        await self.create_routing(self.kube, self.pair, foreign, rollout)
        await self.reader.refresh()

    async def set_weight(self, weight: int) -> bool:
        await self.reader.refresh()
        return await self.router.set_weight(self.context(), weight)

    async def read_weight(self) -> Sequence[ObservedWeight]:
        await self.reader.refresh()
        return self.router.read_weight(self.context())

    async def verify_weight(self, weight: int) -> VerifyResult:
        await self.reader.refresh()
        return await self.router.verify_weight(self.context(), weight)

    async def backends(self) -> dict[str, int]:
        return await self.read_backends_fn(self.kube, self.pair)

    async def tamper(self, canary_weight: int) -> None:
        await self.tamper_fn(self.kube, self.pair, canary_weight)


class RouterConformance:
    """Subclass as `Test...` and provide the six fixtures named in the module docstring."""

    pytestmark: ClassVar[list[pytest.MarkDecorator]] = [
        pytest.mark.sandbox,
        pytest.mark.asyncio(loop_scope="session"),
    ]

    # -- fixtures a router's test module provides ------------------------------------------

    @pytest.fixture
    def router(self) -> TrafficRouter:
        raise NotImplementedError("provide a `router` fixture: the router instance to test")

    @pytest.fixture
    def router_config(self, service_pair: ServicePair) -> Mapping[str, Any]:
        raise NotImplementedError("provide a `router_config` fixture: the router's config block")

    @pytest.fixture
    def create_routing(self) -> CreateRouting:
        raise NotImplementedError("provide `create_routing`: makes the routing object(s)")

    @pytest.fixture
    def read_backends(self) -> ReadBackends:
        raise NotImplementedError("provide `read_backends`: raw weights per backend Service")

    @pytest.fixture
    def tamper(self) -> Tamper:
        raise NotImplementedError("provide `tamper`: edits the weights behind the router's back")

    @pytest.fixture
    def missing_config(self, service_pair: ServicePair) -> tuple[Mapping[str, Any], str]:
        raise NotImplementedError(
            "provide `missing_config`: (a config naming an object that does not exist, the "
            "field path validate() must name)"
        )

    # -- fixtures the kit provides ------------------------------------------------------------

    @pytest_asyncio.fixture(loop_scope="session")
    async def service_pair(self, kube: KubeClient, namespace: str) -> ServicePair:
        return await create_service_pair(kube, namespace)

    @pytest_asyncio.fixture(loop_scope="session")
    async def harness(
        self,
        kube: KubeClient,
        service_pair: ServicePair,
        router: TrafficRouter,
        router_config: Mapping[str, Any],
        create_routing: CreateRouting,
        read_backends: ReadBackends,
        tamper: Tamper,
    ) -> AsyncIterator[Harness]:
        name = f"{service_pair.app}-rollout"
        uid = await create_rollout_owner(kube, service_pair.namespace, name)
        yield Harness(
            kube,
            service_pair,
            router,
            router_config,
            create_routing,
            read_backends,
            tamper,
            name,
            uid,
        )

    # -- the tests ----------------------------------------------------------------------------

    @pytest.mark.parametrize("weight", [0, 1, 50, 99, 100])
    async def test_weight_is_applied_and_read_back(self, harness: Harness, weight: int) -> None:
        await harness.create()
        before = await harness.backends()
        changed = await harness.set_weight(weight)
        backends = await harness.backends()
        assert changed is (backends != before), "set_weight's result must say whether it wrote"
        assert backends[harness.pair.canary] == weight
        assert backends[harness.pair.stable] == 100 - weight
        observed = await harness.read_weight()
        assert observed, "read_weight returned nothing for a routing object that exists"
        for seen in observed:
            assert (seen.canary, seen.stable) == (weight, 100 - weight), seen

    async def test_second_identical_set_weight_writes_nothing(self, harness: Harness) -> None:
        await harness.create()
        assert await harness.set_weight(30) is True
        with count_writes(harness.kube) as writes:
            again = await harness.set_weight(30)
        assert again is False
        assert writes == []

    async def test_drift_is_put_back(self, harness: Harness) -> None:
        await harness.create()
        await harness.set_weight(40)
        before = await harness.backends()
        await harness.tamper(10)
        tampered = await harness.backends()
        assert tampered[harness.pair.canary] == 10, "tamper did not change the object"
        assert await harness.set_weight(40) is True
        assert await harness.backends() == before

    async def test_foreign_backends_keep_their_weight(self, harness: Harness) -> None:
        foreign = [ForeignBackend("someone-elses", 10)]
        await harness.create(foreign)
        assert (await harness.backends())["someone-elses"] == 10
        await harness.set_weight(50)
        backends = await harness.backends()
        assert backends["someone-elses"] == 10
        assert backends[harness.pair.canary] == 50
        assert backends[harness.pair.stable] == 40
        await harness.set_weight(0)
        backends = await harness.backends()
        assert backends["someone-elses"] == 10
        assert backends[harness.pair.canary] == 0
        assert backends[harness.pair.stable] == 90
        assert sum(backends.values()) == 100

    async def test_verify_weight_is_honest(self, harness: Harness) -> None:
        await harness.create()
        await harness.set_weight(25)
        assert await harness.verify_weight(25) is VerifyResult.VERIFIED
        await harness.tamper(5)
        assert await harness.verify_weight(25) is VerifyResult.NOT_VERIFIED

    async def test_validate_names_a_missing_object(
        self, harness: Harness, missing_config: tuple[Mapping[str, Any], str]
    ) -> None:
        config, field_path = missing_config
        await harness.create()
        reader = harness.reader_for(config)
        await reader.refresh()
        harness.reader = reader
        problems = harness.router.validate(harness.context(config))
        assert problems, "validate() found nothing wrong with a config naming a missing object"
        assert any(field_path in p for p in problems), problems
        assert harness.router.validate(harness.context()) == []
