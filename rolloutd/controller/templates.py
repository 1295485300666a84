"""Kubernetes' pod defaults on a Rollout's template, from the API server itself, cached.

To find a ReplicaSet made under another hash function by its template (plan/rsmatch.py), the
planner needs the desired template as the API server stores a ReplicaSet's: with the pod
defaults applied (`imagePullPolicy`, `terminationMessagePath`, `dnsPolicy`, ...). Rather than
a hand-written table of defaults that drifts with Kubernetes versions, the API server applies
them: a server-side dry-run create of a PodTemplate returns the defaulted template and stores
nothing. The answer is cached per template, so a reconcile pays once per template, and it is
only asked for when no ReplicaSet carries the template's hash (a migration, a change of
hashing), never in the steady state.
"""

from __future__ import annotations

import json
from typing import Any

import structlog

from rolloutd.kube.client import ApiError, KubeClient
from rolloutd.kube.resources import POD_TEMPLATES

log = structlog.get_logger(__name__)

_CACHE_MAX = 1024


class PodDefaults:
    """`defaulted(namespace, template)`: the template with the API server's pod defaults."""

    def __init__(self, kube: KubeClient) -> None:
        self.kube = kube
        self._cache: dict[tuple[str, str], dict[str, Any] | None] = {}

    async def defaulted(self, namespace: str, template: dict[str, Any]) -> dict[str, Any] | None:
        """None when the server refuses (no RBAC for podtemplates, an invalid template): the
        ReplicaSet is then found by its hash only, which is what rolloutd did before."""
        key = (namespace, json.dumps(template, sort_keys=True))
        if key in self._cache:
            return self._cache[key]
        body = {
            "apiVersion": "v1",
            "kind": "PodTemplate",
            "metadata": {"generateName": "rolloutd-defaults-"},
            "template": template,
        }
        result: dict[str, Any] | None
        try:
            created = await self.kube.create(POD_TEMPLATES, body, namespace=namespace, dry_run=True)
            result = created.get("template") or {}
        except ApiError as exc:
            log.warning("pod defaults not read", namespace=namespace, error=str(exc))
            if exc.status >= 500 or exc.status == 429:
                return None  # transient: ask again next time
            result = None
        if len(self._cache) >= _CACHE_MAX:
            self._cache.clear()
        self._cache[key] = result
        return result
