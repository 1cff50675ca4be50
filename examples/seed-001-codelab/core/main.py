"""Seed 001's core service, on stapel.kit: settings from what stapel exports, JSON logs, named SQL, metrics; the
HTTP API (app/web.py) under uvicorn with the agent task runner (app/agents.py) beside it.

It reads DATABASE_URL, REDIS_URL, HOST, PORT; QDRANT_URL and QDRANT_API_KEY when the stack has Qdrant (then
/health checks every collection of AGENT_COLLECTIONS); LOG_LEVEL; RATE_LIMIT_PER_MINUTE (60).
"""

from __future__ import annotations

import asyncio
import os

import httpx
import redis.asyncio as aioredis
import uvicorn
from app import agents, web

from stapel.kit import config, health, log
from stapel.kit.sql import Database


class CoreConfig(config.Config):  # no env_prefix for this service in stapel.yaml
    postgres: config.Postgres
    redis: config.Redis
    listen: config.Listen
    agent_collections: str = ""
    rate_limit_per_minute: int = 60


class QdrantConfig(config.Config):
    qdrant: config.Qdrant


def qdrant_checks(settings: QdrantConfig, collections: list[str]) -> None:
    """Readiness: every agent's collection exists in Qdrant (stapel provisions them from stapel.yaml)."""
    key = settings.qdrant.api_key.get_secret_value() if settings.qdrant.api_key else ""

    def check(name: str):
        async def collection() -> bool:
            async with httpx.AsyncClient(base_url=settings.qdrant.url, headers={"api-key": key}, timeout=2) as client:
                answer = await client.get(f"/collections/{name}")
            return answer.status_code == 200
        return collection

    for name in collections:
        health.add(f"qdrant:{name}", check(name))


async def main() -> None:
    settings = config.load(CoreConfig)
    log.setup(config=settings)
    logger = log.get("core")
    db = await Database.connect(settings.postgres.dsn, max_size=8, statement_timeout=5)  # registers /health's `postgres`
    client = aioredis.Redis.from_url(settings.redis.url.get_secret_value(), socket_timeout=5, socket_connect_timeout=2)
    health.add("redis", client.ping)
    collections = [c for c in settings.agent_collections.split(",") if c]
    if os.environ.get("QDRANT_URL"):
        qdrant = config.load(QdrantConfig)
        log.add_secrets(qdrant.secret_values())
        qdrant_checks(qdrant, collections)
    else:
        logger.warning("no QDRANT_URL: the agents' semantic memory is off (the stack has no Qdrant)")
    web.State.db, web.State.redis, web.State.rate_limit = db, client, settings.rate_limit_per_minute
    app = web.create_app(lambda: agents.run(db, web.QUERIES, client))
    logger.info("listening", host=settings.listen.host, port=settings.listen.port, config=settings.safe_dump())
    server = uvicorn.Server(uvicorn.Config(app, host=settings.listen.host, port=settings.listen.port, log_config=None,
                                           access_log=False, lifespan="on"))
    try:
        await server.serve()
    finally:
        await client.aclose()
        await db.close()


if __name__ == "__main__":
    asyncio.run(main())
