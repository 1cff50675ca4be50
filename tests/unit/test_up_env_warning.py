"""`up` warns in its preflight step when a .env lacks keys its example has (seed 000: sync .env after every pull),
and goes on; the examples are inputs of `up`, so a pull that changes only an example is not a no-op."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stapel.engine.options import UpOptions
from stapel.engine.stack import open_stack
from stapel.engine.up import Up
from stapel.runtimes.fake import FakeRuntime

STACK = """\
components:
  cache:
    kind: redis
services:
  api:
    command: python3 app.py
    cwd: api
    depends_on: [cache]
"""
EXAMPLE = "API_TOKEN=  # stapel: secret\nLOG_LEVEL=info\nFEATURE_X=off\n"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "api").mkdir()
    (tmp_path / "stapel.yaml").write_text(STACK)
    (tmp_path / "api/env.example").write_text(EXAMPLE)
    return tmp_path


def up(root: Path) -> tuple[list[str], dict]:
    stack = open_stack(root / "stapel.yaml", env={})
    said: list[str] = []
    result = Up(stack, FakeRuntime(stack), UpOptions(), said.append).run()
    return said, result.summary


def preflight_log(root: Path) -> str:
    return (root / ".local/logs/bootstrap/latest/steps/01_preflight.log").read_text()


def test_a_dotenv_lacking_keys_of_its_example_is_warned_about_and_up_goes_on(project: Path) -> None:
    (project / "api/.env").write_text("API_TOKEN=tok-value-9f8e7d6c5b\n")
    said, summary = up(project)
    line = "warning: api/.env lacks LOG_LEVEL and FEATURE_X, which api/env.example has (run stapel env sync)"
    assert f"  {line}" in said
    assert line in preflight_log(project)
    assert summary["outcome"] == "ok"
    assert "tok-value-9f8e7d6c5b" not in "\n".join(said) + preflight_log(project)


def test_a_synced_dotenv_or_none_at_all_is_not_warned_about(project: Path) -> None:
    said, _ = up(project)  # no .env yet: stapel.yaml's defaults apply, nothing to sync against
    assert not [s for s in said if "warning" in s]
    (project / "api/.env").write_text("API_TOKEN=x\nLOG_LEVEL=debug\nFEATURE_X=on\nMY_OWN=1\n")
    said, _ = up(project)
    assert not [s for s in said if "warning" in s]
    assert "warning" not in preflight_log(project)


def test_the_examples_are_inputs_of_up(project: Path) -> None:
    """A pull that only adds a key to an example changes an input, so the no-op path does not hide the warning."""
    (project / "api/.env").write_text("API_TOKEN=x\nLOG_LEVEL=debug\nFEATURE_X=on\n")
    up(project)
    record = json.loads((project / ".local/state/dev/stack.json").read_text())
    assert str((project / "api/env.example").resolve()) in record["extra_files"]
