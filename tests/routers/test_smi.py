"""The SMI router on the real cluster, against the upstream TrafficSplit CRD (v1alpha1 with
quantity weights, v1alpha2 with integers)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from rolloutd_smi.router import Router, parse_quantity

from rolloutd.kube.client import ApiError, KubeClient
from rolloutd.traffic.contract import RouterError
from rolloutd_dev.testing.conformance import (
    CreateRouting,
    ForeignBackend,
    Harness,
    ReadBackends,
    RolloutRef,
    RouterConformance,
    Tamper,
)
from rolloutd_dev.testing.objects import ServicePair

pytestmark = [pytest.mark.usefixtures("smi_crds"), pytest.mark.asyncio(loop_scope="session")]


def split_name(pair: ServicePair) -> str:
    return f"{pair.app}-rollout"  # the kit's Rollout name: trafficSplitName's default


class SmiConformance(RouterConformance):
    VERSION = "v1alpha1"

    @pytest.fixture
    def router(self) -> Router:
        return Router({"apiVersion": self.VERSION})

    @pytest.fixture
    def router_config(self, service_pair: ServicePair) -> Mapping[str, Any]:
        return {}

    @pytest.fixture
    def create_routing(self, router: Router) -> CreateRouting:
        async def create(
            kube: KubeClient,
            pair: ServicePair,
            foreign: Sequence[ForeignBackend],
            rollout: RolloutRef,
        ) -> None:
            if not foreign:
                return  # the router creates the TrafficSplit itself
            # A split the router made earlier, to which someone then added a backend.
            rest = 100 - sum(f.weight for f in foreign)
            backends = [
                {"service": pair.canary, "weight": 0},
                {"service": pair.stable, "weight": rest},
            ]
            backends += [{"service": f.service, "weight": f.weight} for f in foreign]
            body = {
                "apiVersion": router.traffic_splits.api_version,
                "kind": "TrafficSplit",
                "metadata": {
                    "name": split_name(pair),
                    "ownerReferences": [
                        {
                            "apiVersion": "argoproj.io/v1alpha1",
                            "kind": "Rollout",
                            "name": rollout.name,
                            "uid": rollout.uid,
                            "controller": True,
                        }
                    ],
                },
                "spec": {"service": pair.stable, "backends": backends},
            }
            await kube.create(router.traffic_splits, body, namespace=pair.namespace)

        return create

    @pytest.fixture
    def read_backends(self, router: Router) -> ReadBackends:
        async def read(kube: KubeClient, pair: ServicePair) -> dict[str, int]:
            try:
                split = await kube.get(
                    router.traffic_splits, split_name(pair), namespace=pair.namespace
                )
            except ApiError as exc:
                if exc.not_found:
                    return {}
                raise
            return {
                b["service"]: int(parse_quantity(b.get("weight")))
                for b in split["spec"]["backends"]
            }

        return read

    @pytest.fixture
    def tamper(self, router: Router) -> Tamper:
        async def tamper(kube: KubeClient, pair: ServicePair, canary: int) -> None:
            name = split_name(pair)
            split = await kube.get(router.traffic_splits, name, namespace=pair.namespace)
            backends = split["spec"]["backends"]
            others = sum(
                int(parse_quantity(b.get("weight")))
                for b in backends
                if b["service"] not in (pair.canary, pair.stable)
            )
            for b in backends:
                if b["service"] == pair.canary:
                    b["weight"] = canary
                elif b["service"] == pair.stable:
                    b["weight"] = 100 - canary - others
            await kube.replace(router.traffic_splits, name, split, namespace=pair.namespace)

        return tamper

    @pytest.fixture
    def missing_config(self, service_pair: ServicePair) -> tuple[Mapping[str, Any], str]:
        return {"rootService": "no-such-svc"}, "spec.strategy.canary.trafficRouting.smi.rootService"


class TestSmiV1alpha1Conformance(SmiConformance):
    VERSION = "v1alpha1"

    async def test_created_split_is_owned_and_written_like_argo(self, harness: Harness) -> None:
        await harness.create()
        assert await harness.set_weight(20) is True
        split = await harness.kube.get(
            harness.router.traffic_splits,  # type: ignore[attr-defined]
            split_name(harness.pair),
            namespace=harness.pair.namespace,
        )
        assert split["metadata"]["ownerReferences"] == [
            {
                "apiVersion": "argoproj.io/v1alpha1",
                "kind": "Rollout",
                "name": harness.rollout_name,
                "uid": harness.rollout_uid,
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]
        assert split["spec"] == {
            "service": harness.pair.stable,
            "backends": [
                {"service": harness.pair.canary, "weight": "20"},
                {"service": harness.pair.stable, "weight": "80"},
            ],
        }

    async def test_quantity_weights_are_read_as_shares(self, harness: Harness) -> None:
        await harness.create()
        await harness.set_weight(0)
        split_res = harness.router.traffic_splits  # type: ignore[attr-defined]
        name = split_name(harness.pair)
        split = await harness.kube.get(split_res, name, namespace=harness.pair.namespace)
        split["spec"]["backends"] = [
            {"service": harness.pair.canary, "weight": "500m"},
            {"service": harness.pair.stable, "weight": "1500m"},
        ]
        await harness.kube.replace(split_res, name, split, namespace=harness.pair.namespace)
        assert [(o.canary, o.stable) for o in await harness.read_weight()] == [(25, 75)]

    async def test_a_split_it_does_not_own_is_refused(self, harness: Harness) -> None:
        await harness.create()
        split_res = harness.router.traffic_splits  # type: ignore[attr-defined]
        body = {
            "apiVersion": split_res.api_version,
            "kind": "TrafficSplit",
            "metadata": {"name": split_name(harness.pair)},
            "spec": {"service": "x", "backends": [{"service": "x", "weight": "100"}]},
        }
        await harness.kube.create(split_res, body, namespace=harness.pair.namespace)
        with pytest.raises(RouterError, match="is not owned by Rollout"):
            await harness.set_weight(10)
        await harness.reader.refresh()
        problems = harness.router.validate(harness.context())
        assert any(
            p.startswith("spec.strategy.canary.trafficRouting.smi.trafficSplitName")
            for p in problems
        )
        unchanged = await harness.kube.get(
            split_res, split_name(harness.pair), namespace=harness.pair.namespace
        )
        assert unchanged["spec"]["backends"] == [{"service": "x", "weight": "100"}]

    async def test_root_service_and_split_name_from_config(self, harness: Harness) -> None:
        await harness.create()
        config = {"rootService": harness.pair.canary, "trafficSplitName": "custom-split"}
        ctx = dataclasses.replace(harness.context(), config=config)
        await harness.reader.refresh()
        assert await harness.router.set_weight(ctx, 5) is True
        split = await harness.kube.get(
            harness.router.traffic_splits,  # type: ignore[attr-defined]
            "custom-split",
            namespace=harness.pair.namespace,
        )
        assert split["spec"]["service"] == harness.pair.canary


class TestSmiV1alpha2Conformance(SmiConformance):
    VERSION = "v1alpha2"

    async def test_weights_are_integers(self, harness: Harness) -> None:
        await harness.create()
        await harness.set_weight(35)
        split = await harness.kube.get(
            harness.router.traffic_splits,  # type: ignore[attr-defined]
            split_name(harness.pair),
            namespace=harness.pair.namespace,
        )
        assert [b["weight"] for b in split["spec"]["backends"]] == [35, 65]
