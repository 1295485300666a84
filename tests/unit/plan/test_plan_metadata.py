"""`canaryMetadata` / `stableMetadata` in the planner (issue 21 case 3, Argo's
`TestEphemeralMetadata` and `rollout/ephemeralmetadata.go`), on the simulated cluster."""

from __future__ import annotations

from typing import Any

from invariants import check_quiescent, check_reconcile
from sim import YELLOW, Cluster, hash_of, rs_name

from rolloutd.plan import metadata as ephemeral
from rolloutd.plan.types import (
    EPHEMERAL_METADATA_ANNOTATION,
    CreateReplicaSet,
    SyncPodMetadata,
)

JsonDict = dict[str, Any]
STEPS: list[JsonDict] = [{"setWeight": 40}, {"pause": {}}]
META: JsonDict = {
    "canaryMetadata": {"labels": {"role": "canary"}},
    "stableMetadata": {"labels": {"role": "stable"}, "annotations": {"tier": "stable"}},
}


def deployed(**canary: Any) -> Cluster:
    c = Cluster.seed(checkers=[check_reconcile], steps=STEPS, canary={**META, **canary})
    c.settle()
    return c


def pod_meta(c: Cluster, image: str) -> JsonDict:
    meta: JsonDict = c.rs_named(rs_name(image))["spec"]["template"]["metadata"]
    return meta


def syncs(c: Cluster, start: int) -> list[SyncPodMetadata]:
    return [
        a for rec in c.history[start:] for a in rec.plan.actions if isinstance(a, SyncPodMetadata)
    ]


def test_each_role_gets_its_metadata_in_the_created_replica_set() -> None:
    c = deployed()
    first = pod_meta(c, "argoproj/rollouts-demo:blue")
    assert first["labels"]["role"] == "stable" and first["annotations"] == {"tier": "stable"}
    assert c.metadata_syncs == []  # born with it: no second write
    c.set_image(YELLOW)
    c.settle()
    assert c.index == 1
    assert pod_meta(c, YELLOW)["labels"]["role"] == "canary"
    assert "annotations" not in pod_meta(c, YELLOW)
    assert (
        c.rs_named(rs_name(YELLOW))["metadata"]["annotations"][EPHEMERAL_METADATA_ANNOTATION]
        == '{"labels":{"role":"canary"}}'
    )
    assert c.metadata_syncs == []
    check_quiescent(c)


def test_a_metadata_change_relabels_in_place_once() -> None:
    c = deployed()
    c.set_image(YELLOW)
    c.settle()
    start = len(c.history)
    c.edit_spec(
        lambda spec: spec["strategy"]["canary"].update(
            canaryMetadata={"labels": {"role": "preview"}}
        )
    )
    c.settle()
    assert not any(
        isinstance(a, CreateReplicaSet) for rec in c.history[start:] for a in rec.plan.actions
    )
    assert c.current_hash == hash_of(YELLOW)
    done = syncs(c, start)
    assert [(a.name, dict(a.template)) for a in done] == [
        (rs_name(YELLOW), {"labels": {"role": "preview"}})
    ]
    assert done[0].previous == {"labels": {"role": "canary"}, "annotations": {}}
    assert pod_meta(c, YELLOW)["labels"]["role"] == "preview"
    check_quiescent(c)


def test_promotion_gives_the_new_stable_the_stable_metadata_and_clears_the_old() -> None:
    c = deployed()
    c.set_image(YELLOW)
    c.settle()
    start = len(c.history)
    c.promote()
    c.run_until(lambda cl: cl.status.get("stableRS") == hash_of(YELLOW))
    c.settle()
    by_name = {a.name: a for a in syncs(c, start)}
    new = by_name[rs_name(YELLOW)]
    assert new.template == {"labels": {"role": "stable"}, "annotations": {"tier": "stable"}}
    assert pod_meta(c, YELLOW)["labels"]["role"] == "stable"
    # The old stable is kept for its scale-down delay: what was injected is taken back.
    old = c.rs_named(rs_name("argoproj/rollouts-demo:blue"))
    assert "role" not in old["spec"]["template"]["metadata"]["labels"]
    assert EPHEMERAL_METADATA_ANNOTATION not in old["metadata"]["annotations"]
    assert by_name[old["metadata"]["name"]].record is None
    check_quiescent(c)


def test_without_blocks_nothing_is_written_and_removing_them_cleans_up() -> None:
    plain = Cluster.seed(checkers=[check_reconcile], steps=STEPS)
    plain.settle()
    plain.set_image(YELLOW)
    plain.settle()
    assert plain.metadata_syncs == []

    c = deployed()
    c.edit_spec(lambda spec: [spec["strategy"]["canary"].pop(k) for k in list(META)])
    c.settle()
    meta = pod_meta(c, "argoproj/rollouts-demo:blue")
    assert "role" not in meta["labels"] and not meta.get("annotations")
    assert len(c.metadata_syncs) == 1
    check_quiescent(c)


def test_changes_touch_only_what_was_injected() -> None:
    current = {"labels": {"app": "x", "role": "canary", "sidecar": "yes"}}
    previous = {"labels": {"role": "canary", "old": "1"}, "annotations": {}}
    desired = {"labels": {"role": "stable"}, "annotations": {"tier": "stable"}}
    assert ephemeral.changes(current, previous, desired) == {
        "labels": {"role": "stable"},
        "annotations": {"tier": "stable"},
    }
    assert ephemeral.changes(current, previous, None) == {"labels": {"role": None}}
    assert (
        ephemeral.changes(
            {"labels": {"role": "stable"}}, None, {"labels": {"role": "stable"}, "annotations": {}}
        )
        == {}
    )
    # Argo's own record (labels first) reads back as the same metadata.
    argo = {EPHEMERAL_METADATA_ANNOTATION: '{"labels":{"role":"stable"},"annotations":{"a":"b"}}'}
    assert ephemeral.recorded(argo) == {"labels": {"role": "stable"}, "annotations": {"a": "b"}}
    assert ephemeral.record(ephemeral.recorded(argo)) == argo[EPHEMERAL_METADATA_ANNOTATION]
