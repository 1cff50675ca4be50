"""python -m stapel.kit.check: what a service's settings class requires against what stapel.yaml gives it."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from stapel.kit.check import main

REPO = Path(__file__).resolve().parents[2]

SETTINGS = """
from stapel.kit import config

class UsersConfig(config.Config, prefix="USERS_"):
    postgres: config.Postgres
    listen: config.Listen
    own_table: str
    batch_size: int = 100
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.delitem(sys.modules, "users_settings", raising=False)
    (tmp_path / "users").mkdir()
    (tmp_path / "users" / "users_settings.py").write_text(SETTINGS)
    return tmp_path


def write_stack(project: Path, env: str) -> Path:
    file = project / "stapel.yaml"
    file.write_text(textwrap.dedent(f"""
        components:
          db: {{kind: postgres, password: check-password-1}}
        services:
          users:
            command: python3 main.py
            cwd: users
            port: 8001
            env_prefix: USERS_
            depends_on: [db]
            env: {{{env}}}
        """))
    return file


def test_every_required_variable_given(project: Path, capsys) -> None:
    file = write_stack(project, "USERS_OWN_TABLE: users")
    assert main(["users_settings:UsersConfig", "--service", "users", "-f", str(file)]) == 0
    assert capsys.readouterr().out == "ok: service 'users' gets every variable users_settings:UsersConfig requires\n"


def test_a_missing_variable_is_one_line_and_exit_1(project: Path, capsys) -> None:
    file = write_stack(project, "OTHER: x")
    assert main(["users_settings:UsersConfig", "--service", "users", "-f", str(file)]) == 1
    assert capsys.readouterr().err == (
        "USERS_OWN_TABLE: required by users_settings:UsersConfig, but stapel.yaml does not give it to service 'users' "
        "(add it under services.users.env, or the node it comes from to depends_on/uses)\n")


def test_a_service_without_the_database_misses_each_of_its_variables(project: Path, capsys) -> None:
    file = write_stack(project, "USERS_OWN_TABLE: users")
    file.write_text(file.read_text().replace("depends_on: [db]", "depends_on: []"))
    assert main(["users_settings:UsersConfig", "--service", "users", "-f", str(file)]) == 1
    names = [line.split(":")[0] for line in capsys.readouterr().err.splitlines()]
    assert names == ["USERS_DATABASE_URL", "USERS_POSTGRES_HOST", "USERS_POSTGRES_PORT", "USERS_POSTGRES_USER",
                     "USERS_POSTGRES_PASSWORD", "USERS_POSTGRES_DB"]


@pytest.mark.parametrize(("args", "message"), [
    (["users_settings:UsersConfig", "--service", "nobody"], "no service 'nobody' (services: users)"),
    (["users_settings", "--service", "users"], "users_settings: expected MODULE:CLASS"),
    (["nosuch:UsersConfig", "--service", "users"], "nosuch:UsersConfig: cannot import nosuch"),
    (["users_settings:Nope", "--service", "users"], "users_settings:Nope: Nope is not a stapel.kit.config.Config subclass"),
])
def test_bad_arguments_are_one_line(project: Path, capsys, args: list[str], message: str) -> None:
    file = write_stack(project, "USERS_OWN_TABLE: users")
    assert main([*args, "-f", str(file)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and len(err.splitlines()) == 1, err


def test_the_minimal_example_gets_what_its_api_requires(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.delitem(sys.modules, "app", raising=False)
    assert main(["app:ApiConfig", "--service", "api", "-f", str(REPO / "examples/minimal/stapel.yaml")]) == 0
    monkeypatch.delitem(sys.modules, "app", raising=False)
