"""`completion bash|zsh|fish` is generated from the parser, and every command's --help has a
description and an "Examples:" section (kubectl style)."""

from __future__ import annotations

import argparse
import io
import shutil
import subprocess
from pathlib import Path

import pytest

from rolloutd.cli import app, completion


def _run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = app.run(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def _subparsers(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> list[tuple[str, argparse.ArgumentParser]]:
    found: list[tuple[str, argparse.ArgumentParser]] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            seen: set[int] = set()
            for name, sub in action.choices.items():
                if id(sub) not in seen:
                    seen.add(id(sub))
                    found.append((" ".join((*path, name)), sub))
                    found.extend(_subparsers(sub, (*path, name)))
    return found


def test_every_subcommand_has_a_description_and_examples() -> None:
    parser = app.build_parser()
    missing = [
        name
        for name, sub in _subparsers(parser)
        if not sub.description or not (sub.epilog or "").startswith("Examples:")
    ]
    assert missing == []
    assert (parser.epilog or "").startswith("Examples:")


def test_help_prints_examples(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, _ = _run("promote", "--help")
    assert code == 0
    out = capsys.readouterr().out
    assert (
        "Examples:\n  # Promote a paused rollout\n  kubectl argo rollouts promote guestbook" in out
    )


def _bash_complete(script: Path, *words: str) -> list[str]:
    quoted = " ".join(f"'{w}'" for w in words)
    command = (
        f"source {script}; complete -p kubectl-argo-rollouts >/dev/null || exit 3; "
        f"COMP_WORDS=({quoted}); COMP_CWORD={len(words) - 1}; "
        '_kubectl_argo_rollouts; printf "%s\\n" "${COMPREPLY[@]}"'
    )
    done = subprocess.run(["bash", "-c", command], capture_output=True, text=True, check=True)
    return done.stdout.split()


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_bash_completion_lists_subcommands_and_flags(tmp_path: Path) -> None:
    code, out, _ = _run("completion", "bash")
    assert code == 0
    script = tmp_path / "completion.bash"
    script.write_text(out)
    top = _bash_complete(script, "kubectl-argo-rollouts", "")
    assert {"get", "promote", "plan", "completion", "version", "list"} <= set(top)
    assert _bash_complete(script, "kubectl-argo-rollouts", "pro") == ["promote"]
    kinds = _bash_complete(script, "kubectl-argo-rollouts", "get", "")
    assert {"rollout", "ro", "rollouts"} <= set(kinds)
    # An alias leads to the same flags as the name it stands for.
    flags = _bash_complete(script, "kubectl-argo-rollouts", "get", "ro", "--")
    assert "--watch" in flags and "--no-color" in flags
    assert "--full" in _bash_complete(script, "rollouts", "-n", "demo", "promote", "--")


def test_fish_and_zsh_cover_the_tree() -> None:
    parser = app.build_parser()
    fish = completion.script(parser, "fish")
    assert "complete -c kubectl-argo-rollouts -f -n '__fish_use_subcommand' -a plan" in fish
    assert "-l full" in fish
    zsh = completion.script(parser, "zsh")
    assert zsh.startswith("#compdef kubectl-argo-rollouts")
    assert "bashcompinit" in zsh and "_kubectl_argo_rollouts" in zsh


def test_unknown_shell_is_a_usage_error() -> None:
    code, out, err = _run("completion", "tcsh")
    assert code == 1 and out == ""
    assert "invalid choice: 'tcsh'" in err


def test_version_is_shaped_like_argos() -> None:
    code, out, _ = _run("version")
    lines = out.splitlines()
    fields = dict(line.strip().split(": ", 1) for line in lines[1:])
    head = lines[0]
    assert code == 0 and head.startswith("kubectl-argo-rollouts: v")
    if fields["GitCommit"] != "unknown":
        assert head.endswith("+" + fields["GitCommit"][:7])
    assert fields["Platform"].count("/") == 1
    assert _run("version", "--short")[1] == head + "\n"


def test_rolloutd_version_flag(capsys: pytest.CaptureFixture[str]) -> None:
    from rolloutd import main

    with pytest.raises(SystemExit) as done:
        main.main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.startswith("rolloutd ")


def test_every_rolloutd_run_flag_has_help_and_examples() -> None:
    from rolloutd import main

    parser = main.build_parser()
    run = next(
        sub
        for action in parser._actions
        if isinstance(action, argparse._SubParsersAction)
        for name, sub in action.choices.items()
        if name == "run"
    )
    missing = [
        action.option_strings[0]
        for action in run._actions
        if action.option_strings and action.option_strings[0] != "-h" and not action.help
    ]
    assert missing == []
    assert (run.epilog or "").startswith("Examples:")
    assert "rolloutd run --leader-elect" in run.format_help()
