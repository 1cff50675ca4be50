"""Outside dev every credential stapel provisions is checked after interpolation: component passwords, login
roles, broker users (declared or from a *_RABBITMQ_URL); dev defaults written in stapel.yaml and guessable
values are refused, each on one line naming the config path and the variable to set."""

from __future__ import annotations

import re

import pytest

from stapel.model.weak import strength, weakness

STRONG = "Kz8-mP2qR7vN4xT9"
STAGE = """
contour: stage
contours:
  dev: {}
  stage: {ports: 100, env_file: .env.stage}
components:
  db:
    kind: postgres
    password: ${DB_PASSWORD:-dev-only-db-password}
    databases: {app: {}}
    roles:
      users: {password: "${USERS_PW:-users}", database: app}
      billing: {password: "${BILLING_PW}", database: app}
  mq:
    kind: rabbitmq
    user: app
    password: ${MQ_PASSWORD}
    users:
      worker: {password: "${WORKER_PW}"}
services:
  api:
    command: python3 -m http.server
    env: {API_RABBITMQ_URL: "amqp://apiuser:${API_MQ_PW}@127.0.0.1:5672/api"}
"""
GOOD = {"DB_PASSWORD": STRONG, "USERS_PW": STRONG + "a", "BILLING_PW": STRONG + "b", "MQ_PASSWORD": STRONG + "c",
        "WORKER_PW": STRONG + "d", "API_MQ_PW": STRONG + "e"}


@pytest.mark.parametrize("password", ["users", "abc123", "guest", "abc", "password1234", "aaaaaaaaaaaa", "123456789012",
                                      "P4ssw0rd!2024", "qwertyuiop12", "0123456789abcdef0123", "", None])
def test_weak_passwords(password) -> None:
    assert weakness("users", password) is not None


@pytest.mark.parametrize("password", [STRONG, "correct horse battery staple", "fd3a9c2e71b04e58", "Xk3v9QmZ2pLw"])
def test_strong_passwords(password: str) -> None:
    assert weakness("users", password) is None
    assert strength(password) >= 50


def test_all_strong_loads(load_text, tmp_path) -> None:
    (tmp_path / ".env.stage").write_text("")
    assert load_text(STAGE, env=GOOD).contour == "stage"


@pytest.mark.parametrize(("key", "value", "expected"), [
    ("DB_PASSWORD", "", r"^stapel\.yaml:8: components\.db\.password: the default of \$\{DB_PASSWORD\} written in stapel\.yaml "
                        r"\(for dev; DB_PASSWORD is empty or unset in this contour's env\) is refused in contour 'stage'; "
                        r"set DB_PASSWORD to a strong secret in \.env\.stage \(`stapel env sync` generates secrets"),
    ("USERS_PW", "", r"^stapel\.yaml:11: components\.db\.roles\.users\.password: the default of \$\{USERS_PW\}"),
    ("USERS_PW", "users", r"^stapel\.yaml:11: components\.db\.roles\.users\.password: the well-known password 'users'"),
    ("BILLING_PW", "abc123", r"^stapel\.yaml:12: components\.db\.roles\.billing\.password: a password shorter than 12"),
    ("BILLING_PW", "password1234", r"^stapel\.yaml:12: components\.db\.roles\.billing\.password: a guessable password"),
    ("MQ_PASSWORD", "aaaaaaaaaaaa", r"^stapel\.yaml:16: components\.mq\.password: a guessable password .* set MQ_PASSWORD to"),
    ("WORKER_PW", "guest", r"^stapel\.yaml:18: components\.mq\.users\.worker\.password: the well-known password 'guest'"),
    ("WORKER_PW", "123456789012", r"^stapel\.yaml:18: components\.mq\.users\.worker\.password: a guessable password"),
    ("API_MQ_PW", "abc", r"^API_RABBITMQ_URL: the broker user 'apiuser' this URL provisions has the well-known password 'abc', "
                         r"refused in contour 'stage'; put a strong password in the URL in \.env\.stage"),
])
def test_each_weak_credential_is_one_line(config_error, tmp_path, key: str, value: str, expected: str) -> None:
    (tmp_path / ".env.stage").write_text("")
    lines = config_error(STAGE, env={**GOOD, key: value})
    assert len(lines) == 1, lines
    assert re.search(expected, lines[0]), lines[0]
    if value not in ("", "users", "guest", "abc"):  # only well-known words are named; anything else may be a real secret
        assert value not in lines[0]


def test_a_literal_password_names_a_variable_to_introduce(config_error) -> None:
    lines = config_error("contour: prod\ncontours: {prod: {}}\ncomponents:\n  db:\n    kind: postgres\n"
                         "    databases: {x: {}}\n    roles: {app-ro: {password: aaaaaaaaaaaaaaaa, database: x}}\n    password: " + STRONG + "\n")
    assert lines == ["stapel.yaml:7: components.db.roles.app-ro.password: a guessable password (common words, repeats or "
                     "sequences; about 0 bits, 50 needed) is refused in contour 'prod'; write password: ${DB_APP_RO_PASSWORD} and "
                     "set DB_APP_RO_PASSWORD to a strong secret in .env (or the environment) (`stapel env sync` generates "
                     "secrets; or set contours.prod.weak_credentials: allow)"]


def test_dev_and_allow_accept_everything(load_text, tmp_path) -> None:
    (tmp_path / ".env.stage").write_text("")
    weak = {k: "abc" for k in GOOD}
    assert load_text(STAGE.replace("contour: stage", "contour: dev"), env=weak).contour == "dev"
    assert load_text(STAGE.replace("env_file: .env.stage}", "env_file: .env.stage, weak_credentials: allow}"), env=weak)


def test_a_url_user_on_the_contours_shifted_port_is_checked_too(config_error, tmp_path) -> None:
    """stage's ports: 100 moves the broker to 5772; a URL pointing there provisions a user just the same."""
    (tmp_path / ".env.stage").write_text("")
    text = STAGE.replace("127.0.0.1:5672", "127.0.0.1:5772")
    lines = config_error(text, env={**GOOD, "API_MQ_PW": "abc"})
    assert len(lines) == 1 and lines[0].startswith("API_RABBITMQ_URL: the broker user 'apiuser' this URL provisions has"), lines
