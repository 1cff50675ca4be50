"""`stapel migrate` against a real PostgreSQL started by stapel on a free port: up/down/redo/status/create,
every bad input of issue 4 (nothing applied, rolled back, named by file:line), the advisory lock between two
runners, NO TRANSACTION, and a goose_db_version table that goose and stapel share."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psycopg
import pytest
from conftest import stapel, stapel_env, status, stop_and_clean, traversable_dir

from stapel.errors import StapelError
from stapel.migrate import goose, runner

pytestmark = pytest.mark.integration

PASSWORD = "admin-pw-7f3e9a1c5b"
USERS = "-- +goose Up\nCREATE TABLE users (id int PRIMARY KEY, name text);\n\n-- +goose Down\nDROP TABLE users;\n"
ITEMS = "-- +goose Up\nCREATE TABLE items (id int);\nINSERT INTO items VALUES (1), (2);\n-- +goose Down\nDROP TABLE items;\n"
TAGS = "-- +goose Up\nCREATE TABLE tags (name text);\n-- +goose Down\nDROP TABLE tags;\n"
GOOSE_DDL = """CREATE TABLE goose_db_version (
\tid serial NOT NULL,
\tversion_id bigint NOT NULL,
\tis_applied boolean NOT NULL,
\ttstamp timestamp NULL default now(),
\tPRIMARY KEY(id)
  )"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    """The admin URL of a PostgreSQL that stapel started for this module."""
    root = traversable_dir("migrate")
    (root / "stapel.yaml").write_text(f"name: migrate\ncomponents:\n  db: {{kind: postgres, port: {free_port()}, password: {PASSWORD}}}\n")
    try:
        up = stapel(root, "up", "--skip-backend", timeout=300)
        assert up.returncode == 0, up.stdout + up.stderr
        yield f"postgresql://postgres:{PASSWORD}@{status(root)['db']['endpoint']}"
    finally:
        stapel(root, "down", "--volumes", "--yes", timeout=120)
        assert not stop_and_clean(root)


@pytest.fixture
def db(server: str) -> str:
    """A fresh, empty database for one test."""
    name = f"m_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return f"{server}/{name}"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "migrations").mkdir()
    return tmp_path


def write(project: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (project / "migrations" / name).write_text(text)


def migrate(project: Path, *args: str, url: str | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in stapel_env().items() if k != "DATABASE_URL"} | (env or {})
    command = [sys.executable, "-m", "stapel", "migrate", *args, *(["--database-url", url] if url else [])]
    return subprocess.run(command, cwd=project, env=environ, capture_output=True, text=True, timeout=120)


def ok(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def failed(done: subprocess.CompletedProcess) -> str:
    """The one error line of a user error: exit 1, no traceback."""
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr and done.stderr.startswith("stapel: error: "), done.stderr
    return done.stderr


def query(url: str, sql: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql).fetchall()


def versions(url: str) -> list[tuple]:
    return query(url, "SELECT version_id, is_applied FROM goose_db_version ORDER BY id")


def tables(url: str) -> set[str]:
    return {name for (name,) in query(url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}


def test_up_status_down_redo_and_create(project: Path, db: str) -> None:
    write(project, {"00001_users.sql": USERS, "00002_items.sql": ITEMS, "20240501120000_tags.sql": TAGS})
    out = ok(migrate(project, "up", url=db))
    assert [line.split()[:2] for line in out.splitlines() if line.startswith("  ")] == [
        ["applied", "00001_users.sql"], ["applied", "00002_items.sql"], ["applied", "20240501120000_tags.sql"]]
    assert all(line.endswith(" ms") for line in out.splitlines() if line.startswith("  applied"))
    assert "now at version 20240501120000" in out
    assert versions(db) == [(0, True), (1, True), (2, True), (20240501120000, True)]
    assert "nothing to migrate" in ok(migrate(project, url=db))  # `up` is the default

    ok(migrate(project, "down", url=db))  # one step
    assert tables(db) == {"users", "items", "goose_db_version"}
    listing = json.loads(ok(migrate(project, "status", "--json", url=db)))
    assert listing["version"] == 2
    assert [(m["version"], m["name"], m["applied"]) for m in listing["migrations"]] == [
        (1, "users", True), (2, "items", True), (20240501120000, "tags", False)]
    assert all(m["applied_at"] for m in listing["migrations"][:2])
    text = ok(migrate(project, "status", url=db)).splitlines()
    assert text[0].split() == ["VERSION", "FILE", "APPLIED", "AT"] and text[-2].split()[-1] == "pending"
    assert text[-1] == "current version: 2"

    assert "redid 00002_items.sql" in ok(migrate(project, "redo", url=db))
    assert query(db, "SELECT count(*) FROM items") == [(2,)]
    ok(migrate(project, "down", "--to", "0", url=db))
    assert tables(db) == {"goose_db_version"} and versions(db) == [(0, True)]
    ok(migrate(project, "up", "--to", "2", url=db))
    assert versions(db) == [(0, True), (1, True), (2, True)]

    created = ok(migrate(project, "create", "AddOrders")).split()[-1]
    path = project / created
    assert path.parent == project / "migrations" and path.name.endswith("_add_orders.sql") and len(path.name.split("_")[0]) == 14
    assert goose.parse(path.read_text()) == goose.ParsedMigration(["SELECT 'up SQL query';"], ["SELECT 'down SQL query';"],
                                                                  True, True, [3], [8])


def test_missing_semicolon_is_named_and_nothing_is_applied(project: Path, db: str) -> None:
    write(project, {"00001_users.sql": USERS, "00002_broken.sql": "-- +goose Up\nCREATE TABLE a (\n  id int\n)\n"})
    error = failed(migrate(project, url=db))
    assert "migrations/00002_broken.sql:2: " in error and "missing semicolon" in error
    assert "users" not in tables(db) and versions(db) == [(0, True)]


def test_missing_statement_end_is_named_and_nothing_is_applied(project: Path, db: str) -> None:
    body = "-- +goose Up\n-- +goose StatementBegin\nCREATE FUNCTION f() RETURNS int AS $$ SELECT 1 $$ LANGUAGE sql;\n"
    write(project, {"00001_users.sql": USERS, "00002_function.sql": body})
    error = failed(migrate(project, url=db))
    assert "migrations/00002_function.sql:2: '-- +goose StatementBegin' has no '-- +goose StatementEnd'" in error
    assert "users" not in tables(db)


def test_a_migration_failing_half_way_is_rolled_back_and_stops_the_run(project: Path, db: str) -> None:
    half = "-- +goose Up\nCREATE TABLE half (id int);\nINSERT INTO nowhere VALUES (1);\n-- +goose Down\nDROP TABLE half;\n"
    write(project, {"00001_users.sql": USERS, "00002_half.sql": half, "00003_items.sql": ITEMS})
    error = failed(migrate(project, url=db))
    assert 'migrations/00002_half.sql:3: up failed: relation "nowhere" does not exist' in error
    assert "rolled back" in error and "later migrations did not run" in error
    assert tables(db) == {"users", "goose_db_version"}
    assert versions(db) == [(0, True), (1, True)]


def test_duplicate_versions_name_both_files(project: Path, db: str) -> None:
    write(project, {"001_users.sql": USERS, "1_items.sql": ITEMS})
    error = failed(migrate(project, url=db))
    assert "two migrations have version 1: 001_users.sql and 1_items.sql" in error
    assert tables(db) == set()  # refused before connecting


def test_down_without_a_down_section_changes_nothing(project: Path, db: str) -> None:
    write(project, {"00001_users.sql": USERS, "00002_items.sql": "-- +goose Up\nCREATE TABLE items (id int);\n"})
    ok(migrate(project, url=db))
    for args in (("down",), ("down", "--to", "0"), ("redo",)):
        error = failed(migrate(project, *args, url=db))
        assert "migrations/00002_items.sql: has no '-- +goose Down' section" in error and "nothing was changed" in error
    assert tables(db) == {"users", "items", "goose_db_version"} and versions(db) == [(0, True), (1, True), (2, True)]


def test_two_runners_exclude_each_other(project: Path, db: str) -> None:
    slow = "-- +goose Up\nSELECT pg_sleep(2);\nCREATE TABLE slow (id int);\n-- +goose Down\nDROP TABLE slow;\n"
    write(project, {"00001_slow.sql": slow})
    command = [sys.executable, "-m", "stapel", "migrate", "up", "--database-url", db]
    first = subprocess.Popen(command, cwd=project, env=stapel_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    held = f"SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND ((classid::bigint << 32) | objid::bigint) = {runner.LOCK_ID}"
    deadline = time.monotonic() + 30
    while query(db, held) != [(1,)] and time.monotonic() < deadline:
        time.sleep(0.05)
    second = migrate(project, "up", url=db)
    out, err = first.communicate(timeout=60)
    assert first.returncode == 0, out + err
    assert "applied 00001_slow.sql" in out
    assert "waiting for another migration runner (server pid" in second.stdout
    assert "nothing to migrate" in ok(second)
    assert versions(db) == [(0, True), (1, True)]


def test_a_held_goose_lock_stops_a_runner_that_cannot_wait(project: Path, db: str) -> None:
    write(project, {"00001_users.sql": USERS})
    with psycopg.connect(db, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (runner.LOCK_ID,))  # what goose's session locker takes
        with pytest.raises(StapelError, match=r"another migration runner \(server pid \d+\) held the migration lock"):
            runner.run(db, project / "migrations", "up", lambda line: None, lock_wait=0.5)
    assert "users" not in tables(db)


def test_no_transaction_runs_create_index_concurrently(project: Path, db: str) -> None:
    index = "CREATE INDEX CONCURRENTLY users_name ON users (name);"
    write(project, {"00001_users.sql": USERS, "00002_index.sql": f"-- +goose Up\n{index}\n-- +goose Down\nDROP INDEX users_name;\n"})
    error = failed(migrate(project, url=db))  # inside a transaction PostgreSQL refuses it
    assert "00002_index.sql:2: up failed: CREATE INDEX CONCURRENTLY cannot run inside a transaction block" in error
    no_tx = f"-- +goose NO TRANSACTION\n-- +goose Up\n{index}\n-- +goose Down\nDROP INDEX CONCURRENTLY users_name;\n"
    write(project, {"00002_index.sql": no_tx})
    ok(migrate(project, url=db))
    assert query(db, "SELECT indexname FROM pg_indexes WHERE tablename = 'users' ORDER BY 1") == [("users_name",), ("users_pkey",)]
    ok(migrate(project, "down", url=db))
    assert query(db, "SELECT indexname FROM pg_indexes WHERE tablename = 'users'") == [("users_pkey",)]


def test_statements_reach_postgres_as_goose_sends_them(project: Path, db: str) -> None:
    body = """-- +goose Up
-- +goose ENVSUB ON
CREATE SCHEMA ${APP_SCHEMA};
-- +goose ENVSUB OFF
-- +goose StatementBegin
CREATE FUNCTION greet(who text) RETURNS text AS $$
BEGIN
  RETURN 'hello ' || who || ' (100%)';  -- a percent sign and a semicolon
END;
$$ LANGUAGE plpgsql;
CREATE TABLE notes (body text);
-- +goose StatementEnd
INSERT INTO notes SELECT greet('ann') WHERE 'x' LIKE '%';
-- +goose Down
DROP TABLE notes;
DROP FUNCTION greet;
DROP SCHEMA app_data;
"""
    write(project, {"00001_functions.sql": body})
    ok(migrate(project, url=db, env={"APP_SCHEMA": "app_data"}))
    assert query(db, "SELECT body FROM notes") == [("hello ann (100%)",)]
    assert query(db, "SELECT count(*) FROM pg_namespace WHERE nspname = 'app_data'") == [(1,)]
    ok(migrate(project, "down", url=db))
    assert tables(db) == {"goose_db_version"}


def test_the_version_table_is_created_as_goose_creates_it(project: Path, db: str) -> None:
    write(project, {"00001_users.sql": USERS})
    ok(migrate(project, url=db))
    columns = query(db, "SELECT column_name, data_type, is_nullable, column_default FROM information_schema.columns "
                        "WHERE table_name = 'goose_db_version' ORDER BY ordinal_position")
    assert columns == [("id", "integer", "NO", "nextval('goose_db_version_id_seq'::regclass)"),
                       ("version_id", "bigint", "NO", None), ("is_applied", "boolean", "NO", None),
                       ("tstamp", "timestamp without time zone", "YES", "now()")]
    assert query(db, "SELECT id, version_id, is_applied FROM goose_db_version ORDER BY id") == [(1, 0, True), (2, 1, True)]


def test_status_and_up_read_a_table_that_goose_wrote(project: Path, db: str) -> None:
    with psycopg.connect(db) as conn:
        conn.execute(GOOSE_DDL)
        for version, applied in ((0, True), (1, True), (2, True), (3, True), (3, False)):  # old goose: a down adds a false row
            conn.execute("INSERT INTO goose_db_version (version_id, is_applied) VALUES (%s, %s)", (version, applied))
        conn.execute("CREATE TABLE users (id int)")
        conn.execute("CREATE TABLE items (id int)")
    write(project, {"00001_users.sql": USERS, "00002_items.sql": ITEMS, "00003_tags.sql": TAGS,
                    "00004_more.sql": "-- +goose Up\nCREATE TABLE more (id int);\n"})
    listing = json.loads(ok(migrate(project, "status", "--json", url=db)))
    assert listing["version"] == 2
    assert [(m["version"], m["applied"]) for m in listing["migrations"]] == [(1, True), (2, True), (3, False), (4, False)]
    out = ok(migrate(project, url=db))
    assert "applied 00003_tags.sql" in out and "applied 00004_more.sql" in out and "00001" not in out
    assert versions(db)[-2:] == [(3, True), (4, True)]


def test_up_refuses_pending_files_older_than_the_current_version(project: Path, db: str) -> None:
    write(project, {"00001_users.sql": USERS, "00003_tags.sql": TAGS})
    ok(migrate(project, url=db))
    write(project, {"00002_items.sql": ITEMS})
    error = failed(migrate(project, url=db))
    assert "1 migration(s) older than the current version 3 were never applied: 00002_items.sql" in error
    assert "items" not in tables(db)


def test_database_url_comes_from_the_environment(project: Path, db: str) -> None:
    write(project, {"00001_users.sql": USERS})
    error = failed(migrate(project, "status"))
    assert "--database-url is not given and DATABASE_URL is not set" in error
    assert "00001_users.sql" in ok(migrate(project, "up", env={"DATABASE_URL": db.replace("postgresql://", "postgresql+asyncpg://")}))
    assert "users" in tables(db)


def test_an_unreachable_database_is_one_line(project: Path) -> None:
    write(project, {"00001_users.sql": USERS})
    error = failed(migrate(project, url=f"postgresql://postgres:x@127.0.0.1:{free_port()}/nothing"))
    assert "cannot connect to 127.0.0.1:" in error and "/nothing: " in error


def test_up_for_is_the_migrate_step_of_up(project: Path, db: str) -> None:
    write(project, {"00001_users.sql": USERS, "00002_items.sql": ITEMS})
    lines: list[str] = []
    assert runner.up_for(db, project / "migrations", lines.append) == ["00001_users.sql", "00002_items.sql"]
    assert [line.split()[:2] for line in lines] == [["applied", "00001_users.sql"], ["applied", "00002_items.sql"]]
    assert runner.up_for(db, project / "migrations", lines.append) == []
