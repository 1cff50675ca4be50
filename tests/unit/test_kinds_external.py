"""The external kind: a managed PostgreSQL/Redis/RabbitMQ pointed at by URL. What services get (the served kind's
exports at the URL's host), its probe, its secrets, its served kind's fields checked by that kind's model, and every
bad input as one line naming the config path."""

from __future__ import annotations

from pathlib import Path

import pytest

from stapel.engine.stack import open_stack

STACK = """\
components:
  db:
    kind: external
    serves: postgres
    url: ${STAGE_DATABASE_URL}
    databases: {crm: {}}
    roles: {crm_app: {password: app-pass-123, database: crm}}
  cache: {kind: external, serves: redis, url: "redis://:r3dis-pw@cache.example.com:6380/0"}
  mq: {kind: external, serves: rabbitmq, url: "amqp://u:p%40ss@mq.example.com/stage"}
services:
  api: {command: python3 app.py, port: 3000, depends_on: [db, cache, mq], uses: {db: {role: crm_app}}}
"""
URL = "postgresql://admin:s3cr%2Ft@db.example.com:6543/main"


def stack_in(tmp_path: Path, text: str = STACK, url: str = URL):
    (tmp_path / "stapel.yaml").write_text(text)
    return open_stack(tmp_path / "stapel.yaml", None, env={"STAGE_DATABASE_URL": url})


def test_services_get_what_a_local_one_gives_at_the_urls_host(tmp_path: Path) -> None:
    stack = stack_in(tmp_path)
    env = stack.service_env(stack.nodes["api"])
    assert env["DATABASE_URL"] == env["DB_URL"] == "postgresql://crm_app:app-pass-123@db.example.com:6543/crm"
    assert (env["DB_HOST"], env["DB_PORT"], env["DB_USER"], env["DB_DB"]) == ("db.example.com", "6543", "crm_app", "crm")
    assert env["REDIS_URL"] == env["CACHE_URL"] == "redis://:r3dis-pw@cache.example.com:6380/0"
    assert env["MQ_URL"] == "amqp://u:p%40ss@mq.example.com:5672/stage" and env["MQ_VHOST"] == "stage"


def test_it_has_no_local_port_and_is_probed_on_its_host(tmp_path: Path) -> None:
    stack = stack_in(tmp_path)
    db = stack.nodes["db"]
    assert db.ports == {} and stack.endpoint(db) == "-"
    spec = stack.probe(db)
    assert (spec.type, spec.params) == ("postgres", {"port": 6543, "user": "admin", "database": "main", "host": "db.example.com"})
    assert stack.probe(stack.nodes["cache"]).params == {"port": 6380, "password": "r3dis-pw", "host": "cache.example.com"}


def test_its_passwords_are_masked(tmp_path: Path) -> None:
    secrets = stack_in(tmp_path).secrets()
    assert {"s3cr/t", "app-pass-123", "r3dis-pw", "p@ss"} <= set(secrets)


def test_the_served_kinds_fields_are_its_config(tmp_path: Path) -> None:
    served = stack_in(tmp_path).nodes["db"].config.served_config()
    assert (served.kind, served.user, served.password, served.database, served.port) == ("postgres", "admin", "s3cr/t", "main", 6543)
    assert list(served.roles) == ["crm_app"] and list(served.databases) == ["crm"]


BAD = [
    ("serves: mysql\nurl: x", "stapel.yaml:4: components.db.serves: 'mysql' cannot be external (one of postgres, redis, rabbitmq)"),
    ("serves: postgres", "stapel.yaml:2: components.db.url: required key is missing"),
    ("serves: postgres\nurl: http://db.example.com/x",
     "stapel.yaml:5: components.db.url: not a postgres URL (postgresql://user:password@host:5432/database)"),
    ("serves: postgres\nurl: postgresql://u:p@host:99999/db",
     "stapel.yaml:5: components.db.url: not a postgres URL (postgresql://user:password@host:5432/database)"),
    ("serves: postgres\nurl: postgresql://u:p@host/db\nuser: other", "stapel.yaml:6: components.db: 'user' comes from url: remove it here"),
    ("serves: postgres\nurl: postgresql://u:p@host/db\nroles: {app: {passwrd: x, database: db}}",
     "stapel.yaml:2: components.db: roles.app.password: Field required (as a postgres block)"),
]


@pytest.mark.parametrize(("block", "line"), BAD)
def test_bad_input_is_one_line(config_error, block: str, line: str) -> None:
    lines = config_error("components:\n  db:\n    kind: external\n" + "".join(f"    {line}\n" for line in block.splitlines()))
    assert lines[0] == line


def test_it_is_provisioned_as_the_served_kind_at_the_urls_host(tmp_path: Path) -> None:
    from stapel.provision.postgres import _dsn
    from stapel.provision.steps import _provisioned_as

    stack = stack_in(tmp_path)
    served = _provisioned_as(stack, stack.nodes["db"])
    assert (served.kind, served.host, served.port, list(served.config.roles)) == ("postgres", "db.example.com", 6543, ["crm_app"])
    assert "host=db.example.com port=6543" in _dsn("admin", "pw", served.port, "postgres", served.host)
    assert stack.nodes["db"].runs is False and stack.nodes["api"].runs is True


def test_a_remote_broker_with_something_to_provision_is_one_line(tmp_path: Path) -> None:
    """RabbitMQ's provisioner talks to 127.0.0.1's management API: a managed broker's vhosts are not created from here."""
    from stapel.errors import ConfigError
    from stapel.provision.steps import _provisioned_as

    stack = stack_in(tmp_path, STACK.replace('url: "amqp://u:p%40ss@mq.example.com/stage"}',
                                             'url: "amqp://u:p%40ss@mq.example.com/stage", vhosts: {stage: {}}}'))
    with pytest.raises(ConfigError) as info:
        _provisioned_as(stack, stack.nodes["mq"])
    assert info.value.message == ("components.mq: provisioning an external rabbitmq that is not on this machine is not "
                                  "supported yet")
