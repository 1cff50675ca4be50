"""The users service of examples/seed-004-platform, on stapel.kit (seed 004's integration rules):

- config: one class, every variable under USERS_ (stapel's env_prefix), validated at start: a missing one stops the
  service with one line naming it (`config: USERS_DATABASE_URL: missing ...`), exit 1;
- PostgreSQL: the repository (repository.py) runs the named files of internal/repository/postgres/<model>/sql/
  (`-- name: user__get :one`) as the role users in its schema, and returns NotFound / Conflict;
- Redis: the profile cache, keys users:user:<id>, a TTL on every key (USERS_CACHE_TTL, 300 s), written on create,
  read through on GET (a stampede is loaded once);
- RabbitMQ (api/server/asyncapi.yaml): user.created published with confirms, message_id and the request's correlation
  id (when RabbitMQ cannot confirm it, the user is stored already: the event goes to `at`, on disk, and is published
  once the broker is back, with the same message_id); order.placed consumed through the PostgreSQL inbox (a redelivered message_id is processed once), an order for an
  unknown user dead-lettered to users.order-placed.dlq with its reason, temporary failures retried through `at`.

HTTP (stapel.kit.web: JSON in and out, errors as {"error", "detail"}, X-Correlation-ID taken or made, bound into every
log line and event, echoed): POST /users {email, display_name} -> 201 | 400 | 409; GET /users/{id} -> 200 | 404;
GET /users/{id}/orders; /health (readiness: PostgreSQL, Redis, RabbitMQ), /livez, /metrics.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Annotated

from repository import User, Users

from stapel.kit import config, health, log
from stapel.kit.at import At
from stapel.kit.bus import Bus, Delivery, Message, Permanent, PostgresInbox
from stapel.kit.bus.bus import correlation_id
from stapel.kit.cache import Cache
from stapel.kit.errors import NotFound, Unavailable
from stapel.kit.sql import Database
from stapel.kit.web import BadRequest, router

CONTRACT = Path(__file__).resolve().parents[2] / "api" / "server" / "asyncapi.yaml"


class UsersConfig(config.Config, prefix="USERS_"):
    postgres: config.Postgres                        # USERS_DATABASE_URL, USERS_POSTGRES_* (the role users)
    redis: config.Redis                              # USERS_REDIS_URL: its own ACL user, users:* keys only
    rabbitmq: config.RabbitMQ                        # USERS_RABBITMQ_URL: its own user on the vhost platform
    listen: config.Listen                            # HOST, PORT
    at: Annotated[config.Volume, config.node("at")]  # AT_DIR: the `at` file of the bus's retries
    cache_ttl: int = 300                             # USERS_CACHE_TTL (seconds)


class UserCreated(Message, type="user.created", version=1):
    user_id: int
    email: str


class OrderPlaced(Message, type="order.placed", version=1):
    order_id: int
    user_id: int
    total_cents: int


async def main() -> None:
    settings = config.load(UsersConfig)  # fail fast: one line per missing or invalid variable, exit 1
    log.setup(config=settings)
    logging.getLogger("aiormq").setLevel(logging.WARNING)
    logger = log.get("users")
    db = await Database.connect(settings.postgres.dsn, max_size=12, statement_timeout=5)  # > prefetch (the inbox)
    users = Users(db)
    cache = Cache(settings.redis, domain="users", default_ttl=settings.cache_ttl)
    at = await At.open(Path(settings.at.dir) / "users.sqlite3")
    bus = await Bus.connect(settings.rabbitmq, CONTRACT, at=at, retry_base=0.5, confirm_timeout=2, publish_budget=3)

    @at.handler("publish_user_created")  # the events whose first publish failed; `at` retries until one is confirmed
    async def publish_later(task: dict) -> None:
        await bus.publish("userCreated", UserCreated(**task["event"]), message_id=task["message_id"],
                          correlation_id=task["correlation_id"])

    @bus.consumer("usersOnOrderPlaced", prefetch=8, inbox=PostgresInbox(db))
    async def order_placed(event: OrderPlaced, delivery: Delivery) -> None:
        try:
            await users.record_order(delivery.tx, event.order_id, event.user_id, event.total_cents)
        except NotFound:
            raise Permanent("users", f"order {event.order_id} names user {event.user_id}, who does not exist") from None
        logger.info("order recorded", order_id=event.order_id, user_id=event.user_id)

    async def create(body: dict) -> tuple[int, dict]:
        email, name = body.get("email"), body.get("display_name", "")
        if not isinstance(email, str) or "@" not in email or not isinstance(name, str):
            raise BadRequest("email (an address) and display_name (text) expected")
        user = await users.create(email, name)                      # Conflict -> 409
        await cache.set(("user", user.id), user.as_json())           # users:user:<id>, the default TTL
        event, message_id = UserCreated(user_id=user.id, email=user.email), f"user-{user.id}"
        try:
            await bus.publish("userCreated", event, message_id=message_id)  # confirmed
            published = True
        except Unavailable:  # stored, so its event must follow: kept by `at` on disk, published when RabbitMQ is back
            await at.schedule(0, "publish_user_created", {"event": event.model_dump(), "message_id": message_id,
                                                          "correlation_id": correlation_id()})
            published = False
        logger.info("user created", user_id=user.id, message_id=message_id, published=published)
        return 201, {**user.as_json(), "message_id": message_id, "published": published}

    async def get(id: int) -> dict:  # noqa: A002 - the route's parameter
        return await cache.get_or_load(("user", id), lambda: load_user(id))  # NotFound -> 404, not cached

    async def load_user(user_id: int) -> dict:
        user: User = await users.get(user_id)
        return user.as_json()

    async def orders(id: int) -> list:  # noqa: A002
        await users.get(id)
        return await users.orders(id)

    app = router({("POST", "/users"): create, ("GET", "/users/{id:int}"): get, ("GET", "/users/{id:int}/orders"): orders})
    await bus.start()
    logger.info("listening", host=settings.listen.host, port=settings.listen.port, config=settings.safe_dump())
    try:
        await asyncio.gather(at.run(), health.serve(settings.listen.host, settings.listen.port,
                                                    health.asgi(log.access_log(app), readyz="/health")))
    finally:
        await bus.close()
        await at.close()
        await cache.close()
        await db.close()


if __name__ == "__main__":
    asyncio.run(main())
