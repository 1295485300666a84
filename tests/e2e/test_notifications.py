"""Notifications end to end: the daemon as a process, receivers on loopback.

Receivers: an aiohttp webhook server, a Slack-compatible `chat.postMessage` endpoint, and an
aiosmtpd SMTP server. The seed's Rollout (pauses shortened) subscribes with Argo's
annotations; Argo's ConfigMap and Secret configure the three services.

- The walkthrough sends exactly the expected messages, in order; the webhook answers its first
  request 500, and the message arrives once, after the retry.
- SIGKILL of the daemon right after a send (confirmed in the ledger), and SIGKILL while a
  receiver is down (the notification claimed but not yet sent): after the restart nothing is
  sent twice and nothing is lost.
- Two replicas with leader election, the leader SIGKILLed mid-rollout: the standby takes
  over; no duplicate, no loss.
"""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from email import message_from_bytes
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from rolloutd.kube.client import ApiError, KubeClient
from rolloutd.kube.resources import CONFIG_MAPS, LEASES, SECRETS
from rolloutd.notify.ledger import ledger_name
from rolloutd_dev.sandbox.cluster import Status
from tests.e2e.harness import (
    Daemon,
    apply_seed,
    eventually,
    free_port,
    promote,
    set_image,
    wait_phase,
)

ID = "X-Rolloutd-Notification-Id"
STEPS = [
    {"setWeight": 20},
    {"pause": {}},
    {"setWeight": 60},
    {"pause": {"duration": 1}},
]
NAME = "rollouts-demo"
# Deadlines, not expectations: CI and shared machines run many daemons on two cores.
LOADED = 180


@dataclass
class Receivers:
    """Everything the receivers were sent, as (notification id, what) in arrival order."""

    webhook: list[tuple[str, str]] = field(default_factory=list)
    slack: list[tuple[str, str]] = field(default_factory=list)
    email: list[tuple[str, str]] = field(default_factory=list)
    webhook_answers: list[int] = field(default_factory=list)
    fail_webhook: int = 1  # answer this many requests 500 first
    webhook_down: bool = False
    slack_tokens: set[str] = field(default_factory=set)
    http_port: int = 0
    smtp_port: int = 0

    def accepted_webhook(self) -> list[tuple[str, str]]:
        return [
            w for w, code in zip(self.webhook, self.webhook_answers, strict=True) if code == 200
        ]


class _Mail:
    def __init__(self, rx: Receivers) -> None:
        self.rx = rx

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        msg = message_from_bytes(envelope.content if isinstance(envelope.content, bytes) else b"")
        for rcpt in envelope.rcpt_tos:
            self.rx.email.append((str(msg[ID]), f"{rcpt}: {msg['Subject']}"))
        return "250 OK"


@pytest.fixture
async def receivers() -> AsyncIterator[Receivers]:
    rx = Receivers(http_port=free_port(), smtp_port=free_port())

    async def hook(request: web.Request) -> web.Response:
        body = await request.text()
        if rx.webhook_down:
            rx.webhook.append((request.headers.get(ID, ""), body))
            rx.webhook_answers.append(503)
            return web.Response(status=503)
        rx.webhook.append((request.headers.get(ID, ""), body))
        if rx.fail_webhook > 0:
            rx.fail_webhook -= 1
            rx.webhook_answers.append(500)
            return web.Response(status=500, text="try again")
        rx.webhook_answers.append(200)
        return web.Response(text="ok")

    async def slack(request: web.Request) -> web.Response:
        rx.slack_tokens.add(request.headers.get("Authorization", ""))
        body = await request.json()
        title = body["attachments"][0]["title"] if body.get("attachments") else ""
        rx.slack.append(
            (request.headers.get(ID, ""), f"#{body['channel']} {body['text']} [{title}]")
        )
        return web.json_response({"ok": True, "channel": body["channel"], "ts": "1.2"})

    app = web.Application()
    app.router.add_post("/hooks/{tail:.*}", hook)
    app.router.add_post("/api/chat.postMessage", slack)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", rx.http_port).start()
    smtp = Controller(_Mail(rx), hostname="127.0.0.1", port=rx.smtp_port)
    smtp.start()
    try:
        yield rx
    finally:
        smtp.stop()
        await runner.cleanup()


def notification_config(rx: Receivers) -> dict[str, Any]:
    step_template = {
        "message": "Rollout {{.rollout.metadata.name}} step number "
        "{{ add .rollout.status.currentStepIndex 1}}/{{len .rollout.spec.strategy.canary.steps}}"
        " has been completed.",
        "webhook": {
            "ci": {
                "method": "POST",
                "path": "/steps/{{.rollout.metadata.name}}",
                "body": '{"rollout": {{toJson .rollout.metadata.name}}, '
                '"step": {{.rollout.status.currentStepIndex}}}',
            }
        },
    }
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "argo-rollouts-notification-configmap"},
        "data": {
            "service.webhook.ci": yaml.safe_dump(
                {
                    "url": f"http://127.0.0.1:{rx.http_port}/hooks",
                    "headers": [{"name": "Content-Type", "value": "application/json"}],
                }
            ),
            "service.slack": yaml.safe_dump(
                {"token": "$slack-token", "apiURL": f"http://127.0.0.1:{rx.http_port}/api/"}
            ),
            "service.email": yaml.safe_dump(
                {"host": "127.0.0.1", "port": rx.smtp_port, "from": "rollouts@example.com"}
            ),
            "template.rollout-step-completed": yaml.safe_dump(step_template),
        },
    }


SECRET = {
    "apiVersion": "v1",
    "kind": "Secret",
    "metadata": {"name": "argo-rollouts-notification-secret"},
    "data": {"slack-token": base64.b64encode(b"xoxb-test-token").decode()},
}
SUBSCRIPTIONS = {
    "notifications.argoproj.io/subscribe.on-rollout-step-completed.ci": "",
    "notifications.argoproj.io/subscribe.on-rollout-paused.slack": "deploys",
    "notifications.argoproj.io/subscribe.on-rollout-completed.slack": "deploys",
    "notifications.argoproj.io/subscribe.on-rollout-completed.email": (
        "ops@example.com; dev@example.com"
    ),
}


def subscribed(rollout: dict[str, Any]) -> None:
    rollout["spec"]["strategy"]["canary"]["steps"] = copy.deepcopy(STEPS)
    rollout["metadata"].setdefault("annotations", {}).update(SUBSCRIPTIONS)


async def configure(kube: KubeClient, ns: str, rx: Receivers) -> None:
    await kube.create(CONFIG_MAPS, notification_config(rx), namespace=ns)
    await kube.create(SECRETS, copy.deepcopy(SECRET), namespace=ns)


# What the first deploy sends.
FIRST_SLACK = [f"#deploys Rollout {NAME} has been completed. [{NAME}]"]
FIRST_EMAIL = [
    f"ops@example.com: Rollout {NAME} has been completed.",
    f"dev@example.com: Rollout {NAME} has been completed.",
]


# What one update (image change, promote at step 1, the timed pause) sends, in order.
UPDATE_WEBHOOK = [
    '{"rollout": "rollouts-demo", "step": 1}',
    '{"rollout": "rollouts-demo", "step": 2}',
    '{"rollout": "rollouts-demo", "step": 3}',
    '{"rollout": "rollouts-demo", "step": 4}',
]
UPDATE_SLACK = [
    f"#deploys Rollout {NAME} has been paused. [{NAME}]",
    f"#deploys Rollout {NAME} has been paused. [{NAME}]",
    f"#deploys Rollout {NAME} has been completed. [{NAME}]",
]
UPDATE_EMAIL = [
    f"ops@example.com: Rollout {NAME} has been completed.",
    f"dev@example.com: Rollout {NAME} has been completed.",
]


def texts(items: list[tuple[str, str]]) -> list[str]:
    return [text for _, text in items]


def assert_once(items: list[tuple[str, str]], what: str) -> None:
    ids = [i for i, _ in items]
    assert all(ids), f"{what}: a message without its notification id: {items}"
    assert len(set(ids)) == len(ids), f"{what}: sent twice: {items}"


async def ledger_states(kube: KubeClient, ns: str) -> dict[str, str]:
    try:
        cm = await kube.get(CONFIG_MAPS, ledger_name(NAME), namespace=ns)
    except ApiError as exc:
        if exc.not_found:
            return {}
        raise
    return {k: json.loads(v)["state"] for k, v in (cm.get("data") or {}).items()}


async def ledger_records(kube: KubeClient, ns: str) -> list[dict[str, Any]]:
    try:
        cm = await kube.get(CONFIG_MAPS, ledger_name(NAME), namespace=ns)
    except ApiError as exc:
        if exc.not_found:
            return []
        raise
    return [json.loads(v) for v in (cm.get("data") or {}).values()]


async def all_sent(kube: KubeClient, ns: str, count: int) -> None:
    async def check() -> bool:
        states = await ledger_states(kube, ns)
        return len(states) == count and set(states.values()) == {"sent"}

    try:
        await eventually(check, f"{count} notifications recorded as sent", timeout=LOADED)
    except AssertionError:
        cm = await kube.get(CONFIG_MAPS, ledger_name(NAME), namespace=ns)
        raise AssertionError(f"ledger: {json.dumps(cm.get('data'), indent=1)}") from None


def daemon(sandbox: Status, ns: str, tmp_path: Path, *extra: str) -> Daemon:
    return Daemon(str(sandbox.kubeconfig), ns, tmp_path, "--config-namespace", ns, *extra)


async def test_walkthrough_sends_each_message_once_in_order_across_kills(
    sandbox: Status, kube: KubeClient, namespace: str, tmp_path: Path, receivers: Receivers
) -> None:
    ns, rx = namespace, receivers
    await configure(kube, ns, rx)
    proc = daemon(sandbox, ns, tmp_path)
    proc.start()
    try:
        await apply_seed(kube, ns, rollout_edit=subscribed)
        await wait_phase(kube, ns, "Healthy", step=len(STEPS), timeout=LOADED)
        slack0, email0 = FIRST_SLACK, FIRST_EMAIL
        await all_sent(kube, ns, 3)
        assert texts(rx.slack) == slack0
        assert sorted(texts(rx.email)) == sorted(email0)
        assert rx.slack_tokens == {"Bearer xoxb-test-token"}  # `$slack-token` from the Secret

        await set_image(kube, ns, "argoproj/rollouts-demo:yellow")
        await wait_phase(kube, ns, "Paused", step=1, timeout=LOADED)
        # Step 1 completed: the webhook answered 500 first, then 200 on the retry.
        await all_sent(kube, ns, 5)
        assert rx.webhook_answers == [500, 200]
        assert rx.webhook[0] == rx.webhook[1]  # the retry is the same notification

        # SIGKILL right after a send that the ledger confirms: nothing is sent again.
        proc.kill()
        proc.start()
        # A receiver down while the next notifications are claimed, then SIGKILL: they are
        # pending in the ledger and the next process sends them.
        rx.webhook_down = True
        await promote(kube, ns)
        await wait_phase(kube, ns, "Paused", step=3, timeout=LOADED)

        async def claimed_not_sent() -> bool:
            # Webhook notifications claimed but not sent; every other one sent and marked
            # (killing between a send and its mark is the one resend window, see
            # docs/notifications.md, not what this case is about).
            records = await ledger_records(kube, ns)
            pending = [r for r in records if r["state"] == "pending"]
            return len(pending) >= 2 and all(r["delivery"]["service"] == "ci" for r in pending)

        await eventually(
            claimed_not_sent, "notifications claimed while the webhook is down", timeout=LOADED
        )
        proc.kill()
        rx.webhook_down = False
        proc.start()
        ro = await wait_phase(kube, ns, "Healthy", step=len(STEPS), timeout=LOADED)
        assert ro["status"]["stableRS"] == ro["status"]["currentPodHash"]
        await all_sent(kube, ns, 3 + 4 + 3 + 2)

        assert [b for _, b in rx.accepted_webhook()] == UPDATE_WEBHOOK
        assert texts(rx.slack) == slack0 + UPDATE_SLACK
        assert sorted(texts(rx.email)) == sorted(email0 + UPDATE_EMAIL)
        for what, items in (
            ("webhook", rx.accepted_webhook()),
            ("slack", rx.slack),
            ("email", rx.email),
        ):
            assert_once(items, what)
    finally:
        proc.stop()


async def test_leader_failover_with_two_replicas_sends_once(
    sandbox: Status, kube: KubeClient, namespace: str, tmp_path: Path, receivers: Receivers
) -> None:
    ns, rx = namespace, receivers
    rx.fail_webhook = 0
    await configure(kube, ns, rx)
    timings = ["--lease-duration", "8", "--renew-deadline", "6", "--retry-period", "1"]
    replicas = {
        name: daemon(sandbox, ns, tmp_path / name, "--leader-elect", "--identity", name, *timings)
        for name in ("replica-a", "replica-b")
    }
    for name, replica in replicas.items():
        (tmp_path / name).mkdir()
        replica.start()
    try:

        async def holder() -> str:
            try:
                lease = await kube.get(LEASES, "rolloutd-controller-lock", namespace=ns)
            except ApiError as exc:
                if exc.not_found:
                    return ""
                raise
            return str(lease["spec"].get("holderIdentity") or "")

        async def led() -> bool:
            return await holder() in replicas

        await eventually(led, "a leader", timeout=LOADED)
        await apply_seed(kube, ns, rollout_edit=subscribed)
        await wait_phase(kube, ns, "Healthy", step=len(STEPS), timeout=LOADED)
        await all_sent(kube, ns, 3)
        await set_image(kube, ns, "argoproj/rollouts-demo:yellow")
        await wait_phase(kube, ns, "Paused", step=1, timeout=LOADED)
        await all_sent(kube, ns, 5)

        first = await holder()
        replicas[first].kill()
        await promote(kube, ns)

        async def taken_over() -> bool:
            return await holder() not in ("", first)

        await eventually(taken_over, "the standby to take the Lease", timeout=LOADED)
        await wait_phase(kube, ns, "Healthy", step=len(STEPS), timeout=LOADED)
        await all_sent(kube, ns, 3 + 4 + 3 + 2)
        slack0, email0 = FIRST_SLACK, FIRST_EMAIL
        assert [b for _, b in rx.accepted_webhook()] == UPDATE_WEBHOOK
        assert texts(rx.slack) == slack0 + UPDATE_SLACK
        assert sorted(texts(rx.email)) == sorted(email0 + UPDATE_EMAIL)
        for what, items in (("webhook", rx.webhook), ("slack", rx.slack), ("email", rx.email)):
            assert_once(items, what)
    finally:
        for replica in replicas.values():
            replica.stop()
