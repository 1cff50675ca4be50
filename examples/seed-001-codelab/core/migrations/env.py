"""Alembic's environment: the database is $DATABASE_URL (what stapel exports to the core service), the models
of app/models.py are what `alembic revision --autogenerate` compares it with."""

from __future__ import annotations

import os

from alembic import context
from app.models import Base
from sqlalchemy import create_engine, pool

target_metadata = Base.metadata


def url() -> str:
    """stapel's DATABASE_URL is a libpq URI (postgresql://...); SQLAlchemy names the driver: psycopg 3."""
    found = os.environ.get("DATABASE_URL")
    if not found:
        raise SystemExit("migrations/env.py: DATABASE_URL is not set (stapel exports it to the core service)")
    return "postgresql+psycopg://" + found.split("://", 1)[1]


def include_name(name: str | None, type_: str, _parents: dict) -> bool:
    """Autogenerate leaves stapel's own tables alone (stapel_seed_history: which seeds ran)."""
    return not (type_ == "table" and name is not None and name.startswith("stapel_"))


def run_offline() -> None:
    context.configure(url=url(), target_metadata=target_metadata, literal_binds=True, compare_type=True, include_name=include_name)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    engine = create_engine(url(), poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata, compare_type=True,
                          include_name=include_name)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
