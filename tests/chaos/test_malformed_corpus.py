"""The generated corpus of malformed Rollouts (tests/chaos/corpus.py), all in one namespace
with one daemon: each is refused by the API server's schema (4xx), or gets an InvalidSpec
condition naming the field with nothing created or changed for it, while /healthz keeps
answering and an unrelated good rollout still progresses. Not disruptive, so it runs on the
shared sandbox. ROLLOUTD_CHAOS_FULL=1 runs every value for every field (about 540 cases)."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import copy
import json
import os
from pathlib import Path
from typing import Any

import pytest

from rolloutd.kube.client import ApiError, KubeClient
from rolloutd.kube.resources import REPLICA_SETS, ROLLOUTS, SERVICES
from rolloutd_dev.sandbox.cluster import Status
from tests.chaos.conftest import FULL
from tests.chaos.corpus import Case, cases
from tests.e2e.harness import VIRTUAL_SERVICES, eventually, sample
from tests.integration.test_metrics_daemon import (
    INSTANCE_LABEL,
    Rolloutd,
    apply_seed,
    canary_weight,
    new_instance_id,
    set_image,
    wait_phase,
)

pytestmark = [pytest.mark.sandbox, pytest.mark.chaos]
JsonDict = dict[str, Any]
REPORTING = ("InvalidSpec", "ReplicaSetCreateError", "ReconcileError")
"""Conditions that report a spec the controller cannot act on (the last two: the API server
refused what the spec asks for, with its message)."""
SETTLE = 90.0
"""Seconds for the daemon to give every created case its condition."""

ROBUST = (
    "branch robust (planner/model bounds, exceptions -> InvalidSpec, API refusals -> condition)"
)
KNOWN_OPEN: dict[str, str] = {
    # Fixed by branch robust (merged): maxSurge/maxUnavailable garbage, negative and int64,
    # pause.duration int64 on update, template.spec a string, labels a list, containers a
    # string, duplicate container names, no image, a hostile label value.
    "spec.template:deep-spec": (
        "accepted on purpose: the API server prunes unknown pod fields when the ReplicaSet is "
        "created, as for a Deployment and under Argo (refusing them would break manifests Argo "
        "accepts); the 300 levels did not hurt the daemon"
    ),
}
"""Cases that still fail for a reason owned elsewhere (case id -> why): printed on every run,
not hidden; one that starts passing is printed too, so the list is pruned."""


def renamed(doc: JsonDict, prefix: str = "corpus") -> JsonDict:
    """The seed's objects under other names, for the corpus (the good rollout keeps them)."""
    out: JsonDict = json.loads(json.dumps(doc).replace("rollouts-demo", prefix))
    return out


def names_the_field(message: str, case: Case) -> bool:
    """The message names the field, or the object on its path the problem was found in (a
    case sets one field of an object the base lacks, so a required sibling may be reported)."""
    parts = [p.split("[")[0] for p in case.field.split(".")]
    own = [p for p in parts if p not in ("spec", "strategy", "canary")] or parts
    return any(f".{p}" in message or f"{p}:" in message or f"{p}[" in message for p in own)


async def judge(kube: KubeClient, ns: str, name: str, case: Case) -> tuple[str, str]:
    ro = await kube.get(ROLLOUTS, name, namespace=ns)
    status = ro.get("status") or {}
    invalid = [c for c in status.get("conditions") or [] if c.get("type") in REPORTING]
    if not invalid:
        if not status:
            return "other", "no status at all: no condition, no phase (the planner fails?)"
        return "other", f"accepted: phase {status.get('phase')!r}, no {'/'.join(REPORTING)}"
    message = str(invalid[0].get("message", ""))
    if not names_the_field(message, case):
        return "other", f"InvalidSpec does not name {case.field}: {message[:300]}"
    return "condition", message[:200]


async def owned_replica_sets(kube: KubeClient, ns: str) -> collections.Counter[str]:
    return collections.Counter(
        ref["name"]
        for rs in (await kube.list(REPLICA_SETS, namespace=ns))["items"]
        for ref in rs["metadata"].get("ownerReferences") or []
    )


async def test_malformed_rollouts_are_refused_or_reported_and_change_nothing(
    sandbox: Status, kube: KubeClient, namespace: str, tmp_path: Path
) -> None:
    ns, iid = namespace, new_instance_id()
    base = renamed(copy.deepcopy(sample("rollout")[0]))
    base["metadata"].setdefault("labels", {})[INSTANCE_LABEL] = iid
    corpus = cases(base, every_value=FULL)
    assert len(corpus) >= 100
    # Each case has Services and a VirtualService of its own, so one case that is accepted
    # cannot make the others fail, and "nothing changed" is checked case by case.
    gate = asyncio.Semaphore(8)

    async def routing(index: int) -> dict[str, str]:
        prefix = f"corpus-{index:03d}"
        found = {}
        async with gate:
            for res, source in ((SERVICES, "services"), (VIRTUAL_SERVICES, "virtual-service")):
                for doc in sample(source):
                    body = renamed(doc, prefix)
                    created = await kube.create(res, body, namespace=ns)
                    found[f"{res.plural}/{body['metadata']['name']}"] = created["metadata"][
                        "resourceVersion"
                    ]
        return found

    before = await asyncio.gather(*(routing(i) for i in range(len(corpus))))

    async def versions(index: int) -> dict[str, str]:
        found = {}
        for key in before[index]:
            plural, name = key.split("/")
            res = SERVICES if plural == SERVICES.plural else VIRTUAL_SERVICES
            found[key] = (await kube.get(res, name, namespace=ns))["metadata"]["resourceVersion"]
        return found

    async def changed_objects(index: int) -> list[str]:
        now = await versions(index)
        return sorted(k for k, v in before[index].items() if now[k] != v)

    daemon = Rolloutd(sandbox, ns, tmp_path, instance_id=iid).start()
    health: collections.Counter[int] = collections.Counter()
    stop = asyncio.Event()

    async def probe() -> None:
        while not stop.is_set():
            health[(await daemon.probe("/healthz"))[0]] += 1
            await asyncio.sleep(0.5)

    prober: asyncio.Task[None] | None = None
    outcomes: dict[str, tuple[str, str]] = {}
    try:
        await daemon.wait_ready()
        prober = asyncio.create_task(probe())
        await apply_seed(kube, ns, instance_id=iid, steps=[{"setWeight": 20}, {"pause": {}}])
        await wait_phase(kube, ns, "Healthy")

        names: dict[str, Case] = {}
        indices: dict[str, int] = {}

        async def create(index: int, case: Case) -> None:
            name = f"corpus-{index:03d}"
            # The case's own routing objects: the base's names, given this case's prefix.
            body = json.loads(json.dumps(case.body).replace('"corpus', f'"{name}'))
            body["metadata"]["name"] = name
            indices[case.id] = index
            async with gate:
                try:
                    await kube.create(ROLLOUTS, body, namespace=ns)
                except ApiError as exc:
                    if 400 <= exc.status < 500:
                        outcomes[case.id] = ("schema-refused", f"{exc.status}: {exc}"[:200])
                    else:
                        outcomes[case.id] = ("other", f"create failed {exc.status}: {exc}"[:300])
                    return
            names[name] = case

        await asyncio.gather(*(create(i, c) for i, c in enumerate(corpus)))

        # The good rollout progresses with all of that in the namespace.
        await set_image(kube, ns, "argoproj/rollouts-demo:yellow")
        await wait_phase(kube, ns, "Paused", step=1, timeout=SETTLE)
        vs = await kube.get(VIRTUAL_SERVICES, "rollouts-demo-vsvc", namespace=ns)
        assert canary_weight(vs) == 20

        async def all_judged() -> bool:
            for name, case in names.items():
                if outcomes.get(case.id, ("",))[0] != "condition":
                    outcomes[case.id] = await judge(kube, ns, name, case)
            return all(
                outcomes[c.id][0] == "condition" for c in names.values() if c.id not in KNOWN_OPEN
            )

        # The cases still without one after SETTLE are reported below, each by name.
        with contextlib.suppress(AssertionError):
            await eventually(all_judged, "every created case to get its condition", SETTLE, 2)

        # Nothing was created or changed for any of them.
        owners = await owned_replica_sets(kube, ns)
        for name, case in names.items():
            if outcomes[case.id][0] != "condition":
                continue
            changed = await changed_objects(indices[case.id])
            if owners[name] or changed:
                outcomes[case.id] = (
                    "other",
                    f"InvalidSpec, but {owners[name]} ReplicaSet(s) and changed {changed}",
                )

        # Steps, delays and pod metadata act only on an update: the cases a first deploy
        # accepted get one, and must then stop at a condition with nothing more changed.
        updated: dict[str, Case] = {}
        for name, case in names.items():
            if outcomes[case.id][1].startswith("accepted: phase 'Healthy'"):
                index = indices[case.id]
                before[index] = {k: v for k, v in (await versions(index)).items()}
                ro = await kube.get(ROLLOUTS, name, namespace=ns)
                containers = ro["spec"]["template"]["spec"]["containers"]
                containers[0]["image"] = "argoproj/corpus:update"
                patch = {"spec": {"template": {"spec": {"containers": containers}}}}
                await kube.patch(ROLLOUTS, name, patch, namespace=ns)
                updated[name] = case
        first_owners = owners

        async def updates_judged() -> bool:
            for name, case in updated.items():
                if outcomes[case.id][0] != "condition":
                    outcomes[case.id] = await judge(kube, ns, name, case)
            return all(
                outcomes[c.id][0] == "condition" for c in updated.values() if c.id not in KNOWN_OPEN
            )

        with contextlib.suppress(AssertionError):
            await eventually(updates_judged, "the updated cases' conditions", SETTLE / 2, 2)
        owners = await owned_replica_sets(kube, ns)
        for name, case in updated.items():
            if outcomes[case.id][0] != "condition":
                outcomes[case.id] = ("other", outcomes[case.id][1] + " (after an update too)")
                continue
            changed = await changed_objects(indices[case.id])
            if owners[name] != first_owners[name] or changed:
                outcomes[case.id] = ("other", f"InvalidSpec on update, but changed {changed}")
            else:
                outcomes[case.id] = ("condition", "on update: " + outcomes[case.id][1])
        assert daemon.alive(), daemon.log_tail()
    finally:
        stop.set()
        if prober:
            await prober
        code = await daemon.stop()

    tally = collections.Counter(kind for kind, _ in outcomes.values())
    print(f"corpus: {len(corpus)} cases: {dict(tally)}; /healthz answers {dict(health)}")
    failing = {k: v for k, v in outcomes.items() if v[0] == "other"}
    for case_id, (_, why) in sorted(failing.items()):
        known = f" [known: {KNOWN_OPEN[case_id]}]" if case_id in KNOWN_OPEN else ""
        print(f"corpus OTHER {case_id}: {why}{known}")
    report = os.environ.get("ROLLOUTD_CORPUS_REPORT")
    if report:  # every case's outcome, for the issue note
        Path(report).write_text(json.dumps(outcomes, indent=1, sort_keys=True))
    assert code == 0, daemon.log_tail()
    assert set(health) == {200}, health
    unexpected = {k: v for k, v in failing.items() if k not in KNOWN_OPEN}
    assert unexpected == {}, "\n".join(f"{k}: {v[1]}" for k, v in sorted(unexpected.items()))
    fixed = sorted(k for k in KNOWN_OPEN if k in outcomes and k not in failing)
    # Not a failure: the branch that fixes them may be merged first. Said, to prune the list.
    for case_id in fixed:
        print(f"corpus: {case_id} is handled now; drop it from KNOWN_OPEN")
