"""A plan's status claims only what the cluster will show once the plan's actions are done.

The controller writes a plan's status after all of its actions succeeded, so the status may
say what those actions achieve, and no more. The planner decides "fully promoted" from the
ReplicaSets, but the Services and the routers follow one pass later (that pass switches them
to the new stable): the promoting pass used to write `Healthy` while the stable Service still
selected the old pods and the router held the canary's weight. When that next pass failed on
every retry (an OverflowError in a scale-down deadline, before any of its actions), the status
said Healthy for good while 80% of the traffic stayed on the old version.

`holds` downgrades such a phase: `Healthy` needs every named Service to select the stable pod
hash and every router to hold a canary weight of 0, counting the plan's own SwitchService and
SetWeight actions (they are done before the status is written, or the status is not written).
Pure, like the rest of the planner.
"""

from __future__ import annotations

from dataclasses import replace

from rolloutd.plan import status as st
from rolloutd.plan.types import POD_HASH_LABEL, Plan, SetWeight, Snapshot, SwitchService

WAITING = "waiting for traffic to move to the stable ReplicaSet"


def disagreements(snapshot: Snapshot, result: Plan) -> list[str]:
    """What the cluster will show, after `result`'s actions, that a Healthy phase denies."""
    stable = result.status.get("stableRS")
    switched = {a.service: a.pod_hash for a in result.actions if isinstance(a, SwitchService)}
    weights = [a.weight for a in result.actions if isinstance(a, SetWeight)]
    found = []
    for name, svc in sorted(snapshot.services.items()):
        target = switched.get(name, svc.selector.get(POD_HASH_LABEL) if svc else None)
        if svc is None or target != stable:
            found.append(f'Service "{name}" selects {target or "no pod hash"}, not {stable}')
    for router in snapshot.routers:
        weight = weights[-1] if weights and not router.errors else router.canary_weight
        if router.errors or weight is None:
            found.append(f"traffic router {router.name} shows no weight")
        elif weight != 0:
            found.append(f"traffic router {router.name} sends {weight}% to the canary")
    return found


def holds(snapshot: Snapshot, result: Plan) -> Plan:
    """`result`, with a Healthy phase turned into Progressing when traffic disagrees."""
    if result.status.get("phase") != "Healthy":
        return result
    found = disagreements(snapshot, result)
    if not found:
        return result
    status = dict(result.status)
    conditions = [dict(c) for c in status.get("conditions") or []]
    before = st.find([c.to_json() for c in snapshot.rollout.status.conditions or []], st.HEALTHY)
    healthy = st.find(conditions, st.HEALTHY)
    if healthy is not None and healthy.get("status") == "True":
        if before is not None and before.get("status") == "False":
            healthy.clear()
            healthy.update(before)  # as it was: this pass did not make it healthy
        else:
            healthy.update(status="False", message="Rollout is not healthy")
            healthy["lastTransitionTime"] = healthy.get("lastUpdateTime")
    status.update(conditions=conditions, phase="Progressing", message=f"{WAITING}: {found[0]}")
    return replace(result, status=status)
