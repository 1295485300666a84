"""The chart's argo-helm layout, rendered with the real helm: CRDs as templates (installCRDs,
keepCRDs, crdAnnotations), the namespaced install (clusterInstall: false: a Role and no
ClusterRole at all), the aggregate roles for admin/edit/view, the `controller.*` overrides,
extraObjects, and the refusal of values keys that moved."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest
import yaml

from tests.chart.test_chart import (
    CHART,
    CORE_CLUSTER_PERMISSIONS,
    NAMESPACE,
    RELEASE,
    REPO,
    ROUTER_PERMISSIONS,
    kinds,
    kubeconform,
    only,
    render,
    rule_triples,
    set_flags,
    template,
    triples,
)
from tests.conftest import Tools

pytestmark = pytest.mark.timeout(1800)

Manifest = dict[str, Any]
NAMESPACED = ("clusterInstall=false",)
KEEP = "helm.sh/resource-policy"
# What the controller holds in its own namespace whatever the install: its Lease and ConfigMap.
OWN_NAMESPACE = triples("coordination.k8s.io", "leases", "get create update") | triples(
    "", "configmaps", "get list watch"
)
# A Role cannot grant a cluster-scoped kind, and the namespaced daemon does not read it.
NAMESPACED_CONTROLLER = CORE_CLUSTER_PERMISSIONS - triples(
    "argoproj.io", "clusteranalysistemplates", "get list watch"
)


def helm_fails(tools: Tools, *values: str) -> str:
    """`helm template` that must fail; returns its error output."""
    done = subprocess.run(
        [str(tools.helm), "template", RELEASE, str(CHART), "-n", NAMESPACE, *set_flags(values)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode != 0, f"rendered although it should not:\n{done.stdout[:2000]}"
    return done.stderr


def crds(manifests: list[Manifest]) -> dict[str, Manifest]:
    return {m["metadata"]["name"]: m for m in manifests if m["kind"] == "CustomResourceDefinition"}


def container(manifests: list[Manifest]) -> Manifest:
    deployment = only(manifests, "Deployment")
    [found] = deployment["spec"]["template"]["spec"]["containers"]
    result: Manifest = found
    return result


# --- CRDs -------------------------------------------------------------------------------------


def test_crds_are_templates_carrying_the_generated_schemas(tools: Tools) -> None:
    # Rendered without --include-crds: they are ordinary release objects, so `helm upgrade`
    # applies them. Their spec is exactly config/crd's.
    rendered = crds(render(tools))
    source = {
        doc["metadata"]["name"]: doc
        for path in (REPO / "config" / "crd").glob("*.yaml")
        for doc in yaml.safe_load_all(path.read_text())
        if doc
    }
    assert sorted(rendered) == sorted(source)
    for name, crd in rendered.items():
        assert crd["spec"] == source[name]["spec"], name
        labels = crd["metadata"]["labels"]
        assert labels["app.kubernetes.io/managed-by"] == "Helm"
        assert labels["app.kubernetes.io/part-of"] == "rolloutd"
        # Kept by default: uninstalling the chart must not delete every Rollout.
        assert crd["metadata"]["annotations"] == {KEEP: "keep"}


def test_keep_crds_off_drops_only_the_keep_policy(tools: Tools) -> None:
    rendered = crds(render(tools, "keepCRDs=false", "crdAnnotations.example\\.com/owner=team"))
    assert len(rendered) == len(list((REPO / "config" / "crd").glob("*.yaml")))
    for crd in rendered.values():
        assert crd["metadata"]["annotations"] == {"example.com/owner": "team"}


def test_install_crds_off_renders_no_crd(tools: Tools) -> None:
    manifests = render(tools, "installCRDs=false")
    assert "CustomResourceDefinition" not in kinds(manifests)
    assert "Deployment" in kinds(manifests)


# --- the namespaced install -------------------------------------------------------------------


@pytest.mark.parametrize("values", [NAMESPACED, (*NAMESPACED, "routers.istio.enabled=true")])
def test_namespaced_install_has_a_role_and_no_cluster_rbac(
    tools: Tools, values: tuple[str, ...]
) -> None:
    manifests = render(tools, *values)
    assert not {"ClusterRole", "ClusterRoleBinding"} & set(kinds(manifests))
    role = only(manifests, "Role")
    assert role["metadata"]["namespace"] == NAMESPACE
    expected = OWN_NAMESPACE | NAMESPACED_CONTROLLER
    if "routers.istio.enabled=true" in values:
        expected |= ROUTER_PERMISSIONS["istio"]
    assert rule_triples(role["rules"]) == expected
    binding = only(manifests, "RoleBinding")
    assert binding["roleRef"]["kind"] == "Role"
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    # The daemon is told to stay in the namespace its Role covers.
    args = container(manifests)["args"]
    assert args[args.index("--namespace") + 1] == NAMESPACE


def test_cluster_install_does_not_scope_the_daemon(tools: Tools) -> None:
    assert "--namespace" not in container(render(tools))["args"]


def test_namespaced_install_is_lint_clean_and_schema_valid(tools: Tools) -> None:
    done = subprocess.run(
        [str(tools.helm), "lint", "--strict", str(CHART), *set_flags(NAMESPACED)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    report = kubeconform(tools, template(tools, *NAMESPACED))
    assert report["returncode"] == 0, json.dumps(report["resources"], indent=2)


def test_web_dashboard_needs_a_cluster_install(tools: Tools) -> None:
    error = helm_fails(tools, *NAMESPACED, "ui.enabled=true")
    assert "ui.enabled needs clusterInstall=true" in error


# --- aggregate roles --------------------------------------------------------------------------


def aggregate_roles(manifests: list[Manifest]) -> dict[str, Manifest]:
    found: dict[str, Manifest] = {}
    for m in manifests:
        for label, value in m["metadata"].get("labels", {}).items():
            if label.startswith("rbac.authorization.k8s.io/aggregate-to-") and value == "true":
                found[label.rsplit("-", 1)[1]] = m
    return found


def test_aggregate_roles_extend_view_edit_and_admin_with_argo_objects_only(tools: Tools) -> None:
    roles = aggregate_roles(render(tools))
    assert sorted(roles) == ["admin", "edit", "view"]
    for role in roles.values():
        assert role["kind"] == "ClusterRole"
        assert {group for group, _, _ in rule_triples(role["rules"])} == {"argoproj.io"}
    view = rule_triples(roles["view"]["rules"])
    assert {verb for _, _, verb in view} == {"get", "list", "watch"}
    assert ("argoproj.io", "rollouts", "list") in view
    assert ("argoproj.io", "analysisruns", "watch") in view
    edit = rule_triples(roles["edit"]["rules"])
    assert edit == rule_triples(roles["admin"]["rules"])
    # What `kubectl argo rollouts` needs: edit Rollouts and templates, promote and abort
    # through the status subresource, delete AnalysisRuns (their writer is the controller).
    assert (
        triples("argoproj.io", "rollouts analysistemplates", "create update patch delete") <= edit
    )
    assert triples("argoproj.io", "rollouts/status", "patch") <= edit
    assert ("argoproj.io", "analysisruns", "delete") in edit
    assert ("argoproj.io", "analysisruns", "create") not in edit


@pytest.mark.parametrize(
    "values", [("createClusterAggregateRoles=false",), NAMESPACED], ids=["off", "namespaced"]
)
def test_no_aggregate_roles_when_off_or_namespaced(tools: Tools, values: tuple[str, ...]) -> None:
    assert aggregate_roles(render(tools, *values)) == {}


# --- controller.* overrides -------------------------------------------------------------------


def test_controller_overrides_reach_the_pod(tools: Tools) -> None:
    manifests = render(
        tools,
        "controller.image.registry=registry.test",
        "controller.image.repository=team/rolloutd",
        "controller.image.tag=v9",
        "controller.replicas=3",
        "controller.livenessProbe.httpGet.path=/livez",
        "controller.livenessProbe.initialDelaySeconds=42",
        "controller.readinessProbe=null",
        "controller.resources.limits.memory=2Gi",
        "controller.nodeSelector.pool=system",
        "controller.tolerations[0].key=dedicated",
        "controller.tolerations[0].operator=Exists",
        "controller.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution"
        ".nodeSelectorTerms[0].matchExpressions[0].key=pool",
        "controller.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution"
        ".nodeSelectorTerms[0].matchExpressions[0].operator=Exists",
        "controller.extraArgs[0]=--workers=3",
        "controller.extraEnv[0].name=TZ",
        "controller.extraEnv[0].value=UTC",
        "controller.podAnnotations.team=payments",
        "controller.logging.keys=argo",
    )
    deployment = only(manifests, "Deployment")
    assert deployment["spec"]["replicas"] == 3
    pod = deployment["spec"]["template"]
    assert pod["metadata"]["annotations"]["team"] == "payments"
    spec = pod["spec"]
    assert spec["nodeSelector"] == {"pool": "system"}
    assert spec["tolerations"] == [{"key": "dedicated", "operator": "Exists"}]
    # A given affinity replaces the default spread instead of being merged with it.
    assert set(spec["affinity"]) == {"nodeAffinity"}
    [main] = spec["containers"]
    assert main["image"] == "registry.test/team/rolloutd:v9"
    assert main["livenessProbe"]["httpGet"] == {"path": "/livez", "port": "healthz"}
    assert main["livenessProbe"]["initialDelaySeconds"] == 42
    assert "readinessProbe" not in main
    assert main["resources"]["limits"]["memory"] == "2Gi"
    assert main["args"][-1] == "--workers=3"
    assert main["args"][main["args"].index("--log-keys") + 1] == "argo"
    assert {"name": "TZ", "value": "UTC"} in main["env"]


def test_metrics_service_port_and_container_ports_are_separate(tools: Tools) -> None:
    manifests = render(
        tools, "controller.metrics.service.port=9100", "controller.containerPorts.metrics=9200"
    )
    [port] = only(manifests, "Service")["spec"]["ports"]
    assert (port["port"], port["targetPort"]) == (9100, "metrics")
    main = container(manifests)
    assert {"name": "metrics", "containerPort": 9200, "protocol": "TCP"} in main["ports"]
    assert main["args"][main["args"].index("--metrics-port") + 1] == "9200"


def test_controller_replicas_is_where_argo_helm_has_it(tools: Tools) -> None:
    # Other values (sharding) build on this key; it must stay controller.replicas.
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert values["controller"]["replicas"] == 2
    assert values["installCRDs"] is values["keepCRDs"] is values["clusterInstall"] is True


# --- extraObjects -----------------------------------------------------------------------------


def test_extra_objects_are_rendered_and_strings_are_templated(tools: Tools, tmp_path: Any) -> None:
    values = tmp_path / "extra.yaml"
    values.write_text(
        yaml.safe_dump(
            {
                "extraObjects": [
                    {
                        "apiVersion": "v1",
                        "kind": "Secret",
                        "metadata": {"name": "argo-rollouts-notification-secret"},
                        "stringData": {"slack-token": "t"},
                    },
                    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n"
                    "  name: '{{ .Release.Name }}-extra'\n"
                    "data:\n  ns: '{{ .Release.Namespace }}'\n",
                ]
            }
        )
    )
    done = subprocess.run(
        [str(tools.helm), "template", RELEASE, str(CHART), "-n", NAMESPACE, "-f", str(values)],
        capture_output=True,
        text=True,
        check=True,
    )
    manifests = [doc for doc in yaml.safe_load_all(done.stdout) if doc]
    [secret] = [m for m in manifests if m["kind"] == "Secret"]
    assert secret["stringData"] == {"slack-token": "t"}
    [extra] = [m for m in manifests if m["metadata"]["name"] == f"{RELEASE}-extra"]
    assert extra["data"] == {"ns": NAMESPACE}


# --- values of chart 0.1 ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("replicas=3", "controller.replicas"),
        ("image.tag=v1", "controller.image"),
        ("serviceMonitor.enabled=true", "controller.metrics.serviceMonitor"),
        ("ports.health=9000", "controller.containerPorts"),
        ("resources.limits.cpu=2", "controller.resources"),
    ],
)
def test_moved_values_keys_are_refused_by_name(tools: Tools, old: str, new: str) -> None:
    # Silently ignoring them would leave an upgraded release on defaults.
    error = helm_fails(tools, old)
    assert f'values key "{old.split(".")[0].split("=")[0]}" moved to {new}' in error


def test_readme_documents_every_moved_key() -> None:
    readme = (CHART / "README.md").read_text()
    helpers = (CHART / "templates" / "_helpers.tpl").read_text()
    block = helpers[helpers.index('define "rolloutd.movedKeys"') :]
    block = block[: block.index("{{- range")]
    moved = [line.split('"')[1] for line in block.splitlines() if line.strip().startswith('"')]
    assert len(moved) >= 18
    for key in moved:
        assert f"`{key}`" in readme, f"README does not document the moved key {key}"
