"""examples/kit-worker's worker: stapel.kit's bus, at, cache and sql together.

- consumes OrderPlaced from the queue shop.orders (the contract: ../api/server/asyncapi.yaml);
- the customer's name comes through the Redis cache (`customer:<id>`, 60 s), loaded from PostgreSQL on a miss;
- the order is recorded in PostgreSQL in the inbox's transaction: a duplicate delivery changes nothing;
- every fourth order's payment step fails once (`Temporary`): acked and republished 0.5-1.5 s later by `at`;
- an order with a negative amount can never be handled (`Permanent`): dead-lettered to shop.orders.dlq with the
  reason in its headers;
- /livez, /readyz (PostgreSQL, Redis, RabbitMQ) and /metrics on HOST:PORT.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

from stapel.kit import config, health, log
from stapel.kit.at import At
from stapel.kit.bus import Bus, Delivery, Message, Permanent, PostgresInbox, Temporary
from stapel.kit.cache import Cache
from stapel.kit.sql import Database, load

HERE = Path(__file__).parent
QUERIES = load(HERE / "sql")
CONTRACT = HERE.parent / "api" / "server" / "asyncapi.yaml"


class WorkerConfig(config.Config, prefix="WORKER_"):
    postgres: config.Postgres
    redis: config.Redis
    rabbitmq: config.RabbitMQ
    listen: config.Listen
    at: Annotated[config.Volume, config.node("at")]  # AT_DIR: the volume stapel.yaml gives the at file
    demo_orders: int = 0


class OrderPlaced(Message, version=1):
    order_id: int
    customer_id: int
    amount: int


async def main() -> None:
    settings = config.load(WorkerConfig)
    log.setup(config=settings)
    logger = log.get("worker")
    db = await Database.connect(settings.postgres.dsn, max_size=10)  # > prefetch: each handler holds one (the inbox's)
    await db.exec(QUERIES.shop__create_tables)
    await db.exec(QUERIES.customers__seed)
    cache = Cache(settings.redis, domain="shop", default_ttl=60)
    at = await At.open(Path(settings.at.dir) / "worker.sqlite3")
    bus = await Bus.connect(settings.rabbitmq, CONTRACT, at=at, retry_base=1.0)

    async def customer_name(customer_id: int, tx) -> str:
        # loaded on the handler's own connection: another pooled one per handler could exhaust the pool
        row = await cache.get_or_load(("customer", customer_id), lambda: tx.one(QUERIES.customers__get, customer_id))
        return row["name"]

    @bus.consumer("orderPlaced", prefetch=8, inbox=PostgresInbox(db))
    async def handle(order: OrderPlaced, delivery: Delivery) -> None:
        if order.amount < 0:
            raise Permanent("orders", f"order {order.order_id} has a negative amount")
        if order.order_id % 4 == 0 and delivery.attempt == 1:
            raise Temporary("payments", "the payment service did not answer")
        name = await customer_name(order.customer_id, delivery.tx)
        await delivery.tx.exec(QUERIES.orders__done, order_id=order.order_id, customer=name, attempt=delivery.attempt)
        logger.info("order done", order_id=order.order_id, customer=name, attempt=delivery.attempt)

    await bus.start()
    for n in range(1, settings.demo_orders + 1):  # the demo: orders to ourselves (a duplicate of #1, a poison #7)
        await bus.publish("orderPlaced", OrderPlaced(order_id=n, customer_id=n % 3 + 1, amount=-5 if n == 7 else 10 * n),
                          message_id=f"order-{n}")
    if settings.demo_orders:
        await bus.publish("orderPlaced", OrderPlaced(order_id=1, customer_id=2, amount=10), message_id="order-1")
    logger.info("worker ready", demo_orders=settings.demo_orders)
    try:
        await asyncio.gather(at.run(), health.serve(settings.listen.host, settings.listen.port))
    finally:
        await bus.close()
        await at.close()
        await cache.close()
        await db.close()


if __name__ == "__main__":
    asyncio.run(main())
