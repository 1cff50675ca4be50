"""The orders service's repository on PostgreSQL: named files under internal/repository/postgres/<model>/sql/
(checked against the migrations by sqlc); it returns dicts of the domain or NotFound / Conflict / Unavailable."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stapel.kit.sql import Database, load

QUERIES = load(Path(__file__).parent / "internal" / "repository" / "postgres")


class Orders:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def create(self, user_id: int, total_cents: int) -> dict[str, Any]:
        return plain(await self.db.one(QUERIES.order__create, user_id=user_id, total_cents=total_cents))

    async def set_status(self, order_id: int, status: str) -> dict[str, Any]:
        return plain(await self.db.one(QUERIES.order__set_status, id=order_id, status=status))

    async def get(self, order_id: int) -> dict[str, Any]:
        return plain(await self.db.one(QUERIES.order__get, id=order_id))

    async def customer(self, user_id: int) -> dict[str, Any]:
        """NotFound until user.created for this user arrived."""
        return await self.db.one(QUERIES.customer__get, user_id=user_id)

    @staticmethod
    async def remember_customer(tx: Any, user_id: int, email: str) -> bool:
        return await tx.exec(QUERIES.customer__remember, user_id=user_id, email=email) == 1


def plain(order: dict[str, Any]) -> dict[str, Any]:
    """JSON-ready (the cache's codec and the API): the timestamp as ISO 8601."""
    return {**order, "created_at": order["created_at"].isoformat()}
