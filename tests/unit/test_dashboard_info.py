"""Argo's RolloutInfo JSON from the CLI's model, and the dashboard's address rule (pure)."""

from __future__ import annotations

from typing import Any

from rolloutd.dashboard.command import _check_address
from rolloutd.dashboard.infojson import rollout_info_json

UID = "ro-uid"


def _rollout(**status: Any) -> dict[str, Any]:
    return {
        "metadata": {
            "name": "web",
            "namespace": "ns",
            "uid": UID,
            "generation": 3,
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{...}", "a": "b"},
        },
        "spec": {
            "replicas": 4,
            "template": {"spec": {"containers": [{"name": "app", "image": "app:v2"}]}},
            "strategy": {
                "canary": {
                    "canaryService": "c",
                    "stableService": "s",
                    "trafficRouting": {"istio": {"virtualService": {"name": "vs"}}},
                    "steps": [{"setWeight": 25}, {"pause": {}}, {"setWeight": 50}],
                }
            },
        },
        "status": {"observedGeneration": "3", "phase": "Paused", "message": "CanaryPauseStep",
                   **status},
    }  # fmt: skip


def test_weights_per_destination_desired_against_actual_and_verified() -> None:
    weights = {
        "canary": {"weight": 10, "serviceName": "c", "podTemplateHash": "new"},
        "stable": {"weight": 90, "serviceName": "s", "podTemplateHash": "old"},
        "verified": False,
    }
    info = rollout_info_json(
        _rollout(currentStepIndex=1, availableReplicas=4, canary={"weights": weights})
    )
    assert (info["step"], info["setWeight"], info["actualWeight"]) == ("1/3", "25", "10")
    assert info["rolloutd"]["weights"] == {
        "routers": ["istio"],
        "verified": False,
        "destinations": [
            {"role": "canary", "serviceName": "c", "podTemplateHash": "new", "desired": 25,
             "actual": 10},
            {"role": "stable", "serviceName": "s", "podTemplateHash": "old", "desired": 75,
             "actual": 90},
        ],
    }  # fmt: skip


def test_argo_fields_and_no_last_applied_copy() -> None:
    info = rollout_info_json(_rollout(currentStepIndex=0))
    assert info["objectMeta"]["annotations"] == {"a": "b"}
    assert info["objectMeta"]["generation"] == "3" and info["generation"] == "3"
    assert info["containers"] == [{"name": "app", "image": "app:v2"}]
    assert info["restartedAt"] == "Never" and info["desired"] == 4
    assert info["rolloutd"]["weights"]["destinations"] == []


def test_only_token_mode_may_listen_beyond_loopback() -> None:
    assert _check_address("127.0.0.1", "none") is None
    assert _check_address("0.0.0.0", "token") is None
    problem = _check_address("0.0.0.0", "none")
    assert problem is not None and "--auth-mode token" in problem
    assert "not an IP" in (_check_address("example.com", "token") or "")
