"""`stapel env print` against real servers: the real client libraries connect with what a service would get."""

from __future__ import annotations

import json
import socket

import pika
import psycopg
import pytest
import redis
from conftest import stapel, status, stop_and_clean, traversable_dir

pytestmark = pytest.mark.integration

PASSWORD = "p@ss:w/rd %#?"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stack_yaml() -> str:
    db, cache, mq, management = (free_port() for _ in range(4))
    return f"""
components:
  db: {{kind: postgres, port: {db}, user: app, password: '{PASSWORD}', database: shop}}
  cache: {{kind: redis, port: {cache}, password: '{PASSWORD}'}}
  mq: {{kind: rabbitmq, port: {mq}, management_port: {management}, user: app, password: '{PASSWORD}', vhost: team/a}}
services:
  users:
    command: python3 -c pass
    env_prefix: USERS_
    uses:
      db: {{schema: users}}
      cache: {{db: 2}}
      mq: {{}}
"""


@pytest.fixture(scope="module")
def env():
    root = traversable_dir("service-env")
    (root / "stapel.yaml").write_text(stack_yaml())
    try:
        up = stapel(root, "up", "--skip-backend", timeout=300)
        assert up.returncode == 0, up.stdout + up.stderr
        printed = stapel(root, "env", "print", "--service", "users", "--format", "json", "--reveal", check=True)
        yield json.loads(printed.stdout), {name: node["endpoint"].split(":")[1] for name, node in status(root).items()}, root
    finally:
        stapel(root, "down", "--volumes", "--yes", timeout=120)
        assert not stop_and_clean(root)


def test_psycopg_connects_into_the_schema(env) -> None:
    values, _, _ = env
    with psycopg.connect(values["USERS_DATABASE_URL"], connect_timeout=5, autocommit=True) as conn:
        assert conn.execute("SHOW search_path").fetchone()[0] == "users"
        assert conn.execute("SELECT current_user, current_database()").fetchone() == ("app", "shop")
        conn.execute("CREATE SCHEMA IF NOT EXISTS users")
        conn.execute("CREATE TABLE IF NOT EXISTS accounts (id int)")
        assert conn.execute("SELECT table_schema FROM information_schema.tables WHERE table_name = 'accounts'").fetchone() == ("users",)


def test_redis_py_lands_on_db_2(env) -> None:
    values, _, _ = env
    client = redis.Redis.from_url(values["USERS_REDIS_URL"], socket_timeout=5)
    assert client.connection_pool.connection_kwargs["db"] == 2
    client.set("users:probe", "here")  # its own ACL user: keys users:* only
    assert int(client.client_info()["db"]) == 2
    port = int(values["USERS_REDIS_PORT"])
    assert redis.Redis(port=port, password=PASSWORD, db=0).get("users:probe") is None
    assert redis.Redis(port=port, password=PASSWORD, db=2).get("users:probe") == b"here"


def test_pika_connects_to_the_encoded_vhost(env) -> None:
    values, _, _ = env
    params = pika.URLParameters(values["USERS_RABBITMQ_URL"])
    assert params.virtual_host == "team/a"
    connection = pika.BlockingConnection(params)
    try:
        assert connection.channel().queue_declare("", exclusive=True).method.queue
    finally:
        connection.close()


def test_jdbc_and_r2dbc_strings(env) -> None:
    values, ports, _ = env
    assert values["USERS_JDBC_URL"] == f"jdbc:postgresql://127.0.0.1:{ports['db']}/shop?currentSchema=users"
    assert values["USERS_R2DBC_URL"] == f"r2dbc:postgresql://app:p%40ss%3Aw%2Frd%20%25%23%3F@127.0.0.1:{ports['db']}/shop?schema=users"
    assert values["USERS_POSTGRES_PASSWORD"] == PASSWORD and values["USERS_REDIS_USER"] == "users"


def test_env_print_masks_by_default(env) -> None:
    _, _, root = env
    masked = stapel(root, "env", "print", "--service", "users", check=True).stdout
    assert "p@ss" not in masked and "p%40ss" not in masked
    assert 'USERS_POSTGRES_PASSWORD="******"' in masked.splitlines()
