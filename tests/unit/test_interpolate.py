"""${VAR} and friends in stapel.yaml, and where the variables come from (.env under the environment)."""

from __future__ import annotations

import pytest

from stapel.components import load
from stapel.model.interpolate import substitute
from stapel.model.loader import project_env

# --- substitute(): one string ---------------------------------------------------------------


def test_plain_variable():
    assert substitute("postgres://${USER}@host", {"USER": "app"}) == "postgres://app@host"


def test_several_variables_in_one_string():
    assert substitute("${A}-${B}-${A}", {"A": "1", "B": "2"}) == "1-2-1"


def test_colon_dash_default_when_unset():
    assert substitute("${PORT:-5432}", {}) == "5432"


def test_colon_dash_default_when_empty():
    assert substitute("${PORT:-5432}", {"PORT": ""}) == "5432"


def test_colon_dash_default_not_used_when_set():
    assert substitute("${PORT:-5432}", {"PORT": "6000"}) == "6000"


def test_dash_default_when_unset():
    assert substitute("${PORT-5432}", {}) == "5432"


def test_dash_default_keeps_an_empty_value():
    assert substitute("[${PORT-5432}]", {"PORT": ""}) == "[]"


def test_empty_default():
    assert substitute("[${X:-}]", {}) == "[]"


def test_required_with_message_when_unset():
    with pytest.raises(ValueError) as info:
        substitute("${DB_PASSWORD:?set DB_PASSWORD in .env}", {})
    assert str(info.value) == "${DB_PASSWORD} is required: set DB_PASSWORD in .env"


def test_required_with_message_when_empty():
    with pytest.raises(ValueError) as info:
        substitute("${DB_PASSWORD:?set it}", {"DB_PASSWORD": ""})
    assert str(info.value) == "${DB_PASSWORD} is required: set it"


def test_required_without_message():
    with pytest.raises(ValueError) as info:
        substitute("${DB_PASSWORD:?}", {})
    assert str(info.value) == "${DB_PASSWORD} is required: not set"


def test_required_when_set():
    assert substitute("${DB_PASSWORD:?set it}", {"DB_PASSWORD": "x"}) == "x"


def test_question_without_colon_accepts_an_empty_value():
    assert substitute("[${DB_PASSWORD?set it}]", {"DB_PASSWORD": ""}) == "[]"


def test_question_without_colon_refuses_unset():
    with pytest.raises(ValueError) as info:
        substitute("${DB_PASSWORD?set it}", {})
    assert str(info.value) == "${DB_PASSWORD} is required: set it"


def test_double_dollar_is_a_literal_dollar():
    assert substitute("pa$$word and $${NOT_A_VAR}", {"NOT_A_VAR": "x"}) == "pa$word and ${NOT_A_VAR}"


def test_lone_dollar_is_kept():
    assert substitute("cost: 5$ or $HOME", {"HOME": "/root"}) == "cost: 5$ or $HOME"


def test_substituted_values_are_not_substituted_again():
    assert substitute("${A}", {"A": "${B}", "B": "no"}) == "${B}"


def test_unset_variable():
    with pytest.raises(ValueError) as info:
        substitute("${NOPE}", {})
    assert str(info.value) == "${NOPE} is not set (set it in the environment or .env, or write ${NOPE:-default})"


def test_unclosed_variable():
    with pytest.raises(ValueError) as info:
        substitute("x ${A", {})
    assert str(info.value) == "unclosed '${' in 'x ${A' (write ${NAME}, ${NAME:-default} or $$ for a literal $)"


@pytest.mark.parametrize("text", ["${1X}", "${}", "${A B}"])
def test_malformed_variable(text):
    with pytest.raises(ValueError) as info:
        substitute(text, {})
    bad = text[1:]
    assert str(info.value) == f"malformed variable '${bad}' (write ${{NAME}}, ${{NAME:-default}} or $$ for a literal $)"


def test_a_nested_default_is_expanded_like_compose():
    assert substitute("${A:-${B:-x}}", {}) == "x"
    assert substitute("${A:-${B:-x}}", {"B": "b"}) == "b"
    assert substitute("${A:-${B:-x}}", {"A": "a", "B": "b"}) == "a"


# --- in stapel.yaml: problems name file:line and config path -------------------------------


def test_variables_are_substituted_in_nested_values(load_text):
    model = load_text(
        """
        components:
          db:
            kind: postgres
            port: ${DB_PORT:-5433}
            password: ${DB_PASSWORD}
            args: ["-c", "max_connections=${MAX:-50}"]
        services:
          api:
            command: run --db ${DB_PORT:-5433}
            env:
              KEY: $${LITERAL}
        """,
        env={"DB_PASSWORD": "s3cr3t", "MAX": "200"},
    ).model
    db = model.components["db"]
    assert (db.port, db.password, db.args) == (5433, "s3cr3t", ["-c", "max_connections=200"])
    assert model.services["api"].command == ["run", "--db", "5433"]
    assert model.services["api"].env == {"KEY": "${LITERAL}"}


def test_unset_variable_names_file_line_and_path(config_error):
    lines = config_error(
        """
        components:
          db:
            kind: postgres
            password: ${DB_PASSWORD}
        """
    )
    assert lines == [
        "stapel.yaml:4: components.db.password: ${DB_PASSWORD} is not set (set it in the environment or .env, or write ${DB_PASSWORD:-default})"
    ]


def test_unset_variable_in_a_list_names_the_index(config_error):
    lines = config_error(
        """
        components:
          db:
            kind: postgres
            args:
              - -c
              - ${SETTING}
        """
    )
    assert lines == [
        "stapel.yaml:6: components.db.args[1]: ${SETTING} is not set (set it in the environment or .env, or write ${SETTING:-default})"
    ]


def test_required_variable_message_in_stapel_yaml(config_error):
    lines = config_error(
        """
        components:
          db:
            kind: postgres
            password: ${DB_PASSWORD:?put DB_PASSWORD in .env}
        """
    )
    assert lines == ["stapel.yaml:4: components.db.password: ${DB_PASSWORD} is required: put DB_PASSWORD in .env"]


def test_every_unset_variable_is_reported(config_error):
    lines = config_error(
        """
        components:
          db:
            kind: postgres
            user: ${DB_USER}
            password: ${DB_PASSWORD:?needed}
        """
    )
    assert lines == [
        "stapel.yaml:4: components.db.user: ${DB_USER} is not set (set it in the environment or .env, or write ${DB_USER:-default})",
        "stapel.yaml:5: components.db.password: ${DB_PASSWORD} is required: needed",
    ]


def test_unset_variable_in_a_typed_field_is_reported_once(config_error):
    lines = config_error(
        """
        components:
          db:
            kind: postgres
            port: ${DB_PORT}
        """
    )
    assert lines == [
        "stapel.yaml:4: components.db.port: ${DB_PORT} is not set (set it in the environment or .env, or write ${DB_PORT:-default})"
    ]


def test_substituted_value_is_validated(config_error):
    lines = config_error(
        """
        components:
          db:
            kind: postgres
            port: ${DB_PORT}
        """,
        env={"DB_PORT": "fivefour"},
    )
    assert lines == ["stapel.yaml:4: components.db.port: expected an integer, got 'fivefour'"]


# --- where variables come from --------------------------------------------------------------


def test_project_env_reads_dotenv(tmp_path, monkeypatch):
    monkeypatch.delenv("STAPEL_T_ONE", raising=False)
    monkeypatch.delenv("STAPEL_T_TWO", raising=False)
    (tmp_path / ".env").write_text("STAPEL_T_ONE=from-dotenv\n# a comment\nexport STAPEL_T_TWO='quoted value'\n")
    env = project_env(tmp_path)
    assert (env["STAPEL_T_ONE"], env["STAPEL_T_TWO"]) == ("from-dotenv", "quoted value")


def test_process_environment_wins_over_dotenv(tmp_path, monkeypatch):
    (tmp_path / ".env").write_text("STAPEL_T_ONE=from-dotenv\n")
    monkeypatch.setenv("STAPEL_T_ONE", "from-environment")
    assert project_env(tmp_path)["STAPEL_T_ONE"] == "from-environment"


def test_project_env_without_dotenv_is_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("STAPEL_T_ONE", "x")
    env = project_env(tmp_path)
    assert env["STAPEL_T_ONE"] == "x"
    import os

    assert env == dict(os.environ)


def test_dotenv_entry_without_value_is_left_out(tmp_path, monkeypatch):
    monkeypatch.delenv("STAPEL_T_BARE", raising=False)
    monkeypatch.delenv("STAPEL_T_EMPTY", raising=False)
    (tmp_path / ".env").write_text("STAPEL_T_BARE\nSTAPEL_T_EMPTY=\n")
    env = project_env(tmp_path)
    assert "STAPEL_T_BARE" not in env
    assert env["STAPEL_T_EMPTY"] == ""


def test_load_without_env_uses_the_projects_dotenv(write_yaml, tmp_path, monkeypatch):
    monkeypatch.delenv("STAPEL_T_PASSWORD", raising=False)
    monkeypatch.delenv("STAPEL_T_PORT", raising=False)
    (tmp_path / ".env").write_text("STAPEL_T_PASSWORD=from-dotenv\nSTAPEL_T_PORT=5999\n")
    monkeypatch.setenv("STAPEL_T_PORT", "6001")
    path = write_yaml(
        """
        components:
          db:
            kind: postgres
            password: ${STAPEL_T_PASSWORD}
            port: ${STAPEL_T_PORT}
        """
    )
    db = load(path).model.components["db"]
    assert (db.password, db.port) == ("from-dotenv", 6001)


def test_load_with_explicit_env_ignores_dotenv_and_environment(write_yaml, tmp_path, monkeypatch):
    (tmp_path / ".env").write_text("STAPEL_T_PASSWORD=from-dotenv\n")
    monkeypatch.setenv("STAPEL_T_PASSWORD", "from-environment")
    path = write_yaml(
        """
        components:
          db:
            kind: postgres
            password: ${STAPEL_T_PASSWORD:-fallback}
        """
    )
    assert load(path, env={}).model.components["db"].password == "fallback"
