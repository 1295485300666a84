"""Benchmarks of rolloutd at scale, on the real sandbox cluster.

`uv run --group bench python -m bench run [--quick] [--n 1000] [--out bench/results]` runs the
four workloads (load and idle, decision-to-traffic latency, throughput, and the no-controller
floor) against a `rolloutd run` process, writes machine-readable JSON and prints a table.
Nothing here asserts: figures are reported, and BENCHMARKS.md says what they mean.

Modules, in the order a run uses them:

- `objects`: the manifests (Rollout, two Services, a VirtualService per rollout), pure.
- `cluster`: namespaces, bulk creation, and watch-fed trackers that timestamp changes.
- `daemon`: the controller as a child process, its /proc figures and /metrics counters.
- `workloads`: the four workloads, each returning plain dicts of figures.
- `floor`: the same promotions done by a script that makes only the necessary writes.
- `report`, `plot`, `profile`: the table, the PNGs and the py-spy summary.
"""
