"""From an Event to notifications: Argo's trigger names, subscriptions, rendering, identities."""

from __future__ import annotations

import base64
import copy
from typing import Any

import pytest

from rolloutd.notify.config import parse_config
from rolloutd.notify.triggers import destinations, plan_notifications, trigger_name

ROLLOUT: dict[str, Any] = {
    "apiVersion": "argoproj.io/v1alpha1",
    "kind": "Rollout",
    "metadata": {
        "name": "demo",
        "namespace": "ns",
        "uid": "u-1",
        "labels": {"team": "a"},
        "annotations": {
            "rollout.argoproj.io/revision": "2",
            "notifications.argoproj.io/subscribe.on-rollout-completed.slack": "c1; c2",
            "notifications.argoproj.io/subscribe.on-rollout-step-completed.ci": "",
        },
    },
    "spec": {"strategy": {"canary": {"steps": [{"setWeight": 20}]}}, "template": {"spec": {}}},
    "status": {"currentStepIndex": 1},
}


def config(**data: str) -> dict[str, Any]:
    return {"data": {"service.slack": "token: $tok\napiURL: http://127.0.0.1:1/", **data}}


SECRET = {"data": {"tok": base64.b64encode(b"xoxb-1").decode()}}


@pytest.mark.parametrize(
    ("reason", "trigger"),
    [
        ("RolloutCompleted", "on-rollout-completed"),
        ("ScalingReplicaSet", "on-scaling-replica-set"),
        ("AnalysisRunFailed", "on-analysis-run-failed"),
        ("RolloutStepCompleted", "on-rollout-step-completed"),
        ("Updated VirtualService", "on-updated -virtual-service"),
    ],
)
def test_trigger_names_are_argos(reason: str, trigger: str) -> None:
    assert trigger_name(reason) == trigger


def test_a_completed_rollout_notifies_each_recipient_with_the_secret_resolved() -> None:
    cfg = parse_config(config(), SECRET)
    assert cfg.errors == []
    assert cfg.services["slack"].settings["token"] == "xoxb-1"
    out = plan_notifications(cfg, ROLLOUT, "RolloutCompleted", "Rollout completed update")
    assert out.errors == []
    assert [(d.service, d.recipient, d.payload["text"]) for d in out.deliveries] == [
        ("slack", "c1", "Rollout demo has been completed."),
        ("slack", "c2", "Rollout demo has been completed."),
    ]
    assert out.deliveries[0].payload["attachments"][0]["color"] == "#18be52"


def test_identity_is_stable_and_tells_events_apart() -> None:
    cfg = parse_config(config())
    first = plan_notifications(cfg, ROLLOUT, "RolloutCompleted", "m").deliveries
    again = plan_notifications(cfg, copy.deepcopy(ROLLOUT), "RolloutCompleted", "m").deliveries
    assert [d.key for d in first] == [d.key for d in again]
    other = copy.deepcopy(ROLLOUT)
    other["metadata"]["annotations"]["rollout.argoproj.io/revision"] = "3"
    later = plan_notifications(cfg, other, "RolloutCompleted", "m").deliveries
    assert not {d.key for d in first} & {d.key for d in later}
    assert len({d.key for d in first}) == 2  # one per recipient


def test_unsubscribed_and_unconfigured_triggers_send_nothing() -> None:
    cfg = parse_config(config())
    assert plan_notifications(cfg, ROLLOUT, "RolloutPaused", "m").deliveries == []
    ro = copy.deepcopy(ROLLOUT)
    ro["metadata"]["annotations"]["notifications.argoproj.io/subscribe.on-purple.slack"] = "c"
    out = plan_notifications(cfg, ro, "Purple", "m")
    assert out.deliveries == [] and out.errors == []


def test_webhook_sends_only_what_a_template_has_for_it() -> None:
    hook = "url: http://127.0.0.1:1/"
    template = (
        "message: step done\n"
        "webhook:\n  ci:\n    method: POST\n    path: /s/{{.rollout.metadata.name}}\n"
        "    body: '{\"step\": {{.rollout.status.currentStepIndex}}}'\n"
    )
    cfg = parse_config(
        config(**{"service.webhook.ci": hook, "template.rollout-step-completed": template})
    )
    out = plan_notifications(cfg, ROLLOUT, "RolloutStepCompleted", "m")
    assert [(d.service_type, d.payload) for d in out.deliveries] == [
        ("webhook", {"method": "POST", "path": "/s/demo", "body": '{"step": 1}'})
    ]
    # The built-in template has no webhook part: nothing is sent to the webhook.
    builtin = parse_config(config(**{"service.webhook.ci": hook}))
    assert plan_notifications(builtin, ROLLOUT, "RolloutStepCompleted", "m").deliveries == []


def test_a_broken_template_is_an_error_naming_it_not_a_crash() -> None:
    cfg = parse_config(config(**{"template.rollout-completed": "message: '{{ nope .x }}'"}))
    out = plan_notifications(cfg, ROLLOUT, "RolloutCompleted", "m")
    assert out.deliveries == []
    assert out.errors == [
        'template rollout-completed.message: function "nope" not defined',
        'template rollout-completed.message: function "nope" not defined',
    ]


def test_bad_keys_are_reported_and_the_rest_still_works() -> None:
    cfg = parse_config(
        config(
            **{
                "service.teams": "url: x",
                "trigger.on-x": "send: nope",
                "subscriptions": "- recipients: [no-colon]",
                "template.bad": "[1, 2",
            }
        )
    )
    assert sorted(e.split(":")[0] for e in cfg.errors) == [
        "service.teams",
        "subscriptions",
        "template.bad",
        "trigger.on-x",
    ]
    assert "slack" in cfg.services
    assert plan_notifications(cfg, ROLLOUT, "RolloutCompleted", "m").deliveries


def test_global_subscriptions_match_labels_and_default_triggers_apply() -> None:
    subs = (
        "- recipients: ['slack:all']\n  selector: team=a\n"
        "- recipients: ['slack:b']\n  selector: team=b\n"
    )
    cfg = parse_config(config(subscriptions=subs, defaultTriggers="[on-rollout-aborted]"))
    ro = copy.deepcopy(ROLLOUT)
    ro["metadata"]["annotations"] = {}
    out = plan_notifications(cfg, ro, "RolloutAborted", "m")
    assert [d.recipient for d in out.deliveries] == ["all"]
    assert out.deliveries[0].payload["text"] == "Rollout demo has been aborted."


def test_when_conditions_are_evaluated() -> None:
    trig = "- when: rollout.status.currentStepIndex > 5\n  send: [rollout-completed]\n"
    cfg = parse_config(config(**{"trigger.on-rollout-completed": trig}))
    assert plan_notifications(cfg, ROLLOUT, "RolloutCompleted", "m").deliveries == []
    ro = copy.deepcopy(ROLLOUT)
    ro["status"]["currentStepIndex"] = 6
    assert len(plan_notifications(cfg, ro, "RolloutCompleted", "m").deliveries) == 2


def test_subscriptions_annotation_list() -> None:
    ro = copy.deepcopy(ROLLOUT)
    ro["metadata"]["annotations"] = {
        "notifications.argoproj.io/subscriptions": (
            "- trigger: [on-rollout-paused]\n"
            "  destinations:\n  - service: slack\n    recipients: [x, y]\n"
        )
    }
    found, errors = destinations(ro, parse_config(config()))
    assert errors == []
    assert [(d.trigger, d.service, d.recipient) for d in found] == [
        ("on-rollout-paused", "slack", "x"),
        ("on-rollout-paused", "slack", "y"),
    ]
