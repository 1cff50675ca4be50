"""`stapel env check`, in-process: each kind of problem with its exact line, exit codes, values never printed."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from stapel.cli.main import main

STAPEL_YAML = """
env:
  secrets:
    DB_PASSWORD: {length: 32}
  required: [API_URL]
"""

EXAMPLE = """
# settings
LOG_LEVEL=info
DB_PASSWORD=
JWT_SECRET= # stapel: secret
SMTP_PASSWORD=
API_URL=http://localhost:8000
"""

GOOD_ENV = """
LOG_LEVEL=debug
DB_PASSWORD=db-secret-value-1
JWT_SECRET=jwt-secret-value-2
SMTP_PASSWORD=smtp-secret-value-3
API_URL=http://localhost:8000
"""

PARSE_HINT = "(write KEY=value, quote a value with spaces or #, close every quote)"


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A project folder as the current directory, with stapel.yaml, env.example and a good .env."""
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "stapel.yaml", STAPEL_YAML)
    write(tmp_path, "env.example", EXAMPLE)
    write(tmp_path, ".env", GOOD_ENV)
    return tmp_path


def write(root: Path, name: str, text: str, mode: int = 0o600) -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    path.chmod(mode)
    return path


def check(capsys) -> tuple[int, str]:
    code = main(["env", "check"])
    captured = capsys.readouterr()
    assert captured.err == ""
    return code, captured.out


def test_in_sync(project, capsys):
    write(project, "backend/env.example", "PORT=8000\n")
    write(project, "backend/.env", "PORT=8001\n")
    assert check(capsys) == (0, "✓ 2 env files, 6 keys: in sync\n")


def test_after_sync_everything_is_in_sync(project, capsys):
    (project / ".env").unlink()
    write(project, ".env", "SMTP_PASSWORD=set-by-hand-4\n")
    assert main(["env", "sync", "--non-interactive"]) == 0
    capsys.readouterr()
    assert check(capsys) == (0, "✓ 1 env files, 5 keys: in sync\n")


def test_a_missing_env_file(project, capsys):
    (project / ".env").unlink()
    assert check(capsys) == (1, "✗ .env does not exist (run stapel env sync)\n")


def test_missing_and_extra_keys(project, capsys):
    write(project, ".env", """
        LOG_LEVEL=debug
        DB_PASSWORD=db-secret-value-1
        SMTP_PASSWORD=smtp-secret-value-3
        API_URL=http://localhost:8000
        EXTRA_KEY=extra-value
    """)
    code, out = check(capsys)
    assert (code, out) == (1, (
        "✗ .env: JWT_SECRET is missing (run stapel env sync)\n"
        "✗ .env:5: EXTRA_KEY is not in env.example (add it to the example or remove it)\n"
    ))
    assert "extra-value" not in out


def test_empty_required_keys_and_secrets(project, capsys):
    write(project, ".env", """
        LOG_LEVEL=
        DB_PASSWORD=
        JWT_SECRET=
        SMTP_PASSWORD=
        API_URL=
    """)
    assert check(capsys) == (1, (
        "✗ .env:2: secret DB_PASSWORD is empty (run stapel env sync to generate one)\n"
        "✗ .env:3: secret JWT_SECRET is empty (run stapel env sync to generate one)\n"
        "✗ .env:4: secret SMTP_PASSWORD is empty (set it: its name makes it a secret)\n"
        "✗ .env:5: API_URL is empty, but env.required lists it\n"
    ))


def test_a_required_key_in_no_example(project, capsys):
    write(project, "stapel.yaml", "env:\n  required: [API_URL, API_ULR]\n")
    assert check(capsys) == (1, "✗ stapel.yaml:2: env.required[1]: API_ULR is in no env example (add it to one or remove it here)\n")


def test_a_syntax_error_names_the_file_and_line_and_never_the_value(project, capsys):
    write(project, ".env", "LOG_LEVEL=debug\n\n\nDB_PASSWORD='db-secret-value-1\nAPI_URL=x\n")
    code, out = check(capsys)
    assert (code, out) == (1, f"✗ .env:4: cannot parse the value of DB_PASSWORD {PARSE_HINT}\n")


def test_an_example_missing_from_disk(project, capsys):
    write(project, "stapel.yaml", "env:\n  files:\n    - env.example\n    - backend/env.example\n")
    assert check(capsys) == (1, (
        "✗ stapel.yaml:4: env.files[1].example: backend/env.example does not exist (create it or remove it from env.files)\n"
    ))


def test_a_key_set_twice_and_a_file_others_can_read(project, capsys):
    write(project, ".env", GOOD_ENV + "LOG_LEVEL=warning\n", mode=0o644)
    assert check(capsys) == (1, (
        "✗ .env:6: LOG_LEVEL is set twice (also on line 1; the last one counts)\n"
        "✗ .env: mode 0644 lets other users read it (run stapel env sync, or chmod 600 .env)\n"
    ))


def test_a_bad_env_block_is_an_error(project, capsys):
    write(project, "stapel.yaml", "env:\n  agree:\n    infra: {keys: PORT}\n")
    assert main(["env", "check"]) == 1
    assert capsys.readouterr().err == "stapel: error: stapel.yaml:3: env.agree.infra.keys: expected a list, got 'PORT'\n"


# --- agree: groups -------------------------------------------------------------------------------


@pytest.fixture
def two_repos(tmp_path, monkeypatch):
    """app/ (this project) and infra/ beside it, as in seed 003."""
    app = tmp_path / "app"
    write(app, "stapel.yaml", "env:\n  agree:\n    infra: {keys: [POSTGRES_PASSWORD, JWT_SECRET, PORT], files: [.env, ../infra/.env]}\n")
    write(app, "env.example", "POSTGRES_PASSWORD=\nJWT_SECRET=\nPORT=3000\n")
    write(app, ".env", "POSTGRES_PASSWORD=pg-secret-1\nJWT_SECRET=jwt-secret-1\nPORT=3000\n")
    write(tmp_path, "infra/.env", "POSTGRES_PASSWORD=pg-secret-2\nJWT_SECRET=jwt-secret-1\nNGINX_PORT=80\n")
    monkeypatch.chdir(app)
    return tmp_path


def test_agree_group_values_that_differ(two_repos, capsys):
    code, out = check(capsys)
    assert (code, out) == (1, "✗ env.agree.infra: POSTGRES_PASSWORD differs between .env and ../infra/.env\n")
    assert "pg-secret" not in out


def test_agree_group_that_agrees(two_repos, capsys):
    write(two_repos, "infra/.env", "POSTGRES_PASSWORD=pg-secret-1\nJWT_SECRET=jwt-secret-1\nPORT=3000\n")
    assert check(capsys) == (0, "✓ 1 env files, 3 keys: in sync\n")


def test_agree_group_file_that_does_not_exist(two_repos, capsys):
    (two_repos / "infra/.env").unlink()
    assert check(capsys) == (1, (
        "✗ stapel.yaml:3: env.agree.infra.files[1]: ../infra/.env does not exist (create it or remove it from the group)\n"
    ))


def test_agree_group_file_with_a_syntax_error(two_repos, capsys):
    write(two_repos, "infra/.env", "PORT=3000\nJWT_SECRET=\"jwt\n")
    assert check(capsys) == (1, f"✗ ../infra/.env:2: cannot parse the value of JWT_SECRET {PARSE_HINT}\n")


def test_agree_group_defaults_to_every_synced_file(project, capsys):
    write(project, "stapel.yaml", "env:\n  agree:\n    shared: {keys: [PORT, HOST]}\n")
    write(project, "env.example", "PORT=1\nHOST=a\n")
    write(project, ".env", "PORT=1\nHOST=a\n")
    for folder, port in (("api", "1"), ("web", "2"), ("worker", "3")):
        write(project, f"{folder}/env.example", "PORT=1\n")
        write(project, f"{folder}/.env", f"PORT={port}\n")
    assert check(capsys) == (1, "✗ env.agree.shared: PORT differs between api/.env, .env, web/.env and worker/.env\n")
