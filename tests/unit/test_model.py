"""stapel.yaml -> model: every kind of bad input gives one exact line naming file:line and config path."""

from __future__ import annotations

import pytest

from stapel.components import KINDS, load
from stapel.errors import ConfigError

# --- YAML itself ----------------------------------------------------------------------------


def test_malformed_yaml_names_file_and_line(config_error):
    lines = config_error(
        """
        components:
          db:
            kind: postgres
           port: 5432
        """
    )
    assert lines == ["stapel.yaml:4: malformed YAML: did not find expected key (fix the YAML syntax on that line)"]


def test_unclosed_flow_list_names_the_line_it_opens_on(config_error):
    lines = config_error(
        """
        components:
          db: [a, b
        """
    )
    assert lines == ["stapel.yaml:2: malformed YAML: the flow sequence that starts here is never closed (fix the YAML syntax on that line)"]


def test_tab_indentation_is_malformed_yaml(config_error):
    assert config_error("components:\n\tdb: 1\n") == [
        "stapel.yaml:2: malformed YAML: found character that cannot start any token (fix the YAML syntax on that line)"
    ]


def test_duplicate_key(config_error):
    lines = config_error(
        """
        components:
          db:
            kind: postgres
          db:
            kind: redis
        """
    )
    assert lines == ["stapel.yaml:4: components.db: duplicate key (each key may appear once)"]


def test_top_level_must_be_a_mapping(config_error):
    assert config_error("- a\n- b\n") == ["stapel.yaml:1: the top level must be a mapping (components:, services:, ...)"]


def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError) as info:
        load(tmp_path / "stapel.yaml", env={})
    assert info.value.lines() == [
        f"{tmp_path / 'stapel.yaml'}: no such file (create stapel.yaml at the project root or pass -f PATH)"
    ]


def test_an_empty_file_or_a_stack_of_nothing_is_an_error(config_error):
    """It used to load as an empty stack: `up` reported "up", exit 0, and left a supervisor running."""
    assert config_error("") == ["stapel.yaml:1: the file is empty; declare components: or services: (stapel schema prints every key)"]
    assert config_error("# nothing yet\n") == config_error("")
    assert config_error("name: x\ncontours: {dev: {}}\n") == [
        "stapel.yaml:1: nothing to run: declare components: or services: (stapel schema prints every key)"]


def test_yaml_aliases_are_resolved(load_text):
    model = load_text(
        """
        components:
          db: &pg
            kind: postgres
          db2: *pg
        """
    ).model
    assert model.components["db2"].kind == "postgres"


def test_yaml_merge_keys_are_valid_yaml(load_text):
    model = load_text(
        """
        components:
          db: &pg
            kind: postgres
            password: s3cr3t-value-x
          db2:
            <<: *pg
            port: 5433
        """
    ).model
    assert (model.components["db2"].kind, model.components["db2"].password, model.components["db2"].port) == (
        "postgres", "s3cr3t-value-x", 5433)


# --- keys, types, kinds ---------------------------------------------------------------------


def test_unknown_key_suggests_the_close_one(config_error):
    lines = config_error(
        """
        components:
          db:
            kind: postgres
            prot: 5432
        """
    )
    assert lines == ["stapel.yaml:4: components.db.prot: unknown key 'prot'; did you mean 'port'?"]


def test_unknown_top_level_key(config_error):
    assert config_error("componets: {}\n") == ["stapel.yaml:1: componets: unknown key 'componets'; did you mean 'components'?"]


def test_unknown_key_in_a_contour(config_error):
    lines = config_error(
        """
        contours:
          dev:
            prots: auto
        """
    )
    assert lines == ["stapel.yaml:3: contours.dev.prots: unknown key 'prots'; did you mean 'ports'?"]


def test_port_must_be_an_integer(config_error):
    lines = config_error(
        """
        components:
          db:
            kind: postgres
            port: abc
        """
    )
    assert lines == ["stapel.yaml:4: components.db.port: expected an integer, got 'abc'"]


def test_port_must_not_be_a_fraction(config_error):
    lines = config_error(
        """
        components:
          db:
            kind: postgres
            port: 5432.5
        """
    )
    assert lines == ["stapel.yaml:4: components.db.port: expected an integer, got 5432.5"]


def test_port_as_a_quoted_number_is_accepted(load_text):
    model = load_text(
        """
        components:
          db:
            kind: postgres
            port: '5433'
        """
    ).model
    assert model.components["db"].port == 5433


def test_port_out_of_range_message_is_stapels_own(config_error):
    lines = config_error(
        """
        components:
          db:
            kind: postgres
            port: 70000
        """
    )
    assert len(lines) == 1
    assert lines[0].startswith("stapel.yaml:4: components.db.port: ")
    assert "Input should" not in lines[0] and "70000" in lines[0]


def test_port_true_is_not_a_port(config_error):
    lines = config_error(
        """
        components:
          db:
            kind: postgres
            port: true
        """
    )
    assert lines == ["stapel.yaml:4: components.db.port: expected an integer, got True"]


def test_block_must_be_a_mapping(config_error):
    assert config_error("components: [a]\n") == ["stapel.yaml:1: components: expected a mapping, got a list"]


def test_empty_component_block(config_error):
    lines = config_error(
        """
        components:
          db:
        """
    )
    assert lines == ["stapel.yaml:2: components.db: expected a mapping, got None"]


def test_unknown_kind_suggests_the_close_one(config_error):
    lines = config_error(
        """
        components:
          db:
            kind: postgress
        """
    )
    assert lines == ["stapel.yaml:3: components.db.kind: unknown kind 'postgress'; did you mean 'postgres'?"]


def test_unknown_kind_without_a_close_one_lists_the_kinds(config_error):
    lines = config_error(
        """
        components:
          db:
            kind: mysql
        """
    )
    assert lines == [
        f"stapel.yaml:3: components.db.kind: unknown kind 'mysql' (allowed: {', '.join(sorted(KINDS))})"  # the registry's
    ]


def test_missing_kind(config_error):
    lines = config_error(
        """
        components:
          db:
            port: 5432
        """
    )
    assert lines == [
        f"stapel.yaml:2: components.db: 'kind' is missing (one of {', '.join(KINDS)})"  # in the registry's order
    ]


def test_service_without_command(config_error):
    lines = config_error(
        """
        services:
          api:
            port: 8000
        """
    )
    assert lines == ["stapel.yaml:2: services.api.command: required key is missing"]


def test_probe_takes_at_most_one_check(config_error):
    lines = config_error(
        """
        services:
          api:
            command: x
            probe:
              tcp: {}
              http: {}
        """
    )
    assert lines == ["stapel.yaml:4: services.api.probe: give at most one of tcp, http, exec"]


def test_probe_without_any_port_is_a_config_error(config_error):
    lines = config_error(
        """
        components:
          db:
            kind: postgres
        services:
          api:
            command: x
            probe:
              tcp: {}
        """
    )
    assert len(lines) == 1
    assert lines[0].startswith("stapel.yaml:") and ": services.api.probe" in lines[0] and "port" in lines[0]


def test_bad_ports_mode_in_a_contour(config_error):
    lines = config_error(
        """
        contours:
          dev:
            ports: sometimes
        """
    )
    assert lines == ["stapel.yaml:3: contours.dev.ports.policy: expected 'auto' or 'fixed', got 'sometimes'"]


# --- dependencies ---------------------------------------------------------------------------


def test_dependency_cycle_lists_the_cycle(config_error):
    lines = config_error(
        """
        components:
          a:
            kind: redis
            depends_on: [b]
          b:
            kind: redis
            depends_on: [c]
          c:
            kind: redis
            depends_on: [a]
        """
    )
    assert lines == ["stapel.yaml:4: dependency cycle: a -> b -> c -> a; remove one of these depends_on entries"]


def test_dependency_cycle_across_services(config_error):
    lines = config_error(
        """
        services:
          a:
            command: x
            depends_on: [b]
          b:
            command: x
            depends_on: [a]
        """
    )
    assert lines == ["stapel.yaml:4: dependency cycle: a -> b -> a; remove one of these depends_on entries"]


def test_depends_on_an_unknown_name_suggests_the_close_one(config_error):
    lines = config_error(
        """
        components:
          db:
            kind: postgres
        services:
          api:
            command: x
            depends_on: [dbb]
        """
    )
    assert lines == ["stapel.yaml:7: services.api.depends_on: unknown name 'dbb'; did you mean 'db'?"]


def test_depends_on_itself(config_error):
    lines = config_error(
        """
        components:
          db:
            kind: postgres
            depends_on: [db]
        """
    )
    assert lines == ["stapel.yaml:4: components.db.depends_on: 'db' cannot depend on itself"]


def test_depends_on_bad_condition(config_error):
    lines = config_error(
        """
        components:
          db:
            kind: postgres
        services:
          api:
            command: x
            depends_on:
              db:
                condition: ready
        """
    )
    assert lines == ["stapel.yaml:9: services.api.depends_on.db.condition: expected 'started', 'healthy' or 'completed', got 'ready'"]


def test_depends_on_forms(load_text):
    model = load_text(
        """
        components:
          db:
            kind: postgres
          cache:
            kind: redis
        services:
          one:
            command: x
            depends_on: db
          two:
            command: x
            depends_on: [db, cache]
          three:
            command: x
            depends_on:
              db: {condition: started}
              cache:
        """
    ).model
    conditions = {name: {d: c.condition for d, c in s.depends_on.items()} for name, s in model.services.items()}
    assert conditions == {
        "one": {"db": "healthy"},
        "two": {"db": "healthy", "cache": "healthy"},
        "three": {"db": "started", "cache": "healthy"},
    }


# --- names ----------------------------------------------------------------------------------


def test_component_and_service_with_the_same_name(config_error):
    lines = config_error(
        """
        components:
          db:
            kind: postgres
        services:
          db:
            command: x
        """
    )
    # the line is the block's first line, as for every error about a whole block
    assert lines == ["stapel.yaml:5: services.db: the name is already used by components.db; names must be unique"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("components:\n  Db:\n    kind: postgres\n",
         "stapel.yaml:2: components: 'Db' is not a valid name (lower case letters, digits, - and _, starting with a letter)"),
        ("services:\n  my api:\n    command: x\n",
         "stapel.yaml:2: services: 'my api' is not a valid name (lower case letters, digits, - and _, starting with a letter)"),
        ("components:\n  1db:\n    kind: redis\n",
         "stapel.yaml:2: components: '1db' is not a valid name (lower case letters, digits, - and _, starting with a letter)"),
        ("contours:\n  Prod: {}\n",
         "stapel.yaml:2: contours: 'Prod' is not a valid name (lower case letters, digits, - and _, starting with a letter)"),
        ("name: My App\n",
         "stapel.yaml:1: name: 'My App' is not valid here (lower case letters, digits, - and _, starting with a letter)"),
    ],
    ids=["upper-case-component", "space-in-service", "leading-digit", "contour", "project-name"],
)
def test_invalid_names(config_error, text, expected):
    assert config_error(text) == [expected]


def test_valid_names(load_text):
    model = load_text(
        """
        name: my-app_2
        components:
          db-main:
            kind: postgres
          cache_1:
            kind: redis
        """
    ).model
    assert (model.name, sorted(model.components)) == ("my-app_2", ["cache_1", "db-main"])


# --- contours -------------------------------------------------------------------------------


def test_unknown_contour_suggests_the_close_one(config_error):
    lines = config_error(
        """
        contour: stagee
        contours:
          dev: {}
          stage: {}
        """
    )
    assert lines == ["stapel.yaml:1: contour: unknown contour 'stagee'; did you mean 'stage'?"]


def test_unknown_contour_without_a_close_one_lists_them(config_error):
    lines = config_error(
        """
        contour: qa
        contours:
          dev: {}
          stage: {}
        """
    )
    assert lines == ["stapel.yaml:1: contour: unknown contour 'qa' (allowed: dev, stage)"]


# --- shorthands and coercions ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "policy"),
    [("no", "no"), ("'no'", "no"), ("on-failure", "on-failure"), ("always", "always"), ("{policy: always}", "always")],
)
def test_restart_shorthand(load_text, written, policy):
    model = load_text(
        f"""
        services:
          api:
            command: x
            restart: {written}
        """
    ).model
    assert model.services["api"].restart.model_dump() == {"policy": policy, "backoff_seconds": 1.0, "max_backoff_seconds": 30.0,
                                                                 "max_restarts": None}


def test_restart_bad_policy(config_error):
    lines = config_error(
        """
        services:
          api:
            command: x
            restart: sometimes
        """
    )
    assert lines == ["stapel.yaml:4: services.api.restart.policy: expected 'no', 'on-failure' or 'always', got 'sometimes'"]


def test_restart_full_form_keeps_its_fields(load_text):
    model = load_text(
        """
        services:
          api:
            command: x
            restart: {policy: on-failure, backoff_seconds: 2, max_restarts: 5}
        """
    ).model
    assert model.services["api"].restart.model_dump() == {"policy": "on-failure", "backoff_seconds": 2.0, "max_backoff_seconds": 30.0,
                                                                 "max_restarts": 5}


def test_command_string_is_split_like_a_shell(load_text):
    model = load_text(
        """
        services:
          api:
            command: python3 -m http.server --bind '127.0.0.1 x' "a b" c\\ d
        """
    ).model
    assert model.services["api"].command == ["python3", "-m", "http.server", "--bind", "127.0.0.1 x", "a b", "c d"]


def test_command_list_is_kept(load_text):
    model = load_text(
        """
        services:
          api:
            command: [python3, "a b.py"]
        """
    ).model
    assert model.services["api"].command == ["python3", "a b.py"]


def test_command_with_unclosed_quote(config_error):
    lines = config_error(
        """
        services:
          api:
            command: "echo 'x"
        """
    )
    assert lines == ["stapel.yaml:3: services.api.command: cannot split the command: No closing quotation"]


def test_empty_command(config_error):
    lines = config_error(
        """
        services:
          api:
            command: ''
        """
    )
    assert lines == ["stapel.yaml:3: services.api.command: the command is empty"]


def test_env_values_are_coerced_to_strings(load_text):
    model = load_text(
        """
        services:
          api:
            command: x
            env:
              INT: 1
              IS_TRUE: true
              IS_NO: no
              EMPTY: null
              BARE:
              FLOAT: 1.5
              TEXT: hello
        """
    ).model
    assert model.services["api"].env == {
        "INT": "1", "IS_TRUE": "true", "IS_NO": "false", "EMPTY": "", "BARE": "", "FLOAT": "1.5", "TEXT": "hello"}


def test_env_names_are_kept_as_written(load_text):
    model = load_text(
        """
        services:
          api:
            command: x
            env:
              NO: 1
              ON: 2
              NULL: 3
        """
    ).model
    assert model.services["api"].env == {"NO": "1", "ON": "2", "NULL": "3"}


def test_env_as_a_compose_style_list(load_text):
    model = load_text(
        """
        components:
          db:
            kind: postgres
            env: [A=1, B=x=y, C=]
        """
    ).model
    assert model.components["db"].env == {"A": "1", "B": "x=y", "C": ""}


def test_env_list_item_without_equals(config_error):
    lines = config_error(
        """
        services:
          api:
            command: x
            env: [FOO]
        """
    )
    assert lines == ["stapel.yaml:4: services.api.env: expected KEY=VALUE, got 'FOO'"]


# --- several errors at once -----------------------------------------------------------------


def test_several_errors_are_reported_at_once(write_yaml):
    path = write_yaml(
        """
        components:
          db:
            kind: postgres
            port: abc
            password: ${DB_PASSWORD}
          cache:
            kind: redis
            prot: 1
        services:
          api:
            port: 8000
            restart: sometimes
        """
    )
    with pytest.raises(ConfigError) as info:
        load(path, env={})
    error = info.value
    assert error.lines() == [
        "stapel.yaml:5: components.db.password: ${DB_PASSWORD} is not set (set it in the environment or .env, or write ${DB_PASSWORD:-default})",
        "stapel.yaml:4: components.db.port: expected an integer, got 'abc'",
        "stapel.yaml:8: components.cache.prot: unknown key 'prot'; did you mean 'port'?",
        "stapel.yaml:12: services.api.restart.policy: expected 'no', 'on-failure' or 'always', got 'sometimes'",
        "stapel.yaml:10: services.api.command: required key is missing",
    ]
    assert error.message == error.lines()[0]
    assert str(error) == error.lines()[0]


def test_cross_check_errors_are_reported_together(config_error):
    lines = config_error(
        """
        contour: stagee
        contours:
          dev: {}
          stage: {}
        components:
          db:
            kind: postgres
            depends_on: [db]
          cache:
            kind: redis
        services:
          cache:
            command: x
          api:
            command: x
            depends_on: [dbb]
        """
    )
    assert lines == [
        "stapel.yaml:12: services.cache: the name is already used by components.cache; names must be unique",
        "stapel.yaml:8: components.db.depends_on: 'db' cannot depend on itself",
        "stapel.yaml:16: services.api.depends_on: unknown name 'dbb'; did you mean 'db'?",
        "stapel.yaml:1: contour: unknown contour 'stagee'; did you mean 'stage'?",
    ]


def test_unknown_key_does_not_hide_other_errors_in_its_block(config_error):
    lines = config_error(
        """
        components:
          db:
            kind: postgres
            port: abc
            prot: 1
            pasword: x
        """
    )
    assert lines == [
        "stapel.yaml:4: components.db.port: expected an integer, got 'abc'",
        "stapel.yaml:5: components.db.prot: unknown key 'prot'; did you mean 'port'?",
        "stapel.yaml:6: components.db.pasword: unknown key 'pasword'; did you mean 'password'?",
    ]


# --- a good file ----------------------------------------------------------------------------


def test_defaults_of_a_minimal_stack(load_text):
    loaded = load_text(
        """
        components:
          db:
            kind: postgres
        """
    )
    db = loaded.model.components["db"]
    assert (db.kind, db.user, db.password, db.database, db.port, db.restart.policy) == (
        "postgres", "postgres", "postgres", "postgres", None, "on-failure")
    assert loaded.model.contour == "dev" and loaded.env == {}
