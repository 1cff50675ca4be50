"""stapel.kit.config: the names stapel exports, read under the service's env_prefix; fail fast with one line per
problem naming the full variable, never a value; safe_dump masks secrets."""

from __future__ import annotations

from typing import Annotated

import pytest
from pydantic import SecretStr

from stapel.kit.config import Config, Listen, Postgres, RabbitMQ, Redis, load, node, required_env, safe_dump

PASSWORD = "s3cr3t-pass-word"
URL = f"postgresql://users:{PASSWORD}@127.0.0.1:5433/shop?options=-csearch_path%3Dusers"


class UsersConfig(Config, prefix="USERS_"):
    postgres: Postgres
    redis: Redis
    listen: Listen
    own_table: str = "users"
    api_token: SecretStr


def exported(**extra: str) -> dict[str, str]:
    """What `stapel env print --service users` gives a service with env_prefix USERS_ using a postgres and a redis."""
    env = {
        "USERS_DATABASE_URL": URL, "USERS_POSTGRES_HOST": "127.0.0.1", "USERS_POSTGRES_PORT": "5433",
        "USERS_POSTGRES_USER": "users", "USERS_POSTGRES_PASSWORD": PASSWORD, "USERS_POSTGRES_DB": "shop",
        "USERS_POSTGRES_SCHEMA": "users",
        "USERS_REDIS_URL": f"redis://:{PASSWORD}@127.0.0.1:6380/2", "USERS_REDIS_HOST": "127.0.0.1",
        "USERS_REDIS_PORT": "6380", "USERS_REDIS_PASSWORD": PASSWORD, "USERS_REDIS_DB": "2",
        "HOST": "127.0.0.1", "PORT": "8001", "USERS_API_TOKEN": "tok-123456789",
    }
    return {**env, **extra}


@pytest.fixture
def environ(monkeypatch: pytest.MonkeyPatch):
    def apply(values: dict[str, str]) -> None:
        for key in list(__import__("os").environ):
            if key.startswith(("USERS_", "ORDERS_")) or key in ("HOST", "PORT"):
                monkeypatch.delenv(key)
        for key, value in values.items():
            monkeypatch.setenv(key, value)

    return apply


def test_reads_the_prefixed_names_stapel_exports(environ) -> None:
    environ(exported())
    config = load(UsersConfig)
    assert config.postgres.dsn == URL
    assert (config.postgres.host, config.postgres.port, config.postgres.db, config.postgres.schema_) == ("127.0.0.1", 5433, "shop", "users")
    assert config.postgres.password.get_secret_value() == PASSWORD
    assert (config.redis.db, config.listen.host, config.listen.port, config.own_table) == (2, "127.0.0.1", 8001, "users")


def test_the_prefix_is_a_class_keyword_and_does_not_leak_to_the_base(environ) -> None:
    class OrdersConfig(Config, prefix="ORDERS_"):
        own_table: str

    environ({"ORDERS_OWN_TABLE": "orders", "OWN_TABLE": "wrong"})
    assert load(OrdersConfig).own_table == "orders"
    assert Config.model_config.get("env_prefix", "") == ""
    assert UsersConfig.model_config["env_prefix"] == "USERS_"


def test_a_node_block_reads_the_nodes_own_names(environ) -> None:
    class Two(Config, prefix="USERS_"):
        mq: Annotated[RabbitMQ, node("events")]

    environ({"USERS_EVENTS_URL": f"amqp://app:{PASSWORD}@127.0.0.1:5673/%2F", "USERS_EVENTS_HOST": "127.0.0.1",
             "USERS_EVENTS_PORT": "5673", "USERS_EVENTS_USER": "app", "USERS_EVENTS_PASSWORD": PASSWORD,
             "USERS_EVENTS_VHOST": "/"})
    assert load(Two).mq.port == 5673


def test_every_problem_is_one_line_naming_the_variable_and_never_a_value(environ, capsys) -> None:
    env = exported(USERS_POSTGRES_PORT=f"not-a-port-{PASSWORD}", USERS_REDIS_DB="two")
    del env["USERS_POSTGRES_PASSWORD"], env["PORT"], env["USERS_API_TOKEN"]
    environ(env)
    with pytest.raises(SystemExit) as exited:
        load(UsersConfig)
    assert exited.value.code == 1
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert sorted(line.split(":")[1].strip() for line in lines) == sorted(
        ["USERS_POSTGRES_PORT", "USERS_POSTGRES_PASSWORD", "USERS_REDIS_DB", "PORT", "USERS_API_TOKEN"])
    assert all(line.startswith("config: ") for line in lines)
    assert "config: USERS_POSTGRES_PASSWORD: missing" in err and "config: PORT: missing" in err
    assert "USERS_POSTGRES_PORT: Input should be a valid integer" in err
    assert PASSWORD not in err and "not-a-port" not in err and "tok-123456789" not in err and "two" not in err


def test_a_custom_validator_that_echoes_its_input_is_masked(environ, capsys) -> None:
    from pydantic import field_validator

    class Checked(Config, prefix="USERS_"):
        api_token: SecretStr
        region: str

        @field_validator("region")
        @classmethod
        def known(cls, value: str) -> str:
            raise ValueError(f"unknown region {value}")

    environ({"USERS_API_TOKEN": "x" * 20, "USERS_REGION": "mars-secret-region"})
    with pytest.raises(SystemExit):
        load(Checked)
    err = capsys.readouterr().err
    assert err.strip() == "config: USERS_REGION: Value error, unknown region ***"


def test_a_list_that_is_not_json_is_one_line(environ, capsys) -> None:
    class Lists(Config, prefix="USERS_"):
        hosts: list[str]

    environ({"USERS_HOSTS": "[not json"})
    with pytest.raises(SystemExit):
        load(Lists)
    assert capsys.readouterr().err == "config: USERS_HOSTS: not valid JSON\n"


def test_safe_dump_masks_secrets_and_url_passwords(environ) -> None:
    environ(exported())
    config = load(UsersConfig)
    dumped = safe_dump(config)
    assert dumped == config.safe_dump()
    text = repr(dumped)
    assert PASSWORD not in text and "tok-123456789" not in text
    assert dumped["postgres"]["url"] == "postgresql://users:******@127.0.0.1:5433/shop?options=-csearch_path%3Dusers"
    assert dumped["postgres"]["password"] == "******" and dumped["api_token"] == "******"
    assert dumped["listen"] == {"host": "127.0.0.1", "port": 8001} and dumped["postgres"]["schema"] == "users"
    assert PASSWORD in config.secret_values() and "tok-123456789" in config.secret_values()


def test_required_env_lists_what_the_service_cannot_start_without() -> None:
    names = required_env(UsersConfig)
    assert names[:6] == ["USERS_DATABASE_URL", "USERS_POSTGRES_HOST", "USERS_POSTGRES_PORT", "USERS_POSTGRES_USER",
                         "USERS_POSTGRES_PASSWORD", "USERS_POSTGRES_DB"]
    assert "USERS_POSTGRES_SCHEMA" not in names and "USERS_REDIS_PASSWORD" not in names
    assert "PORT" in names and "HOST" not in names and "USERS_API_TOKEN" in names and "USERS_OWN_TABLE" not in names


STACK = """
components:
  db: {kind: postgres, user: app, password: 'p@ss:w/rd %#?', database: shop}
  cache: {kind: redis, password: r3dis-secret-x}
  mq: {kind: rabbitmq, user: app, password: mq-secret-x, vhost: /}
  vectors: {kind: qdrant, api_key: qdrant-key-x}
  kv: {kind: consul}
services:
  users:
    command: python3 users.py
    port: 8001
    env_prefix: USERS_
    uses: {db: {schema: users}, cache: {db: 2}, mq: {}, vectors: {}, kv: {}}
"""


def test_every_block_reads_exactly_what_stapel_exports_to_the_service(tmp_path, environ) -> None:
    """The contract between the two halves: stapel's own service_env + declared_env, loaded by the kit's blocks."""
    from stapel.components.service import declared_env
    from stapel.engine.stack import open_stack
    from stapel.kit.config import Consul, Qdrant

    (tmp_path / "stapel.yaml").write_text(STACK)
    stack = open_stack(tmp_path / "stapel.yaml", env={})
    users = stack.nodes["users"]
    environ(declared_env(users, tmp_path, stack.service_env(users)))

    class Everything(Config, prefix="USERS_"):
        postgres: Postgres
        redis: Redis
        rabbitmq: RabbitMQ
        qdrant: Qdrant
        consul: Consul
        listen: Listen
        cache: Annotated[Redis, node("cache")]

    config = load(Everything)
    assert config.postgres.password.get_secret_value() == "p@ss:w/rd %#?" and config.postgres.schema_ == "users"
    assert "options=-csearch_path%3Dusers" in config.postgres.dsn
    from stapel.env.secrets import derived_password

    assert config.redis.db == 2 and config.redis.user == "users"  # its own ACL user, its own password
    assert config.redis.password.get_secret_value() == derived_password("r3dis-secret-x", "redis", "cache", "users")
    assert config.cache.url.get_secret_value() == config.redis.url.get_secret_value()
    assert (config.rabbitmq.user, config.rabbitmq.vhost) == ("users", "/")
    assert config.qdrant.api_key.get_secret_value() == "qdrant-key-x" and config.qdrant.grpc_port
    assert config.consul.http_addr == config.consul.url
    assert config.listen.port == 8001
    for block in ("postgres", "redis", "rabbitmq", "qdrant", "consul"):
        assert set(getattr(config, block).model_fields_set) == set(type(getattr(config, block)).model_fields), block
