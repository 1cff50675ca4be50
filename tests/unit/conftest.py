"""Shared helpers for the fast unit tests: write a stapel.yaml into tmp_path, load it, collect its errors."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from stapel.components import load
from stapel.errors import ConfigError


def yaml_text(text: str) -> str:
    """Dedented, without the leading newline, so line 1 is the first line written in the test."""
    return textwrap.dedent(text).lstrip("\n")


@pytest.fixture
def write_yaml(tmp_path: Path) -> Callable[..., Path]:
    def write(text: str, name: str = "stapel.yaml") -> Path:
        path = tmp_path / name
        path.write_text(yaml_text(text))
        return path

    return write


@pytest.fixture
def load_text(write_yaml: Callable[..., Path]):
    """Load a stapel.yaml given as text; env={} unless told (the process environment never leaks in)."""

    def run(text: str, env: dict[str, str] | None = None):
        return load(write_yaml(text), env={} if env is None else env)

    return run


@pytest.fixture
def config_error(write_yaml: Callable[..., Path]) -> Callable[..., list[str]]:
    """The lines of the ConfigError that loading this stapel.yaml raises."""

    def run(text: str, env: dict[str, str] | None = None) -> list[str]:
        path = write_yaml(text)
        with pytest.raises(ConfigError) as info:
            load(path, env={} if env is None else env)
        return info.value.lines()

    return run
