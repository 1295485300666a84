"""The CLI as a process against the real sandbox API server; no controller needed.

Each test creates the seed's Rollout directly in its own namespace, writes the status a
controller would have written (through the status subresource), runs `kubectl-argo-rollouts`
and reads the object back to see that exactly the expected patch landed. The Rollout carries a
controller instance id so that a rolloutd daemon running on the shared sandbox leaves it alone.
The watching commands (`get --watch`, `status`) run as processes whose output is read as it
comes while the test writes the status; Ctrl-C is a SIGINT to the process. Refusals come from
the API server itself: RBAC for a ServiceAccount that may only get, and an admission policy.
"""

from __future__ import annotations

import asyncio
import copy
import os
import re
import shutil
import signal
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from rolloutd.cli.render import CLEAR_SCREEN
from rolloutd.cli.timefmt import parse_time
from rolloutd.kube.client import ApiError, KubeClient
from rolloutd.kube.resources import (
    CRDS,
    PODS,
    REPLICA_SETS,
    ROLLOUTS,
    SERVICE_ACCOUNTS,
    Resource,
)
from rolloutd_dev.sandbox.cluster import Status
from tests.e2e import test_chart_rbac as chart_rbac
from tests.e2e.harness import eventually

pytestmark = pytest.mark.sandbox

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
CLI = shutil.which("kubectl-argo-rollouts", path=str(Path(sys.executable).parent))
INSTANCE_LABEL = "argo-rollouts.argoproj.io/controller-instance-id"


@pytest.fixture
async def rollouts_crd(kube: KubeClient) -> None:
    try:
        await kube.get(CRDS, "rollouts.argoproj.io")
    except ApiError as exc:
        if exc.not_found:
            pytest.skip("the rollouts.argoproj.io CRD is not installed in the sandbox")
        raise
    if CLI is None:
        pytest.skip("the kubectl-argo-rollouts console script is not installed in this venv")


async def cli(*args: str, kubeconfig: str | None = None) -> tuple[int, str, str]:
    """Run kubectl-argo-rollouts; returns (exit status, stdout, stderr)."""
    assert CLI is not None
    env = dict(os.environ)
    if kubeconfig is not None:
        env["KUBECONFIG"] = kubeconfig
    env.pop("NO_COLOR", None)
    process = await asyncio.create_subprocess_exec(
        CLI,
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def seed_objects(name: str) -> list[dict[str, Any]]:
    data = yaml.safe_load((GOLDEN / f"{name}.yaml").read_text())
    objects: list[dict[str, Any]] = data["objects"]
    return objects


async def create_rollout(kube: KubeClient, namespace: str, fixture: str) -> dict[str, Any]:
    """The fixture's Rollout, created fresh, with the fixture's status written back."""
    recorded = next(o for o in seed_objects(fixture) if o["kind"] == "Rollout")
    body = copy.deepcopy(recorded)
    status = body.pop("status")
    body["metadata"] = {
        "name": recorded["metadata"]["name"],
        "labels": {INSTANCE_LABEL: "rolloutd-cli-tests"},
    }
    created = await kube.create(ROLLOUTS, body, namespace=namespace)
    status["observedGeneration"] = str(created["metadata"]["generation"])
    return await kube.patch(
        ROLLOUTS,
        body["metadata"]["name"],
        {"status": status},
        namespace=namespace,
        subresource="status",
    )


async def create_replica_sets(
    kube: KubeClient,
    namespace: str,
    rollout: dict[str, Any],
    fixture: str,
    *,
    scaled: bool = False,
) -> None:
    """The fixture's ReplicaSets, owned by `rollout`; with no pods unless `scaled`."""
    for obj in seed_objects(fixture):
        if obj["kind"] != "ReplicaSet":
            continue
        rs = {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": obj["metadata"]["name"],
                "labels": obj["metadata"]["labels"],
                "annotations": obj["metadata"]["annotations"],
                "ownerReferences": [
                    {
                        "apiVersion": "argoproj.io/v1alpha1",
                        "kind": "Rollout",
                        "name": "rollouts-demo",
                        "uid": rollout["metadata"]["uid"],
                        "controller": True,
                    }
                ],
            },
            # Without `scaled`, no pods: the test is about the template, not about scheduling.
            "spec": {**obj["spec"], "replicas": obj["spec"]["replicas"] if scaled else 0},
        }
        await kube.create(REPLICA_SETS, rs, namespace=namespace)


async def read(kube: KubeClient, namespace: str) -> dict[str, Any]:
    return await kube.get(ROLLOUTS, "rollouts-demo", namespace=namespace)


async def test_not_found(kube: KubeClient, namespace: str, rollouts_crd: None) -> None:
    for args in (
        ["get", "rollout", "nope"],
        ["promote", "nope"],
        ["abort", "nope"],
        ["status", "nope", "--watch=false"],
        ["status", "nope"],
        ["undo", "nope"],
        ["get", "rollout", "nope", "-w"],
    ):
        code, out, err = await cli(*args, "-n", namespace)
        assert (code, out, err) == (1, "", 'Error: rollouts.argoproj.io "nope" not found\n')


async def test_promote_clears_the_pause_on_the_status_subresource(
    kube: KubeClient, namespace: str, rollouts_crd: None
) -> None:
    before = await create_rollout(kube, namespace, "seed-paused-step1")
    assert before["status"]["pauseConditions"]
    code, out, err = await cli("promote", "rollouts-demo", "-n", namespace)
    assert (code, out, err) == (0, "rollout 'rollouts-demo' promoted\n", "")
    after = await read(kube, namespace)
    assert "pauseConditions" not in after["status"]
    # Only the pause conditions changed: the step index is the controller's to move.
    assert after["status"]["currentStepIndex"] == 1
    assert after["status"]["controllerPause"] is True
    assert after["spec"] == before["spec"]


async def test_abort_retry_pause_resume_land(
    kube: KubeClient, namespace: str, rollouts_crd: None
) -> None:
    await create_rollout(kube, namespace, "seed-paused-step1")
    assert await cli("abort", "rollouts-demo", "-n", namespace) == (
        0,
        "rollout 'rollouts-demo' aborted\n",
        "",
    )
    assert (await read(kube, namespace))["status"]["abort"] is True
    assert await cli("retry", "rollout", "rollouts-demo", "-n", namespace) == (
        0,
        "rollout 'rollouts-demo' retried\n",
        "",
    )
    assert (await read(kube, namespace))["status"]["abort"] is False
    assert await cli("pause", "rollouts-demo", "-n", namespace) == (
        0,
        "rollout 'rollouts-demo' paused\n",
        "",
    )
    paused = await read(kube, namespace)
    assert paused["spec"]["paused"] is True
    # A spec patch bumps the generation; the status subresource keeps what it had.
    assert paused["status"]["pauseConditions"]
    assert await cli("resume", "rollouts-demo", "-n", namespace) == (
        0,
        "rollout 'rollouts-demo' resumed\n",
        "",
    )
    assert (await read(kube, namespace))["spec"]["paused"] is False


async def test_promote_full_set_image_and_restart(
    kube: KubeClient, namespace: str, rollouts_crd: None
) -> None:
    await create_rollout(kube, namespace, "seed-paused-step1")
    code, out, _ = await cli("promote", "rollouts-demo", "--full", "-n", namespace)
    assert (code, out) == (0, "rollout 'rollouts-demo' fully promoted\n")
    assert (await read(kube, namespace))["status"]["promoteFull"] is True

    code, out, _ = await cli(
        "set",
        "image",
        "rollouts-demo",
        "rollouts-demo=argoproj/rollouts-demo:green",
        "-n",
        namespace,
    )
    assert (code, out) == (0, 'rollout "rollouts-demo" image updated\n')
    template = (await read(kube, namespace))["spec"]["template"]
    assert template["spec"]["containers"][0]["image"] == "argoproj/rollouts-demo:green"

    code, out, _ = await cli("restart", "rollouts-demo", "--in", "1h", "-n", namespace)
    assert (code, out) == (0, "rollout 'rollouts-demo' restarts in 1h\n")
    assert (await read(kube, namespace))["spec"]["restartAt"].endswith("Z")


async def test_undo_restores_the_previous_template(
    kube: KubeClient, namespace: str, rollouts_crd: None
) -> None:
    rollout = await create_rollout(kube, namespace, "seed-paused-step1")
    await create_replica_sets(kube, namespace, rollout, "seed-paused-step1")
    code, out, err = await cli("undo", "rollouts-demo", "-n", namespace)
    assert (code, out, err) == (0, "rollout 'rollouts-demo' undo\n", "")
    template = (await read(kube, namespace))["spec"]["template"]
    assert template["spec"]["containers"][0]["image"] == "argoproj/rollouts-demo:blue"
    assert "rollouts-pod-template-hash" not in template["metadata"]["labels"]


async def test_get_status_and_list_read_the_live_object(
    kube: KubeClient, namespace: str, rollouts_crd: None
) -> None:
    await create_rollout(kube, namespace, "seed-paused-step1")
    code, out, _ = await cli("get", "rollout", "rollouts-demo", "-n", namespace)
    assert code == 0
    lines = out.splitlines()
    assert lines[:5] == [
        "Name:            rollouts-demo",
        f"Namespace:       {namespace}",
        "Status:          ॥ Paused",
        "Message:         CanaryPauseStep",
        "Strategy:        Canary",
    ]
    assert "\x1b[" not in out  # not a terminal: no colour
    assert await cli("status", "rollouts-demo", "--watch=false", "-n", namespace) == (
        0,
        "Paused - CanaryPauseStep\n",
        "",
    )
    code, out, _ = await cli("list", "rollouts", "-n", namespace)
    assert out.splitlines()[1].split() == [
        "rollouts-demo",
        "Canary",
        "Paused",
        "1/8",
        "20",
        "6/6",
        "5",
        "1",
        "6",
    ]


async def test_context_namespace_is_the_default(
    kube: KubeClient, namespace: str, rollouts_crd: None, tmp_path: Path
) -> None:
    await create_rollout(kube, namespace, "seed-healthy")
    source = Path(kube.connection.source)
    config = yaml.safe_load(source.read_text())
    context = copy.deepcopy(config["contexts"][0])
    context["name"] = "cli-test"
    context["context"]["namespace"] = namespace
    config["contexts"].append(context)
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(config))
    kubeconfig.chmod(0o600)
    code, out, _ = await cli(
        "status",
        "rollouts-demo",
        "--watch=false",
        "--context",
        "cli-test",
        kubeconfig=str(kubeconfig),
    )
    assert (code, out) == (0, "Healthy\n")
    code, _, err = await cli(
        "status", "rollouts-demo", "--context", "nope", kubeconfig=str(kubeconfig)
    )
    assert code == 1
    assert err == f'Error: context "nope" does not exist in kubeconfig {kubeconfig}\n'


# -- moved from the unit tests' in-memory API: the same behaviour, on the real server ---------


async def write_status(kube: KubeClient, namespace: str, status: dict[str, Any]) -> None:
    """What a controller would write: a merge patch on the status subresource."""
    await kube.patch(
        ROLLOUTS, "rollouts-demo", {"status": status}, namespace=namespace, subresource="status"
    )


class Running:
    """The CLI as a long-running process (a watch): its output read as it comes."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.out = b""

    @classmethod
    async def start(cls, *args: str) -> Running:
        assert CLI is not None
        env = dict(os.environ)
        env.pop("NO_COLOR", None)
        process = await asyncio.create_subprocess_exec(
            CLI,
            *args,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        return cls(process)

    async def wait_for(self, text: str, timeout: float = 60) -> None:
        """Read stdout until it contains `text`."""
        assert self.process.stdout is not None
        wanted = text.encode()

        async def read() -> None:
            assert self.process.stdout is not None
            while wanted not in self.out:
                chunk = await self.process.stdout.read(65536)
                if not chunk:
                    raise AssertionError(f"the CLI ended before printing {text!r}: {self.out!r}")
                self.out += chunk

        await asyncio.wait_for(read(), timeout=timeout)

    async def finish(self, timeout: float = 60) -> tuple[int, str, str]:
        """Wait for the process to end; (exit status, all of stdout, stderr)."""
        rest, err = await asyncio.wait_for(self.process.communicate(), timeout=timeout)
        assert self.process.returncode is not None
        return self.process.returncode, (self.out + rest).decode(), err.decode()

    def kill(self) -> None:
        if self.process.returncode is None:
            self.process.kill()


async def test_promote_full_of_a_manually_paused_rollout_also_unpauses(
    kube: KubeClient, namespace: str, rollouts_crd: None
) -> None:
    await create_rollout(kube, namespace, "seed-paused-step1")
    await kube.patch(ROLLOUTS, "rollouts-demo", {"spec": {"paused": True}}, namespace=namespace)
    code, out, err = await cli("promote", "rollouts-demo", "--full", "-n", namespace)
    assert (code, out, err) == (0, "rollout 'rollouts-demo' fully promoted\n", "")
    after = await read(kube, namespace)
    assert after["status"]["promoteFull"] is True
    assert after["spec"]["paused"] is False


async def test_abort_several_stops_at_the_first_missing(
    kube: KubeClient, namespace: str, rollouts_crd: None
) -> None:
    await create_rollout(kube, namespace, "seed-healthy")
    code, out, err = await cli("abort", "rollouts-demo", "ghost", "rollouts-demo", "-n", namespace)
    assert code == 1
    assert out == "rollout 'rollouts-demo' aborted\n"
    assert err == 'Error: rollouts.argoproj.io "ghost" not found\n'
    assert (await read(kube, namespace))["status"]["abort"] is True


async def test_set_image_errors_leave_the_rollout_alone(
    kube: KubeClient, namespace: str, rollouts_crd: None
) -> None:
    before = await create_rollout(kube, namespace, "seed-healthy")
    code, out, err = await cli("set", "image", "rollouts-demo", "img:2", "-n", namespace)
    assert (code, out) == (1, "")
    assert err == (
        'Error: invalid image spec "img:2": expected CONTAINER=IMAGE (or *=IMAGE '
        "for all containers)\n"
    )
    code, out, err = await cli("set", "image", "rollouts-demo", "nope=img:2", "-n", namespace)
    assert (code, out, err) == (1, "", 'Error: unable to find container named "nope"\n')
    after = await read(kube, namespace)
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]


async def test_undo_to_the_current_revision_is_skipped(
    kube: KubeClient, namespace: str, rollouts_crd: None
) -> None:
    rollout = await create_rollout(kube, namespace, "seed-paused-step1")
    await create_replica_sets(kube, namespace, rollout, "seed-paused-step1")
    code, out, err = await cli("undo", "rollouts-demo", "--to-revision", "2", "-n", namespace)
    assert (code, out, err) == (
        0,
        "skipped rollback (current template already matches revision 2)\n",
        "",
    )
    after = await read(kube, namespace)
    assert after["metadata"]["resourceVersion"] == rollout["metadata"]["resourceVersion"]


async def test_restart_at_now_plus_the_delay(
    kube: KubeClient, namespace: str, rollouts_crd: None
) -> None:
    await create_rollout(kube, namespace, "seed-healthy")
    for args, delay, shown in ((["--in", "30s"], 30, "30s"), ([], 0, "0s")):
        before = datetime.now(UTC).replace(microsecond=0)
        code, out, err = await cli("restart", "rollouts-demo", *args, "-n", namespace)
        after = datetime.now(UTC)
        assert (code, out, err) == (0, f"rollout 'rollouts-demo' restarts in {shown}\n", "")
        restart_at = parse_time((await read(kube, namespace))["spec"]["restartAt"])
        assert restart_at is not None
        assert before + timedelta(seconds=delay) <= restart_at <= after + timedelta(seconds=delay)


ROLES = Resource("rbac.authorization.k8s.io", "v1", "roles", "Role")
ROLE_BINDINGS = Resource("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding")
POLICIES = Resource(
    "admissionregistration.k8s.io",
    "v1",
    "validatingadmissionpolicies",
    "ValidatingAdmissionPolicy",
    False,
)
POLICY_BINDINGS = Resource(
    "admissionregistration.k8s.io",
    "v1",
    "validatingadmissionpolicybindings",
    "ValidatingAdmissionPolicyBinding",
    False,
)


async def test_forbidden_names_verb_and_resource(
    kube: KubeClient, sandbox: Status, namespace: str, rollouts_crd: None, tmp_path: Path
) -> None:
    """A ServiceAccount that may only `get` Rollouts in the namespace: RBAC's refusals."""
    before = await create_rollout(kube, namespace, "seed-paused-step1")
    account = "cli-reader"
    await kube.create(
        SERVICE_ACCOUNTS,
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": account}},
        namespace=namespace,
    )
    await kube.create(
        ROLES,
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": account},
            "rules": [{"apiGroups": ["argoproj.io"], "resources": ["rollouts"], "verbs": ["get"]}],
        },
        namespace=namespace,
    )
    await kube.create(
        ROLE_BINDINGS,
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": account},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": account},
            "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": namespace}],
        },
        namespace=namespace,
    )
    config = str(
        await chart_rbac.token_kubeconfig(sandbox, account, namespace, tmp_path / "sa.kubeconfig")
    )

    async def may_get() -> bool:
        # The authorizer sees a new RoleBinding a moment after it is created.
        result = await cli(
            "status", "rollouts-demo", "--watch=false", "-n", namespace, kubeconfig=config
        )
        return result == (0, "Paused - CanaryPauseStep\n", "")

    await eventually(may_get, "the ServiceAccount may get the Rollout", timeout=30)

    code, out, err = await cli("promote", "rollouts-demo", "-n", namespace, kubeconfig=config)
    assert (code, out) == (1, "")
    assert err.startswith('Error: rollouts.argoproj.io "rollouts-demo" is forbidden: User')
    assert 'cannot patch resource "rollouts/status"' in err and err.count("\n") == 1
    after = await read(kube, namespace)
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]

    code, out, err = await cli(
        "get", "rollout", "rollouts-demo", "-n", "default", kubeconfig=config
    )
    assert (code, out) == (1, "")
    assert err == (
        'Error: rollouts.argoproj.io "rollouts-demo" is forbidden: User '
        f'"system:serviceaccount:{namespace}:{account}" cannot get resource "rollouts" in API '
        'group "argoproj.io" in the namespace "default"\n'
    )


async def test_forbidden_without_rbac_wording_names_verb_and_resource(
    kube: KubeClient, namespace: str, rollouts_crd: None
) -> None:
    """A refusal that does not say who cannot do what (an admission policy's): the CLI says it."""
    before = await create_rollout(kube, namespace, "seed-paused-step1")
    name = f"rolloutd-cli-{namespace}"[:63]
    await kube.create(
        POLICIES,
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicy",
            "metadata": {"name": name},
            "spec": {
                "failurePolicy": "Fail",
                "matchConstraints": {
                    "resourceRules": [
                        {
                            "apiGroups": ["argoproj.io"],
                            "apiVersions": ["*"],
                            "operations": ["UPDATE"],
                            "resources": ["rollouts/status"],
                        }
                    ]
                },
                "validations": [
                    {"expression": "false", "message": "denied by policy", "reason": "Forbidden"}
                ],
            },
        },
    )
    try:
        await kube.create(
            POLICY_BINDINGS,
            {
                "apiVersion": "admissionregistration.k8s.io/v1",
                "kind": "ValidatingAdmissionPolicyBinding",
                "metadata": {"name": name},
                "spec": {
                    "policyName": name,
                    "validationActions": ["Deny"],
                    "matchResources": {
                        "namespaceSelector": {
                            "matchLabels": {"kubernetes.io/metadata.name": namespace}
                        }
                    },
                },
            },
        )
        try:

            async def denied() -> bool:
                # The API server applies a new policy a moment after it is created.
                try:
                    await write_status(kube, namespace, {"message": "CanaryPauseStep"})
                except ApiError as exc:
                    if exc.status == 403:
                        return True
                    raise
                return False

            await eventually(denied, "the admission policy to deny status writes", timeout=30)
            code, out, err = await cli("promote", "rollouts-demo", "-n", namespace)
            assert (code, out) == (1, "")
            assert err == (
                "Error: forbidden: cannot patch rollouts.argoproj.io/status in namespace "
                f'"{namespace}": rollouts.argoproj.io "rollouts-demo" is forbidden: '
                f"ValidatingAdmissionPolicy '{name}' with binding '{name}' denied request: "
                "denied by policy\n"
            )
            assert (await read(kube, namespace))["status"]["pauseConditions"] == before["status"][
                "pauseConditions"
            ]
        finally:
            await kube.delete(POLICY_BINDINGS, name)
    finally:
        await kube.delete(POLICIES, name)


_AGE = re.compile(r"^(\d+y)?(\d+d)?(\d+h)?(\d+m)?(\d+s)?$")
_POD_SUFFIX = re.compile(r"\b(rollouts-demo-[a-z0-9]{9,10})-[a-z0-9]{5}\b")


def without_ages(text: str) -> list[str]:
    """The lines with ages and pod-name suffixes blanked (the cluster makes its own)."""
    text = _POD_SUFFIX.sub(r"\1-xxxxx", text)
    return [
        " ".join("<age>" if _AGE.match(tok) and tok[-1] in "smhdy" else tok for tok in line.split())
        for line in text.splitlines()
    ]


async def test_get_rollout_prints_the_tree(
    kube: KubeClient, namespace: str, rollouts_crd: None
) -> None:
    """The golden tree of a paused canary, from ReplicaSets and pods the cluster runs."""
    fixture = "paused-step1-6pods"
    rollout = await create_rollout(kube, namespace, fixture)
    await create_replica_sets(kube, namespace, rollout, fixture, scaled=True)

    async def pods_ready() -> bool:
        ready = 0
        for pod in (await kube.list_all(PODS, namespace=namespace))["items"]:
            conditions = (pod.get("status") or {}).get("conditions") or []
            running = (pod.get("status") or {}).get("phase") == "Running"
            if running and any(c["type"] == "Ready" and c["status"] == "True" for c in conditions):
                ready += 1
        sets = (await kube.list_all(REPLICA_SETS, namespace=namespace))["items"]
        sets_ready = all(
            (rs.get("status") or {}).get("availableReplicas", 0) == rs["spec"]["replicas"]
            for rs in sets
        )
        return ready == 6 and sets_ready

    await eventually(pods_ready, "6 running, ready pods")
    code, out, err = await cli("get", "rollout", "rollouts-demo", "-n", namespace)
    assert (code, err) == (0, "")
    golden = (GOLDEN / f"{fixture}.txt").read_text()
    golden = golden.replace("Namespace:       argo-rollouts", f"Namespace:       {namespace}")
    assert without_ages(out) == without_ages(golden)


async def test_get_rollout_watch_redraws_on_changes_and_stops_on_ctrl_c(
    kube: KubeClient, namespace: str, rollouts_crd: None
) -> None:
    await create_rollout(kube, namespace, "seed-paused-step1")
    watch = await Running.start("get", "rollout", "rollouts-demo", "--watch", "-n", namespace)
    try:
        await watch.wait_for("Step:          1/8")
        await write_status(
            kube,
            namespace,
            {
                "currentStepIndex": 2,
                "pauseConditions": None,
                "phase": "Progressing",
                "message": "more replicas need to be updated",
            },
        )
        await watch.wait_for("Step:          2/8")
        watch.process.send_signal(signal.SIGINT)
        code, text, err = await watch.finish()
    finally:
        watch.kill()
    assert (code, err) == (0, "")
    frames = text.split(CLEAR_SCREEN)[1:]
    assert len(frames) >= 2
    assert "॥ Paused" in frames[0] and "Step:          1/8" in frames[0]
    assert "◌ Progressing" in frames[-1] and "Step:          2/8" in frames[-1]


async def test_get_rollout_watch_timeout_ends_cleanly(
    kube: KubeClient, namespace: str, rollouts_crd: None
) -> None:
    await create_rollout(kube, namespace, "seed-healthy")
    code, text, err = await cli(
        "get", "rollout", "rollouts-demo", "-w", "--timeout-seconds", "1", "-n", namespace
    )
    assert (code, err) == (0, "")
    assert text.startswith(CLEAR_SCREEN + "Name:            rollouts-demo\n")


async def test_status_once(kube: KubeClient, namespace: str, rollouts_crd: None) -> None:
    await create_rollout(kube, namespace, "seed-paused-step1")
    args = ("status", "rollouts-demo", "--watch=false", "-n", namespace)
    assert await cli(*args) == (0, "Paused - CanaryPauseStep\n", "")
    await write_status(kube, namespace, {"phase": "Healthy", "message": ""})
    assert await cli(*args) == (0, "Healthy\n", "")
    await write_status(
        kube,
        namespace,
        {"phase": "Degraded", "message": "RolloutAborted: Rollout aborted update to revision 2"},
    )
    assert await cli(*args) == (
        1,
        "Degraded\n",
        "Error: The rollout is in a degraded state with message: RolloutAborted: Rollout "
        "aborted update to revision 2\n",
    )


async def test_status_watch_prints_changes_until_healthy(
    kube: KubeClient, namespace: str, rollouts_crd: None
) -> None:
    await create_rollout(kube, namespace, "seed-paused-step1")
    watch = await Running.start("status", "rollouts-demo", "-n", namespace)
    try:
        await watch.wait_for("Paused - CanaryPauseStep\n")
        # A change that leaves the line as it was: not printed again.
        await write_status(kube, namespace, {"readyReplicas": 5})
        await write_status(
            kube, namespace, {"phase": "Progressing", "message": "more replicas need to be updated"}
        )
        await write_status(kube, namespace, {"phase": "Healthy", "message": ""})
        code, text, err = await watch.finish()
    finally:
        watch.kill()
    assert (code, err) == (0, "")
    assert text.splitlines()[0] == "Paused - CanaryPauseStep"
    assert text.splitlines()[-1] == "Healthy"
    assert text.count("Paused - CanaryPauseStep") == 1


async def test_status_watch_degraded(kube: KubeClient, namespace: str, rollouts_crd: None) -> None:
    await create_rollout(kube, namespace, "seed-paused-step1")
    watch = await Running.start("status", "rollouts-demo", "-n", namespace)
    try:
        await watch.wait_for("Paused")
        await write_status(kube, namespace, {"phase": "Degraded", "message": "RolloutAborted: x"})
        code, text, err = await watch.finish()
    finally:
        watch.kill()
    assert code == 1
    assert text.splitlines()[-1] == "Degraded - RolloutAborted: x"
    assert err == "Error: The rollout is in a degraded state with message: RolloutAborted: x\n"


async def test_status_watch_timeout(kube: KubeClient, namespace: str, rollouts_crd: None) -> None:
    await create_rollout(kube, namespace, "seed-paused-step1")
    code, text, err = await cli("status", "rollouts-demo", "--timeout", "100ms", "-n", namespace)
    assert (code, text) == (1, "Paused - CanaryPauseStep\n")
    assert err == "Error: Rollout status watch exceeded timeout\n"


async def test_list(kube: KubeClient, namespace: str, rollouts_crd: None) -> None:
    assert await cli("list", "rollouts", "-n", namespace) == (0, "", "No resources found.\n")
    await create_rollout(kube, namespace, "seed-paused-step3")
    code, out, err = await cli("list", "rollouts", "-n", namespace)
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        "NAME           STRATEGY   STATUS        STEP  SET-WEIGHT  READY  DESIRED  UP-TO-DATE  "
        "AVAILABLE",
        "rollouts-demo  Canary     Paused        3/8   40          7/7    5        2           7",
    ]
    code, out, _ = await cli("list", "rollouts", "--name", "other", "-n", namespace)
    assert (code, out) == (0, "")
    code, out, _ = await cli("list", "rollouts", "-A", "-n", namespace)
    lines = out.splitlines()
    assert code == 0 and lines[0].split()[:2] == ["NAMESPACE", "NAME"]
    assert [namespace, "rollouts-demo", "Canary", "Paused", "3/8", "40"] in [
        line.split()[:6] for line in lines[1:]
    ]
