"""rolloutd's pod-template hash against Argo Rollouts' own function, on thousands of templates.

Hypothesis draws pod templates from the Go field table (every struct of a PodTemplateSpec:
containers with all their fields, volumes of every kind, affinities, probes...), with null,
empty and missing values, unknown fields, unicode and HTML characters, quantities in every
notation and numbers at the edges of their Go type. All drawn templates go through one Go
process (`tests/parity/gohash`, which calls argo-rollouts v1.10.1's
`hash.ComputePodTemplateHash`), and each must give the same hash and the same encoded bytes,
or be refused by both sides.
"""

from __future__ import annotations

import copy
import datetime as dt
import functools
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rolloutd.plan.gofields import ROOT, STRUCTS
from rolloutd.plan.hashing import TemplateEncodingError, go_json, pod_template_hash
from tests.parity.conftest import ArgoHash

REPO = Path(__file__).resolve().parents[2]
N_DRAWN = 5000

TEXT = st.text(
    alphabet=st.characters(codec="utf-8")
    | st.sampled_from(list('<>&\u2028\u2029"\\\n\t\b\f\x00\x1f\x7fé漢😀 ')),
    max_size=8,
)
KEY = st.sampled_from(["app", "a.b/c-d", "z", "A", "é", "<&>", ""]) | TEXT
QUANTITY_SUFFIX = st.sampled_from(
    [
        *("", "n", "u", "m", "k", "M", "G", "T", "P", "E", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"),
        *("e3", "E3", "e-3", "e+2", "e0", "e18", "e-12", "K", "i", "mi"),
    ]
)
QUANTITY = st.one_of(
    st.builds(
        lambda sign, zeros, num, frac, suffix, space: f"{space}{sign}{zeros}{num}{frac}{suffix}",
        st.sampled_from(["", "", "-", "+"]),
        st.sampled_from(["", "", "0", "00"]),
        st.sampled_from(["", "1", "5", "8", "10", "100", "1000", "1024", "1536", "999999"])
        | st.integers(0, 10**20).map(str),
        st.sampled_from(["", "", ".", ".5", ".25", ".000000001", ".0000000001", ".1230"])
        | st.integers(0, 10**12).map(lambda n: f".{n}"),
        QUANTITY_SUFFIX,
        st.sampled_from(["", "", " "]),
    ),
    st.sampled_from(["0", "1", "100m", "32Mi", "1Gi", "1.5Gi", "0.5", "1e3", "-0", "", "x"]),
    st.integers(-(10**12), 10**12),
)
RFC3339 = st.builds(
    lambda d, frac, zone: d.strftime("%Y-%m-%dT%H:%M:%S") + frac + zone,
    st.datetimes(min_value=dt.datetime(1970, 1, 1)),
    st.sampled_from(["", ".5", ".123456789"]),
    st.sampled_from(["Z", "+02:00", "-07:30", "+00:00"]),
)
RAW: st.SearchStrategy[Any] = st.recursive(
    st.dictionaries(st.sampled_from(["f:a", "f:b", "k:{}", "."]), st.just({}), max_size=3),
    lambda inner: st.dictionaries(st.sampled_from(["f:x", "f:y"]), inner, max_size=2),
    max_leaves=4,
)


def _int(bits: int) -> st.SearchStrategy[int]:
    low, high = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    return st.integers(-3, 3) | st.integers(low, high) | st.sampled_from([low, high])


SCALARS: dict[str, st.SearchStrategy[Any]] = {
    "string": TEXT,
    "bool": st.booleans(),
    "int32": _int(32),
    "int64": _int(64),
    "intstr": _int(32) | TEXT | st.sampled_from(["http", "25%", "8080"]),
    "quantity": QUANTITY,
    "time": RFC3339,
    "raw": RAW,
}


@functools.cache
def value(spec: str, depth: int) -> st.SearchStrategy[Any]:
    """A JSON value that Go would decode into the type `spec` (nulls and empties included)."""
    if spec in SCALARS:
        return SCALARS[spec]
    kind, _, rest = spec.partition(":")
    if kind == "ptr":
        return value(rest, depth)
    if kind == "slice":
        return st.lists(value(rest, depth + 1), max_size=2 if depth < 4 else 0)
    if kind == "map":
        return st.dictionaries(KEY, value(rest, depth + 1), max_size=3)
    return struct(rest, depth)


class _NoneOr(dict[tuple[str, int], st.SearchStrategy[Any]]):
    """null or a value of the type, built once per type and depth (building costs more than
    drawing)."""

    def __missing__(self, key: tuple[str, int]) -> st.SearchStrategy[Any]:
        self[key] = st.none() | value(*key)
        return self[key]


NONE_OR = _NoneOr()


@functools.cache
def struct(name: str, depth: int) -> st.SearchStrategy[dict[str, Any]]:
    fields = STRUCTS[name]

    @st.composite
    def draw(draw: st.DrawFn) -> dict[str, Any]:
        if depth > 6:
            return {}
        chosen = draw(st.lists(st.sampled_from(fields), max_size=min(len(fields), 4), unique=True))
        out: dict[str, Any] = {}
        for key, spec, _ in chosen:
            out[key] = draw(NONE_OR[spec, depth + 1])
        if draw(st.integers(0, 9)) == 0:
            out["notAGoField"] = draw(TEXT)
        return out

    return draw()


POD_TEMPLATE = value(ROOT, 0)
SPEC_HEAVY = st.builds(
    lambda meta, spec: {"metadata": meta, "spec": spec},
    struct("meta/v1.ObjectMeta", 1),
    struct("core/v1.PodSpec", 1),
)
CONTAINER_HEAVY = st.builds(
    lambda containers, volumes: {"spec": {"containers": containers, "volumes": volumes}},
    st.lists(struct("core/v1.Container", 2), min_size=1, max_size=2),
    st.lists(struct("core/v1.Volume", 2), max_size=2),
)
COLLISION = st.none() | st.none() | st.integers(0, 3) | st.integers(-(2**31), 2**31 - 1)


def ours(template: Any, collision: int | None) -> tuple[str, str]:
    try:
        return pod_template_hash(template, collision), go_json(template).decode()
    except TemplateEncodingError as err:
        return "error", str(err)


def compare(argo_hash: ArgoHash, cases: list[tuple[Any, int | None]]) -> int:
    theirs = argo_hash(cases)
    mismatches = []
    for (template, collision), (their_hash, their_text) in zip(cases, theirs, strict=True):
        our_hash, our_text = ours(template, collision)
        if (our_hash == "error") != (their_hash == "error") or (
            our_hash != "error" and (our_hash, our_text) != (their_hash, their_text)
        ):
            mismatches.append((template, collision, our_hash, our_text, their_hash, their_text))
    for template, collision, oh, ot, th, tt in mismatches[:3]:
        print(f"template {json.dumps(template)} collisionCount {collision}")
        print(f"  ours: {oh} {ot}\n  Argo: {th} {tt}")
    assert not mismatches, f"{len(mismatches)} of {len(cases)} templates hash differently"
    refused = sum(h == "error" for h, _ in theirs)
    sizes = sorted(len(text) for h, text in theirs if h != "error")
    print(
        f"{len(cases)} templates: {len(cases) - refused} hashed alike, {refused} refused by "
        f"both; encoded bytes median {sizes[len(sizes) // 2] if sizes else 0}, max "
        f"{sizes[-1] if sizes else 0}"
    )
    return len(cases)


def seed_template() -> dict[str, Any]:
    doc = yaml.safe_load((REPO / "config" / "samples" / "rollout.yaml").read_text())
    template: dict[str, Any] = doc["spec"]["template"]
    return template


# The pod templates of Argo Rollouts' e2e fixtures (test/e2e/*.yaml), by shape: the demo app
# with small requests, an nginx with a readiness probe, and one with an anti-affinity.
ARGO_E2E_TEMPLATES: list[dict[str, Any]] = [
    {
        "metadata": {"labels": {"app": "canary-demo"}},
        "spec": {
            "containers": [
                {
                    "name": "canary-demo",
                    "image": "nginx:1.19-alpine",
                    "ports": [{"name": "http", "containerPort": 80, "protocol": "TCP"}],
                    "resources": {"requests": {"memory": "16Mi", "cpu": "5m"}},
                }
            ]
        },
    },
    {
        "metadata": {"labels": {"app": "bluegreen"}},
        "spec": {
            "containers": [
                {
                    "name": "bluegreen",
                    "image": "nginx:1.19-alpine",
                    "readinessProbe": {"httpGet": {"path": "/", "port": 80}, "periodSeconds": 5},
                    "resources": {"requests": {"memory": "16Mi", "cpu": "1m"}},
                }
            ],
            "terminationGracePeriodSeconds": 0,
        },
    },
    {
        "metadata": {"labels": {"app": "anti-affinity"}, "annotations": {"x": "<&>"}},
        "spec": {
            "affinity": {
                "podAntiAffinity": {
                    "preferredDuringSchedulingIgnoredDuringExecution": [
                        {
                            "weight": 1,
                            "podAffinityTerm": {
                                "labelSelector": {
                                    "matchExpressions": [
                                        {
                                            "key": "rollouts-pod-template-hash",
                                            "operator": "In",
                                            "values": ["abc"],
                                        }
                                    ]
                                },
                                "topologyKey": "kubernetes.io/hostname",
                            },
                        }
                    ]
                }
            },
            "containers": [{"name": "c", "image": "argoproj/rollouts-demo:blue"}],
        },
    },
]


def test_the_seeds_template_gives_argos_hash(argo_hash: ArgoHash) -> None:
    assert pod_template_hash(seed_template()) == "67df9f55fd"
    assert argo_hash([(seed_template(), None)])[0][0] == "67df9f55fd"
    cases: list[tuple[Any, int | None]] = [(seed_template(), c) for c in (None, 0, 1, 7)]
    assert compare(argo_hash, cases) == 4


def test_argos_e2e_templates(argo_hash: ArgoHash) -> None:
    cases: list[tuple[Any, int | None]] = [(t, None) for t in ARGO_E2E_TEMPLATES]
    with_hash_label = copy.deepcopy(ARGO_E2E_TEMPLATES[0])
    with_hash_label["metadata"]["labels"]["rollouts-pod-template-hash"] = "6c8b8f7d4f"
    cases += [(with_hash_label, None), ({}, None), ({"metadata": None, "spec": None}, 2)]
    compare(argo_hash, cases)


def test_quantities_in_every_notation(argo_hash: ArgoHash) -> None:
    drawn: list[tuple[Any, int | None]] = []

    @settings(max_examples=1500, database=None, suppress_health_check=list(HealthCheck))
    @given(st.lists(QUANTITY, min_size=1, max_size=4))
    def collect(quantities: list[Any]) -> None:
        requests = {f"r{i}": q for i, q in enumerate(quantities)}
        drawn.append(({"spec": {"containers": [{"resources": {"requests": requests}}]}}, None))

    collect()
    compare(argo_hash, drawn)


@pytest.mark.parametrize(
    ("strategy", "n"),
    [
        (POD_TEMPLATE, N_DRAWN // 2),
        (SPEC_HEAVY, N_DRAWN // 4),
        (CONTAINER_HEAVY, N_DRAWN // 4),
    ],
    ids=["any", "pod-spec", "containers-volumes"],
)
def test_drawn_templates_hash_as_argo(
    argo_hash: ArgoHash, strategy: st.SearchStrategy[Any], n: int
) -> None:
    drawn: list[tuple[Any, int | None]] = []

    @settings(max_examples=n, database=None, deadline=None, suppress_health_check=list(HealthCheck))
    @given(strategy, COLLISION)
    def collect(template: Any, collision: int | None) -> None:
        drawn.append((template, collision))

    collect()
    assert len(drawn) >= n * 0.9
    compare(argo_hash, drawn)
