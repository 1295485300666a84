"""A failed reconcile's report: which refusals reach the user, and what the status says."""

from __future__ import annotations

import datetime as dt

from rolloutd.controller import failures
from rolloutd.kube.client import ApiError
from rolloutd.plan.types import CreateReplicaSet, ScaleReplicaSet, SetWeight, SwitchService

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
CREATE = CreateReplicaSet(body={"metadata": {"name": "demo-abc"}})


def test_refusals_name_the_object_and_transient_answers_are_retried_quietly() -> None:
    invalid = ApiError(422, "Invalid", 'ReplicaSet.apps "demo-abc" is invalid: image required')
    refused = failures.refusal(CREATE, invalid)
    assert refused is not None and refused.reason == "ReplicaSetCreateError"
    assert str(refused) == (
        'Failed to create new replica set "demo-abc": '
        'ReplicaSet.apps "demo-abc" is invalid: image required'
    )
    scaled = failures.refusal(ScaleReplicaSet("demo-abc", 3), ApiError(403, "Forbidden", "no"))
    assert scaled is not None and str(scaled) == 'ReplicaSet "demo-abc": no'
    switched = failures.refusal(SwitchService("stable", "abc"), ApiError(400, "Bad", "x"))
    assert switched is not None and str(switched).startswith('Service "stable"')
    routed = failures.refusal(SetWeight(20), ApiError(422, "Invalid", "bad vs"), "istio")
    assert routed is not None and str(routed) == "traffic router istio: bad vs"
    for status in (404, 409, 429, 500, 503):
        assert failures.refusal(CREATE, ApiError(status, "x", "y")) is None


def test_the_failed_status_keeps_everything_else_and_clears_on_success() -> None:
    obj = {
        "status": {
            "phase": "Healthy",
            "stableRS": "abc",
            "conditions": [{"type": "Available", "status": "True"}],
        }
    }
    status = failures.failed_status(obj, "planning failed: OverflowError: " + "x" * 5000, NOW)
    assert status["stableRS"] == "abc"  # claims nothing new
    assert status["phase"] == "Degraded"
    assert status["message"].startswith("ReconcileError: planning failed: OverflowError")
    assert len(status["message"]) < failures.MAX_MESSAGE + 20
    kinds = [c["type"] for c in status["conditions"]]
    assert kinds == ["Available", "ReconcileError"]
    assert obj["status"]["conditions"] == [{"type": "Available", "status": "True"}]  # a copy
    again = failures.failed_status({"status": status}, status["conditions"][1]["message"], NOW)
    assert again == status  # same failure again: nothing to write
    cleared = failures.clear(status)
    assert [c["type"] for c in cleared["conditions"]] == ["Available"]
    assert failures.clear(cleared) is cleared


def test_a_refused_replica_set_turns_progressing_false_as_in_argo() -> None:
    obj = {"status": {"conditions": [{"type": "Progressing", "status": "True", "reason": "x"}]}}
    status = failures.failed_status(
        obj, "Failed to create new replica set", NOW, "ReplicaSetCreateError"
    )
    progressing = next(c for c in status["conditions"] if c["type"] == "Progressing")
    assert (progressing["status"], progressing["reason"]) == ("False", "ReplicaSetCreateError")
    # Other failures leave Progressing as the last good pass wrote it.
    other = failures.failed_status(obj, "planning failed", NOW)
    assert next(c for c in other["conditions"] if c["type"] == "Progressing")["reason"] == "x"
