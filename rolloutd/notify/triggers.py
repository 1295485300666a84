"""From a recorded Event to the notifications it causes. Pure: no I/O, no clock.

As in Argo's `utils/record/record.go`, the Event reason names the trigger (`RolloutCompleted` ->
`on-rollout-completed`), the destinations are the Rollout's subscription annotations plus the
ConfigMap's `subscriptions` whose selector matches its labels, and a condition with no `when`
always sends. A condition with a `when` sends when that expr-lang expression (over `rollout`)
is true.

Beyond Argo, each notification gets a stable identity (`Delivery.key`): a digest of the Rollout's
uid, the trigger, template, service and recipient, and what the Event is about (the revision,
the step index and the Event's message). The sender records the key in the cluster before
sending and skips a key it finds there, so a repeated Event, a restart or a second replica
does not send the same thing twice (see docs/notifications.md).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

import yaml

from rolloutd.analysis.expr import ExprError, evaluate_condition
from rolloutd.notify.config import NotifyConfig, Service
from rolloutd.notify.gotemplate import Template, TemplateError

ANNOTATION_PREFIX = "notifications.argoproj.io/subscribe."
SUBSCRIPTIONS_ANNOTATION = "notifications.argoproj.io/subscriptions"
REVISION_ANNOTATION = "rollout.argoproj.io/revision"
_FIRST_CAP = re.compile(r"(.)([A-Z][a-z]+)")
_ALL_CAP = re.compile(r"([a-z0-9])([A-Z])")

JsonDict = dict[str, Any]


def trigger_name(reason: str) -> str:
    """Argo's mapping from an Event reason to a trigger name."""
    snake = _ALL_CAP.sub(r"\1-\2", _FIRST_CAP.sub(r"\1-\2", reason))
    return "on-" + snake.lower()


@dataclass(frozen=True)
class Destination:
    trigger: str  # "" when the subscription names none (the default triggers apply)
    service: str
    recipient: str


def destinations(obj: JsonDict, cfg: NotifyConfig) -> tuple[list[Destination], list[str]]:
    """Every subscription of `obj`, with the errors of annotations that do not parse."""
    meta = obj.get("metadata") or {}
    annotations: dict[str, str] = meta.get("annotations") or {}
    labels: dict[str, str] = meta.get("labels") or {}
    found: list[Destination] = []
    errors: list[str] = []
    for key, value in annotations.items():
        if key.startswith(ANNOTATION_PREFIX):
            parts = key[len(ANNOTATION_PREFIX) :].split(".")
            trigger, service = ("", parts[0]) if len(parts) == 1 else (parts[0], parts[1])
            for recipient in _recipients(value):
                found.append(Destination(trigger, service, recipient))
        elif key == SUBSCRIPTIONS_ANNOTATION:
            try:
                found.extend(_annotation_list(value))
            except ValueError as exc:
                errors.append(f"annotation {key}: {exc}")
    for sub in cfg.subscriptions:
        if all(labels.get(k) == v for k, v in sub.selector.items()):
            for service, recipient in sub.recipients:
                for trigger in sub.triggers or [""]:
                    found.append(Destination(trigger, service, recipient))
    return found, errors


def _recipients(value: str) -> list[str]:
    # Argo: split on ";" and trim; an empty value is one empty recipient (webhooks need none).
    items = [r.strip() for r in (value or "").split(";")]
    return [r for r in items if r] or [""]


def _annotation_list(value: str) -> list[Destination]:
    try:
        items = yaml.safe_load(value) or []
    except yaml.YAMLError:
        raise ValueError("not YAML") from None
    if not isinstance(items, list):
        raise ValueError("must be a YAML list of {trigger, destinations}")
    out: list[Destination] = []
    for item in items:
        if not isinstance(item, dict):
            raise ValueError("each item must be a mapping")
        triggers = item.get("trigger") or [""]
        if isinstance(triggers, str):
            triggers = [triggers]
        for dest in item.get("destinations") or []:
            if not isinstance(dest, dict) or not dest.get("service"):
                raise ValueError("destinations[]: service is required")
            for recipient in dest.get("recipients") or [""]:
                for trigger in triggers:
                    out.append(Destination(str(trigger), str(dest["service"]), str(recipient)))
    return out


@dataclass(frozen=True)
class Delivery:
    key: str
    rollout: str  # namespace/name
    trigger: str
    template: str
    service: str
    service_type: str
    recipient: str
    payload: JsonDict

    def describe(self) -> str:
        to = f" to {self.recipient!r}" if self.recipient else ""
        return f"{self.trigger} via {self.service}{to}"


@dataclass
class Outcome:
    deliveries: list[Delivery]
    errors: list[str]  # each names the template, trigger, service or annotation at fault


def plan_notifications(
    cfg: NotifyConfig,
    obj: JsonDict,
    reason: str,
    message: str,
    *,
    secrets: dict[str, str] | None = None,
) -> Outcome:
    """The notifications an Event with `reason` on `obj` causes, rendered."""
    out = Outcome([], [])
    trigger = trigger_name(reason)
    dests, out.errors = destinations(obj, cfg)
    wanted: list[Destination] = []
    for d in dests:
        by_default = not d.trigger and trigger in cfg.default_triggers_by_service.get(
            d.service, cfg.default_triggers
        )
        if (d.trigger == trigger or by_default) and d not in wanted:
            wanted.append(d)
    if not wanted:
        return out
    conditions = cfg.triggers.get(trigger)
    if conditions is None:
        # Argo logs "trigger ... is not configured" at debug level and sends nothing.
        return out
    meta = obj.get("metadata") or {}
    status = obj.get("status") or {}
    about = [
        meta.get("uid") or f"{meta.get('namespace')}/{meta.get('name')}",
        trigger,
        str((meta.get("annotations") or {}).get(REVISION_ANNOTATION, "")),
        str(status.get("currentStepIndex", "")),
        message,
    ]
    for ci, cond in enumerate(conditions):
        if cond.when:
            try:
                if not evaluate_condition(cond.when, {"rollout": obj}):
                    continue
            except ExprError as exc:
                out.errors.append(f"trigger {trigger}[{ci}].when: {exc}")
                continue
        for template_name in cond.send:
            for d in wanted:
                service = cfg.services.get(d.service)
                if service is None:
                    out.errors.append(
                        f"trigger {trigger}: service {d.service!r} is not configured "
                        f"(no service.<type>.{d.service} key in the notification ConfigMap)"
                    )
                    continue
                try:
                    payload = _render(cfg, template_name, service, d.recipient, obj, secrets)
                except TemplateError as exc:
                    out.errors.append(str(exc))
                    continue
                if payload is None:
                    continue
                ident = [*about, str(ci), template_name, d.service, d.recipient]
                digest = hashlib.sha256("\x00".join(ident).encode()).hexdigest()[:24]
                out.deliveries.append(
                    Delivery(
                        key=digest,
                        rollout=f"{meta.get('namespace')}/{meta.get('name')}",
                        trigger=trigger,
                        template=template_name,
                        service=d.service,
                        service_type=service.type,
                        recipient=d.recipient,
                        payload=payload,
                    )
                )
    return out


def _render(
    cfg: NotifyConfig,
    template_name: str,
    service: Service,
    recipient: str,
    obj: JsonDict,
    secrets: dict[str, str] | None,
) -> JsonDict | None:
    tpl = cfg.templates.get(template_name)
    if tpl is None:
        raise TemplateError(f"template {template_name}: not defined (no template.{template_name})")
    data = {
        "rollout": obj,
        "recipient": recipient,
        "serviceType": service.type,
        "secrets": secrets or {},
    }

    def part(path: str) -> str | None:
        if path in tpl.broken:
            raise TemplateError(tpl.broken[path])
        t = tpl.parts.get(path)
        return t.render(data) if t is not None else None

    message = part("message")
    if service.type == "webhook":
        spec = tpl.webhook.get(service.name)
        if spec is None:
            return None  # as in Argo: a webhook sends only what a template has for it
        for key in ("path", "body"):
            if f"webhook.{service.name}.{key}" in tpl.broken:
                raise TemplateError(tpl.broken[f"webhook.{service.name}.{key}"])
        body, path = spec.get("body"), spec.get("path")
        return {
            "method": spec["method"],
            "path": path.render(data) if isinstance(path, Template) else "",
            "body": body.render(data) if isinstance(body, Template) else "",
        }
    if service.type == "slack":
        payload: JsonDict = {"channel": recipient, "text": message or ""}
        for key in ("attachments", "blocks"):
            text = part(f"slack.{key}")
            if text is not None and text.strip():
                try:
                    payload[key] = json.loads(text)
                except json.JSONDecodeError as exc:
                    raise TemplateError(
                        f"template {template_name}: slack.{key} is not JSON after rendering: "
                        f"{exc.msg} at line {exc.lineno} column {exc.colno}"
                    ) from None
        for key in ("username", "icon"):
            text = part(f"slack.{key}")
            if text:
                payload[key] = text
        return payload
    # email
    subject = part("email.subject")
    body = part("email.body")
    return {
        "to": recipient,
        "subject": subject if subject is not None else "",
        "body": body if body is not None else (message or ""),
    }
