"""Pieces most traffic routers share, for the routers in this repository and third parties'.

- `owned_by_rollout(ctx)`: the ownerReferences of an object a router creates for a Rollout
  (the Rollout its controller, so it goes with the Rollout).
- `read_back(seen, weight)`: the verdict of a router whose truth is the object it wrote: the
  weight is verified when every routing object it reads holds it (and there is at least one).
- `WeightsOnly`: a mixin for a router that shifts weights and nothing else. Header and mirror
  route steps are refused with an error naming the router (an empty match is a removal, which
  is nothing to do), and there are no managed routes to remove. A router sets `ROUTER` to how
  its errors name it, e.g. `"the Traefik router"`.

Only the contract is imported here, so a plugin that uses the kit still sees nothing else.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rolloutd.traffic.contract import (
    HeaderRoute,
    JsonDict,
    MirrorRoute,
    ObservedWeight,
    RouterContext,
    RouterError,
    VerifyResult,
)


def owned_by_rollout(ctx: RouterContext) -> list[JsonDict]:
    """`metadata.ownerReferences` that make the Rollout the controller of a created object."""
    return [
        {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Rollout",
            "name": ctx.rollout_name,
            "uid": ctx.rollout_uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]


def read_back(seen: Sequence[ObservedWeight], weight: int) -> VerifyResult:
    """VERIFIED when every observed routing object carries `weight` (and one was observed)."""
    ok = bool(seen) and all(o.canary == weight for o in seen)
    return VerifyResult.VERIFIED if ok else VerifyResult.NOT_VERIFIED


class WeightsOnly:
    """Header and mirror route steps refused, no managed routes: see the module docstring."""

    ROUTER: ClassVar[str] = "this router"

    async def set_header_route(self, ctx: RouterContext, route: HeaderRoute) -> bool:
        if not route.match:
            return False
        raise RouterError(
            f"setHeaderRoute '{route.name}': {self.ROUTER} does not support header routes"
        )

    async def set_mirror_route(self, ctx: RouterContext, route: MirrorRoute) -> bool:
        if not route.match:
            return False
        raise RouterError(
            f"setMirrorRoute '{route.name}': {self.ROUTER} does not support mirror routes"
        )

    async def remove_managed_routes(self, ctx: RouterContext) -> bool:
        return False  # it never creates any
