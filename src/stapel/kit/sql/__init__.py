"""PostgreSQL by named SQL files (seed 004): `load(path) -> Queries`, `Database.connect(dsn)`, and
`db.one / db.many / db.exec` with rows mapped to models and failures as stapel.kit.errors."""

from __future__ import annotations

from stapel.kit.errors import Conflict, NotFound, QueryArgumentError, SqlFileError, Unavailable
from stapel.kit.sql.db import Database, StatementTimeout, Transaction, domain_error
from stapel.kit.sql.loader import Queries, Query, load, parse

__all__ = ["Conflict", "Database", "NotFound", "Queries", "Query", "QueryArgumentError", "SqlFileError",
           "StatementTimeout", "Transaction", "Unavailable", "domain_error", "load", "parse"]
