"""A clean PostgreSQL database per test, fast: the stack's database (migrated and seeded by `up`) copied once into a
template, then one `CREATE DATABASE ... TEMPLATE` per test and `DROP DATABASE ... WITH (FORCE)` after it.

Speed: one admin connection kept open (no connect per create/drop), the next clones made by background threads
while the tests run, the used ones dropped there too (a little later: a DROP right after the test's connection
closed waits 100 ms for its backend to exit); the test slot's server without fsync (ALTER SYSTEM, as
pytest-postgresql runs its server with -F), unless `durable`. The strategy (PostgreSQL 15+) follows from that,
measured here for a small database (10 tables, ~7 MB with the catalogs): without fsync, FILE_COPY (~20 ms a clone)
beats WAL_LOG (~60 ms: it writes every page twice, to the WAL and to the files); with fsync, WAL_LOG (65 ms) beats
FILE_COPY (108 ms: two checkpoints, every file synced).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import TYPE_CHECKING
from urllib.parse import quote, unquote, urlsplit, urlunsplit

if TYPE_CHECKING:
    import psycopg

MAX_IDENTIFIER = 63
IN_USE_RETRIES = 50  # the services' pools reconnect while the template is copied
PREFETCH = 4  # clones made ahead, while tests run
WORKERS = 4  # clones made at once, each on its own connection: a CREATE DATABASE mostly waits (checkpoints, the
# writeback of its files), so four at once made 2.5x as many per second as one on a fresh server here
DROP_DELAY_SECONDS = 0.3


def with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + quote(database, safe="")))


def _maintenance() -> tuple[str, ...]:
    """The databases every cluster has, to connect to for CREATE / DROP DATABASE (the kind module says which)."""
    from stapel.components.postgres import MAINTENANCE_DATABASES

    return MAINTENANCE_DATABASES


def database_of(url: str) -> str:
    return unquote(urlsplit(url).path.lstrip("/")) or _maintenance()[0]


class CleanDatabase(str):
    """The DSN of a fresh copy of the template (a str: `psycopg.connect(stapel_db)` works); `.name`, `.connect()`."""

    name: str

    def __new__(cls, dsn: str, name: str) -> CleanDatabase:
        made = super().__new__(cls, dsn)
        made.name = name
        return made

    @property
    def dsn(self) -> str:
        return str(self)

    def connect(self, **kwargs):
        import psycopg

        return psycopg.connect(str(self), **kwargs)


class TemplateDatabases:
    def __init__(self, url: str, prefetch: int = PREFETCH, durable: bool = False, strategy: str | None = None,
                 workers: int = WORKERS):
        self.url, self.prefetch, self.durable, self.workers = url, prefetch, durable, workers
        self.strategy = strategy  # WAL_LOG | FILE_COPY (PostgreSQL 15+); None: the server's default
        self.source = database_of(url)
        self.template = f"{self.source[:40]}_stapel_template"
        first, second = _maintenance()
        self.admin_url = with_database(url, first if self.source != first else second)
        self._ready: deque[str] = deque()
        self._used: deque[tuple[str, float]] = deque()  # (name, given back at)
        self._cond = threading.Condition()
        self._counter = 0
        self._closing = False
        self._error: BaseException | None = None
        self._threads: list[threading.Thread] = []
        self._admin: psycopg.Connection | None = None
        self._making = 0  # clones being made right now

    @property
    def admin(self) -> psycopg.Connection:
        assert self._admin is not None, "start() connects first"
        return self._admin

    def _sql(self, statement: str, *params) -> list:
        cursor = self.admin.execute(statement, params or None)
        return cursor.fetchall() if cursor.description else []

    def start(self) -> None:
        """The template, from the stack's database as `up` left it; then the background maker."""
        import psycopg
        from psycopg import errors, sql

        self._admin = psycopg.connect(self.admin_url, autocommit=True)
        if self.strategy is None and int(self._sql("SHOW server_version_num")[0][0]) >= 150000:
            self.strategy = "WAL_LOG" if self.durable else "FILE_COPY"
        if not self.durable:
            for setting in ("fsync", "synchronous_commit", "full_page_writes"):
                self._sql(sql.SQL("ALTER SYSTEM SET {} = off").format(sql.Identifier(setting)).as_string(self._admin))
            self._sql("SELECT pg_reload_conf()")
        prefix = self.template.removesuffix("_template") + "_%"
        for (name,) in self._sql("SELECT datname FROM pg_database WHERE datname LIKE %s OR datname = %s", prefix, self.template):
            self._drop(name)  # what a killed session left (`keep`)
        for attempt in range(IN_USE_RETRIES):
            self._sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                      self.source)
            try:
                self._create(self.template, self.source)
                break
            except errors.ObjectInUse:
                if attempt == IN_USE_RETRIES - 1:
                    raise
                time.sleep(0.02)
        for number in range(self.workers):
            thread = threading.Thread(target=self._work, daemon=True, name=f"stapel-db-clones-{number}")
            thread.start()
            self._threads.append(thread)

    def _create(self, name: str, template: str, connection: psycopg.Connection | None = None) -> None:
        from psycopg import sql

        query = sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), sql.Identifier(template))
        if self.strategy and template == self.template:
            query += sql.SQL(" STRATEGY {}").format(sql.SQL(self.strategy))
        (connection or self.admin).execute(query)

    def _drop(self, name: str, connection: psycopg.Connection | None = None) -> None:
        from psycopg import sql

        (connection or self.admin).execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    def _next_name(self) -> str:
        self._counter += 1
        return f"{self.template.removesuffix('_template')}_{self._counter}"[:MAX_IDENTIFIER]

    def _work(self) -> None:
        """Keep `prefetch` clones ready (first), drop the used ones once their connections are surely gone: a DROP
        while a just-closed backend still exits waits 100 ms for it (PostgreSQL's CountOtherDBBackends)."""
        import psycopg

        try:
            connection = psycopg.connect(self.admin_url, autocommit=True)
        except BaseException as exc:  # handed to the test that waits
            with self._cond:
                self._error = exc
                self._cond.notify_all()
            return
        try:
            while True:
                with self._cond:
                    while True:
                        if self._closing:
                            return
                        drop: str | None = None  # None: make a clone
                        if len(self._ready) + self._making < self.prefetch:
                            self._making += 1
                            name = self._next_name()
                            break
                        if self._used:
                            wait = self._used[0][1] + DROP_DELAY_SECONDS - time.monotonic()
                            if wait <= 0:
                                drop = self._used.popleft()[0]
                                break
                            self._cond.wait(wait)
                        else:
                            self._cond.wait()
                if drop is None:
                    try:
                        self._create(name, self.template, connection)
                    except BaseException:
                        with self._cond:
                            self._making -= 1
                        raise
                    with self._cond:
                        self._making -= 1
                        self._ready.append(name)
                        self._cond.notify_all()
                else:
                    self._drop(drop, connection)
        except BaseException as exc:  # handed to the test that waits
            with self._cond:
                self._error = exc
                self._cond.notify_all()
        finally:
            connection.close()

    def take(self, timeout: float = 120.0) -> CleanDatabase:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not self._ready:
                if self._error is not None:
                    raise RuntimeError(f"stapel_db: cloning {self.template} failed: {self._error}") from self._error
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"stapel_db: no clone of {self.template} within {timeout} s")
                self._cond.wait(remaining)
            name = self._ready.popleft()
            self._cond.notify_all()
        return CleanDatabase(with_database(self.url, name), name)

    def give_back(self, database: CleanDatabase) -> None:
        with self._cond:
            self._used.append((database.name, time.monotonic()))
            self._cond.notify_all()

    def close(self) -> None:
        """Drop every clone and the template."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        for thread in self._threads:
            thread.join(timeout=120)
        if self._admin is None:
            return
        try:
            for name in [*self._ready, *(name for name, _ in self._used), self.template]:
                self._drop(name)
        finally:
            self._admin.close()
