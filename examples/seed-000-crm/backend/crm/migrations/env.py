"""Alembic's environment for crm-api: the database is $DATABASE_URL, the role crm's (its search_path is crm, so
alembic_version lives there); the revisions name their schemas (crm, documents, tasks, notifications)."""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import create_engine, pool


def url() -> str:
    """stapel's DATABASE_URL is a libpq URI (postgresql://...); SQLAlchemy names the driver: psycopg 3."""
    found = os.environ.get("DATABASE_URL")
    if not found:
        raise SystemExit("crm/migrations/env.py: DATABASE_URL is not set (stapel exports it to crm-api)")
    return "postgresql+psycopg://" + found.split("://", 1)[1]


engine = create_engine(url(), poolclass=pool.NullPool)
with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=None, version_table_schema="crm")
    with context.begin_transaction():
        context.run_migrations()
engine.dispose()
