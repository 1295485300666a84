"""`get rollout` output against the seed's three samples and our golden files.

Each fixture under tests/golden/ holds the objects a cluster would return (Rollout,
ReplicaSets, Pods) and the moment `now` of the sample; rendering them must give the golden text
line for line. The `seed-*` fixtures reproduce exactly what the seed document prints; its samples
lost their whitespace in the document, so for those the comparison with the seed itself is
token by token, and the golden files hold the aligned layout the Go plugin prints.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from rolloutd.cli.render import render_rollout
from rolloutd.cli.timefmt import parse_time

GOLDEN = Path(__file__).resolve().parents[2] / "golden"
SEED = Path(__file__).resolve().parents[3].parent / "shared" / "seeds" / "000_84acf17b4ddd520d.txt"

FIXTURES = [
    "argo-bluegreen-paused",
    "seed-healthy",
    "seed-paused-step1",
    "seed-paused-step3",
    "paused-step1-6pods",
    "paused-step3-7pods",
]

_AGE = re.compile(r"^(\d+y)?(\d+d)?(\d+h)?(\d+m)?(\d+s)?$")
_POD_SUFFIX = re.compile(r"\b(rollouts-demo-[a-z0-9]{9,10})-[a-z0-9]{5}\b")


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((GOLDEN / f"{name}.yaml").read_text())
    return data


def render_fixture(name: str) -> str:
    data = load(name)
    objects = data["objects"]

    def kind(k: str) -> list[dict[str, Any]]:
        return [o for o in objects if o["kind"] == k]

    now = parse_time(data["now"])
    assert now is not None
    return render_rollout(
        kind("Rollout")[0], kind("ReplicaSet"), kind("Pod"), kind("AnalysisRun"), now=now
    )


def normalise(text: str) -> list[str]:
    """Tokens with ages and pod-name suffixes blanked, so recorded states compare over time."""
    text = _POD_SUFFIX.sub(r"\1-xxxxx", text)
    return ["<age>" if _AGE.match(tok) and tok[-1] in "smhdy" else tok for tok in text.split()]


def seed_samples() -> list[str]:
    """The three `get rollout` samples in the seed, as the document prints them."""
    text = SEED.read_text()
    samples = []
    for match in re.finditer(r"Name: rollouts-demo", text):
        line = text[match.start() : text.index("\n", match.start())]
        samples.append(line[: line.rindex("ready:1/1") + len("ready:1/1")])
    return samples


@pytest.mark.parametrize("name", FIXTURES)
def test_render_matches_golden_file(name: str) -> None:
    assert render_fixture(name) == (GOLDEN / f"{name}.txt").read_text()


@pytest.mark.skipif(not SEED.exists(), reason="the seed document is not beside the repository")
@pytest.mark.parametrize(
    ("index", "name"), [(0, "seed-healthy"), (1, "seed-paused-step1"), (2, "seed-paused-step3")]
)
def test_render_matches_seed_sample(index: int, name: str) -> None:
    sample = seed_samples()[index]
    rendered = render_fixture(name)
    # Exactly, word for word, with the ages and names of the sample ...
    assert rendered.split() == sample.split()
    # ... and still once ages and pod hashes are blanked (how recorded states are compared).
    assert normalise(rendered) == normalise(sample)


def test_seed_has_three_samples() -> None:
    if not SEED.exists():
        pytest.skip("the seed document is not beside the repository")
    assert len(seed_samples()) == 3


@pytest.mark.parametrize(
    ("seed_name", "full_name", "extra_pods"),
    [
        ("seed-paused-step1", "paused-step1-6pods", 1),
        ("seed-paused-step3", "paused-step3-7pods", 2),
    ],
)
def test_full_cluster_state_adds_only_the_pods_the_seed_left_out(
    seed_name: str, full_name: str, extra_pods: int
) -> None:
    seed_lines = render_fixture(seed_name).splitlines()
    full_lines = render_fixture(full_name).splitlines()
    # The header block (everything before the tree) is the seed's, unchanged.
    header_end = seed_lines.index("")
    assert full_lines[:header_end] == seed_lines[:header_end]
    assert len(full_lines) == len(seed_lines) + extra_pods
    pods = [line for line in full_lines if " Pod " in line]
    current = next(line for line in full_lines if line.startswith("  Current:"))
    # The tree now lists every pod the header counts.
    assert len(pods) == int(current.split()[-1])


def test_golden_layout_is_the_go_tabwriter_layout() -> None:
    lines = (GOLDEN / "seed-paused-step1.txt").read_text().splitlines()
    tree = lines[lines.index("") + 1 :]
    # NAME, KIND, STATUS and AGE start at the same column on every row of the tree.
    header = tree[0]
    columns = [header.index(word) for word in ("KIND", "STATUS", "AGE", "INFO")]
    assert columns == [43, 55, 66, 73]
    for row in tree[1:]:
        if "revision:" in row:
            continue
        assert row[columns[0] - 2 : columns[0]] == "  "
        assert row[columns[0]] != " "
    # Header labels sit in a 17-character field.
    assert lines[0] == "Name:            rollouts-demo"
    assert lines[4] == "Strategy:        Canary"
    assert lines[5] == "  Step:          1/8"
