"""Router tests run against the upstream CRDs (Istio, OpenShift, SMI, Gateway API).

The sandbox serves rolloutd's own minimal CRDs for these kinds. Here each test module swaps in
the upstream CRD of the same name (server-side apply), so what the routers write is checked
against the real schemas, and puts rolloutd's own back when the module is done, so test
modules elsewhere see the schema they always see. The upstream files live in the `shared`
folder next to the repository (the `upstream_crds` fixture of tests/conftest.py finds it);
a user's clone does not have it, and then these tests skip with that reason.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

import pytest_asyncio
import yaml

from rolloutd.kube.client import KubeClient
from rolloutd.manifests import config_dir
from rolloutd_dev.sandbox.cluster import apply_crd

ISTIO = (
    "istio-crds.yaml",
    ("virtualservices.networking.istio.io", "destinationrules.networking.istio.io"),
)
OPENSHIFT = ("openshift-route-crd.yaml", ("routes.route.openshift.io",))
SMI = ("smi-trafficsplit-crd.yaml", ("trafficsplits.split.smi-spec.io",))
GATEWAY = ("gateway-api-httproutes.yaml", ("httproutes.gateway.networking.k8s.io",))


def _docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def _named(docs: Iterable[dict[str, Any]], names: Iterable[str]) -> list[dict[str, Any]]:
    wanted = set(names)
    return [d for d in docs if d.get("metadata", {}).get("name") in wanted]


async def _swap_in(
    kube: KubeClient, folder: Path, spec: tuple[str, tuple[str, ...]]
) -> AsyncIterator[None]:
    """Install upstream CRDs for the duration of a module, then put rolloutd's own back."""
    filename, names = spec
    docs = _named(_docs(folder / filename), names)
    missing = set(names) - {d["metadata"]["name"] for d in docs}
    assert not missing, f"{filename} has no CRD {sorted(missing)}"
    for doc in docs:
        await apply_crd(kube, doc)
    try:
        yield
    finally:
        own = [d for p in sorted(config_dir("traffic-crds").glob("*.yaml")) for d in _docs(p)]
        for doc in _named(own, names):
            await apply_crd(kube, doc)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def istio_crds(kube: KubeClient, upstream_crds: Path) -> AsyncIterator[None]:
    async for _ in _swap_in(kube, upstream_crds, ISTIO):
        yield


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def openshift_crds(kube: KubeClient, upstream_crds: Path) -> AsyncIterator[None]:
    async for _ in _swap_in(kube, upstream_crds, OPENSHIFT):
        yield


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def smi_crds(kube: KubeClient, upstream_crds: Path) -> AsyncIterator[None]:
    async for _ in _swap_in(kube, upstream_crds, SMI):
        yield


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def gateway_crds(kube: KubeClient, upstream_crds: Path) -> AsyncIterator[None]:
    async for _ in _swap_in(kube, upstream_crds, GATEWAY):
        yield
