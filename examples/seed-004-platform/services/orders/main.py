"""The orders service of examples/seed-004-platform, on stapel.kit (seed 004's integration rules):

- config: every variable under ORDERS_, validated at start (fail fast): ORDERS_PAYMENTS_URL (the payments API, in dev
  the fake services/dev/payments) is required like the brokers' URLs;
- PostgreSQL: named SQL files in internal/repository/postgres/<model>/sql/, run as the role orders in its schema;
- Redis: orders:order:<id> with a TTL (ORDERS_CACHE_TTL);
- RabbitMQ (api/server/asyncapi.yaml): user.created consumed through the PostgreSQL inbox (the customers it may take
  orders from), order.placed published with confirms, message_id and the request's correlation id (through `at` when
  RabbitMQ cannot confirm it: the order is paid already, its event must follow);
- the payments API through payments.py (timeouts, backoff with jitter, ORDERS_PAYMENTS_RATE requests a second).

HTTP on stapel.kit.web (JSON, {"error", "detail"}, X-Correlation-ID). POST /orders {user_id, total_cents} (checked by
NewOrder: 400 naming the field otherwise): the customer must be known (404 until user.created arrived), the order is stored
(placed), charged outside any transaction, marked paid and announced: 201 with the order and the event's message_id;
503 when payments stays unavailable (the order stays placed), 422 when the charge is refused.
GET /orders/{id} (through the cache); /health, /livez, /metrics.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Annotated

from payments import Payments
from pydantic import BaseModel, Field
from repository import Orders

from stapel.kit import config, health, log
from stapel.kit.at import At
from stapel.kit.bus import Bus, Delivery, Message, PostgresInbox
from stapel.kit.bus.bus import correlation_id
from stapel.kit.cache import Cache
from stapel.kit.errors import Unavailable
from stapel.kit.sql import Database
from stapel.kit.web import router

CONTRACT = Path(__file__).resolve().parents[2] / "api" / "server" / "asyncapi.yaml"


class OrdersConfig(config.Config, prefix="ORDERS_"):
    postgres: config.Postgres
    redis: config.Redis                              # its own ACL user, orders:* keys only
    rabbitmq: config.RabbitMQ                        # its own user on the vhost platform
    listen: config.Listen
    at: Annotated[config.Volume, config.node("at")]
    payments_url: str                                # ORDERS_PAYMENTS_URL: required, no default
    payments_rate: float = 10.0                      # ORDERS_PAYMENTS_RATE: requests a second to the payments API
    payments_timeout: float = 1.0                    # ORDERS_PAYMENTS_TIMEOUT: read timeout of one attempt (s)
    cache_ttl: int = 120


class NewOrder(BaseModel):  # POST /orders' body: strict integers ("5" or 5.0 is a 400), no negative total
    user_id: int = Field(strict=True)
    total_cents: int = Field(strict=True, ge=0)


class UserCreated(Message, type="user.created", version=1):
    user_id: int
    email: str


class OrderPlaced(Message, type="order.placed", version=1):
    order_id: int
    user_id: int
    total_cents: int


async def main() -> None:
    settings = config.load(OrdersConfig)
    log.setup(config=settings)
    logging.getLogger("aiormq").setLevel(logging.WARNING)
    logger = log.get("orders")
    db = await Database.connect(settings.postgres.dsn, max_size=12, statement_timeout=5)
    orders = Orders(db)
    cache = Cache(settings.redis, domain="orders", default_ttl=settings.cache_ttl)
    payments = Payments(settings.payments_url, rate=settings.payments_rate, read_timeout=settings.payments_timeout)
    at = await At.open(Path(settings.at.dir) / "orders.sqlite3")
    bus = await Bus.connect(settings.rabbitmq, CONTRACT, at=at, retry_base=0.5, confirm_timeout=2, publish_budget=3)

    @at.handler("publish_order_placed")  # the events whose first publish failed; `at` retries until one is confirmed
    async def publish_later(task: dict) -> None:
        await bus.publish("orderPlaced", OrderPlaced(**task["event"]), message_id=task["message_id"],
                          correlation_id=task["correlation_id"])

    @bus.consumer("ordersOnUserCreated", prefetch=8, inbox=PostgresInbox(db))
    async def user_created(event: UserCreated, delivery: Delivery) -> None:
        await orders.remember_customer(delivery.tx, event.user_id, event.email)
        logger.info("customer known", user_id=event.user_id)

    async def place(body: NewOrder) -> tuple[int, dict]:
        user_id, total = body.user_id, body.total_cents
        await orders.customer(user_id)                              # NotFound -> 404: no user.created seen for it
        order = await orders.create(user_id, total)
        charge = await payments.charge(order["id"], total)          # Unavailable -> 503, Permanent -> 422
        order = await orders.set_status(order["id"], "paid")
        await cache.set(("order", order["id"]), order)              # orders:order:<id>
        event, message_id = OrderPlaced(order_id=order["id"], user_id=user_id, total_cents=total), f"order-{order['id']}"
        try:
            await bus.publish("orderPlaced", event, message_id=message_id)  # confirmed; the id stable across retries
            published = True
        except Unavailable:
            await at.schedule(0, "publish_order_placed", {"event": event.model_dump(), "message_id": message_id,
                                                          "correlation_id": correlation_id()})
            published = False
        logger.info("order placed", order_id=order["id"], charge_id=charge, message_id=message_id, published=published)
        return 201, {**order, "charge_id": charge, "message_id": message_id, "published": published}

    async def get(id: int) -> dict:  # noqa: A002 - the route's parameter
        return await cache.get_or_load(("order", id), lambda: orders.get(id))

    app = router({("POST", "/orders"): place, ("GET", "/orders/{id:int}"): get})
    await bus.start()
    logger.info("listening", host=settings.listen.host, port=settings.listen.port, config=settings.safe_dump())
    try:
        await asyncio.gather(at.run(), health.serve(settings.listen.host, settings.listen.port,
                                                    health.asgi(log.access_log(app), readyz="/health")))
    finally:
        await bus.close()
        await at.close()
        await payments.close()
        await cache.close()
        await db.close()


if __name__ == "__main__":
    asyncio.run(main())
