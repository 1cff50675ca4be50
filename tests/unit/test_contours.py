"""Contours: inheritance, overrides with their own lines, ports (offset, table, slots), env files,
colliding contours, weak credentials outside dev."""

from __future__ import annotations

from pathlib import Path

import pytest

from stapel.engine.stack import open_stack
from stapel.errors import ConfigError

SEED_003 = """
contour: dev
contours:
  dev:
    ports:
      set: {api: 3000, db: 5432, adminer: 8080, cache: 6379}
  stage:
    from: dev
    ports:
      set: {api: 3100, db: 5433, adminer: 8081, cache: 6380}
    volumes: {db: pgdata_stage}
    network: gp-network-stage
    weak_credentials: allow
  prod:
    from: stage
    ports:
      set: {api: 3200, db: 5434, adminer: 8082, cache: 6381}
    volumes: {db: pgdata_prod}
    network: gp-network-prod
components:
  db:
    kind: postgres
  cache:
    kind: redis
services:
  api:
    command: node dist/main.js
    port: 3000
  adminer:
    command: adminer
    port: 8080
"""


def ports_of(stack) -> dict[str, int]:
    return {name: node.port for name, node in stack.nodes.items()}


def test_seed_003s_port_table_volumes_and_networks(write_yaml):
    path = write_yaml(SEED_003)
    dev, stage, prod = (open_stack(path, c, env={}) for c in ("dev", "stage", "prod"))
    assert ports_of(dev) == {"db": 5432, "cache": 6379, "api": 3000, "adminer": 8080}
    assert ports_of(stage) == {"db": 5433, "cache": 6380, "api": 3100, "adminer": 8081}
    assert ports_of(prod) == {"db": 5434, "cache": 6381, "api": 3200, "adminer": 8082}
    assert (dev.network, stage.network, prod.network) == (f"{dev.name}-dev", "gp-network-stage", "gp-network-prod")
    assert stage.paths.data("db").parts[-2:] == ("stage", "pgdata_stage")
    assert prod.paths.data("db").parts[-2:] == ("prod", "pgdata_prod")
    assert prod.settings.weak_credentials == "allow"  # inherited from stage


def test_offset_moves_every_port_and_the_table_wins(write_yaml):
    path = write_yaml("""
        contours:
          dev: {}
          stage: {ports: {offset: 100, set: {mq.management: 15999}}, weak_credentials: allow}
        components:
          mq: {kind: rabbitmq}
        """)
    stage = open_stack(path, "stage", env={})
    assert stage.nodes["mq"].ports == {"main": 5772, "management": 15999, "dist": 25772, "epmd": 4469, "prometheus": 15792}
    assert not stage.auto_ports


def test_a_slot_adds_its_stride_and_gets_its_own_instance(write_yaml):
    path = write_yaml("contours:\n  dev: {slot_stride: 20}\ncomponents:\n  cache: {kind: redis}\n")
    stack = open_stack(path, None, env={}, slot=2)
    assert stack.nodes["cache"].port == 6419
    assert stack.instance == "dev-slot2" and stack.paths.run.name == "dev-slot2"


def test_a_contour_overrides_a_component_and_errors_point_at_the_override(write_yaml, config_error):
    path = write_yaml("""
        contours:
          dev: {}
          stage:
            ports: 100
            components:
              db: {password: long-enough-stage-password, database: shop_stage}
        components:
          db: {kind: postgres, database: shop}
        """)
    stage = open_stack(path, "stage", env={})
    assert (stage.nodes["db"].config.database, stage.nodes["db"].config.password) == ("shop_stage", "long-enough-stage-password")
    assert open_stack(path, "dev", env={}).nodes["db"].config.database == "shop"
    lines = config_error("""
        contour: stage
        contours:
          dev: {}
          stage:
            ports: 100
            components:
              db: {port: abc}
              dbb: {port: 1}
        components:
          db: {kind: postgres, password: long-enough-stage-password}
        """)
    assert lines == [
        "stapel.yaml:8: contours.stage.components.dbb: no such name in components:; did you mean 'db'?",
        "stapel.yaml:7: contours.stage.components.db.port: expected an integer, got 'abc'",
    ]


@pytest.mark.parametrize("text, message", [
    ("contours:\n  dev: {from: dev}\n",
     "stapel.yaml:2: contours.dev.from: contour 'dev' cannot inherit from itself (remove from: or name another contour)"),
    ("contours:\n  dev: {from: qa}\n  qa: {from: dev}\n",
     "stapel.yaml:3: contours.qa.from: inheritance cycle dev -> qa -> dev (remove one of these from: entries)"),
    ("contours:\n  dev: {from: stagee}\n  stage: {}\n",
     "stapel.yaml:2: contours.dev.from: unknown contour 'stagee'; did you mean 'stage'?"),
])
def test_bad_inheritance(config_error, text, message):
    assert config_error(text) == [message]


def test_every_contour_with_a_bad_from_is_reported(config_error):
    """Each bad `from:` is its own line; a cycle is one line although each contour on it finds it."""
    lines = config_error("contours:\n  dev: {}\n  a: {from: x}\n  b: {from: y}\n  c: {from: d}\n  d: {from: c}\n")
    assert lines == [
        "stapel.yaml:3: contours.a.from: unknown contour 'x' (allowed: a, b, c, d, dev)",
        "stapel.yaml:4: contours.b.from: unknown contour 'y' (allowed: a, b, c, d, dev)",
        "stapel.yaml:6: contours.d.from: inheritance cycle c -> d -> c (remove one of these from: entries)",
    ]


def test_an_unknown_contour_on_the_command_line(write_yaml):
    path = write_yaml("contours:\n  dev: {}\n  stage: {}\n")
    with pytest.raises(ConfigError) as info:
        open_stack(path, "stagee", env={})
    assert info.value.lines() == ["--contour: unknown contour 'stagee'; did you mean 'stage'? (declare it under contours: in stapel.yaml)"]


def test_two_contours_whose_ports_collide(config_error):
    lines = config_error("""
        contours:
          dev: {}
          stage: {ports: {set: {api: 8000}}, weak_credentials: allow}
        components:
          cache: {kind: redis}
        services:
          api: {command: x, port: 8000}
        """)
    assert lines == [
        "stapel.yaml:3: contours.stage: port 6379 (cache) is also contour dev's (cache) and 1 more; give contours.stage.ports "
        "an offset (ports: 100) or a set: table, so both can run side by side"]


def test_two_auto_contours_may_share_ports(load_text):
    load_text("contours:\n  dev: {}\n  test: {ports: auto}\ncomponents:\n  cache: {kind: redis}\n")


def test_a_port_table_entry_must_name_a_port(config_error):
    lines = config_error("contours:\n  dev:\n    ports: {set: {cahce: 1}}\ncomponents:\n  cache: {kind: redis}\n")
    assert lines == ["stapel.yaml:3: contours.dev.ports.set.cahce: no such port; did you mean 'cache'?"]


def test_a_contour_env_file_is_read_after_dotenv_and_must_exist(write_yaml, tmp_path: Path):
    path = write_yaml("""
        contours:
          dev: {}
          stage: {env_file: .env.stage, ports: 100}
        components:
          db: {kind: postgres, password: "${DB_PASSWORD}"}
        """)
    with pytest.raises(ConfigError) as info:
        open_stack(path, "stage")
    assert info.value.lines() == [
        f"stapel.yaml:3: contours.stage.env_file[0]: {tmp_path / '.env.stage'} does not exist "
        "(create it, e.g. with stapel env sync, or remove it)"]
    (tmp_path / ".env").write_text("DB_PASSWORD=dev-password-from-dotenv\n")
    (tmp_path / ".env.stage").write_text("DB_PASSWORD=Stage-password-from-env-stage\n")
    assert open_stack(path, "dev").nodes["db"].config.password == "dev-password-from-dotenv"
    assert open_stack(path, "stage").nodes["db"].config.password == "Stage-password-from-env-stage"
    (tmp_path / ".env.stage").write_text("DB_PASSWORD='unclosed\n")
    with pytest.raises(ConfigError) as info:
        open_stack(path, "stage")
    assert info.value.lines()[0].startswith(f"{tmp_path / '.env.stage'}:1: cannot parse")


def test_weak_credentials_are_refused_outside_dev_all_at_once(config_error):
    lines = config_error("""
        contour: prod
        contours:
          prod: {}
        components:
          db: {kind: postgres}
          cache: {kind: redis}
          mq: {kind: rabbitmq, user: app, password: short-pw}
          ok: {kind: rabbitmq, password: a-long-enough-secret}
        """)
    assert [line.split(" is refused")[0] for line in lines] == [
        "stapel.yaml:5: components.db.password: the well-known password 'postgres'",
        "stapel.yaml:6: components.cache.password: an empty password",
        "stapel.yaml:7: components.mq.password: a password shorter than 12 characters",
    ]
    assert lines[0].endswith("in contour 'prod'; write password: ${DB_PASSWORD} and set DB_PASSWORD to a strong secret in "
                             ".env (or the environment) (`stapel env sync` generates secrets; or set contours.prod.weak_credentials: allow)")


def test_weak_credentials_are_fine_in_dev(load_text):
    load_text("components:\n  db: {kind: postgres}\n  mq: {kind: rabbitmq}\n")


def test_other_contours_are_checked_while_dev_runs(config_error, tmp_path: Path):
    """Checked up front means all contours: stage's missing env file and its override of an unknown name fail dev."""
    lines = config_error("""
        contours:
          dev: {}
          stage:
            env_file: .env.stag
            components:
              dbb: {port: 6000}
        components:
          db: {kind: postgres}
        """)
    assert lines == [
        f"stapel.yaml:4: contours.stage.env_file[0]: {tmp_path / '.env.stag'} does not exist (create it, e.g. with stapel env sync, or remove it)",
        "stapel.yaml:6: contours.stage.components.dbb: no such name in components:; did you mean 'db'?",
    ]


def test_an_inherited_bad_override_is_reported_once(config_error):
    lines = config_error("""
        contour: prod
        contours:
          stage:
            components:
              nope: {port: 6000}
          prod: {from: stage}
        components:
          db: {kind: postgres, password: Kz8-mP2qR7vN4xT9}
        """)
    assert lines == ["stapel.yaml:5: contours.stage.components.nope: no such name in components: (allowed: db)"]


def test_a_missing_env_file_that_env_sync_makes_is_fine_for_another_contour(load_text, config_error, tmp_path: Path):
    """A fresh clone runs dev before anyone synced stage; stage itself still needs the file."""
    text = """
        env:
          files: [env.example, {example: env.stage.example, path: .env.stage}]
        contours:
          dev: {}
          stage: {env_file: .env.stage, weak_credentials: allow, ports: 100}
        components:
          db: {kind: postgres}
        """
    (tmp_path / "env.example").write_text("A=1\n")
    (tmp_path / "env.stage.example").write_text("A=1\n")
    assert load_text(text).contour == "dev"
    assert config_error("contour: stage\n" + __import__("textwrap").dedent(text))[0].startswith(
        "stapel.yaml:7: contours.stage.env_file[0]: ")
    (tmp_path / "env.stage.example").unlink()  # nothing makes it now: a typo or a forgotten file
    assert config_error(text)[0].endswith(".env.stage does not exist (create it, e.g. with stapel env sync, or remove it)")
