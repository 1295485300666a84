"""Giving back the router objects a Rollout has stopped using, without a finalizer.

Argo Rollouts' Istio controller watches DestinationRules: when the Rollout named by a rule's
`argo-rollouts.argoproj.io/managed-by-rollouts` annotation is gone, or no longer refers to the
rule, it removes the annotation and the `rollouts-pod-template-hash` labels from the subsets.
rolloutd does the same for every kind a router watches: each router informer is indexed by that
annotation, an event on an annotated object wakes the Rollout it names, and every reconcile of
a Rollout (including the one that finds it deleted) hands each annotated object its spec no
longer names to the router that watches its kind (`ReleasingRouter.release`).

No finalizer is needed: a Rollout deleted while rolloutd was down is handled when the annotated
object shows up in the informer's first list, which wakes the missing Rollout.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

import structlog

from rolloutd.kube.client import ApiError, KubeClient
from rolloutd.kube.informer import Informer
from rolloutd.kube.resources import Resource
from rolloutd.plan.types import MANAGED_BY_ANNOTATION
from rolloutd.traffic.contract import ObjectReader, ObjectRef, ReleasingRouter

log = structlog.get_logger("rolloutd.controller")
JsonDict = dict[str, Any]
ObjectKey = tuple[Resource, str, str]


def owned_refs(router: object, block: Any, key: tuple[str, str]) -> Sequence[ObjectRef]:
    """The objects a router made for the Rollout `key` (`NamingRouter`, optional)."""
    owned = getattr(router, "owned_references", None)
    return list(owned(block.config, key[0], key[1])) if callable(owned) else []


def releasing(router: object) -> ReleasingRouter | None:
    """The router, if it implements `release` (the method is optional in the contract)."""
    return router if callable(getattr(router, "release", None)) else None  # type: ignore[return-value]


async def release_unused(
    *,
    kube: KubeClient,
    objects: ObjectReader,
    informers: Mapping[Resource, Informer],
    routers: Mapping[Resource, Sequence[ReleasingRouter]],
    index: str,
    namespace: str,
    name: str,
    keep: Collection[ObjectKey],
    allowed: Callable[[], bool],
) -> int:
    """Release the objects annotated as managed by `namespace/name` that are not in `keep`.

    Returns how many were written. Reads only the caches' `index` (annotation owner → objects),
    so a reconcile with nothing to release costs one dict lookup per router kind.
    """
    released = 0
    for resource, kind_routers in routers.items():
        informer = informers.get(resource)
        if informer is None:
            continue
        for obj in informer.by_index(index, (namespace, name)):
            meta = obj.get("metadata") or {}
            if (resource, meta.get("namespace") or "", meta.get("name") or "") in keep:
                continue
            if (meta.get("annotations") or {}).get(MANAGED_BY_ANNOTATION) != name:
                continue
            if not allowed():
                return released
            # Several routers may watch one kind (NGINX and ALB both edit Ingresses): each
            # gives back only what it marked, so every one is asked.
            for router in kind_routers:
                try:
                    if await router.release(kube, objects, resource, obj, name):
                        released += 1
                        log.info(
                            "released router object", kind=resource.kind, object=meta.get("name")
                        )
                except ApiError as exc:
                    if not exc.not_found:
                        raise
    return released
