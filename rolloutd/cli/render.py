"""Text output of the CLI, as pure functions: objects (or their info) and `now` in, a string out.

`render_rollout` draws `get rollout`: the header block (labels in a 17-column field) and the
tree (Rollout, `# revision:N`, ReplicaSets, Pods, AnalysisRuns) aligned the way Go's
`text/tabwriter` aligns the plugin's output (minimum width 0, padding 2). The tree is what users
and their scripts compare with Argo's, so the layout is reproduced exactly; the only deliberate
difference is that trailing blanks are trimmed from each line.

Colour is an argument: callers decide (TTY, `--no-color`, `TERM=dumb`), this module only
paints. Widths are measured without the escape sequences, so colour never shifts a column.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rolloutd.cli import info as ri
from rolloutd.cli.timefmt import age, human_duration, parse_time

ICON_ROLLOUT = "⟳"
ICON_REVISION = "#"
ICON_REPLICA_SET = "⧉"
ICON_POD = "□"
ICON_ANALYSIS = "α"
ICON_JOB = "⊞"
ICON_EXPERIMENT = "Σ"

_RED, _GREEN, _YELLOW, _HI_BLUE = 31, 32, 33, 94
_COLOURS: dict[str, int] = {
    ri.ICON_WAITING: _YELLOW,
    ri.ICON_PROGRESSING: _HI_BLUE,
    ri.ICON_WARNING: _RED,
    ri.ICON_UNKNOWN: _YELLOW,
    ri.ICON_OK: _GREEN,
    ri.ICON_BAD: _RED,
    ri.TAG_CANARY: _YELLOW,
    ri.TAG_STABLE: _GREEN,
    ri.TAG_ACTIVE: _GREEN,
    ri.TAG_PREVIEW: _HI_BLUE,
    "Pending": _HI_BLUE,
    "Running": _HI_BLUE,
}
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_HEADER_FORMAT = "{:<17}{}"

CLEAR_SCREEN = "\x1b[H\x1b[2J"


class Painter:
    """Adds ANSI colour to the words the plugin colours, or passes text through unchanged."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def __call__(self, text: str, key: str | None = None) -> str:
        code = _COLOURS.get(text if key is None else key)
        if not self.enabled or code is None:
            return text
        return f"\x1b[{code}m{text}\x1b[0m"


def visible_width(text: str) -> int:
    """Characters a terminal shows for `text`: escape sequences take no room."""
    return len(_ANSI.sub("", text))


def tabulate(rows: Sequence[Sequence[str]], padding: int = 2) -> list[str]:
    """Align cells like Go's `text/tabwriter` (minwidth 0, pad char ' ', no flags).

    Every cell of a row but the last is a column cell; the last is trailing text and is not
    aligned. A column's width is fixed per block of consecutive rows that have a cell in it,
    which is how tabwriter behaves when rows have different numbers of cells.
    """
    widths: list[list[int]] = [[0] * max(len(row) - 1, 0) for row in rows]
    columns = max((len(row) - 1 for row in rows), default=0)
    for col in range(columns):
        start = 0
        while start < len(rows):
            if len(rows[start]) - 1 <= col:
                start += 1
                continue
            end = start
            while end < len(rows) and len(rows[end]) - 1 > col:
                end += 1
            width = max(visible_width(rows[i][col]) for i in range(start, end)) + padding
            for i in range(start, end):
                widths[i][col] = width
            start = end
    lines: list[str] = []
    for row, row_widths in zip(rows, widths, strict=True):
        parts = [
            cell + " " * (row_widths[i] - visible_width(cell)) for i, cell in enumerate(row[:-1])
        ]
        parts.append(row[-1] if row else "")
        lines.append("".join(parts).rstrip(" "))
    return lines


def _prefixes(is_last: bool, sub_prefix: str) -> tuple[str, str]:
    if is_last:
        return sub_prefix + "└──", sub_prefix + "   "
    return sub_prefix + "├──", sub_prefix + "│  "


def scale_down_delay(deadline: str, now: datetime) -> str:
    """`passed`, or the time left until a ReplicaSet's scale-down deadline."""
    moment = parse_time(deadline)
    if moment is None:
        return ""
    if moment < now:
        return "passed"
    return human_duration((moment - now).total_seconds())


def _format_image(image: ri.ImageInfo, paint: Painter) -> str:
    if not image.tags:
        return image.image
    return f"{image.image} ({', '.join(paint(tag) for tag in image.tags)})"


def render_header(info: ri.RolloutInfo, paint: Painter) -> list[str]:
    def line(label: str, value: object) -> str:
        return _HEADER_FORMAT.format(label, value).rstrip(" ")

    out = [
        line("Name:", info.name),
        line("Namespace:", info.namespace),
        line("Status:", f"{paint(info.icon)} {info.phase}"),
    ]
    if info.message:
        out.append(line("Message:", info.message))
    out.append(line("Strategy:", info.strategy))
    if info.strategy == "Canary":
        out.append(line("  Step:", info.step))
        out.append(line("  SetWeight:", info.set_weight))
        out.append(line("  ActualWeight:", info.actual_weight))
    images = info.images()
    for i, image in enumerate(images):
        out.append(line("Images:" if i == 0 else "", _format_image(image, paint)))
    out.append("Replicas:")
    out.append(line("  Desired:", info.desired))
    out.append(line("  Current:", info.current))
    out.append(line("  Updated:", info.updated))
    out.append(line("  Ready:", info.ready))
    out.append(line("  Available:", info.available))
    return out


@dataclass(frozen=True)
class ExperimentView:
    """One Experiment in a tree: the object, its revision, and what it owns."""

    obj: Mapping[str, Any]
    revision: int
    replica_sets: list[ri.ReplicaSetInfo]
    analysis_runs: list[ri.AnalysisRunInfo]


def experiment_views(
    owner: Mapping[str, Any],
    experiments: Sequence[Mapping[str, Any]],
    replica_sets: Sequence[Mapping[str, Any]],
    pods: Sequence[Mapping[str, Any]],
    analysis_runs: Sequence[Mapping[str, Any]],
) -> list[ExperimentView]:
    """The Experiments `owner` (a Rollout) owns, each with the ReplicaSets and runs it owns."""
    uid = ri.meta(owner).get("uid")
    views = []
    for exp in experiments:
        refs = ri.meta(exp).get("ownerReferences") or []
        if not any(isinstance(r, dict) and r.get("uid") == uid for r in refs):
            continue
        views.append(
            ExperimentView(
                obj=exp,
                revision=ri._revision(exp),
                replica_sets=ri._replica_set_infos(exp, replica_sets, pods),
                analysis_runs=ri._analysis_run_infos(exp, analysis_runs),
            )
        )
    views.sort(key=lambda v: (str(ri.meta(v.obj).get("creationTimestamp", "")), v.revision))
    return views


def experiment_rows(
    exp: Mapping[str, Any],
    sets: Sequence[ri.ReplicaSetInfo],
    analysis: Sequence[ri.AnalysisRunInfo],
    prefix: str,
    sub_prefix: str,
    now: datetime,
    paint: Painter,
) -> list[list[str]]:
    """The Σ line of one Experiment and its children (in `get experiment`, or under a
    Rollout's revision in `get rollout`)."""
    meta = ri.meta(exp)
    phase = str(ri.status(exp).get("phase") or "")
    rows = [
        [
            f"{prefix}{ICON_EXPERIMENT} {paint(str(meta.get('name', '')), phase)}",
            "Experiment",
            f"{paint(ri.analysis_icon(phase))} {phase}",
            age(meta.get("creationTimestamp"), now),
            "",
        ]
    ]
    total = len(sets) + len(analysis)
    for position, rs in enumerate(sets):
        child, child_sub = _prefixes(position == total - 1, sub_prefix)
        rows.extend(_replica_set_rows(rs, child, child_sub, now, paint))
    for offset, run in enumerate(analysis):
        child, child_sub = _prefixes(len(sets) + offset == total - 1, sub_prefix)
        rows.extend(_analysis_run_rows(run, child, child_sub, now, paint))
    return rows


def render_tree(
    info: ri.RolloutInfo,
    now: datetime,
    paint: Painter,
    experiments: Sequence[ExperimentView] = (),
) -> list[str]:
    rows: list[list[str]] = [["NAME", "KIND", "STATUS", "AGE", "INFO"]]
    rows.append(
        [
            f"{ICON_ROLLOUT} {info.name}",
            "Rollout",
            f"{paint(info.icon)} {info.phase}",
            age(info.created, now),
            "",
        ]
    )
    revisions = info.revisions()
    for rev_index, revision in enumerate(revisions):
        prefix, sub_prefix = _prefixes(rev_index == len(revisions) - 1, "")
        rows.append([f"{prefix}{ICON_REVISION} revision:{revision}", "", " ", "", ""])
        replica_sets = [rs for rs in info.replica_sets if rs.revision == revision]
        runs = [run for run in info.analysis_runs if run.revision == revision]
        exps = [e for e in experiments if e.revision == revision]
        total = len(replica_sets) + len(exps) + len(runs)
        position = 0
        for rs in replica_sets:
            child, child_sub = _prefixes(position == total - 1, sub_prefix)
            rows.extend(_replica_set_rows(rs, child, child_sub, now, paint))
            position += 1
        # Argo's order under a revision: ReplicaSets, then Experiments, then AnalysisRuns.
        for view in exps:
            child, child_sub = _prefixes(position == total - 1, sub_prefix)
            rows.extend(
                experiment_rows(
                    view.obj, view.replica_sets, view.analysis_runs, child, child_sub, now, paint
                )
            )
            position += 1
        for run in runs:
            child, child_sub = _prefixes(position == total - 1, sub_prefix)
            rows.extend(_analysis_run_rows(run, child, child_sub, now, paint))
            position += 1
    return tabulate(rows)


def _replica_set_rows(
    rs: ri.ReplicaSetInfo, prefix: str, sub_prefix: str, now: datetime, paint: Painter
) -> list[list[str]]:
    tags = rs.tags
    # The Go plugin nests one colour per role around the name; the innermost, i.e. the first
    # role that has a colour, is the one a terminal shows.
    coloured = [tag for tag in tags if tag in _COLOURS]
    name = paint(rs.name, coloured[0]) if coloured else rs.name
    info_cols = [paint(tag) for tag in tags]
    if rs.scale_down_deadline:
        info_cols.append(f"delay:{scale_down_delay(rs.scale_down_deadline, now)}")
    rows = [
        [
            f"{prefix}{ICON_REPLICA_SET} {name}",
            "ReplicaSet",
            f"{paint(rs.icon)} {rs.status}",
            age(rs.created, now),
            ",".join(info_cols),
        ]
    ]
    for i, pod in enumerate(rs.pods):
        pod_prefix, _ = _prefixes(i == len(rs.pods) - 1, sub_prefix)
        pod_cols = [f"ready:{pod.ready}"]
        if pod.restarts > 0:
            pod_cols.append(f"restarts:{pod.restarts}")
        rows.append(
            [
                f"{pod_prefix}{ICON_POD} {pod.name}",
                "Pod",
                f"{paint(pod.icon)} {pod.status}",
                age(pod.created, now),
                ",".join(pod_cols),
            ]
        )
    return rows


def _analysis_run_rows(
    run: ri.AnalysisRunInfo, prefix: str, sub_prefix: str, now: datetime, paint: Painter
) -> list[list[str]]:
    counts = [
        f"{paint(icon)} {count}"
        for icon, count in (
            (ri.ICON_OK, run.successful),
            (ri.ICON_BAD, run.failed),
            (ri.ICON_UNKNOWN, run.inconclusive),
            (ri.ICON_WARNING, run.error),
        )
        if count > 0
    ]
    rows = [
        [
            f"{prefix}{ICON_ANALYSIS} {paint(run.name, run.status)}",
            "AnalysisRun",
            f"{paint(run.icon)} {run.status}",
            age(run.created, now),
            ",".join(counts),
        ]
    ]
    for i, job in enumerate(run.jobs):
        job_prefix, _ = _prefixes(i == len(run.jobs) - 1, sub_prefix)
        rows.append(
            [
                f"{job_prefix}{ICON_JOB} {paint(job.name, job.status)}",
                "Job",
                f"{paint(job.icon)} {job.status}",
                age(job.created, now) if job.created else "",
                "",
            ]
        )
    return rows


def render_rollout_info(
    info: ri.RolloutInfo,
    *,
    now: datetime,
    color: bool = False,
    experiments: Sequence[ExperimentView] = (),
) -> str:
    paint = Painter(color)
    lines = render_header(info, paint)
    lines.append("")
    lines.extend(render_tree(info, now, paint, experiments))
    return "\n".join(lines) + "\n"


def render_rollout(
    rollout: Mapping[str, Any],
    replica_sets: Sequence[Mapping[str, Any]] = (),
    pods: Sequence[Mapping[str, Any]] = (),
    analysis_runs: Sequence[Mapping[str, Any]] = (),
    *,
    now: datetime,
    color: bool = False,
    experiments: Sequence[Mapping[str, Any]] = (),
) -> str:
    """The full `get rollout` output for these objects at time `now`."""
    info = ri.rollout_info(rollout, replica_sets, pods, analysis_runs)
    views = experiment_views(rollout, experiments, replica_sets, pods, analysis_runs)
    return render_rollout_info(info, now=now, color=color, experiments=views)


# -- list rollouts ----------------------------------------------------------------------------

LIST_HEADER = [
    "NAME",
    "STRATEGY",
    "STATUS",
    "STEP",
    "SET-WEIGHT",
    "READY",
    "DESIRED",
    "UP-TO-DATE",
    "AVAILABLE",
]


def list_row(
    rollout: Mapping[str, Any], *, all_namespaces: bool = False, timestamp: str | None = None
) -> list[str]:
    """One `list rollouts` row, its cells pre-padded to the header widths as the plugin does."""
    st = ri.status(rollout)
    canary = ri.canary_strategy(rollout)
    strategy, step, set_weight = "unknown", "-", "-"
    if canary is not None:
        strategy = "Canary"
        steps = ri.canary_steps(rollout)
        index = st.get("currentStepIndex")
        if index is not None and steps:
            step = f"{index}/{len(steps)}"
        set_weight = str(ri.current_set_weight(rollout))
    elif ri.blue_green_strategy(rollout) is not None:
        strategy = "BlueGreen"
    phase, _ = ri.rollout_phase(rollout)
    cells = [
        f"{ri.meta(rollout).get('name', ''):<10}",
        f"{strategy:<9}",
        f"{phase:<12}",
        f"{step:<4}",
        f"{set_weight:<10}",
        f"{st.get('readyReplicas') or 0}/{st.get('replicas') or 0}".ljust(5),
        f"{ri.desired_replicas(rollout):<7}",
        f"{st.get('updatedReplicas') or 0:<10}",
        f"{st.get('availableReplicas') or 0:<9}",
    ]
    if all_namespaces:
        cells.insert(0, f"{ri.meta(rollout).get('namespace', ''):<9}")
    if timestamp is not None:
        cells.insert(0, f"{timestamp:<20}")
    return cells


def list_header(*, all_namespaces: bool = False, timestamps: bool = False) -> list[str]:
    header = list(LIST_HEADER)
    if all_namespaces:
        header.insert(0, "NAMESPACE")
    if timestamps:
        header.insert(0, "TIMESTAMP")
    return header


def render_list(rollouts: Sequence[Mapping[str, Any]], *, all_namespaces: bool = False) -> str:
    """The `list rollouts` table (header and one row per Rollout)."""
    rows = [list_header(all_namespaces=all_namespaces)]
    rows.extend(list_row(ro, all_namespaces=all_namespaces) for ro in rollouts)
    return "\n".join(tabulate(rows)) + "\n"
