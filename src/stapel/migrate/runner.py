"""goose-compatible SQL migrations on PostgreSQL: discovery, the version table, the lock, up/down/redo/status/create.

goose and stapel can take turns on one database:
- Files are `<version>_<name>.sql` in one folder (subfolders are not read); the version is the number before
  the first `_`, sequential (00001) or a timestamp (20240501120000), greater than zero. Two files with one
  version are an error naming both.
- The history is goose's own table, created as goose creates it for PostgreSQL (in the current schema), with
  the row for version 0 goose inserts on creation. Up inserts (version, true); down deletes the version's
  rows, as goose does. A version counts as applied when its newest row says is_applied (older goose releases
  recorded a down as an is_applied=false row).
- Runners exclude each other with goose's session-level advisory lock (lock.DefaultLockID, the crc64 of
  "goose"); a second runner waits for it (up to 5 minutes, goose's default) and says who holds it.
- Each migration runs in one transaction together with its version row, unless it says NO TRANSACTION: then
  its statements run one by one and the version is recorded after the last one succeeded.
- Like goose (without --allow-missing), `up` refuses pending files older than the current version.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict

from stapel.errors import ConfigError, StapelError
from stapel.migrate.goose import ParsedMigration, parse

TABLE = "goose_db_version"
LOCK_ID = 5887940537704921958  # goose's lock.DefaultLockID: crc64.Checksum("goose", crc64.ECMA)
LOCK_WAIT_SECONDS = 300.0
CONNECT_TIMEOUT = 10
CREATE_TABLE = f"""CREATE TABLE {TABLE} (
\tid serial NOT NULL,
\tversion_id bigint NOT NULL,
\tis_applied boolean NOT NULL,
\ttstamp timestamp NULL default now(),
\tPRIMARY KEY(id)
)"""
TABLE_EXISTS = ("SELECT EXISTS (SELECT 1 FROM pg_tables WHERE (current_schema() IS NULL OR schemaname = current_schema()) "
                f"AND tablename = '{TABLE}')")
INSERT_VERSION = f"INSERT INTO {TABLE} (version_id, is_applied) VALUES (%s, %s)"
DELETE_VERSION = f"DELETE FROM {TABLE} WHERE version_id = %s"
TEMPLATE = """-- +goose Up
-- +goose StatementBegin
SELECT 'up SQL query';
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
SELECT 'down SQL query';
-- +goose StatementEnd
"""

Log = Callable[[str], None]


@dataclass(frozen=True)
class Migration:
    version: int
    path: Path

    @property
    def name(self) -> str:
        return self.path.name

    @cached_property
    def parsed(self) -> ParsedMigration:
        try:
            text = self.path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{self.path}: cannot read it: {exc}") from None
        return parse(text, name=str(self.path))


@dataclass(frozen=True)
class Row:
    version: int
    file: str | None  # None: applied, but no file has this version
    applied: bool
    applied_at: datetime | None


def discover(folder: Path) -> list[Migration]:
    if not folder.is_dir():
        raise ConfigError(f"{folder}: no such migrations folder", hint="give --dir, or start one with `stapel migrate create NAME`")
    found: dict[int, Migration] = {}
    for path in sorted(folder.glob("*.sql")):
        version = _version(path)
        if version in found:
            raise ConfigError(f"{folder}: two migrations have version {version}: {found[version].name} and {path.name}",
                              hint="give one of them a new version prefix")
        found[version] = Migration(version, path)
    return sorted(found.values(), key=lambda m: m.version)


def _version(path: Path) -> int:
    prefix, sep, _ = path.name.partition("_")
    if not sep or not (prefix.isascii() and prefix.isdigit()) or int(prefix) < 1:
        raise ConfigError(f"{path}: a migration file is named <version>_<name>.sql with a version above 0 "
                          "(00001_init.sql or 20240501120000_init.sql)")
    return int(prefix)


def plain_url(url: str) -> str:
    """libpq's form of an SQLAlchemy-style URL (postgresql+asyncpg://... -> postgresql://...)."""
    return re.sub(r"^(postgres(?:ql)?)\+\w+://", r"\1://", url)


def describe(url: str) -> str:
    """host:port/dbname, never the password."""
    try:
        info = conninfo_to_dict(plain_url(url))
    except psycopg.Error:
        return "the database (its URL does not parse)"
    return f"{info.get('host', 'localhost')}:{info.get('port', 5432)}/{info.get('dbname', '')}"


class ConnectError(StapelError):
    """The database refused or could not be reached; `auth_failed`: it refused the URL's password."""

    def __init__(self, message: str, *, auth_failed: bool, user: str | None):
        super().__init__(message)
        self.auth_failed, self.user = auth_failed, user


def connect(url: str) -> psycopg.Connection:
    try:
        return psycopg.connect(plain_url(url), autocommit=True, connect_timeout=CONNECT_TIMEOUT)
    except psycopg.Error as exc:
        try:
            given = conninfo_to_dict(plain_url(url)).get("user")
            user = None if given is None else str(given)
        except psycopg.Error:
            user = None
        raise ConnectError(f"cannot connect to {describe(url)}: {_first_line(exc)}",
                           auth_failed="password authentication failed" in str(exc), user=user) from None


@contextmanager
def locked(conn: psycopg.Connection, log: Log, wait: float = LOCK_WAIT_SECONDS) -> Iterator[None]:
    deadline, told = time.monotonic() + wait, False
    while not _scalar(conn, "SELECT pg_try_advisory_lock(%s)", (LOCK_ID,)):
        if time.monotonic() >= deadline:
            raise StapelError(f"another migration runner ({_holder(conn)}) held the migration lock for {wait:g} s",
                              hint=f"goose's advisory lock {LOCK_ID}; nothing was changed")
        if not told:
            log(f"waiting for another migration runner ({_holder(conn)}) to finish")
            told = True
        time.sleep(0.2)
    try:
        yield
    finally:
        if not (conn.closed or conn.broken):
            conn.execute("SELECT pg_advisory_unlock(%s)", (LOCK_ID,))


def _holder(conn: psycopg.Connection) -> str:
    row = conn.execute("SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
                       "AND ((classid::bigint << 32) | objid::bigint) = %s", (LOCK_ID,)).fetchone()
    return f"server pid {row[0]}" if row else "another session"


def table_exists(conn: psycopg.Connection) -> bool:
    return bool(_scalar(conn, TABLE_EXISTS))


def _scalar(conn: psycopg.Connection, query: str, params: tuple[Any, ...] = ()) -> Any:
    """The one value of a query that always returns one row (a function call, EXISTS)."""
    row = conn.execute(query, params).fetchone()
    assert row is not None, query
    return row[0]


def ensure_table(conn: psycopg.Connection) -> None:
    if not table_exists(conn):
        with conn.transaction():
            conn.execute(CREATE_TABLE)
            conn.execute(INSERT_VERSION, (0, True))


def applied_versions(conn: psycopg.Connection) -> dict[int, datetime | None]:
    rows = conn.execute(f"SELECT DISTINCT ON (version_id) version_id, is_applied, tstamp FROM {TABLE} "
                        "ORDER BY version_id, id DESC").fetchall()
    return {version: stamp for version, is_applied, stamp in rows if is_applied and version != 0}


def up(conn: psycopg.Connection, migrations: list[Migration], log: Log, to: int | None = None) -> list[Migration]:
    applied = applied_versions(conn)
    current = max(applied, default=0)
    pending = [m for m in migrations if m.version not in applied]
    missing = [m.name for m in pending if m.version < current]
    if missing:
        raise StapelError(f"{len(missing)} migration(s) older than the current version {current} were never applied: "
                          f"{', '.join(missing)}", hint=f"goose refuses them too: give them versions above {current}")
    todo = [m for m in pending if to is None or m.version <= to]
    for migration in todo:  # every file parses before the first one runs
        migration.parsed  # noqa: B018 - the cached property parses (a ConfigError names file:line)
    for migration in todo:
        _run(conn, migration, "up", log)
    return todo


def down(conn: psycopg.Connection, migrations: list[Migration], log: Log, to: int | None = None) -> list[Migration]:
    applied = sorted(applied_versions(conn), reverse=True)
    targets = applied[:1] if to is None else [v for v in applied if v > to]
    files = {m.version: m for m in migrations}
    for version in targets:
        if version not in files:
            raise StapelError(f"version {version} is applied but no migration file has it", hint="nothing was changed")
        if not files[version].parsed.has_down:
            raise StapelError(f"{files[version].path}: has no '-- +goose Down' section, so it cannot be rolled back",
                              hint="add one (it may be empty); nothing was changed")
    for version in targets:
        _run(conn, files[version], "down", log)
    return [files[v] for v in targets]


def redo(conn: psycopg.Connection, migrations: list[Migration], log: Log) -> list[Migration]:
    undone = down(conn, migrations, log)
    for migration in undone:
        _run(conn, migration, "up", log)
    return undone


def _run(conn: psycopg.Connection, migration: Migration, direction: str, log: Log) -> None:
    parsed = migration.parsed
    statements, starts = (parsed.up, parsed.up_lines) if direction == "up" else (parsed.down, parsed.down_lines)
    record = (INSERT_VERSION, (migration.version, True)) if direction == "up" else (DELETE_VERSION, (migration.version,))
    started, line = time.monotonic(), None
    try:
        with conn.transaction() if parsed.in_transaction else nullcontext():
            for statement, line in zip(statements, starts):  # noqa: B007 - read by the except below: the failing statement's line
                conn.execute(statement, prepare=False)
            line = None
            conn.execute(*record)
    except psycopg.Error as exc:
        where = f"{migration.path}:{line}" if line else f"{migration.path} (its {TABLE} row)"
        kept = ("rolled back: nothing of it stays and its version is not recorded" if parsed.in_transaction else
                "NO TRANSACTION: the statements before this one stay applied; its version is not recorded")
        raise StapelError(f"{where}: {direction} failed: {_first_line(exc)}", hint=f"{kept}; later migrations did not run") from None
    action = "applied" if direction == "up" else "rolled back"
    log(f"  {action} {migration.name} in {(time.monotonic() - started) * 1000:.0f} ms")


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def run(url: str, folder: Path, action: str, log: Log, to: int | None = None,
        lock_wait: float = LOCK_WAIT_SECONDS) -> list[Migration]:
    """up, down or redo under the lock; returns the migrations applied or rolled back, in order."""
    migrations = discover(folder)
    with connect(url) as conn, locked(conn, log, lock_wait):
        ensure_table(conn)
        if action == "redo":
            return redo(conn, migrations, log)
        return (up if action == "up" else down)(conn, migrations, log, to)


def up_for(url: str, folder: Path, log: Log) -> list[str]:
    """The migrate step of `up` for a service with `migrations: {dir: ...}`: the files it applied."""
    return [m.name for m in run(url, folder, "up", log)]


def status(url: str, folder: Path) -> tuple[int, list[Row]]:
    """The current version and one row per file (and per applied version without a file); reads only."""
    migrations = discover(folder)
    with connect(url) as conn:
        applied = applied_versions(conn) if table_exists(conn) else {}
    rows = [Row(m.version, m.name, m.version in applied, applied.get(m.version)) for m in migrations]
    files = {m.version for m in migrations}
    rows += [Row(v, None, True, stamp) for v, stamp in applied.items() if v not in files]
    return max(applied, default=0), sorted(rows, key=lambda r: r.version)


def create(folder: Path, name: str, now: datetime | None = None) -> Path:
    """A new `<UTC timestamp>_<snake_name>.sql` from goose's template."""
    slug = re.sub(r"[^0-9A-Za-z]+", "_", re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name)).strip("_").lower()
    if not slug:
        raise ConfigError(f"migration name '{name}': it needs letters or digits")
    version = (now or datetime.now(UTC)).strftime("%Y%m%d%H%M%S")
    taken = {m.version: m.name for m in discover(folder)} if folder.is_dir() else {}
    if int(version) in taken:
        raise ConfigError(f"{folder}: version {version} exists already ({taken[int(version)]})", hint="try again in a second")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{version}_{slug}.sql"
    path.write_text(TEMPLATE, encoding="utf-8")
    return path
