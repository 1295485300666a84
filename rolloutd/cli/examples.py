"""The "Examples:" section of every command's --help, kubectl style.

Kept apart from the parser so each command's examples read as a block; `add_examples` walks
the parser tree and sets them as the epilog of the matching subparser (aliases share theirs).
"""

from __future__ import annotations

import argparse

P = "kubectl argo rollouts"

EXAMPLES: dict[str, list[tuple[str, str]]] = {
    "": [
        ("Watch a rollout", f"{P} get rollout guestbook -w"),
        ("Promote it past a pause", f"{P} promote guestbook"),
    ],
    "get": [("Get a rollout", f"{P} get rollout guestbook")],
    "get rollout": [
        ("Get a rollout", f"{P} get rollout guestbook"),
        ("Watch progress of a rollout", f"{P} get rollout guestbook -w"),
    ],
    "get experiment": [
        ("Get an experiment", f"{P} get experiment my-experiment"),
        ("Watch experiment progress", f"{P} get experiment my-experiment -w"),
    ],
    "set": [("Set rollout image", f"{P} set image my-rollout containerName=imageName")],
    "set image": [
        ("Set rollout image", f"{P} set image my-rollout www=image:v2"),
    ],
    "promote": [
        ("Promote a paused rollout", f"{P} promote guestbook"),
        (
            "Fully promote a rollout to desired version, skipping analysis, pauses, and steps",
            f"{P} promote guestbook --full",
        ),
    ],
    "abort": [("Abort a rollout", f"{P} abort guestbook")],
    "retry": [("Retry an aborted rollout", f"{P} retry rollout guestbook")],
    "retry rollout": [("Retry an aborted rollout", f"{P} retry rollout guestbook")],
    "pause": [("Pause a rollout", f"{P} pause guestbook")],
    "resume": [("Resume a paused rollout", f"{P} resume guestbook")],
    "undo": [
        ("Undo a rollout", f"{P} undo guestbook"),
        ("Undo a rollout to revision 3", f"{P} undo guestbook --to-revision=3"),
    ],
    "restart": [
        ("Restart the pods of a rollout now", f"{P} restart guestbook"),
        ("Restart the pods of a rollout in ten seconds", f"{P} restart guestbook --in 10s"),
    ],
    "status": [
        ("Watch the rollout until it succeeds", f"{P} status guestbook"),
        ("Show the rollout status once", f"{P} status guestbook --watch=false"),
        (
            "Watch the rollout until it succeeds, fail if it takes more than 60 seconds",
            f"{P} status --timeout 60s guestbook",
        ),
    ],
    "list": [("List rollouts", f"{P} list rollouts")],
    "list rollouts": [
        ("List rollouts", f"{P} list rollouts"),
        ("List rollouts from all namespaces", f"{P} list rollouts --all-namespaces"),
        ("List rollouts and watch for changes", f"{P} list rollouts --watch"),
    ],
    "list experiments": [
        ("List experiments", f"{P} list experiments"),
        ("List experiments from all namespaces", f"{P} list experiments --all-namespaces"),
    ],
    "dashboard": [("Start UI dashboard", f"{P} dashboard --port 3100")],
    "lint": [("Lint a rollout", f"{P} lint -f my-rollout.yaml")],
    "version": [
        ("Print version", f"{P} version"),
        ("Print just the version number", f"{P} version --short"),
    ],
    "plan": [
        (
            "What an image update will do",
            f"{P} plan rollouts-demo --image rollouts-demo=argoproj/rollouts-demo:yellow",
        ),
        (
            "What applying a manifest will do, as JSON",
            f"{P} plan rollouts-demo -f rollout.yaml -o json",
        ),
    ],
    "completion": [
        ("Load completion in this bash shell", f"source <({P} completion bash)"),
        ("Install zsh completion", f'{P} completion zsh > "${{fpath[1]}}/_kubectl-argo-rollouts"'),
        (
            "Install fish completion",
            f"{P} completion fish > ~/.config/fish/completions/kubectl-argo-rollouts.fish",
        ),
    ],
    "create": [
        ("Create an experiment and watch it", f"{P} create -f my-experiment.yaml -w"),
        ("Create from stdin", f"cat analysisrun.yaml | {P} create -f -"),
    ],
    "terminate": [
        ("Terminate an analysisRun", f"{P} terminate analysisrun guestbook-877894d59-6-1"),
        ("Terminate an experiment", f"{P} terminate experiment my-experiment"),
    ],
    "terminate analysisrun": [
        ("Terminate an analysisRun", f"{P} terminate analysisrun guestbook-877894d59-6-1"),
    ],
    "terminate experiment": [
        ("Terminate an experiment", f"{P} terminate experiment my-experiment"),
    ],
}


def epilog(key: str) -> str | None:
    examples = EXAMPLES.get(key)
    if not examples:
        return None
    lines = ["Examples:"]
    for comment, command in examples:
        lines.append(f"  # {comment}")
        lines.append(f"  {command}")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def add_examples(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> None:
    """Set each (sub)parser's epilog from EXAMPLES, keeping its line breaks."""
    text = epilog(" ".join(path))
    if text is not None:
        parser.epilog = text
        parser.formatter_class = argparse.RawDescriptionHelpFormatter
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            seen: set[int] = set()
            for name, sub in action.choices.items():
                if id(sub) in seen:
                    continue
                seen.add(id(sub))
                add_examples(sub, (*path, name))
