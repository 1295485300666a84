"""Parsing the ConfigMap is bounded and strict: hostile documents end in a ConfigError naming
the problem (never RecursionError or another exception), and lax coercions are refused."""

from __future__ import annotations

from typing import Any
from unittest import mock

import pytest

from rolloutd.config import MAX_CONFIG_BYTES, MAX_CONFIG_DEPTH, ConfigError, parse_config_map


def config_map(text: Any) -> dict[str, Any]:
    return {"metadata": {"name": "rolloutd-config"}, "data": {"config.yaml": text}}


def refused(text: Any) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_config_map(config_map(text))
    [message] = caught.value.errors
    return message


@pytest.mark.parametrize(
    "text",
    [
        "[" * 5000 + "]" * 5000,  # the crash: about 10 KB, 5,000 levels
        "a: " + "{b: " * 3000 + "1" + "}" * 3000,
        "- " * 4000 + "1",
        "routers:\n" + "".join("  " * (i + 1) + f"k{i}:\n" for i in range(200)),
    ],
)
def test_deep_documents_are_refused_not_a_crash(text: str) -> None:
    assert f"nested more than {MAX_CONFIG_DEPTH} levels deep" in refused(text)


def test_nesting_up_to_the_limit_is_fine() -> None:
    deep = "{a: " * (MAX_CONFIG_DEPTH - 3) + "1" + "}" * (MAX_CONFIG_DEPTH - 3)
    config = parse_config_map(config_map(f"routers:\n  istio: {{enabled: true, x: {deep}}}\n"))
    assert config.routers is not None and config.routers["istio"].enabled


def test_a_huge_document_is_refused_before_parsing() -> None:
    message = refused("logLevel: info\n" + "#" * MAX_CONFIG_BYTES)
    assert f"more than the {MAX_CONFIG_BYTES} allowed" in message


def test_aliases_are_refused() -> None:
    bomb = 'a: &a ["x","x"]\nb: &b [*a,*a]\nc: &c [*b,*b]\n'
    assert "aliases are not allowed (line 2)" in refused(bomb)


def test_any_other_exception_is_a_config_error() -> None:
    with mock.patch("rolloutd.config.yaml.safe_load", side_effect=RecursionError("deep")):
        message = refused("logLevel: info")
    assert message == "data.config.yaml: cannot be read (RecursionError: deep)"


def test_a_non_string_value_is_refused() -> None:
    assert refused(42) == "data.config.yaml: must be a string, got int"


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("workers: true", "data.config.yaml.workers"),
        ("workers: '4'", "data.config.yaml.workers"),
        ("workers: 4.0", "data.config.yaml.workers"),
        ("routers: {istio: {enabled: 1}}", "data.config.yaml.routers.istio.enabled"),
        ("routers: {istio: {enabled: 'yes'}}", "data.config.yaml.routers.istio.enabled"),
    ],
)
def test_types_are_strict(text: str, field: str) -> None:
    assert refused(text).startswith(f"{field}: ")


def test_unknown_routers_are_named() -> None:
    config = parse_config_map(config_map("routers: {istoi: {}, istio: {}, smi: {}}"))
    assert config.unknown_routers(["istio", "smi"]) == ["istoi"]
    assert parse_config_map(config_map("workers: 3")).unknown_routers(["istio"]) == []
