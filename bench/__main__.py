"""`python -m bench`: run the benchmarks, summarize runs, draw the plots.

    uv run --group bench python -m bench run [--quick] [--n 1000] [--repeat 1] [--out DIR]
    uv run --group bench python -m bench summary DIR/*.json    # medians over runs
    uv run --group bench python -m bench plot DIR/*.json       # PNGs next to the JSON

`run` needs the sandbox (`uv run rolloutd sandbox up`); it creates two namespaces per run
(`bench-<id>` for the controller, `bench-<id>-floor` for the floor), deletes them at the end
even when a workload fails, and stops the daemon it started. Each run writes
`<out>/<mode>-n<N>-<id>.json`; the table is printed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from bench import report
from bench.cluster import create_namespace, delete_namespaces
from bench.daemon import cpu_seconds
from bench.floor import Floor
from bench.workloads import ControllerRun, Settings
from rolloutd.kube.client import KubeClient
from rolloutd_dev.sandbox.binaries import ETCD_VERSION, K8S_VERSION, KWOK_VERSION
from rolloutd_dev.sandbox.cluster import Sandbox

JsonDict = dict[str, Any]
QUICK_N = 50


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def machine() -> JsonDict:
    model = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    mem_kib = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal"):
            mem_kib = int(line.split()[1])
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "ram_gib": round(mem_kib / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "kubernetes": K8S_VERSION,
        "etcd": ETCD_VERSION,
        "kwok": KWOK_VERSION,
    }


def cluster_cpu(status: Any) -> dict[str, float]:
    """CPU seconds so far of each sandbox process (to see where a phase's time went)."""
    out = {}
    for component in status.components:
        if component.pid and component.running:
            try:
                out[component.name] = cpu_seconds(component.pid)
            except (FileNotFoundError, ProcessLookupError):
                continue
    return out


def _delta(after: dict[str, float], before: dict[str, float]) -> dict[str, float]:
    return {k: round(after[k] - before.get(k, 0.0), 2) for k in after}


async def run_once(args: argparse.Namespace, out: Path) -> JsonDict:
    sandbox = Sandbox().status()
    if not sandbox.up:
        raise SystemExit("the sandbox is not up: run `uv run rolloutd sandbox up` first")
    kubeconfig = str(sandbox.kubeconfig)
    n = args.n or (QUICK_N if args.quick else 1000)
    settings = Settings.for_n(n, quick=args.quick, out=out, workers=args.workers)
    if args.profile:
        settings = Settings(**{**settings.__dict__, "profile": True})
    run_id = uuid.uuid4().hex[:6]
    ns, floor_ns, instance = f"bench-{run_id}", f"bench-{run_id}-floor", f"bench-{run_id}"
    results: JsonDict = {
        "id": run_id,
        "mode": "quick" if args.quick else "full",
        "profiled": bool(args.profile),
        "settings": {
            "n": settings.n,
            "latency_n": settings.latency_n,
            "throughput_n": settings.throughput_n,
            "idle_seconds": settings.idle_seconds,
            "workers": settings.workers or "daemon default",
        },
        "machine": machine(),
        "loadavg_start": os.getloadavg(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    log(
        f"run {run_id}: n={n} (latency {settings.latency_n}x2, throughput "
        f"{settings.throughput_n}); load average {os.getloadavg()[0]:.2f}"
    )
    kube = await KubeClient.connect(kubeconfig=kubeconfig)
    writer = await KubeClient.connect(kubeconfig=kubeconfig)
    floor: Floor | None = None
    began = time.monotonic()
    try:
        await create_namespace(kube, ns)
        await create_namespace(kube, floor_ns)
        ctrl = ControllerRun(
            kube, settings, kubeconfig=kubeconfig, namespace=ns, instance_id=instance, log=log
        )
        peers_first = bool(args.peer) and args.run_index % 2 == 1
        if peers_first:
            results["peers"] = await run_peers(args, kube, settings, kubeconfig, run_id)
        log(f"rolloutd: {n} rollouts in {ns}")
        results.update(await controller_workloads(ctrl))
        if args.peer:
            # Each controller runs on a cluster holding only its own rollouts.
            results["cleaned_up_controller"] = await delete_namespaces(
                kube, [ns], timeout=60 if args.quick else 900
            )
        if args.peer and not peers_first:
            results["peers"] = await run_peers(args, kube, settings, kubeconfig, run_id)
        # The floor runs with our daemon stopped, so the two never compete for the CPU.
        floor = Floor(kube, writer, floor_ns)
        await floor.start()
        groups = await floor.setup_latency(settings.latency_n)
        results["floor_latency_a"] = await floor.latency(groups["scaled"], "scaled")
        results["floor_latency_b"] = await floor.latency(groups["plain"], "plain")
        names = await floor.setup_throughput(settings.throughput_n)
        cpu0 = cluster_cpu(Sandbox().status())
        results["floor_throughput"] = await floor.throughput(names)
        results["floor_throughput"]["cluster_cpu_seconds"] = _delta(
            cluster_cpu(Sandbox().status()), cpu0
        )
        log("floor done")
    finally:
        if floor is not None:
            await floor.stop()
        results["loadavg_end"] = os.getloadavg()
        results["seconds"] = time.monotonic() - began
        if args.keep:
            log(f"--keep: leaving namespaces {ns} and {floor_ns}")
        else:
            log("deleting the benchmark's namespaces")
            # Deleting 1,000 rollouts' pods takes the garbage collector minutes; a quick run
            # waits less and reports whether the namespaces were gone in time.
            gone = await delete_namespaces(kube, [ns, floor_ns], timeout=60 if args.quick else 900)
            results["cleaned_up"] = gone
        await writer.close()
        await kube.close()
    if args.profile:
        from bench.profile import summarize

        results["profile"] = summarize(sorted((out / "profiles").glob("daemon-*.txt")))
    return results


async def controller_workloads(ctrl: ControllerRun) -> JsonDict:
    """Workloads 1-3 on one controller (rolloutd or a peer), which is stopped at the end."""
    results: JsonDict = {}
    try:
        results["setup"] = await ctrl.create_objects()
        log(f"created {results['setup']['objects']} objects in {results['setup']['seconds']:.1f}s")
        cpu0 = cluster_cpu(Sandbox().status())
        results["load"] = await ctrl.load_and_idle()
        results["load"]["cluster_cpu_seconds"] = _delta(cluster_cpu(Sandbox().status()), cpu0)
        log("load and idle done; preparing paused rollouts")
        results["prepare_paused"] = await ctrl.prepare_paused()
        results["latency_a"] = await ctrl.latency("scaled")
        log(f"latency 2a: {results['latency_a']['latency_ms']}")
        results["latency_b"] = await ctrl.latency("plain")
        log(f"latency 2b: {results['latency_b']['latency_ms']}")
        cpu0 = cluster_cpu(Sandbox().status())
        results["throughput"] = await ctrl.throughput()
        results["throughput"]["cluster_cpu_seconds"] = _delta(cluster_cpu(Sandbox().status()), cpu0)
        log(f"throughput: {results['throughput']['seconds']:.1f}s")
    finally:
        results["controller_end"] = await ctrl.close()
    return results


async def run_peers(
    args: argparse.Namespace, kube: KubeClient, settings: Settings, kubeconfig: str, run_id: str
) -> JsonDict:
    """The same workloads under Argo Rollouts' controller, at its default QPS and unthrottled,
    each in a namespace of its own, with Argo's CRDs in place of rolloutd's for the time."""
    from bench.peers.argo import crd_documents, ensure_controller
    from bench.peers.argo_daemon import (
        DEFAULT_BURST,
        DEFAULT_QPS,
        ArgoDaemon,
        apply_crds,
        rolloutd_crds,
    )

    binary = ensure_controller(log)
    variants = {
        "argo": (DEFAULT_QPS, DEFAULT_BURST),
        "argo_matched": (args.argo_matched_qps, int(2 * args.argo_matched_qps)),
    }
    peers: JsonDict = {}
    log("swapping in Argo Rollouts' CRDs")
    await apply_crds(kube, crd_documents())
    try:
        for variant, (qps, burst) in variants.items():
            ns = f"bench-{run_id}-{variant.replace('_', '-')}"
            await create_namespace(kube, ns)

            def make(log_path: Path, ns: str = ns, qps: float = qps, burst: int = burst) -> Any:
                return ArgoDaemon(
                    binary=binary,
                    kubeconfig=kubeconfig,
                    namespace=ns,
                    instance_id=ns,
                    log_path=log_path,
                    qps=qps,
                    burst=burst,
                )

            ctrl = ControllerRun(
                kube,
                settings,
                kubeconfig=kubeconfig,
                namespace=ns,
                instance_id=ns,
                log=log,
                controller=make,
            )
            log(f"{variant}: Argo Rollouts at QPS {qps:g}/burst {burst} in {ns}")
            peers[variant] = {"qps": qps, "burst": burst, **await controller_workloads(ctrl)}
            peers[variant]["cleaned_up"] = await delete_namespaces(
                kube, [ns], timeout=60 if args.quick else 900
            )
    finally:
        log("swapping rolloutd's CRDs back in")
        await apply_crds(kube, rolloutd_crds())
    return peers


def cmd_run(args: argparse.Namespace) -> int:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    runs = []
    for i in range(args.repeat):
        # Alternate which controller goes first, so that drift in the machine hits both.
        args.run_index = i
        results = asyncio.run(run_once(args, out))
        path = out / f"{results['mode']}-n{results['settings']['n']}-{results['id']}.json"
        path.write_text(json.dumps(results, indent=1, default=str) + "\n")
        log(f"run {i + 1}/{args.repeat} written to {path}")
        print(report.table(report.rows(results)))
        if results.get("peers"):
            print(report.peer_table(report.peer_rows([results])))
        runs.append(results)
    if len(runs) > 1:
        print(f"\nmedians over {len(runs)} runs:")
        print(report.table(report.median_rows(runs)))
        if any(r.get("peers") for r in runs):
            print(report.peer_table(report.peer_rows(runs)))
    return 0


def _load(paths: list[str]) -> list[JsonDict]:
    return [json.loads(Path(p).read_text()) for p in paths]


def cmd_summary(args: argparse.Namespace) -> int:
    runs = [r for r in _load(args.files) if not r.get("profiled")]
    print(f"medians over {len(runs)} runs")
    print(report.table(report.median_rows(runs), markdown=args.markdown))
    if any(r.get("peers") for r in runs):
        print()
        print(report.peer_table(report.peer_rows(runs), markdown=args.markdown))
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    from bench import plot

    runs = [r for r in _load(args.files) if not r.get("profiled")]
    for path in plot.draw(runs, Path(args.out)):
        print(path)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the four workloads on the sandbox")
    run.add_argument("--quick", action="store_true", help=f"small N ({QUICK_N}), short windows")
    run.add_argument("--n", type=int, default=None, help="rollouts (default 1000; quick 50)")
    run.add_argument("--repeat", type=int, default=1, help="runs in a row")
    run.add_argument("--workers", type=int, default=None, help="daemon --workers")
    run.add_argument("--out", default="bench/results", help="where JSON, logs and profiles go")
    run.add_argument("--profile", action="store_true", help="py-spy the daemon (skews timing)")
    run.add_argument("--keep", action="store_true", help="leave the namespaces for a look")
    run.add_argument(
        "--peer",
        choices=["argo"],
        default=None,
        help="also run the workloads under Argo Rollouts' controller (built once from its Go "
        "module, cached), at its default QPS and unthrottled, alternating with rolloutd",
    )
    run.add_argument(
        "--argo-matched-qps",
        type=float,
        default=10_000.0,
        help="Argo's QPS for the matched run (rolloutd has no client-side limit; burst is 2x)",
    )
    run.set_defaults(handler=cmd_run)
    summary = sub.add_parser("summary", help="medians over result files")
    summary.add_argument("files", nargs="+")
    summary.add_argument("--markdown", action="store_true")
    summary.set_defaults(handler=cmd_summary)
    plot = sub.add_parser("plot", help="latency and RSS plots from result files")
    plot.add_argument("files", nargs="+")
    plot.add_argument("--out", default="bench/results")
    plot.set_defaults(handler=cmd_plot)
    args = parser.parse_args(argv)
    return int(args.handler(args))


if __name__ == "__main__":
    raise SystemExit(main())
