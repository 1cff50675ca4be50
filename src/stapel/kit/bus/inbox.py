"""Idempotent consumers: an inbox remembers each message a consumer has handled, so a duplicate delivery (a
redelivery after a lost ack, a publish retried after a lost confirm, an `at` task fired twice) is acknowledged
without running the handler again.

PostgresInbox: `INSERT ... ON CONFLICT DO NOTHING` into `stapel_inbox` inside the transaction the handler gets as
`delivery.tx`: the handler's writes and the inbox row commit together (exactly-once effects). RedisInbox: a `SET NX`
with a TTL before the handler, deleted again when the handler fails: the weaker fallback for handlers without a
database: the key is written before the handler runs, so a process killed in between skips that message's
effect on redelivery (until the key expires); use the PostgreSQL inbox where that matters."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

__all__ = ["PostgresInbox", "RedisInbox"]


class PostgresInbox:
    def __init__(self, db: Any) -> None:
        from stapel.kit.sql import load

        self.db = db
        self.queries = load(Path(__file__).with_name("inbox.sql"))
        self._ready = False

    async def setup(self) -> None:
        if not self._ready:
            await self.db.exec(self.queries.inbox__create)
            self._ready = True

    @asynccontextmanager
    async def claim(self, consumer: str, message_id: str) -> AsyncIterator[tuple[bool, Any]]:
        """(first time, the transaction): the handler runs inside it only the first time."""
        await self.setup()
        async with self.db.transaction() as tx:
            fresh = await tx.exec(self.queries.inbox__claim, consumer=consumer, message_id=message_id) == 1
            yield fresh, tx


class RedisInbox:
    def __init__(self, redis_settings: Any, ttl: float = 7 * 24 * 3600, prefix: str = "inbox") -> None:
        from stapel.kit.cache import client_of, seconds

        self.redis = client_of(redis_settings, 2.0)
        self.ttl_ms, self.prefix = int(seconds(ttl, "inbox ttl") * 1000), prefix

    async def setup(self) -> None:
        return None

    @asynccontextmanager
    async def claim(self, consumer: str, message_id: str) -> AsyncIterator[tuple[bool, Any]]:
        key = f"{self.prefix}:{consumer}:{message_id}"
        fresh = bool(await self.redis.set(key, "1", nx=True, px=self.ttl_ms))
        try:
            yield fresh, None
        except BaseException:
            if fresh:
                await self.redis.delete(key)  # the handler failed: a retry must run it again
            raise
