"""The services a notification goes out by: webhook, Slack and e-mail, with Argo's settings.

- `webhook`: `url`, `headers: [{name, value}]`, `basicAuth: {username, password}`; the
  template's `webhook.<service>` gives `method`, `path` (appended to the URL) and `body`.
- `slack`: `token`, `apiURL` (default `https://slack.com/api/`; tests point it at a local
  Slack-compatible server), `username`, `icon`; posts `chat.postMessage` with the rendered
  `text`, `attachments` and `blocks` to the recipient channel.
- `email`: `host`, `port`, `from`, `username` / `password` (LOGIN when given), `html`;
  plain SMTP, with STARTTLS when the server offers it and `insecure_skip_verify` is not needed.

Every request carries the notification's identity (header `X-Rolloutd-Notification-Id`, and
the e-mail's `Message-ID`), so a receiver can drop the one resend a crash can cause (see
docs/notifications.md). A failure raises `SendError`; `retryable` says whether trying again can
help (a connection error, a timeout, 429 or 5xx) or not (another 4xx, Slack's `ok: false`).
"""

from __future__ import annotations

import asyncio
import json
import smtplib
import ssl
from email.message import EmailMessage
from typing import Any

import aiohttp

from rolloutd.notify.config import Service
from rolloutd.notify.triggers import Delivery

ID_HEADER = "X-Rolloutd-Notification-Id"
SLACK_API = "https://slack.com/api/"
TIMEOUT = aiohttp.ClientTimeout(total=15)


class SendError(Exception):
    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


async def send(session: aiohttp.ClientSession, service: Service, delivery: Delivery) -> None:
    if service.type == "webhook":
        await _webhook(session, service.settings, delivery)
    elif service.type == "slack":
        await _slack(session, service.settings, delivery)
    elif service.type == "email":
        await asyncio.to_thread(_email, service.settings, delivery)
    else:
        raise SendError(f"service type {service.type!r} is not supported", retryable=False)


def _status_error(what: str, status: int, text: str) -> SendError:
    return SendError(
        f"{what} answered HTTP {status}: {text[:200]}",
        retryable=status == 429 or status >= 500,
    )


async def _webhook(
    session: aiohttp.ClientSession, settings: dict[str, Any], delivery: Delivery
) -> None:
    payload = delivery.payload
    url = str(settings["url"]).rstrip("/") + str(payload.get("path") or "")
    if payload.get("path") and not str(payload["path"]).startswith("/"):
        url = str(settings["url"]).rstrip("/") + "/" + str(payload["path"])
    headers = {ID_HEADER: delivery.key}
    for h in settings.get("headers") or []:
        if isinstance(h, dict) and h.get("name"):
            headers[str(h["name"])] = str(h.get("value", ""))
    auth = None
    basic = settings.get("basicAuth")
    if isinstance(basic, dict) and basic.get("username"):
        auth = aiohttp.BasicAuth(str(basic["username"]), str(basic.get("password") or ""))
    try:
        async with session.request(
            str(payload.get("method") or "GET"),
            url,
            data=str(payload.get("body") or "").encode(),
            headers=headers,
            auth=auth,
            timeout=TIMEOUT,
        ) as resp:
            text = await resp.text(errors="replace")
            if resp.status >= 400:
                raise _status_error(f"webhook {url}", resp.status, text)
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise SendError(f"webhook {url}: {exc!r}", retryable=True) from None


async def _slack(
    session: aiohttp.ClientSession, settings: dict[str, Any], delivery: Delivery
) -> None:
    base = str(settings.get("apiURL") or SLACK_API)
    url = base.rstrip("/") + "/chat.postMessage"
    body: dict[str, Any] = dict(delivery.payload)
    body.setdefault("username", settings.get("username"))
    icon = body.pop("icon", None) or settings.get("icon")
    if icon:
        body["icon_url" if str(icon).startswith("http") else "icon_emoji"] = icon
    body = {k: v for k, v in body.items() if v is not None}
    headers = {
        ID_HEADER: delivery.key,
        "Authorization": f"Bearer {settings.get('token') or ''}",
        "Content-Type": "application/json; charset=utf-8",
    }
    try:
        async with session.post(
            url, data=json.dumps(body).encode(), headers=headers, timeout=TIMEOUT
        ) as resp:
            text = await resp.text(errors="replace")
            if resp.status >= 400:
                raise _status_error(f"slack {url}", resp.status, text)
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise SendError(f"slack {url}: {exc!r}", retryable=True) from None
    try:
        answer = json.loads(text)
    except json.JSONDecodeError:
        raise SendError(
            f"slack {url}: the answer is not JSON: {text[:200]}", retryable=True
        ) from None
    if not isinstance(answer, dict) or not answer.get("ok"):
        error = answer.get("error") if isinstance(answer, dict) else answer
        raise SendError(f"slack {url}: {error}", retryable=error == "ratelimited")


def _email(settings: dict[str, Any], delivery: Delivery) -> None:
    payload = delivery.payload
    msg = EmailMessage()
    msg["From"] = str(settings.get("from") or settings.get("username") or "rolloutd")
    msg["To"] = str(payload.get("to") or "")
    msg["Subject"] = str(payload.get("subject") or "")
    msg["Message-ID"] = f"<{delivery.key}@rolloutd>"
    msg[ID_HEADER] = delivery.key
    body = str(payload.get("body") or "")
    if settings.get("html"):
        msg.set_content(body, subtype="html")
    else:
        msg.set_content(body)
    host, port = str(settings["host"]), int(settings.get("port") or 25)
    try:
        with smtplib.SMTP(host, port, timeout=15) as smtp:
            smtp.ehlo()
            if smtp.has_extn("starttls"):
                context = ssl.create_default_context()
                if settings.get("insecure_skip_verify"):
                    context.check_hostname = False
                    context.verify_mode = ssl.CERT_NONE
                smtp.starttls(context=context)
                smtp.ehlo()
            if settings.get("username"):
                smtp.login(str(settings["username"]), str(settings.get("password") or ""))
            smtp.send_message(msg)
    except smtplib.SMTPResponseException as exc:
        raise SendError(
            f"email {host}:{port}: {exc.smtp_code} {exc.smtp_error!r}",
            retryable=exc.smtp_code >= 400 and exc.smtp_code < 500,
        ) from None
    except (OSError, smtplib.SMTPException) as exc:
        raise SendError(f"email {host}:{port}: {exc!r}", retryable=True) from None
