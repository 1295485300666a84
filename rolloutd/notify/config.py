"""Argo's `argo-rollouts-notification-configmap` (and its Secret), parsed. Pure.

Keys, as notifications-engine reads them:

- `service.<type>` / `service.<type>.<name>`: YAML settings; `$key` in a string is replaced by
  that key of `argo-rollouts-notification-secret`.
- `template.<name>`: YAML `{message, email{subject, body}, slack{attachments, blocks, ...},
  webhook{<service name>{method, path, body}}}`; every string is a Go template.
- `trigger.<name>`: YAML list of `{when, send[], oncePer}`.
- `defaultTriggers` (and `defaultTriggers.<service>`): YAML list of trigger names, for
  annotations that name no trigger.
- `subscriptions`: YAML list of `{recipients: ["<service>:<recipient>"], triggers, selector}`.

A key that does not parse is left out and reported in `errors` (naming the key); the other keys
still work, so one typo does not silence every notification.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from rolloutd.notify import catalog
from rolloutd.notify.gotemplate import Template, TemplateError, parse

CONFIG_MAP = "argo-rollouts-notification-configmap"
SECRET = "argo-rollouts-notification-secret"
SERVICE_TYPES = ("webhook", "slack", "email")
_SECRET_REF = re.compile(r"\$[\w.-]+")


@dataclass(frozen=True)
class Service:
    name: str  # as recipients, annotations and templates name it: "slack", or "ci" (webhook.ci)
    type: str
    settings: dict[str, Any]


@dataclass(frozen=True)
class Condition:
    send: list[str]
    when: str = ""
    once_per: str = ""


@dataclass
class NotificationTemplate:
    """One `template.<name>`: each Go template in it, parsed, by its path ("slack.attachments")."""

    name: str
    parts: dict[str, Template] = field(default_factory=dict)
    # Per-part parse errors: a broken template is reported when it is used.
    broken: dict[str, str] = field(default_factory=dict)
    webhook: dict[str, dict[str, Template | str]] = field(default_factory=dict)


@dataclass(frozen=True)
class GlobalSubscription:
    recipients: list[tuple[str, str]]  # (service, recipient)
    triggers: list[str]
    selector: dict[str, str]  # equality-based label selector


@dataclass
class NotifyConfig:
    services: dict[str, Service] = field(default_factory=dict)
    templates: dict[str, NotificationTemplate] = field(default_factory=dict)
    triggers: dict[str, list[Condition]] = field(default_factory=dict)
    default_triggers: list[str] = field(default_factory=list)
    default_triggers_by_service: dict[str, list[str]] = field(default_factory=dict)
    subscriptions: list[GlobalSubscription] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def secret_values(secret: dict[str, Any] | None) -> dict[str, str]:
    if not secret:
        return {}
    values = {k: str(v) for k, v in (secret.get("stringData") or {}).items()}
    for key, encoded in (secret.get("data") or {}).items():
        try:
            values[key] = base64.b64decode(str(encoded)).decode()
        except (ValueError, UnicodeDecodeError):
            continue
    return values


def _substitute(value: Any, secrets: dict[str, str]) -> Any:
    if isinstance(value, str):
        return _SECRET_REF.sub(lambda m: secrets.get(m.group()[1:], m.group()), value)
    if isinstance(value, dict):
        return {k: _substitute(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, secrets) for v in value]
    return value


def parse_config(
    config_map: dict[str, Any] | None, secret: dict[str, Any] | None = None
) -> NotifyConfig:
    data: dict[str, str] = dict((config_map or {}).get("data") or {})
    secrets = secret_values(secret)
    cfg = NotifyConfig()
    raw_templates: dict[str, Any] = dict(catalog.builtin_templates())
    raw_triggers: dict[str, Any] = dict(catalog.builtin_triggers())
    for key in sorted(data):
        text = data[key]
        try:
            value = yaml.safe_load(text) if text else None
        except yaml.YAMLError as exc:
            cfg.errors.append(f"{key}: not YAML: {_first_line(exc)}")
            continue
        kind, _, rest = key.partition(".")
        try:
            if kind == "service" and rest:
                service = _service(rest, value, secrets)
                cfg.services[service.name] = service
            elif kind == "template" and rest:
                raw_templates[rest] = value
            elif kind == "trigger" and rest:
                raw_triggers[rest] = value
            elif key == "defaultTriggers":
                cfg.default_triggers = _names(value, key)
            elif kind == "defaultTriggers" and rest:
                cfg.default_triggers_by_service[rest] = _names(value, key)
            elif key == "subscriptions":
                cfg.subscriptions = _subscriptions(value)
            # Other keys (context, other engines' settings) are not ours to judge.
        except ValueError as exc:
            cfg.errors.append(f"{key}: {exc}")
    for name, value in raw_templates.items():
        try:
            cfg.templates[name] = _template(name, value)
        except ValueError as exc:
            cfg.errors.append(f"template.{name}: {exc}")
    for name, value in raw_triggers.items():
        try:
            cfg.triggers[name] = _conditions(value)
        except ValueError as exc:
            cfg.errors.append(f"trigger.{name}: {exc}")
    return cfg


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _service(rest: str, value: Any, secrets: dict[str, str]) -> Service:
    stype, _, custom = rest.partition(".")
    if stype not in SERVICE_TYPES:
        raise ValueError(
            f"service type {stype!r} is not supported (supported: {', '.join(SERVICE_TYPES)})"
        )
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise ValueError("must be a YAML mapping")
    settings = _substitute(value, secrets)
    if stype == "webhook" and not isinstance(settings.get("url"), str):
        raise ValueError("url: required")
    if stype == "email" and not settings.get("host"):
        raise ValueError("host: required")
    return Service(name=custom or stype, type=stype, settings=settings)


def _names(value: Any, key: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError("must be a YAML list of trigger names")
    return list(value)


def _subscriptions(value: Any) -> list[GlobalSubscription]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError("must be a YAML list")
    subs: list[GlobalSubscription] = []
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise ValueError(f"[{i}]: must be a mapping")
        recipients: list[tuple[str, str]] = []
        for r in item.get("recipients") or []:
            service, sep, recipient = str(r).partition(":")
            if not sep:
                raise ValueError(f"[{i}].recipients: {r!r} is not <service>:<recipient>")
            recipients.append((service.strip(), recipient.strip()))
        selector: dict[str, str] = {}
        for term in str(item.get("selector") or "").split(","):
            if not term.strip():
                continue
            k, sep, v = term.partition("=")
            if not sep or "!" in k:
                raise ValueError(f"[{i}].selector: only key=value terms are supported: {term!r}")
            selector[k.strip()] = v.strip().lstrip("=").strip()
        subs.append(
            GlobalSubscription(recipients, [str(t) for t in item.get("triggers") or []], selector)
        )
    return subs


def _conditions(value: Any) -> list[Condition]:
    if not isinstance(value, list):
        raise ValueError("must be a YAML list of {when, send, oncePer}")
    out: list[Condition] = []
    for i, item in enumerate(value):
        if not isinstance(item, dict) or not isinstance(item.get("send"), list):
            raise ValueError(f"[{i}].send: required, a list of template names")
        out.append(
            Condition(
                send=[str(s) for s in item["send"]],
                when=str(item.get("when") or ""),
                once_per=str(item.get("oncePer") or ""),
            )
        )
    return out


def _template(name: str, value: Any) -> NotificationTemplate:
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise ValueError("must be a YAML mapping")
    tpl = NotificationTemplate(name)

    def add(path: str, src: Any) -> None:
        if src is None:
            return
        if not isinstance(src, str):
            raise ValueError(f"{path}: must be a string")
        try:
            tpl.parts[path] = parse(f"{name}.{path}", src)
        except TemplateError as exc:
            tpl.broken[path] = str(exc)

    add("message", value.get("message"))
    for block, keys in (
        ("email", ("subject", "body")),
        ("slack", ("attachments", "blocks", "username", "icon", "groupingKey")),
    ):
        section = value.get(block)
        if section is None:
            continue
        if not isinstance(section, dict):
            raise ValueError(f"{block}: must be a mapping")
        for key in keys:
            add(f"{block}.{key}", section.get(key))
    hooks = value.get("webhook") or {}
    if not isinstance(hooks, dict):
        raise ValueError(
            "webhook: must be a mapping of webhook service name to {method, path, body}"
        )
    for hook, spec in hooks.items():
        if not isinstance(spec, dict):
            raise ValueError(f"webhook.{hook}: must be a mapping")
        entry: dict[str, Template | str] = {"method": str(spec.get("method") or "GET").upper()}
        for key in ("path", "body"):
            add(f"webhook.{hook}.{key}", spec.get(key))
            if f"webhook.{hook}.{key}" in tpl.parts:
                entry[key] = tpl.parts[f"webhook.{hook}.{key}"]
        tpl.webhook[str(hook)] = entry
    return tpl
