"""The built-in triggers and templates, with the texts of Argo's `manifests/notifications/`.

Argo ships them as ConfigMap keys to install; rolloutd has them built in, so a Rollout that
subscribes with an annotation is notified as soon as a service is configured. A ConfigMap key
of the same name (`trigger.on-rollout-completed`, `template.rollout-completed`) replaces the
built-in one.
"""

from __future__ import annotations

from typing import Any

_NAME = "{{.rollout.metadata.name}}"
_STRATEGY = (
    "{{if .rollout.spec.strategy.blueGreen}}BlueGreen{{end}}"
    "{{if .rollout.spec.strategy.canary}}Canary{{end}}"
)
_STEP = "{{add .rollout.status.currentStepIndex 1}}/{{len .rollout.spec.strategy.canary.steps}}"
_CONTAINERS = """
    {{range $index, $c := .rollout.spec.template.spec.containers}}
      {{if not $index}},{{end}}
      {{if $index}},{{end}}
      {
        "title": "{{$c.name}}",
        "value": "{{$c.image}}",
        "short": true
      }
    {{end}}"""


def _attachments(color: str, fields: list[tuple[str, str]]) -> str:
    parts = [
        f'''
    {{
      "title": "{title}",
      "value": "{value}",
      "short": true
    }}'''
        for title, value in [("Strategy", _STRATEGY), *fields]
    ]
    return (
        f'[{{\n  "title": "{{{{ .rollout.metadata.name}}}}",\n  "color": "{color}",\n'
        f'  "fields": [{",".join(parts)}{_CONTAINERS}\n  ]\n}}]\n'
    )


GREEN, RED, YELLOW = "#18be52", "#E01E5A", "#ECB22E"

# template name -> (message, slack colour, extra Slack fields); trigger on-<name> sends it.
_BUILTIN: dict[str, tuple[str, str, list[tuple[str, str]]]] = {
    "rollout-completed": (f"Rollout {_NAME} has been completed.", GREEN, []),
    "rollout-step-completed": (
        f"Rollout {_NAME} step number {_STEP} has been completed.",
        GREEN,
        [("Step completed", _STEP)],
    ),
    "rollout-updated": (f"Rollout {_NAME} has been updated.", GREEN, []),
    "rollout-aborted": (f"Rollout {_NAME} has been aborted.", RED, []),
    "rollout-paused": (f"Rollout {_NAME} has been paused.", GREEN, []),
    "analysis-run-running": (f"Rollout {_NAME}'s analysis run is running.", GREEN, []),
    "analysis-run-error": (f"Rollout {_NAME}'s analysis run is in error state.", YELLOW, []),
    "analysis-run-failed": (f"Rollout {_NAME}'s analysis run failed.", RED, []),
    "scaling-replicaset": (
        f"Scaling Rollout {_NAME}'s replicaset to {{{{.rollout.spec.replicas}}}}.",
        GREEN,
        [
            ("Desired replica", "{{.rollout.spec.replicas}}"),
            ("Updated replicas", "{{.rollout.status.updatedReplicas}}"),
        ],
    ),
}
_TRIGGER_OF = {"scaling-replicaset": "on-scaling-replica-set"}


def builtin_templates() -> dict[str, dict[str, Any]]:
    return {
        name: {
            "message": message,
            "email": {"subject": message},
            "slack": {"attachments": _attachments(color, fields)},
        }
        for name, (message, color, fields) in _BUILTIN.items()
    }


def builtin_triggers() -> dict[str, list[dict[str, Any]]]:
    return {_TRIGGER_OF.get(name, f"on-{name}"): [{"send": [name]}] for name in _BUILTIN}
