"""The Rollout CRD accepts Argo's whole documented canary spec and keeps every field."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from rolloutd.kube.client import ApiError, KubeClient
from rolloutd.kube.resources import ROLLOUTS
from tests.e2e.harness import sample

FULL_CANARY: dict[str, Any] = yaml.safe_load("""
canaryService: rollouts-demo-canary
stableService: rollouts-demo-stable
maxSurge: "25%"
maxUnavailable: 1
scaleDownDelaySeconds: 30
scaleDownDelayRevisionLimit: 2
abortScaleDownDelaySeconds: 10
minPodsPerReplicaSet: 2
replicaProgressThreshold: {type: Percent, value: 90}
canaryMetadata: {labels: {role: canary}, annotations: {a: b}}
stableMetadata: {labels: {role: stable}}
antiAffinity: {preferredDuringSchedulingIgnoredDuringExecution: {weight: 1}}
analysis:
  templates: [{templateName: success-rate}]
  startingStep: 2
  args: [{name: service-name, value: rollouts-demo-canary}]
trafficRouting:
  managedRoutes: [{name: header-route}, {name: mirror-route}]
  istio:
    virtualServices:
    - name: rollouts-demo-vsvc
      routes: [primary]
      tlsRoutes: [{port: 3000, sniHosts: [rollouts-demo-vsvc.local]}]
    destinationRule: {name: dr, canarySubsetName: canary, stableSubsetName: stable}
  plugins:
    argoproj-labs/openshift: {routes: [demo]}
steps:
- setWeight: 20
- setCanaryScale: {replicas: 3}
- setCanaryScale: {weight: 25}
- setCanaryScale: {matchTrafficWeight: true}
- setHeaderRoute:
    name: header-route
    match: [{headerName: x-canary, headerValue: {exact: "yes"}}]
- setMirrorRoute:
    name: mirror-route
    percentage: 35
    match: [{method: {exact: GET}, path: {prefix: /api}}]
- pause: {duration: 1h}
- pause: {duration: 30}
- analysis:
    templates: [{templateName: success-rate}]
    args: [{name: svc, valueFrom: {podTemplateHashValue: Latest}}]
- experiment:
    duration: 5m
    templates: [{name: baseline, specRef: stable, replicas: 1}]
- plugin: {name: acme/step, config: {any: thing}}
- pause: {}
""")


async def test_full_canary_spec_is_accepted_and_kept(kube: KubeClient, namespace: str) -> None:
    rollout = copy.deepcopy(sample("rollout")[0])
    rollout["spec"]["strategy"]["canary"] = copy.deepcopy(FULL_CANARY)
    rollout["spec"].update(
        progressDeadlineSeconds=900,
        progressDeadlineAbort=True,
        minReadySeconds=5,
        paused=True,
        rollbackWindow={"revisions": 3},
        analysis={"successfulRunHistoryLimit": 3, "unsuccessfulRunHistoryLimit": 4},
    )
    created = await kube.create(ROLLOUTS, rollout, namespace=namespace)
    assert created["spec"]["strategy"]["canary"] == FULL_CANARY
    assert created["spec"]["rollbackWindow"] == {"revisions": 3}
    # The pod template keeps what it says (no pruning of fields the schema leaves open).
    assert created["spec"]["template"] == rollout["spec"]["template"]


async def test_wrong_types_are_refused_by_the_schema(kube: KubeClient, namespace: str) -> None:
    rollout = copy.deepcopy(sample("rollout")[0])
    rollout["spec"]["strategy"]["canary"]["steps"][0] = {"setWeight": "twenty"}
    with pytest.raises(ApiError) as caught:
        await kube.create(ROLLOUTS, rollout, namespace=namespace)
    assert caught.value.status == 422
    assert "setWeight" in caught.value.message
