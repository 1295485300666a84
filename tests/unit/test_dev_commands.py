"""`rolloutd` finds `sandbox` and `demo` through entry points, and says what is missing."""

from __future__ import annotations

from importlib import metadata

import pytest

from rolloutd import main


def test_the_dev_distribution_provides_sandbox_and_demo() -> None:
    names = {e.name for e in metadata.entry_points(group=main.CLI_COMMANDS_GROUP)}
    assert {"sandbox", "demo"} <= names
    args = main.build_parser().parse_args(["sandbox", "status"])
    assert args.handler.__module__ == "rolloutd_dev.sandbox.command"


@pytest.mark.parametrize("argv", [["sandbox", "up"], ["demo", "--strategy", "bluegreen"]])
def test_without_it_one_line_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    monkeypatch.setattr(main.metadata, "entry_points", lambda group: [])
    assert main.main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == [
        f"error: `rolloutd {argv[0]}` is in the development distribution: pip install rolloutd-dev"
    ]
