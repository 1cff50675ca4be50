"""Database: named queries on a psycopg_pool pool, rows mapped to models, failures as domain errors.

    db = await Database.connect(config.postgres.dsn, max_size=10, statement_timeout=5)
    user = await db.one(queries.users__get, 7, row=User)           # NotFound when no row
    users = await db.many(queries.users__list, limit=20)
    changed = await db.exec(queries.users__rename, id=7, name="x")  # affected rows
    async with db.transaction(statement_timeout=2) as tx:          # the same three methods, one transaction
        await tx.exec(queries.accounts__debit, ...)

Connections are in autocommit (one round trip per query; a transaction is explicit), each with the session's
statement_timeout. Readiness: the pool registers `SELECT 1` with stapel.kit.health under its name.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import psycopg
import psycopg.errors
from psycopg.rows import no_result, tuple_row
from psycopg_pool import AsyncConnectionPool, PoolTimeout, TooManyRequests

from stapel.kit.errors import Conflict, NotFound, QueryArgumentError, Unavailable
from stapel.kit.sql import metrics
from stapel.kit.sql.loader import Query

if TYPE_CHECKING:
    from stapel.kit.health import Health

_TEMPORARY = {"40001": "serialization failure", "40P01": "deadlock detected", "57P01": "server shut down (admin)",
              "57P02": "server crashed", "57P03": "server cannot accept connections now", "53300": "too many connections",
              "55P03": "lock not available"}


class StatementTimeout(Unavailable, psycopg.errors.QueryCanceled):
    """The statement ran past its statement_timeout: temporary (Unavailable), and still psycopg's QueryCanceled."""


def domain_error(exc: BaseException, name: str) -> Exception | None:
    """The kit's meaning of a driver or pool failure, or None: that exception passes through unchanged."""
    if isinstance(exc, (PoolTimeout, TooManyRequests)):
        return Unavailable(name, f"no pooled connection in time ({type(exc).__name__})")
    if isinstance(exc, (psycopg.errors.UniqueViolation, psycopg.errors.ExclusionViolation)):
        kind = "unique" if isinstance(exc, psycopg.errors.UniqueViolation) else "exclusion"
        return Conflict(name, f"{kind} violation of {exc.diag.constraint_name}", constraint=exc.diag.constraint_name)
    if isinstance(exc, psycopg.errors.QueryCanceled):
        timeout = StatementTimeout(name, "statement timeout" if "timeout" in str(exc) else "query canceled")
        timeout._info, timeout._encoding = exc._info, exc._encoding  # .diag as psycopg's own
        return timeout
    sqlstate = getattr(exc, "sqlstate", None) or ""
    if sqlstate in _TEMPORARY:
        return Unavailable(name, _TEMPORARY[sqlstate])
    if sqlstate.startswith("08"):
        return Unavailable(name, "connection failure")
    if isinstance(exc, psycopg.OperationalError) and not sqlstate:  # lost or refused connection: no SQLSTATE
        return Unavailable(name, "connection lost or refused")
    return None


class _Rows:
    """A row factory remembering the column names of its query: psycopg's dict_row and class_row decode them on
    every execution, a named query's columns do not change (a changed count is read again)."""

    __slots__ = ("make", "names")

    def __init__(self, make: type | None) -> None:
        self.make = make
        self.names: list[str] | None = None

    def __call__(self, cursor: Any) -> Any:
        result = cursor.pgresult
        names = self.names
        if result is None:
            return no_result
        if names is None or len(names) != result.nfields:
            names = self.names = [result.fname(i).decode() for i in range(result.nfields)]
        make = self.make
        if make is None:
            return lambda values: dict(zip(names, values))
        return lambda values: make(**dict(zip(names, values)))


class _Plan:
    """What one (query, row type) needs on every call, looked up once: its row factory and its histogram."""

    __slots__ = ("rows", "timer")

    def __init__(self, query: Query, row: type | None) -> None:
        self.rows = tuple_row if query.kind.startswith("exec") or row is tuple else _Rows(row)
        self.timer = metrics.timer(query.name)


def _plan(query: Query, row: type | None) -> _Plan:
    plan = query.plans.get(row)
    if plan is None:
        plan = query.plans[row] = _Plan(query, row)
    return plan


class _Runner:
    """one/many/exec over a connection source; Database takes one from the pool per call, Transaction holds one."""

    def _connection(self) -> Any:
        """An async context manager giving the connection to run on."""
        raise NotImplementedError

    async def one(self, query: Query, *args: Any, row: type | None = None, **kwargs: Any) -> Any:
        """The first row of a :one query: a dict, or `row(**columns)` (a dataclass, a pydantic model), or a plain
        tuple with `row=tuple`; NotFound when there is none."""
        params, plan = _prepare(query, "one", args, kwargs, row)
        started = time.perf_counter()
        try:
            async with self._connection() as conn:
                cursor = conn.cursor(row_factory=plan.rows)
                await cursor.execute(query.text, params)
                result = await cursor.fetchone()
        except Exception as exc:
            raise _failed(exc, query.name) from exc
        finally:
            plan.timer.observe(time.perf_counter() - started)
        if result is None:
            metrics.failed(query.name, "NotFound")
            raise NotFound(query.name, "no row")
        return result

    async def many(self, query: Query, *args: Any, row: type | None = None, **kwargs: Any) -> list[Any]:
        """Every row of a :many query (dicts, `row` objects, or tuples with `row=tuple`)."""
        params, plan = _prepare(query, "many", args, kwargs, row)
        started = time.perf_counter()
        try:
            async with self._connection() as conn:
                cursor = conn.cursor(row_factory=plan.rows)
                await cursor.execute(query.text, params)
                return await cursor.fetchall()
        except Exception as exc:
            raise _failed(exc, query.name) from exc
        finally:
            plan.timer.observe(time.perf_counter() - started)

    async def exec(self, query: Query, *args: Any, **kwargs: Any) -> int:
        """Runs an :exec / :execrows / :execresult query; returns the number of affected rows."""
        params, plan = _prepare(query, "exec", args, kwargs, None)
        started = time.perf_counter()
        try:
            async with self._connection() as conn:
                cursor = conn.cursor(row_factory=plan.rows)
                await cursor.execute(query.text, params)
                return cursor.rowcount
        except Exception as exc:
            raise _failed(exc, query.name) from exc
        finally:
            plan.timer.observe(time.perf_counter() - started)


def _prepare(query: Query, method: str, args: tuple, kwargs: dict, row: type | None) -> tuple[Any, _Plan]:
    """The placeholders' values and the plan of a call, or the TypeError of a wrong one (nothing sent)."""
    if not isinstance(query, Query):
        raise TypeError(f"db.{method}() takes a named Query from stapel.kit.sql.load(), not {type(query).__name__}")
    if query.method != method:
        raise TypeError(f"{query.name} is a :{query.kind} query: call db.{query.method}(), not db.{method}()")
    if query.choices:
        slots = ", ".join(f"{s}=..." for s in query.choices)
        raise QueryArgumentError(f"{query.name} has slots to fill first: db.{method}(queries.{query.name}.choose({slots}), ...)")
    return query.params(args, kwargs), _plan(query, row)


def _failed(exc: Exception, name: str) -> Exception:
    """What to raise for a failed query (its domain meaning, or the exception itself), counted by class."""
    mapped = domain_error(exc, name)
    metrics.failed(name, type(mapped or exc).__name__)
    return mapped or exc


class Transaction(_Runner):
    """What `async with db.transaction() as tx` gives: one/many/exec on the transaction's connection."""

    def __init__(self, conn: psycopg.AsyncConnection) -> None:
        self.connection = conn
        self._held = _Held(conn)

    def _connection(self) -> _Held:
        return self._held


class _Held:
    """The transaction's connection as an async context manager that neither acquires nor returns it."""

    def __init__(self, conn: psycopg.AsyncConnection) -> None:
        self.conn = conn

    async def __aenter__(self) -> psycopg.AsyncConnection:
        return self.conn

    async def __aexit__(self, *_exc: Any) -> None:
        return None


class Database(_Runner):
    def __init__(self, pool: AsyncConnectionPool, name: str, statement_timeout: float | None) -> None:
        self.pool = pool
        self.name = name
        self.statement_timeout = statement_timeout
        self._health: Health | None = None  # where connect() registered the readiness check

    @classmethod
    async def connect(cls, dsn: str, *, min_size: int = 1, max_size: int = 10, timeout: float = 5.0,
                      connect_timeout: float = 5.0, statement_timeout: float | None = 30.0, max_idle: float = 300.0,
                      max_lifetime: float = 3600.0, check: bool = False, name: str = "postgres",
                      health: Any = True) -> Database:
        """A pool of `min_size`..`max_size` connections, opened (the first `min_size` connected, or Unavailable
        after `timeout` seconds). `timeout`: how long a query waits for a free connection; `statement_timeout`
        (seconds, None: the server's) for every statement; `check`: test each connection before lending it (one
        more round trip, catches connections the server dropped). `health`: register `SELECT 1` as the readiness
        check `name` (True: with stapel.kit.health's default registry; a Health instance; False: none)."""
        ms = None if statement_timeout is None else int(statement_timeout * 1000)

        async def configure(conn: psycopg.AsyncConnection) -> None:
            if ms is not None:
                await conn.execute("SELECT set_config('statement_timeout', %s, false)", (str(ms),))

        pool = AsyncConnectionPool(dsn, min_size=min_size, max_size=max_size, timeout=timeout, max_idle=max_idle,
                                   max_lifetime=max_lifetime, open=False, configure=configure, name=name,
                                   check=AsyncConnectionPool.check_connection if check else None,
                                   kwargs={"autocommit": True, "connect_timeout": max(1, round(connect_timeout))})
        try:
            await pool.open(wait=True, timeout=timeout)
        except Exception as exc:
            await pool.close()
            mapped = domain_error(exc, f"connect {name}")
            if mapped is None:
                raise
            raise mapped from exc
        db = cls(pool, name, statement_timeout)
        metrics.track_pool(name, pool)
        if health:
            from stapel.kit import health as health_module

            registry = health_module.default if health is True else health
            registry.add(name, db.ping)
            db._health = registry
        return db

    def _connection(self) -> Any:
        return self.pool.connection()

    @asynccontextmanager
    async def transaction(self, *, statement_timeout: float | None = None) -> AsyncIterator[Transaction]:
        """One transaction on one connection: committed when the block ends, rolled back when it raises.
        `statement_timeout` (seconds) applies to each statement inside it (SET LOCAL)."""
        try:
            async with self.pool.connection() as conn, conn.transaction():
                if statement_timeout is not None:
                    await conn.execute("SELECT set_config('statement_timeout', %s, true)",
                                       (str(int(statement_timeout * 1000)),))
                yield Transaction(conn)
        except Exception as exc:
            mapped = domain_error(exc, "transaction") if not isinstance(exc, (NotFound, Conflict, Unavailable)) else None
            if mapped is None:
                raise
            raise mapped from exc

    async def ping(self) -> None:
        """The readiness check: SELECT 1 on a pooled connection (a domain error when that fails)."""
        try:
            async with self.pool.connection() as conn:
                await conn.execute("SELECT 1")
        except Exception as exc:
            mapped = domain_error(exc, f"{self.name} ping")
            if mapped is None:
                raise
            raise mapped from exc

    async def close(self) -> None:
        if self._health is not None:
            self._health.remove(self.name, self.ping)
        metrics.untrack_pool(self.name, self.pool)
        await self.pool.close()

    async def __aenter__(self) -> Database:
        return self

    async def __aexit__(self, *_exc: Any) -> None:
        await self.close()
