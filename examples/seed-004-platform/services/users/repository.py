"""The users service's repository on PostgreSQL: every query is a named file under
internal/repository/postgres/<model>/sql/ (checked against the migrations by sqlc), and what it returns is the domain's:
a User, or NotFound / Conflict / Unavailable from stapel.kit.errors (the caller never sees psycopg)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from stapel.kit.sql import Database, load

QUERIES = load(Path(__file__).parent / "internal" / "repository" / "postgres")


@dataclass
class User:
    id: int
    email: str
    display_name: str
    status: str
    created_at: datetime

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "created_at": self.created_at.isoformat()}


class Users:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def create(self, email: str, display_name: str) -> User:
        """Conflict (users_email_key) when the email is taken."""
        return await self.db.one(QUERIES.user__create, email=email, display_name=display_name, row=User)

    async def get(self, user_id: int) -> User:
        """NotFound when there is no such user."""
        return await self.db.one(QUERIES.user__get, id=user_id, row=User)

    async def orders(self, user_id: int) -> list[dict]:
        return await self.db.many(QUERIES.user_order__list, user_id=user_id)

    @staticmethod
    async def record_order(tx: Any, order_id: int, user_id: int, total_cents: int) -> bool:
        """In the inbox's transaction (tx): False when the order was already recorded."""
        await tx.one(QUERIES.user__get, id=user_id)  # NotFound: an order for a user this service never had
        return await tx.exec(QUERIES.user_order__record, order_id=order_id, user_id=user_id, total_cents=total_cents) == 1
