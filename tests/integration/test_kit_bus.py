"""stapel.kit.bus on a real RabbitMQ and PostgreSQL started by stapel, the topology provisioned by stapel from
the AsyncAPI file: poison messages and permanent failures to the DLQ with their reasons, a temporary failure
retried through `at` and then succeeding, exhausted attempts, duplicates absorbed by the PostgreSQL inbox, and a
broker restart (`stapel restart --service mq`) while publishing and consuming: no confirmed message lost."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pika
import psycopg
import pytest
from kit_stack import Stack, stack
from prometheus_client import REGISTRY

from stapel.kit.at import At
from stapel.kit.bus import ATTEMPT, Bus, Delivery, Message, Permanent, PostgresInbox, Temporary
from stapel.kit.config import Config, Postgres, RabbitMQ, load
from stapel.kit.sql import Database

pytestmark = pytest.mark.integration

ASYNCAPI = """\
asyncapi: 3.0.0
info: {title: orders, version: 1.0.0}
channels:
  orderPlaced:
    address: order.placed
    messages:
      OrderPlaced: {name: OrderPlaced}
    bindings:
      amqp:
        is: routingKey
        exchange: {name: orders.events, type: topic, durable: true}
        queue: {name: orders.work, durable: true, x-dead-letter: true}
  audit:
    address: audit.work
    bindings:
      amqp:
        is: queue
        queue: {name: audit.work, durable: true, x-dead-letter: true}
"""


class WorkerConfig(Config, prefix="W_"):
    rabbitmq: RabbitMQ
    postgres: Postgres


class OrderPlaced(Message):
    order_id: int


class Audited(Message, type="Audited", version=2):
    n: int


@pytest.fixture(scope="module")
def env():
    with stack("kit-bus", "db", "mq", asyncapi=ASYNCAPI) as running:
        (running.root / "asyncapi.yaml").write_text(ASYNCAPI)
        saved = dict(os.environ)
        os.environ.update(running.env)
        try:
            running.settings = load(WorkerConfig)  # type: ignore[attr-defined]
        finally:
            os.environ.clear()
            os.environ.update(saved)
        with psycopg.connect(running.settings.postgres.dsn, autocommit=True) as conn:  # type: ignore[attr-defined]
            conn.execute("CREATE TABLE handled (order_id int NOT NULL, message_id text NOT NULL)")
        yield running


def contract(env: Stack) -> Path:
    return env.root / "asyncapi.yaml"


def drain(env: Stack, queue: str) -> list[tuple[dict, bytes]]:
    """Every message in `queue` (taken off it): (headers + message_id, body)."""
    params = pika.URLParameters(env.env["W_RABBITMQ_URL"])
    found = []
    with pika.BlockingConnection(params) as conn:
        channel = conn.channel()
        while True:
            method, props, body = channel.basic_get(queue, auto_ack=True)
            if method is None:
                return found
            found.append(({**(props.headers or {}), "message_id": props.message_id}, body))


def raw_publish(env: Stack, routing_key: str, body: bytes, headers: dict, message_id: str) -> None:
    with pika.BlockingConnection(pika.URLParameters(env.env["W_RABBITMQ_URL"])) as conn:
        conn.channel().basic_publish("orders.events", routing_key, body,
                                     pika.BasicProperties(headers=headers, message_id=message_id, delivery_mode=2))


def counted(queue: str, result: str) -> float:
    total = 0.0
    for metric in REGISTRY.collect():
        for sample in metric.samples:
            if sample.name == "stapel_kit_bus_consumed_total" and sample.labels.get("queue") == queue \
                    and sample.labels.get("result") == result:
                total += sample.value
    return total


async def until(condition, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


def test_poison_and_permanent_failures_go_to_the_dlq_with_their_reasons(env: Stack, tmp_path: Path) -> None:
    handled: list[int] = []

    async def scenario() -> None:
        async with await Bus.connect(env.settings.rabbitmq, contract(env)) as bus:  # type: ignore[attr-defined]
            async def handle(order: OrderPlaced) -> None:
                if order.order_id == 13:
                    raise Permanent("orders", "order 13 is cursed")
                handled.append(order.order_id)

            await bus.consume("orderPlaced", handle, prefetch=4)
            raw_publish(env, "order.placed", b'{"order_id": "not a number"}',
                        {"x-stapel-type": "OrderPlaced", "x-stapel-version": 1}, "poison-1")
            raw_publish(env, "order.placed", b'{"order_id": 1}', {"x-stapel-type": "Refund", "x-stapel-version": 1},
                        "poison-2")
            raw_publish(env, "order.placed", b'{not json', {}, "poison-3")
            await bus.publish("orderPlaced", OrderPlaced(order_id=13), message_id="cursed-13")
            await bus.publish("order.placed", OrderPlaced(order_id=7))  # by address too
            await until(lambda: handled == [7] and counted("orders.work", "dead_lettered") >= 4)

    asyncio.run(scenario())
    dead = {headers["message_id"]: (headers, body) for headers, body in drain(env, "orders.work.dlq")}
    assert set(dead) == {"poison-1", "poison-2", "poison-3", "cursed-13"}
    assert "OrderPlaced v1 does not validate: order_id: Input should be a valid integer" in \
        dead["poison-1"][0]["x-stapel-reason"]
    assert "not a number" not in dead["poison-1"][0]["x-stapel-reason"]  # never the input itself
    assert dead["poison-2"][0]["x-stapel-reason"].startswith("unknown message type Refund v1")
    assert dead["poison-3"][1] == b"{not json" and dead["poison-3"][0]["x-stapel-error"] == "ValidationError"
    cursed = dead["cursed-13"][0]
    assert cursed["x-stapel-reason"] == "orders: order 13 is cursed" and cursed["x-stapel-error"] == "Permanent"
    assert cursed[ATTEMPT] == 1 and cursed["x-stapel-queue"] == "orders.work"
    assert cursed["x-stapel-dead-lettered-at"].endswith("+00:00")


def test_a_temporary_failure_is_retried_through_at_then_succeeds_and_exhausted_ones_are_dead(env: Stack,
                                                                                             tmp_path: Path) -> None:
    attempts: dict[int, list[int]] = {}

    async def scenario() -> None:
        at = await At.open(tmp_path / "at.sqlite3")
        async with await Bus.connect(env.settings.rabbitmq, contract(env), at=at, retry_base=0.05,  # type: ignore[attr-defined]
                                     max_attempts=4) as bus:
            @bus.consumer("orderPlaced")
            async def handle(order: OrderPlaced, delivery: Delivery) -> None:
                attempts.setdefault(order.order_id, []).append(delivery.attempt)
                if order.order_id == 1 and delivery.attempt < 3:
                    raise Temporary("payments", "payment service down")
                if order.order_id == 2:
                    raise ConnectionError("always down")

            await bus.start()
            runner = asyncio.ensure_future(at.run())
            await bus.publish("orderPlaced", OrderPlaced(order_id=1), message_id="retry-1")
            await bus.publish("orderPlaced", OrderPlaced(order_id=2), message_id="retry-2")
            await until(lambda: attempts.get(1) == [1, 2, 3] and len(attempts.get(2, [])) == 4 and at.pending() == 0
                        and counted("orders.work", "dead_lettered") >= 5)
            runner.cancel()
        await at.close()

    asyncio.run(scenario())
    assert attempts == {1: [1, 2, 3], 2: [1, 2, 3, 4]}
    dead = drain(env, "orders.work.dlq")
    assert [h["message_id"] for h, _ in dead] == ["retry-2"]
    assert dead[0][0]["x-stapel-reason"] == "gave up after 4 attempts: always down"
    assert dead[0][0]["x-stapel-error"] == "ConnectionError" and dead[0][0][ATTEMPT] == 4


def test_duplicates_are_absorbed_by_the_postgres_inbox(env: Stack, tmp_path: Path) -> None:
    async def scenario() -> None:
        db = await Database.connect(env.settings.postgres.dsn, name="inbox-db")  # type: ignore[attr-defined]
        inbox = PostgresInbox(db)
        failed_once: set[int] = set()
        async with await Bus.connect(env.settings.rabbitmq, contract(env)) as bus:  # type: ignore[attr-defined]
            async def handle(order: OrderPlaced, delivery: Delivery) -> None:
                await delivery.tx.exec(record, order_id=order.order_id, message_id=delivery.message_id)
                if order.order_id == 5 and 5 not in failed_once:  # fails after its write: rolled back with the inbox row
                    failed_once.add(5)
                    raise Temporary("orders", "try again")

            await bus.consume("orderPlaced", handle, inbox=inbox, name="orders-writer")
            for _ in range(3):
                await bus.publish("orderPlaced", OrderPlaced(order_id=4), message_id="dup-4")
            await bus.publish("orderPlaced", OrderPlaced(order_id=5), message_id="dup-5")  # no at: requeued
            await until(lambda: counted("orders.work", "duplicate") >= 2 and counted("orders.work", "requeued") >= 1)
            await asyncio.sleep(1.5)
        await db.close()

    from stapel.kit.sql import load as load_queries

    (tmp_path / "handled.sql").write_text("-- name: handled__add :exec\nINSERT INTO handled (order_id, message_id) "
                                          "VALUES (@order_id, @message_id);\n")
    record = load_queries(tmp_path).handled__add
    asyncio.run(scenario())
    with psycopg.connect(env.settings.postgres.dsn) as conn:  # type: ignore[attr-defined]
        rows = conn.execute("SELECT order_id, message_id FROM handled ORDER BY order_id").fetchall()
        inbox = conn.execute("SELECT message_id FROM stapel_inbox WHERE consumer = 'orders-writer' "
                             "ORDER BY 1").fetchall()
    assert rows == [(4, "dup-4"), (5, "dup-5")]
    assert inbox == [("dup-4",), ("dup-5",)]


def restart_with_stapel(env: Stack) -> None:
    restarted = env.stapel("restart", "--service", "mq")
    assert restarted.returncode == 0, restarted.stderr


def kill_9_the_broker(env: Stack) -> None:
    """SIGKILL RabbitMQ's Erlang VM; the component's `restart: {policy: always}` has stapel's supervisor start it
    again."""
    import signal

    import psutil
    from conftest import status

    wrapper = psutil.Process(status(env.root)["mq"]["pid"])
    beam = next(p for p in wrapper.children(recursive=True) if p.name() == "beam.smp")
    os.kill(beam.pid, signal.SIGKILL)


@pytest.mark.parametrize("disrupt", [restart_with_stapel, kill_9_the_broker], ids=["stapel-restart", "kill-9"])
def test_a_broker_restart_while_publishing_and_consuming_loses_no_confirmed_message(env: Stack, disrupt) -> None:
    total = 300
    seen: set[str] = set()

    async def scenario() -> tuple[list[str], list[Exception]]:
        async with await Bus.connect(env.settings.rabbitmq, contract(env), publish_budget=90,  # type: ignore[attr-defined]
                                     publish_attempts=1000) as bus:
            async def handle(order: OrderPlaced, delivery: Delivery) -> None:
                seen.add(delivery.message_id)

            await bus.consume("orderPlaced", handle, prefetch=16)
            confirmed: list[str] = []
            failures: list[Exception] = []
            in_flight = asyncio.Semaphore(4)  # ~50 publishes/s: publishing spans the restart

            async def publish(n: int) -> None:
                async with in_flight:
                    try:
                        confirmed.append(await bus.publish("orderPlaced", OrderPlaced(order_id=n),
                                                           message_id=f"{disrupt.__name__}-{n}"))
                    except Exception as exc:  # counted and asserted below
                        failures.append(exc)
                    await asyncio.sleep(0.08)

            publishing = asyncio.gather(*(publish(n) for n in range(total)))
            await until(lambda: len(confirmed) > 60)
            await asyncio.to_thread(disrupt, env)
            await publishing
            await until(lambda: set(confirmed) <= seen, timeout=90)  # consumption resumed after the restart
            assert (await bus.check()) is True
            return confirmed, failures

    def reconnects() -> float:
        return REGISTRY.get_sample_value("stapel_kit_bus_reconnects_total", {"bus": "bus"}) or 0

    before = reconnects()
    confirmed, failures = asyncio.run(scenario())
    assert not failures and len(confirmed) == total
    assert reconnects() > before  # the connection was lost mid-stream and restored
    assert set(confirmed) <= seen
