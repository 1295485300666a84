"""The README's two lists of fields rolloutd does not act on, checked against the daemon.

README.md says which fields are "accepted but not acted on yet" (an `UnsupportedFeature`
Warning event naming the field, and the Rollout rolls out without it) and which are "refused
until their support lands" (`InvalidSpec`, phase `Degraded`, a Warning event, nothing in the
cluster changed). This test reads both lists from the README, so the README cannot drift from
what the daemon does: an item added to a list without a case here fails, and so does an item
whose reaction differs from its list's. All the Rollouts go into one namespace at once.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from rolloutd.kube.client import KubeClient
from rolloutd.kube.resources import EVENTS, REPLICA_SETS, ROLLOUTS, SERVICES
from tests.e2e.harness import REPO, eventually, get_rollout
from tests.e2e.parity.kit import condition, rollout, service

JsonDict = dict[str, Any]
Edit = Callable[[JsonDict], None]
README = REPO / "README.md"


def readme_list(opening: str) -> list[str]:
    """The backquoted names in the README paragraph that starts with `opening`, without the
    names of reactions (events, conditions, phases) the paragraph describes."""
    text = README.read_text()
    start = text.index(opening)
    paragraph = text[start : text.index("\n\n", start)]
    words = re.findall(r"`([^`]+)`", paragraph)
    return [w for w in words if w not in {"UnsupportedFeature", "Degraded", "InvalidSpec"}]


def canary_edit(**fields: Any) -> Edit:
    def edit(ro: JsonDict) -> None:
        ro["spec"]["strategy"]["canary"].update(fields)

    return edit


def spec_edit(**fields: Any) -> Edit:
    def edit(ro: JsonDict) -> None:
        ro["spec"].update(fields)

    return edit


def routed(**fields: Any) -> Edit:
    """A router block (with the two shared Services a traffic-routed canary needs)."""
    return canary_edit(
        canaryService="shared-canary", stableService="shared-stable", trafficRouting=fields
    )


# What each README item means in a manifest, and the field path the daemon names for it.
ACCEPTED: dict[str, tuple[Edit, str]] = {
    "experiment": (
        canary_edit(steps=[{"experiment": {"templates": [{"name": "e", "specRef": "canary"}]}}]),
        "spec.strategy.canary.steps[0].experiment",
    ),
    "plugin": (
        canary_edit(steps=[{"plugin": {"name": "acme/step", "config": {}}}]),
        "spec.strategy.canary.steps[0].plugin",
    ),
    "rollbackWindow": (spec_edit(rollbackWindow={"revisions": 1}), "spec.rollbackWindow"),
    "dynamicStableScale": (
        # Argo (and rolloutd's validation) allow it only with traffic routing: SMI needs no
        # routing object of its own beyond the Services.
        canary_edit(
            dynamicStableScale=True,
            canaryService="dss-canary",
            stableService="dss-stable",
            trafficRouting={"smi": {}},
        ),
        "spec.strategy.canary.dynamicStableScale",
    ),
    "pingPong": (
        canary_edit(pingPong={"pingService": "ping", "pongService": "pong"}),
        "spec.strategy.canary.pingPong",
    ),
    "antiAffinity": (
        canary_edit(
            antiAffinity={"preferredDuringSchedulingIgnoredDuringExecution": {"weight": 1}}
        ),
        "spec.strategy.canary.antiAffinity",
    ),
    "replicaProgressThreshold": (
        canary_edit(replicaProgressThreshold={"type": "Percent", "value": 90}),
        "spec.strategy.canary.replicaProgressThreshold",
    ),
}

REFUSED: dict[str, tuple[Edit, str]] = {
    # Every router Argo names has a plugin now; a third party's that is not installed is
    # refused, naming where the Rollout names it and what to install.
    "acme/contour": (
        routed(plugins={"acme/contour": {"route": "demo"}}),
        "traffic router 'acme/contour' named in spec.strategy.canary.trafficRouting.plugins "
        "is not installed: install the distribution that registers an entry point named "
        "'acme/contour'",
    ),
}


def object_name(item: str) -> str:
    return "readme-" + re.sub(r"([A-Z])", r"-\1", item).lower().replace("/", "-")


async def warnings_for(kube: KubeClient, ns: str, name: str) -> list[JsonDict]:
    events = (await kube.list(EVENTS, namespace=ns))["items"]
    return [
        e for e in events if e["involvedObject"].get("name") == name and e.get("type") == "Warning"
    ]


async def test_the_readme_lists_match_what_the_daemon_does(kube: KubeClient, ns: str) -> None:
    accepted = readme_list("Accepted but not acted on yet")
    refused = readme_list("Refused until their support lands")
    assert accepted and refused
    unknown = [item for item in accepted if item not in ACCEPTED] + [
        item for item in refused if item not in REFUSED
    ]
    assert not unknown, f"README items this test has no case for: {unknown}"
    assert set(ACCEPTED) == set(accepted) and set(REFUSED) == set(refused), (
        "this test has cases the README no longer lists"
    )

    for svc, app in [
        ("shared-stable", ""),
        ("shared-canary", ""),
        ("dss-stable", object_name("dynamicStableScale")),
        ("dss-canary", object_name("dynamicStableScale")),
    ]:
        body = service(svc, app)
        if not app:
            body["spec"]["selector"] = {}  # shared by Rollouts that are refused anyway
        await kube.create(SERVICES, body, namespace=ns)
    services_before = {
        s["metadata"]["name"]: s["metadata"]["resourceVersion"]
        for s in (await kube.list(SERVICES, namespace=ns))["items"]
        if s["metadata"]["name"].startswith("shared-")
    }
    for item, (edit, _) in {**ACCEPTED, **REFUSED}.items():
        ro = rollout(object_name(item))
        edit(ro)
        await kube.create(ROLLOUTS, ro, namespace=ns)

    problems: list[str] = []
    for item in accepted:
        name, field = object_name(item), ACCEPTED[item][1]

        async def reacted(name: str = name, field: str = field) -> bool:
            ro = await get_rollout(kube, ns, name)
            reasons = {(e["reason"], e["message"]) for e in await warnings_for(kube, ns, name)}
            return (ro.get("status") or {}).get("phase") == "Healthy" and any(
                reason == "UnsupportedFeature" and field in message for reason, message in reasons
            )

        try:
            await eventually(reacted, f"{item}: Healthy and an UnsupportedFeature event", 45)
        except AssertionError:
            ro = await get_rollout(kube, ns, name)
            problems.append(
                f"{item} (accepted): phase {ro.get('status', {}).get('phase')!r}, "
                f"message {ro.get('status', {}).get('message')!r}, warnings "
                f"{[(e['reason'], e['message']) for e in await warnings_for(kube, ns, name)]}"
            )

    for item in refused:
        name, expected = object_name(item), REFUSED[item][1]

        async def refused_with(name: str = name, expected: str = expected) -> bool:
            ro = await get_rollout(kube, ns, name)
            cond = condition(ro, "InvalidSpec")
            events = await warnings_for(kube, ns, name)
            return (
                cond is not None
                and cond["status"] == "True"
                and expected in cond["message"]
                and (ro.get("status") or {}).get("phase") == "Degraded"
                and any(e["reason"] == "InvalidSpec" and expected in e["message"] for e in events)
            )

        try:
            await eventually(refused_with, f"{item}: InvalidSpec naming it", 45)
        except AssertionError:
            ro = await get_rollout(kube, ns, name)
            problems.append(f"{item} (refused): status {ro.get('status')}")
            continue
        rs = await kube.list(REPLICA_SETS, namespace=ns, label_selector=f"app={name}")
        if rs["items"]:
            problems.append(f"{item} (refused): a ReplicaSet was created")

    services_after = {
        s["metadata"]["name"]: s["metadata"]["resourceVersion"]
        for s in (await kube.list(SERVICES, namespace=ns))["items"]
        if s["metadata"]["name"] in services_before
    }
    assert services_after == services_before, "a refused Rollout's Service was written"
    assert not problems, "\n".join(problems)
