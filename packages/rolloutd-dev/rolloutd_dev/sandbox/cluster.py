"""A real local Kubernetes cluster made of processes: etcd, kube-apiserver,
kube-controller-manager, kube-scheduler and kwok (which plays the kubelet for fake nodes).

Everything the cluster has lives in one folder (`ROLLOUTD_SANDBOX_HOME`, default
`~/.local/state/rolloutd/sandbox`): certificates, the admin kubeconfig, etcd's data, one log
per component and the process ids. `up` is idempotent; `down` stops every process of the
sandbox and removes the cluster's data, keeping the logs for debugging. `down` does not trust
the pid file alone: a component restarted by hand (an etcd started again with the same data
dir) is found by its command line naming this folder, or by its listening on the sandbox's
ports. `restart` stops and starts one component and records its new pid.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from rolloutd.kube.client import ApiError, KubeClient
from rolloutd.kube.resources import CRDS, NODES, SERVICE_ACCOUNTS
from rolloutd.manifests import crd_files
from rolloutd_dev.sandbox import pki
from rolloutd_dev.sandbox.binaries import SandboxError, ensure_binaries, tail

Progress = Callable[[str], None]
NODE_COUNT = 3
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
"""In order of start; stopped in reverse."""
_STARTUP_TIMEOUT = 60.0


def home_dir() -> Path:
    root = os.environ.get("ROLLOUTD_SANDBOX_HOME")
    if root:
        return Path(root)
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "rolloutd" / "sandbox"


def api_port() -> int:
    return int(os.environ.get("ROLLOUTD_SANDBOX_PORT", "16443"))


@dataclass(frozen=True)
class ComponentState:
    name: str
    pid: int | None
    running: bool


@dataclass(frozen=True)
class Status:
    home: Path
    kubeconfig: Path
    server: str
    components: list[ComponentState]
    api_ready: bool

    @property
    def up(self) -> bool:
        return self.api_ready and all(c.running for c in self.components)


class Sandbox:
    """The local cluster rooted at `home`; see the module docstring."""

    def __init__(self, home: Path | None = None, port: int | None = None) -> None:
        self.home = home or home_dir()
        self.port = port or api_port()
        self.etcd_port = self.port + 1
        self.etcd_peer_port = self.port + 2
        self.pki_dir = self.home / "pki"
        self.logs = self.home / "logs"
        self.kubeconfig = self.home / "kubeconfig"
        self._pids = self.home / "pids.json"
        self._children: dict[int, subprocess.Popen[bytes]] = {}

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    # -- status -----------------------------------------------------------------------------

    def _read_pids(self) -> dict[str, int]:
        try:
            data = json.loads(self._pids.read_text())
        except (FileNotFoundError, ValueError):
            return {}
        return {str(k): int(v) for k, v in data.items()}

    def running(self) -> dict[str, list[int]]:
        """Every live process of this sandbox, by component: the pid file's, and any other
        whose command line names this sandbox's folder or that listens on its ports."""
        found: dict[str, list[int]] = {name: [] for name in COMPONENTS}
        for name, pid in self._read_pids().items():
            if name in found and _alive(pid, name):
                found[name].append(pid)
        home = f"{self.home.resolve()}/"
        listeners = _listening_pids({self.port, self.etcd_port, self.etcd_peer_port})
        for pid, argv, cwd in _processes():
            name = os.path.basename(argv[0]) if argv else ""
            if name not in found or pid in found[name]:
                continue
            ours = pid in listeners or cwd == home or any(home in arg for arg in argv[1:])
            if ours and _alive(pid, name):
                found[name].append(pid)
        return found

    def status(self) -> Status:
        running = self.running()
        components = [
            ComponentState(name, running[name][0] if running[name] else None, bool(running[name]))
            for name in COMPONENTS
        ]
        ready = components[1].running and self._api_ready()
        return Status(self.home, self.kubeconfig, self.server, components, ready)

    def _ssl_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.pki_dir / "ca.crt"))
        ctx.load_cert_chain(str(self.pki_dir / "admin.crt"), str(self.pki_dir / "admin.key"))
        return ctx

    def _api_ready(self) -> bool:
        try:
            with urllib.request.urlopen(
                f"{self.server}/readyz", context=self._ssl_context(), timeout=2
            ) as resp:
                return bool(resp.status == 200)
        except (OSError, urllib.error.URLError, ssl.SSLError):
            return False

    # -- up -----------------------------------------------------------------------------------

    def up(self, progress: Progress) -> Status:
        current = self.status()
        if current.up:
            progress(f"sandbox already up at {self.server}")
            return current
        if any(c.running for c in current.components):
            progress("sandbox is partly running; restarting it")
            self.down(progress, quiet=True)
        started = time.monotonic()
        bins = ensure_binaries(progress)
        self._check_ports()
        if self.home.exists():
            for leftover in ("etcd-data", "pki", "kubeconfig", "pids.json"):
                path = self.home / leftover
                if path.is_dir():
                    shutil.rmtree(path)
                else:
                    path.unlink(missing_ok=True)
        self.logs.mkdir(parents=True, exist_ok=True)
        progress(f"starting the sandbox in {self.home}")
        certs = pki.generate(self.pki_dir)
        self._write_kubeconfig(certs)
        pids: dict[str, int] = {}
        try:
            pids["etcd"] = self._spawn(bins, "etcd", self._args("etcd"))
            self._save_pids(pids)
            self._wait(
                "etcd", pids["etcd"], lambda: _http_ok(f"http://127.0.0.1:{self.etcd_port}/health")
            )
            pids["kube-apiserver"] = self._spawn(
                bins, "kube-apiserver", self._args("kube-apiserver")
            )
            self._save_pids(pids)
            self._wait("kube-apiserver", pids["kube-apiserver"], self._api_ready)
            for name in COMPONENTS[2:]:
                pids[name] = self._spawn(bins, name, self._args(name))
            self._save_pids(pids)
            progress("control plane up; creating nodes and installing CRDs")
            asyncio.run(self._bootstrap(progress))
        except BaseException:
            # The start-up failure is the news; a straggler `down` could not stop must not hide it.
            with contextlib.suppress(SandboxError):
                self.down(progress, quiet=True)
            raise
        status = self.status()
        for component in status.components:
            if not component.running:
                raise SandboxError(
                    f"{component.name} exited during start-up; last lines of its log "
                    f"({self.logs / (component.name + '.log')}):\n"
                    f"{tail(self.logs / (component.name + '.log'))}"
                )
        progress(f"sandbox ready in {time.monotonic() - started:.1f}s")
        return status

    def _check_ports(self) -> None:
        for port, what in (
            (self.port, "kube-apiserver"),
            (self.etcd_port, "etcd"),
            (self.etcd_peer_port, "etcd peer"),
        ):
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    sock.bind(("127.0.0.1", port))
                except OSError as exc:
                    raise SandboxError(
                        f"port {port} on 127.0.0.1 (for {what}) is in use: {exc.strerror}; "
                        "stop whatever holds it, or choose other ports with "
                        "ROLLOUTD_SANDBOX_PORT=<port> (the sandbox uses that port and the next "
                        "two)"
                    ) from exc

    def _args(self, name: str) -> list[str]:
        if name == "etcd":
            return self._etcd_args()
        if name == "kube-apiserver":
            return self._apiserver_args()
        kubeconfig = f"--kubeconfig={self.kubeconfig}"
        if name == "kube-controller-manager":
            return [
                kubeconfig,
                "--leader-elect=false",
                "--secure-port=0",
                f"--root-ca-file={self.pki_dir / 'ca.crt'}",
                f"--service-account-private-key-file={self.pki_dir / 'sa.key'}",
                f"--cluster-signing-cert-file={self.pki_dir / 'ca.crt'}",
                f"--cluster-signing-key-file={self.pki_dir / 'ca.key'}",
                "--use-service-account-credentials=false",
                "--kube-api-qps=200",
                "--kube-api-burst=400",
                "--concurrent-replicaset-syncs=20",
                "--concurrent-gc-syncs=40",
                "--controllers=*,-nodeipam,-cloud-node-lifecycle,-route,-service",
            ]
        if name == "kube-scheduler":
            return [kubeconfig, "--leader-elect=false", "--secure-port=0"]
        if name == "kwok":
            return [
                kubeconfig,
                "--manage-all-nodes=true",
                "--node-lease-duration-seconds=40",
                "--server-address=",
            ]
        raise SandboxError(f"unknown sandbox component {name!r}; one of {', '.join(COMPONENTS)}")

    def _etcd_args(self) -> list[str]:
        peer = f"http://127.0.0.1:{self.etcd_peer_port}"
        client = f"http://127.0.0.1:{self.etcd_port}"
        return [
            "--name=sandbox",
            f"--data-dir={self.home / 'etcd-data'}",
            f"--listen-client-urls={client}",
            f"--advertise-client-urls={client}",
            f"--listen-peer-urls={peer}",
            f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=sandbox={peer}",
            "--quota-backend-bytes=8589934592",
            # A throw-away test cluster does not need durable writes; fsync dominates latency.
            "--unsafe-no-fsync",
            "--log-level=warn",
        ]

    def _apiserver_args(self) -> list[str]:
        p = self.pki_dir
        return [
            f"--etcd-servers=http://127.0.0.1:{self.etcd_port}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={self.port}",
            f"--cert-dir={p}",
            f"--tls-cert-file={p / 'apiserver.crt'}",
            f"--tls-private-key-file={p / 'apiserver.key'}",
            f"--client-ca-file={p / 'ca.crt'}",
            f"--service-account-key-file={p / 'sa.pub'}",
            f"--service-account-signing-key-file={p / 'sa.key'}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            "--authorization-mode=Node,RBAC",
            "--service-cluster-ip-range=10.96.0.0/16",
            "--allow-privileged=true",
            "--max-requests-inflight=1000",
            "--max-mutating-requests-inflight=500",
            "--profiling=false",
        ]

    def _spawn(self, bins: Path, name: str, args: list[str], *, append: bool = False) -> int:
        log = (self.logs / f"{name}.log").open("ab" if append else "wb")
        proc = subprocess.Popen(
            [str(bins / name), *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=self.home,
            start_new_session=True,  # survives the CLI that started it; `down` ends it
        )
        log.close()
        self._children[proc.pid] = proc
        return proc.pid

    def _save_pids(self, pids: dict[str, int]) -> None:
        self._pids.write_text(json.dumps(pids, indent=2))

    def _wait(self, name: str, pid: int, ready: Callable[[], bool]) -> None:
        deadline = time.monotonic() + _STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            # Our own child: poll() is exact (its cmdline may not show the exec'd name yet).
            if self._children[pid].poll() is not None:
                raise SandboxError(
                    f"{name} exited during start-up; last lines of "
                    f"{self.logs / (name + '.log')}:\n{tail(self.logs / (name + '.log'))}"
                )
            if ready():
                return
            time.sleep(0.2)
        raise SandboxError(
            f"{name} did not become ready within {_STARTUP_TIMEOUT:.0f}s; last lines of "
            f"{self.logs / (name + '.log')}:\n{tail(self.logs / (name + '.log'))}"
        )

    def _write_kubeconfig(self, certs: pki.Pki) -> None:
        def b64(path: Path) -> str:
            return base64.b64encode(path.read_bytes()).decode()

        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "rolloutd-sandbox",
                    "cluster": {
                        "server": self.server,
                        "certificate-authority-data": b64(certs.ca_cert),
                    },
                }
            ],
            "users": [
                {
                    "name": "rolloutd-sandbox-admin",
                    "user": {
                        "client-certificate-data": b64(certs.admin_cert),
                        "client-key-data": b64(certs.admin_key),
                    },
                }
            ],
            "contexts": [
                {
                    "name": "rolloutd-sandbox",
                    "context": {
                        "cluster": "rolloutd-sandbox",
                        "user": "rolloutd-sandbox-admin",
                        "namespace": "default",
                    },
                }
            ],
            "current-context": "rolloutd-sandbox",
        }
        self.kubeconfig.write_text(yaml.safe_dump(config, sort_keys=False))
        self.kubeconfig.chmod(0o600)

    async def _bootstrap(self, progress: Progress) -> None:
        async with await KubeClient.connect(kubeconfig=str(self.kubeconfig)) as kube:
            for i in range(NODE_COUNT):
                await _ensure(kube, NODES, _fake_node(f"kwok-node-{i}"))
            files = crd_files()
            for path in files:
                for doc in yaml.safe_load_all(path.read_text()):
                    if doc:
                        await apply_crd(kube, doc)
            await _wait_for("3 Ready nodes", lambda: _nodes_ready(kube), timeout=_STARTUP_TIMEOUT)
            # Pods in `default` need its ServiceAccount; the controller-manager makes it.
            await _wait_for(
                "the default ServiceAccount",
                lambda: _exists(kube, SERVICE_ACCOUNTS, "default", "default"),
                timeout=_STARTUP_TIMEOUT,
            )
            progress(f"{NODE_COUNT} nodes Ready, {len(files)} CRD files installed")

    # -- down ---------------------------------------------------------------------------------

    def down(self, progress: Progress, *, quiet: bool = False) -> None:
        # Stop in reverse order of start, so nothing logs errors about what went before it.
        for name in reversed(COMPONENTS):
            for pid in self.running()[name]:
                _stop(pid)
        left = {name: pids for name, pids in self.running().items() if pids}
        self._pids.unlink(missing_ok=True)
        shutil.rmtree(self.home / "etcd-data", ignore_errors=True)
        if left:
            raise SandboxError(f"sandbox processes still running after SIGKILL: {left}")
        if not quiet:
            progress(f"sandbox stopped; logs kept in {self.logs}")

    def restart(self, name: str, progress: Progress) -> int:
        """Stop one component (every process of it) and start it again with the same flags
        and data; records the new pid, waits until it serves, returns the pid."""
        args = self._args(name)
        bins = ensure_binaries(progress)
        for pid in self.running()[name]:
            _stop(pid)
        pids = self._read_pids()
        pids[name] = self._spawn(bins, name, args, append=True)
        self._save_pids(pids)
        if name == "etcd":
            self._wait(
                name, pids[name], lambda: _http_ok(f"http://127.0.0.1:{self.etcd_port}/health")
            )
        elif name == "kube-apiserver":
            self._wait(name, pids[name], self._api_ready)
        progress(f"{name} restarted (pid {pids[name]})")
        return pids[name]


async def apply_crd(kube: KubeClient, doc: dict[str, Any]) -> None:
    """Server-side apply one CRD and wait until the API server serves it."""
    name = doc["metadata"]["name"]
    await kube.patch(CRDS, name, doc, patch_type="apply", force=True)

    async def established() -> bool:
        crd = await kube.get(CRDS, name)
        conds = (crd.get("status") or {}).get("conditions") or []
        return any(c["type"] == "Established" and c["status"] == "True" for c in conds)

    await _wait_for(f"CRD {name} to be Established", established, timeout=30)


def _fake_node(name: str) -> dict[str, Any]:
    capacity = {"cpu": "64", "memory": "512Gi", "pods": "3000"}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "type": "kwok",
            },
        },
        "spec": {},
        "status": {"capacity": capacity, "allocatable": capacity},
    }


async def _ensure(kube: KubeClient, res: Any, body: dict[str, Any]) -> None:
    try:
        await kube.create(res, body)
    except ApiError as exc:
        if not exc.conflict:
            raise


async def _nodes_ready(kube: KubeClient) -> bool:
    nodes = (await kube.list(NODES)).get("items") or []
    ready = [
        n
        for n in nodes
        if any(
            c["type"] == "Ready" and c["status"] == "True"
            for c in (n.get("status") or {}).get("conditions") or []
        )
    ]
    return len(ready) >= NODE_COUNT


async def _exists(kube: KubeClient, res: Any, name: str, namespace: str) -> bool:
    try:
        await kube.get(res, name, namespace=namespace)
    except ApiError as exc:
        if exc.not_found:
            return False
        raise
    return True


async def _wait_for(what: str, check: Callable[[], Any], *, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if await check():
            return
        if time.monotonic() > deadline:
            raise SandboxError(f"timed out after {timeout:.0f}s waiting for {what}")
        await asyncio.sleep(0.2)


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return bool(resp.status == 200)
    except (OSError, urllib.error.URLError):
        return False


def _alive(pid: int | None, name: str) -> bool:
    """True when pid runs the named component (a recycled pid does not count)."""
    if not pid:
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode()
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    if stat.rsplit(")", 1)[-1].split()[0] == "Z":
        return False
    return os.path.basename(cmdline) == name


def _processes() -> list[tuple[int, list[str], str]]:
    """(pid, argv, cwd with a trailing slash) of every process we may inspect."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = [
                a.decode(errors="replace") for a in (entry / "cmdline").read_bytes().split(b"\0")
            ]
            cwd = os.readlink(entry / "cwd") + "/"
        except OSError:  # gone, or not ours to read
            continue
        found.append((int(entry.name), [a for a in argv if a], cwd))
    return found


def _listening_pids(ports: set[int]) -> set[int]:
    """Pids holding a listening TCP socket on one of `ports` (from /proc/net/tcp*)."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            # local_address is HEXIP:HEXPORT; state 0A is LISTEN.
            if (
                len(fields) > 9
                and fields[3] == "0A"
                and int(fields[1].rsplit(":", 1)[1], 16) in ports
            ):
                inodes.add(fields[9])
    if not inodes:
        return set()
    wanted = {f"socket:[{inode}]" for inode in inodes}
    pids: set[int] = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            for fd in (entry / "fd").iterdir():
                if os.readlink(fd) in wanted:
                    pids.add(int(entry.name))
                    break
        except OSError:
            continue
    return pids


def _signal(pid: int, sig: signal.Signals) -> bool:
    """Signal pid's process group when it leads one (our spawns do), else pid alone (a
    component started by hand); False when it is gone."""
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except ProcessLookupError:
        return False
    return True


def _stop(pid: int, grace: float = 10.0) -> None:
    # A stopped (SIGSTOP) process cannot act on SIGTERM until continued.
    if not _signal(pid, signal.SIGTERM) or not _signal(pid, signal.SIGCONT):
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        _reap(pid)
        if not _exists_pid(pid):
            return
        time.sleep(0.1)
    _signal(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and _exists_pid(pid):
        _reap(pid)
        time.sleep(0.05)


def _exists_pid(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
