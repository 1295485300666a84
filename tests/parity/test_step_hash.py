"""rolloutd's `status.currentStepHash` against Argo Rollouts' own `ComputeStepHash`.

Argo hashes `json.Marshal` of the Rollout's `[]v1alpha1.CanaryStep`; the Go helper
(`tests/parity/gohash`, argo-rollouts v1.10.1's `utils/conditions.ComputeStepHash`) hashes the
same drawn step lists, and each must give the same hash and encoded bytes, or be refused by
both. Two strategies: steps as users write them (every step kind, pauses with and without a
duration as an int and as a string, analysis with templates and args...), and any value the
generated field table allows (nulls, empties, unknown fields, unicode, numbers at the edges).
The steps also go through rolloutd's model, the way the planner hashes them.
"""

from __future__ import annotations

import functools
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rolloutd.model.rollout import CanaryStep
from rolloutd.plan.gostepfields import ROOT, STRUCTS
from rolloutd.plan.hashing import (
    TemplateEncodingError,
    go_steps_json,
    legacy_steps_hash,
    step_hash_matches,
    steps_hash,
)
from tests.parity.conftest import ArgoHash

N_DRAWN = 3000

TEXT = st.text(
    alphabet=st.characters(codec="utf-8")
    | st.sampled_from(list('<>&\u2028\u2029"\\\n\t\b\f\x00\x1f\x7fé漢😀 ')),
    max_size=8,
)
NAME = st.sampled_from(["canary", "primary", "header-route", "mirror", "a<b>&c", "é"]) | TEXT
DURATION = st.sampled_from([0, 1, 10, 30, 3600]) | st.sampled_from(["10s", "1m", "1h", "30", ""])
WEIGHT = st.integers(0, 100) | st.sampled_from([-1, 2**31 - 1])
STRING_MATCH = st.fixed_dictionaries(
    {}, optional={"exact": NAME, "prefix": NAME, "regex": st.sampled_from(["^/a.*", "[<&>]"])}
)
JSON_LEAF = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | TEXT
CONFIG = st.recursive(
    st.dictionaries(TEXT, JSON_LEAF, max_size=3),
    lambda inner: st.dictionaries(
        TEXT, inner | st.lists(inner | JSON_LEAF, max_size=2), max_size=2
    ),
    max_leaves=6,
)
ARG = st.fixed_dictionaries(
    {"name": NAME},
    optional={
        "value": TEXT,
        "valueFrom": st.sampled_from(
            [
                {"podTemplateHashValue": "Latest"},
                {"podTemplateHashValue": "Stable"},
                {"fieldRef": {"fieldPath": "metadata.labels['app']"}},
            ]
        ),
    },
)
TEMPLATE_REF = st.fixed_dictionaries(
    {"templateName": NAME}, optional={"clusterScope": st.booleans()}
)
METADATA = st.fixed_dictionaries(
    {},
    optional={
        "labels": st.dictionaries(NAME, TEXT, max_size=2),
        "annotations": st.dictionaries(NAME, TEXT, max_size=2),
    },
)
STEP = st.one_of(
    st.builds(lambda w: {"setWeight": w}, WEIGHT),
    st.just({"pause": {}}),
    st.builds(lambda d: {"pause": {"duration": d}}, DURATION),
    st.builds(
        lambda s: {"setCanaryScale": s},
        st.fixed_dictionaries(
            {},
            optional={
                "weight": WEIGHT,
                "replicas": st.integers(0, 10),
                "matchTrafficWeight": st.booleans(),
            },
        ),
    ),
    st.builds(
        lambda a: {"analysis": a},
        st.fixed_dictionaries(
            {"templates": st.lists(TEMPLATE_REF, min_size=1, max_size=2)},
            optional={
                "args": st.lists(ARG, max_size=2),
                "dryRun": st.lists(st.builds(lambda n: {"metricName": n}, NAME), max_size=1),
                "measurementRetention": st.lists(
                    st.builds(lambda n, k: {"metricName": n, "limit": k}, NAME, st.integers(0, 9)),
                    max_size=1,
                ),
                "analysisRunMetadata": METADATA,
            },
        ),
    ),
    st.builds(
        lambda h: {"setHeaderRoute": h},
        st.fixed_dictionaries(
            {"name": NAME},
            optional={
                "match": st.lists(
                    st.fixed_dictionaries(
                        {"headerName": NAME}, optional={"headerValue": STRING_MATCH}
                    ),
                    max_size=2,
                )
            },
        ),
    ),
    st.builds(
        lambda m: {"setMirrorRoute": m},
        st.fixed_dictionaries(
            {"name": NAME},
            optional={
                "percentage": st.integers(0, 100),
                "match": st.lists(
                    st.fixed_dictionaries(
                        {},
                        optional={
                            "method": STRING_MATCH,
                            "path": STRING_MATCH,
                            "headers": st.dictionaries(NAME, STRING_MATCH, max_size=2),
                        },
                    ),
                    max_size=2,
                ),
            },
        ),
    ),
    st.builds(
        lambda e: {"experiment": e},
        st.fixed_dictionaries(
            {
                "templates": st.lists(
                    st.fixed_dictionaries(
                        {"name": NAME, "specRef": st.sampled_from(["canary", "stable"])},
                        optional={
                            "replicas": st.integers(0, 3),
                            "weight": WEIGHT,
                            "metadata": METADATA,
                            "selector": st.just({"matchLabels": {"app": "x"}}),
                            "service": st.fixed_dictionaries({}, optional={"name": NAME}),
                        },
                    ),
                    min_size=1,
                    max_size=2,
                )
            },
            optional={
                "duration": st.sampled_from(["1m", "30s", ""]),
                "analyses": st.lists(
                    st.fixed_dictionaries(
                        {"name": NAME, "templateName": NAME},
                        optional={
                            "args": st.lists(ARG, max_size=1),
                            "requiredForCompletion": st.booleans(),
                            "clusterScope": st.booleans(),
                        },
                    ),
                    max_size=2,
                ),
                "scaleDownDelaySeconds": st.integers(0, 60),
            },
        ),
    ),
    st.builds(
        lambda n, c: {"plugin": {"name": n} if c is None else {"name": n, "config": c}},
        NAME,
        st.none() | CONFIG,
    ),
)
USER_STEPS = st.lists(STEP, max_size=8)


def _int(bits: int) -> st.SearchStrategy[int]:
    low, high = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    return st.integers(-3, 3) | st.integers(low, high) | st.sampled_from([low, high, high + 1])


SCALARS: dict[str, st.SearchStrategy[Any]] = {
    "string": TEXT,
    "bool": st.booleans(),
    "int32": _int(32),
    "intstr": _int(32) | TEXT | st.sampled_from(["10s", "25%"]),
    "raw": CONFIG | st.lists(JSON_LEAF, max_size=2) | JSON_LEAF,
}


@functools.cache
def value(spec: str, depth: int) -> st.SearchStrategy[Any]:
    """A JSON value that Go would (mostly) decode into the type `spec`, nulls included."""
    if spec in SCALARS:
        return SCALARS[spec]
    kind, _, rest = spec.partition(":")
    if kind == "ptr":
        return st.none() | value(rest, depth)
    if kind == "slice":
        return st.none() | st.lists(value(rest, depth + 1), max_size=3 if depth < 4 else 0)
    if kind == "map":
        return st.none() | st.dictionaries(TEXT, value(rest, depth + 1), max_size=2)
    fields = STRUCTS[rest]

    @st.composite
    def draw(draw: st.DrawFn) -> dict[str, Any]:
        chosen = draw(st.lists(st.sampled_from(fields), max_size=min(len(fields), 4), unique=True))
        out = {key: draw(value(spec, depth + 1)) for key, spec, _ in chosen}
        if draw(st.integers(0, 9)) == 0:
            out["notAGoField"] = draw(TEXT)
        return out

    return st.none() | draw()


ANY_STEPS = value(ROOT, 0)


def ours(steps: Any) -> tuple[str, str]:
    try:
        return steps_hash(steps), go_steps_json(steps).decode()
    except TemplateEncodingError as err:
        return "error", str(err)


def compare(argo_hash: ArgoHash, cases: list[Any]) -> int:
    theirs = argo_hash.steps(cases)
    mismatches = []
    for steps, (their_hash, their_text) in zip(cases, theirs, strict=True):
        our_hash, our_text = ours(steps)
        if (our_hash == "error") != (their_hash == "error") or (
            our_hash != "error" and (our_hash, our_text) != (their_hash, their_text)
        ):
            mismatches.append((steps, our_hash, our_text, their_hash, their_text))
    for steps, oh, ot, th, tt in mismatches[:3]:
        print(f"steps {json.dumps(steps)}\n  ours: {oh} {ot}\n  Argo: {th} {tt}")
    assert not mismatches, f"{len(mismatches)} of {len(cases)} step lists hash differently"
    refused = sum(h == "error" for h, _ in theirs)
    print(
        f"{len(cases)} step lists: {len(cases) - refused} hashed alike, {refused} refused by both"
    )
    return len(cases)


SEED_STEPS: list[dict[str, Any]] = [
    {"setWeight": 20},
    {"pause": {}},
    {"setWeight": 40},
    {"pause": {"duration": 10}},
    {"setWeight": 60},
    {"pause": {"duration": "30s"}},
    {"analysis": {"templates": [{"templateName": "success-rate"}], "args": [{"name": "s"}]}},
]


def test_known_step_lists(argo_hash: ArgoHash) -> None:
    cases: list[Any] = [None, [], SEED_STEPS, [{}], [{"pause": None}], [{"plugin": {"name": "p"}}]]
    cases.append([{"plugin": {"name": "p", "config": None}}])
    assert compare(argo_hash, cases) == len(cases)
    # Go's nil slice and an empty one are different bytes, so different hashes.
    assert steps_hash(None) != steps_hash([])


def _collect(strategy: st.SearchStrategy[Any], n: int) -> list[Any]:
    drawn: list[Any] = []

    @settings(max_examples=n, database=None, deadline=None, suppress_health_check=list(HealthCheck))
    @given(strategy)
    def collect(steps: Any) -> None:
        drawn.append(steps)

    collect()
    assert len(drawn) >= n * 0.9
    return drawn


@pytest.mark.parametrize(
    ("strategy", "n"), [(USER_STEPS, N_DRAWN), (ANY_STEPS, N_DRAWN)], ids=["user", "any"]
)
def test_drawn_steps_hash_as_argo(argo_hash: ArgoHash, strategy: Any, n: int) -> None:
    compare(argo_hash, _collect(strategy, n))


def test_steps_through_the_model_hash_as_argo(argo_hash: ArgoHash) -> None:
    """The planner hashes the steps after rolloutd's model read them: that must not change
    Argo's bytes (the model keeps every field Argo's types have, and drops only unset ones)."""
    drawn = [
        steps
        for steps in _collect(USER_STEPS, 500)
        # Plugin configs the model keeps as objects only; a null config is dropped by the API
        # server before anyone reads it.
        if all("plugin" not in s or isinstance(s["plugin"].get("config", {}), dict) for s in steps)
    ]
    theirs = argo_hash.steps(drawn)
    bad = []
    checked = 0
    for steps, (their_hash, _) in zip(drawn, theirs, strict=True):
        try:
            through_model = [CanaryStep.model_validate(s).to_json() for s in steps]
        except ValueError:
            continue  # refused by rolloutd's validation: never hashed
        checked += 1
        if steps_hash(through_model) != their_hash:
            bad.append((steps, through_model))
    for steps, through in bad[:3]:
        print(f"steps {json.dumps(steps)}\n  model: {json.dumps(through)}")
    assert not bad, f"{len(bad)} of {checked} step lists change hash through the model"
    print(f"{checked} of {len(drawn)} step lists read by the model: same hash as Argo's")
    assert checked >= len(drawn) // 4


def test_the_legacy_hash_is_accepted_and_nothing_else() -> None:
    legacy = legacy_steps_hash(SEED_STEPS)
    assert legacy != steps_hash(SEED_STEPS)
    assert step_hash_matches(legacy, SEED_STEPS)
    assert step_hash_matches(steps_hash(SEED_STEPS), SEED_STEPS)
    other = SEED_STEPS[:-1]
    assert not step_hash_matches(legacy, other)
    assert not step_hash_matches(steps_hash(other), SEED_STEPS)
    assert not step_hash_matches(None, SEED_STEPS)
