"""Durability drills: kill -9 a server stapel runs; its default restart policy brings it back, with what it
had acknowledged. PostgreSQL (1,000 committed rows, back within 3 s), Redis (AOF, appendfsync everysec:
1,000 acknowledged writes) and RabbitMQ (a durable queue, 1,000 persistent messages published with
confirms). Each drill prints how long the server took to answer again."""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from pathlib import Path

import pika
import psutil
import psycopg
import pytest
import redis
from conftest import stapel, status, stop_and_clean, traversable_dir

pytestmark = pytest.mark.integration

DB_PASSWORD = "dev-only-drill-db-7f3a"
CACHE_PASSWORD = "dev-only-drill-cache-9b2c"
MQ_PASSWORD = "dev-only-drill-mq-4e8d"
ROWS = 1000


@pytest.fixture(scope="module")
def stack():
    folder = traversable_dir("durability")
    offset = random.randrange(2000, 9000)  # every port, RabbitMQ's internal ones too, away from other stacks' defaults
    (folder / "stapel.yaml").write_text(f"""
name: drills
contours:
  dev: {{ports: {{offset: {offset}}}}}
components:
  db: {{kind: postgres, password: {DB_PASSWORD}}}
  cache: {{kind: redis, password: {CACHE_PASSWORD}}}
  mq: {{kind: rabbitmq, user: app, password: {MQ_PASSWORD}}}
""")
    try:
        stapel(folder, "up", check=True, timeout=300)
        yield folder
    finally:
        leftovers = stop_and_clean(folder)
        assert not leftovers, f"processes left running: {leftovers}"


def port_of(folder: Path, name: str) -> int:
    return int(status(folder)[name]["endpoint"].rsplit(":", 1)[1])


def server_pid(leader: int, program: str | None) -> int:
    """The server itself: the group's leader, or (RabbitMQ's start script runs the Erlang VM) its `program` child."""
    if program is None:
        return leader
    found = [p.pid for p in psutil.Process(leader).children(recursive=True) if p.name().startswith(program)]
    return found[0] if found else leader


def kill_and_time(folder: Path, name: str, answers, limit: float, program: str | None = None) -> float:
    """SIGKILL the node's server process; seconds until `answers()` is true again (within `limit`)."""
    before = status(folder)[name]
    os.kill(server_pid(before["pid"], program), signal.SIGKILL)
    killed = time.monotonic()
    deadline = killed + limit
    while time.monotonic() < deadline:
        try:
            if answers():
                break
        except Exception:  # down or still booting
            pass
        time.sleep(0.05)
    else:
        raise AssertionError(f"{name} not back within {limit}s; status: {status(folder)[name]}")
    took = time.monotonic() - killed
    after = status(folder)[name]
    assert after["state"] == "running" and after["pid"] != before["pid"] and after["restarts"] == before["restarts"] + 1
    print(f"\n{name}: back {took:.2f}s after kill -9")
    return took


def _crunch(dsn: str) -> None:
    """A backend busy computing: it does not notice its postmaster's death and keeps the shared memory, so a new
    postmaster refuses to start until the supervisor kills what is left of the group."""
    try:
        with psycopg.connect(dsn) as conn:
            conn.execute("SELECT count(*) FROM generate_series(1, 10000000000)")
    except psycopg.Error:
        pass


def test_postgres_killed_comes_back_within_3s_with_every_committed_row(stack: Path) -> None:
    dsn = f"host=127.0.0.1 port={port_of(stack, 'db')} user=postgres password={DB_PASSWORD} dbname=postgres connect_timeout=1"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE drill (id int PRIMARY KEY, note text)")
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO drill VALUES (%s, %s)", [(i, f"row {i}") for i in range(ROWS)])
        busy = threading.Thread(target=_crunch, args=(dsn,), daemon=True)  # a backend that will not notice
        busy.start()
        time.sleep(0.3)

        def answers() -> bool:
            with psycopg.connect(dsn) as again:
                return again.execute("SELECT count(*) FROM drill").fetchone()[0] == ROWS

        took = kill_and_time(stack, "db", answers, limit=3.0)
    assert took <= 3.0


def test_redis_killed_comes_back_with_every_acknowledged_write(stack: Path) -> None:
    client = redis.Redis(port=port_of(stack, "cache"), password=CACHE_PASSWORD, socket_timeout=1, socket_connect_timeout=1)
    for i in range(ROWS):
        client.set(f"drill:{i}", i)  # each one acknowledged before the next

    def answers() -> bool:
        return redis.Redis(port=port_of(stack, "cache"), password=CACHE_PASSWORD, socket_timeout=1,
                           socket_connect_timeout=1).dbsize() == ROWS

    kill_and_time(stack, "cache", answers, limit=5.0)


def test_rabbitmq_killed_comes_back_with_every_confirmed_persistent_message(stack: Path) -> None:
    params = pika.ConnectionParameters("127.0.0.1", port_of(stack, "mq"), credentials=pika.PlainCredentials("app", MQ_PASSWORD),
                                       connection_attempts=1, socket_timeout=2, blocked_connection_timeout=5)
    with pika.BlockingConnection(params) as conn:
        channel = conn.channel()
        channel.confirm_delivery()
        channel.queue_declare("drill", durable=True)
        for i in range(ROWS):
            channel.basic_publish("", "drill", str(i).encode(), pika.BasicProperties(delivery_mode=2), mandatory=True)

    def answers() -> bool:
        with pika.BlockingConnection(params) as again:
            return again.channel().queue_declare("drill", durable=True, passive=True).method.message_count == ROWS

    kill_and_time(stack, "mq", answers, limit=60.0, program="beam")
