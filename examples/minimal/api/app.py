"""examples/minimal's api, written with stapel.kit: settings from what stapel exports, JSON logs, named SQL.

  GET /health   writes and reads a row in PostgreSQL (named queries in sql/), a key in Redis and a message through
                RabbitMQ; 200 only when all three worked (stapel's http probe waits for it)
  GET /readyz   the kit's readiness: every registered check (PostgreSQL's SELECT 1, registered by Database.connect)
  GET /livez    the process answers
  GET /metrics  Prometheus: these health checks, and the kit's per-query latency and pool gauges

It is a plain ASGI app: the kit's tiny server runs it here (no dependency), `uvicorn app:app` would too.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from pathlib import Path

import pika
import redis
from prometheus_client import Counter

from stapel.kit import config, health, log
from stapel.kit.sql import Database, load

QUEUE = "minimal.health"
QUERIES = load(Path(__file__).parent / "sql")
CHECKS = Counter("minimal_api_health_checks", "Health checks answered, by result.", ["result"])
roundtrip = health.Health(timeout=5)  # what GET /health runs


class ApiConfig(config.Config):  # no env_prefix for this service in stapel.yaml: DATABASE_URL, REDIS_URL, ...
    postgres: config.Postgres
    redis: config.Redis
    rabbitmq: config.RabbitMQ
    listen: config.Listen


async def check_postgres(db: Database) -> bool:
    token = uuid.uuid4().hex
    await db.exec(QUERIES.health_checks__add, token=token)
    row = await db.one(QUERIES.health_checks__get, token=token)
    await db.exec(QUERIES.health_checks__prune)
    return row["token"] == token


def check_redis(url: str) -> bool:
    client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
    token = uuid.uuid4().hex
    try:
        client.set("minimal:health:last", token, ex=60)
        return client.get("minimal:health:last") == token.encode()
    finally:
        client.close()


def check_rabbitmq(url: str) -> bool:
    params = pika.URLParameters(url)
    params.socket_timeout = 3
    token = uuid.uuid4().hex.encode()
    with pika.BlockingConnection(params) as connection:
        channel = connection.channel()
        channel.confirm_delivery()
        channel.queue_declare(QUEUE, durable=True)
        channel.basic_publish("", QUEUE, token, pika.BasicProperties(message_id=token.decode(), delivery_mode=2))
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            method, _props, body = channel.basic_get(QUEUE, auto_ack=True)
            if method is not None and body == token:
                return True
            if method is None:
                time.sleep(0.02)
        return False


async def app(scope: dict, receive, send) -> None:
    if scope["type"] != "http" or scope["path"] != "/health":
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b""})
        return
    ok, checks = await roundtrip.ready()
    CHECKS.labels("ok" if ok else "failed").inc()
    body = json.dumps({"ok": ok, "checks": checks}).encode()
    await send({"type": "http.response.start", "status": 200 if ok else 503,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})


async def main() -> None:
    settings = config.load(ApiConfig)  # a missing or invalid variable: one line each, exit 1
    log.setup(config=settings)         # JSON lines at $LOG_LEVEL, every secret of the settings redacted
    logging.getLogger("pika").setLevel(logging.WARNING)  # pika logs every connection at INFO
    db = await Database.connect(settings.postgres.dsn, max_size=4, statement_timeout=5)
    await db.exec(QUERIES.health_checks__create_table)
    redis_url, amqp_url = settings.redis.url.get_secret_value(), settings.rabbitmq.url.get_secret_value()
    roundtrip.add("postgres", lambda: check_postgres(db))
    roundtrip.add("redis", lambda: asyncio.to_thread(check_redis, redis_url))
    roundtrip.add("rabbitmq", lambda: asyncio.to_thread(check_rabbitmq, amqp_url))
    for result in ("ok", "failed"):
        CHECKS.labels(result)
    log.get("api").info("listening", host=settings.listen.host, port=settings.listen.port, config=settings.safe_dump())
    try:
        await health.serve(settings.listen.host, settings.listen.port, log.access_log(app))
    finally:
        await db.close()


if __name__ == "__main__":
    asyncio.run(main())
