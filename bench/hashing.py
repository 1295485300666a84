"""`python -m bench.hashing`: the cost of Argo's pod-template hash, per template, in µs.

    uv run python -m bench.hashing [--number 2000]

Three templates (the seed's, a fuller one with probes, volumes and affinity, and Argo's e2e
fixture shape), three figures each: `cold` is the whole hash of a template seen for the
first time (the Go-order encoding plus the pure-Python FNV-1a loop), `encode` and `fnv` are
its two parts, and `cached` is a second call for the same template (what a reconcile that
asks again pays). Each figure is the best of five repeats, so other load on the machine
inflates it less; the loop-of-280 line is a yardstick of how loaded the machine was.
"""

from __future__ import annotations

import argparse
import copy
import timeit
from pathlib import Path
from typing import Any

import yaml

from rolloutd.plan import hashing

REPO = Path(__file__).resolve().parents[1]


def seed_template() -> dict[str, Any]:
    doc = yaml.safe_load((REPO / "config" / "samples" / "rollout.yaml").read_text())
    template: dict[str, Any] = doc["spec"]["template"]
    return template


def full_template() -> dict[str, Any]:
    t = copy.deepcopy(seed_template())
    c = t["spec"]["containers"][0]
    c["env"] = [{"name": f"VAR_{i}", "value": f"value <{i}> & more"} for i in range(8)]
    c["readinessProbe"] = {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 5}
    c["livenessProbe"] = {"tcpSocket": {"port": 8080}, "initialDelaySeconds": 10}
    c["volumeMounts"] = [{"name": "config", "mountPath": "/etc/config", "readOnly": True}]
    c["resources"]["limits"] = {"cpu": "1500m", "memory": "0.5Gi"}
    t["spec"]["volumes"] = [{"name": "config", "configMap": {"name": "cfg", "defaultMode": 420}}]
    t["spec"]["affinity"] = {
        "podAntiAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {
                    "weight": 100,
                    "podAffinityTerm": {
                        "labelSelector": {"matchLabels": {"app": "rollouts-demo"}},
                        "topologyKey": "kubernetes.io/hostname",
                    },
                }
            ]
        }
    }
    t["metadata"]["annotations"] = {"prometheus.io/scrape": "true"}
    return t


def e2e_template() -> dict[str, Any]:
    return {
        "metadata": {"labels": {"app": "canary-demo"}},
        "spec": {
            "containers": [
                {
                    "name": "canary-demo",
                    "image": "nginx:1.19-alpine",
                    "ports": [{"name": "http", "containerPort": 80, "protocol": "TCP"}],
                    "resources": {"requests": {"memory": "16Mi", "cpu": "1m"}},
                }
            ]
        },
    }


def best_us(fn: Any, number: int) -> float:
    return min(timeit.repeat(fn, number=number, repeat=5)) / number * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=2000)
    args = parser.parse_args()
    n = args.number
    print(f"loop of 280 (yardstick): {best_us(lambda: sum(range(280)), n):7.1f} µs")
    templates = {"seed": seed_template(), "full": full_template(), "e2e": e2e_template()}
    for name, template in templates.items():
        data = hashing.go_json(template)
        encode = best_us(lambda t=template: hashing.go_json(t), n)
        fnv = best_us(lambda d=data: hashing.fnv1a32(d), n)

        def cold(t: dict[str, Any] = template) -> None:
            hashing._cache.clear()
            hashing.pod_template_hash(t)

        cold_us = best_us(cold, n)
        hashing.pod_template_hash(template)
        cached = best_us(lambda t=template: hashing.pod_template_hash(t), n)
        print(
            f"{name:5} {len(data):5} bytes  cold {cold_us:7.1f} µs  (encode {encode:6.1f}, "
            f"fnv {fnv:6.1f})  cached {cached:6.1f} µs  -> {hashing.pod_template_hash(template)}"
        )


if __name__ == "__main__":
    main()
