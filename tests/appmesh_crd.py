"""App Mesh's CRDs, installed only while a test needs them.

App Mesh has a kind named `VirtualService` too, and kubectl resolves `kubectl get
virtualservice` to the alphabetically first group that serves one (`appmesh.k8s.aws` before
`networking.istio.io`): with App Mesh installed, the seed's walkthrough would read the wrong
object. So the sandbox does not install `config/traffic-crds/optional/appmesh.yaml`; the App
Mesh tests install it and delete it again.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import yaml

from rolloutd.kube.client import ApiError, KubeClient
from rolloutd.kube.resources import CRDS
from rolloutd.manifests import config_dir
from rolloutd_dev.sandbox.cluster import apply_crd


def _documents() -> list[dict[str, Any]]:
    path = config_dir("traffic-crds") / "optional" / "appmesh.yaml"
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


@contextlib.asynccontextmanager
async def appmesh_crds(kube: KubeClient) -> AsyncIterator[None]:
    docs = _documents()
    for doc in docs:
        await apply_crd(kube, doc)
    try:
        yield
    finally:
        for doc in docs:
            with contextlib.suppress(ApiError):
                await kube.delete(CRDS, doc["metadata"]["name"])
