"""`stapel db init|reset|drop` on seed 001's shape against a real PostgreSQL: a component that declares only
`database: codelab` (no `databases:`, no roles), a service with goose migrations and SQL seeds, as seed 001's
`scripts/init_db.py` does: init creates the tables and loads the seeds, reset drops the database and builds it
again, drop drops it and says exactly what it dropped, never claiming success for nothing."""

from __future__ import annotations

import psycopg
import pytest
from conftest import stapel, status, stop_and_clean, traversable_dir

pytestmark = pytest.mark.integration

ADMIN = "admin-pw-3e4f5a6b7c"
STACK = """
name: codelab
components:
  db:
    kind: postgres
    password: ADMIN
    database: codelabDECLARED
services:
  core:
    command: python3 -c "import time; time.sleep(3600)"
    cwd: core
    depends_on: [db]
    migrations: {dir: migrations}
    seeds: [seeds/*.sql]
"""
MIGRATION = """-- +goose Up
CREATE TABLE users (id serial PRIMARY KEY, email text UNIQUE NOT NULL);
CREATE TABLE agents (id serial PRIMARY KEY, name text UNIQUE NOT NULL);
-- +goose Down
DROP TABLE agents;
DROP TABLE users;
"""
SEED = """INSERT INTO users (email) VALUES ('test@example.com') ON CONFLICT DO NOTHING;
INSERT INTO agents (name) VALUES ('CodeAssistant'), ('DataAnalyst'), ('DocumentWriter') ON CONFLICT DO NOTHING;
"""


def make(declared: str = ""):
    base = traversable_dir("dblife")
    (base / "stapel.yaml").write_text(STACK.replace("ADMIN", ADMIN).replace("DECLARED", declared))
    (base / "core/migrations").mkdir(parents=True)
    (base / "core/seeds").mkdir()
    (base / "core/migrations/00001_init.sql").write_text(MIGRATION)
    (base / "core/seeds/001_test_data.sql").write_text(SEED)
    return base


@pytest.fixture(scope="module", params=["", "\n    databases: {codelab: {}}"], ids=["database-only", "also-declared"])
def project(request):
    base = make(request.param)
    try:
        yield base
    finally:
        assert not stop_and_clean(base)


def query(base, sql: str, db: str = "codelab") -> list[tuple]:
    with psycopg.connect(f"postgresql://postgres:{ADMIN}@{status(base)['db']['endpoint']}/{db}", autocommit=True) as conn:
        return conn.execute(sql).fetchall()


def databases(base) -> set[str]:
    return {r[0] for r in query(base, "SELECT datname FROM pg_database", db="postgres")}


def test_init_creates_the_tables_and_loads_the_seeds(project) -> None:
    done = stapel(project, "db", "init", timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "core: applied 00001_init.sql" in done.stdout and "core: seeded seeds/001_test_data.sql" in done.stdout
    assert query(project, "SELECT email FROM users") == [("test@example.com",)]
    assert query(project, "SELECT count(*) FROM agents") == [(3,)]


def test_reset_drops_the_database_and_builds_it_again(project) -> None:
    query(project, "INSERT INTO users (email) VALUES ('temp@example.com') RETURNING id")
    done = stapel(project, "db", "reset", "--yes", timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert "  db: dropped database codelab" in lines
    assert "  db: created database codelab" in lines
    assert "core: applied 00001_init.sql" in done.stdout and "core: seeded seeds/001_test_data.sql" in done.stdout
    assert query(project, "SELECT email FROM users") == [("test@example.com",)]  # temp is gone, the seed is back


def test_drop_drops_it_and_says_so_then_says_there_is_nothing_to_drop(project) -> None:
    done = stapel(project, "db", "drop", "--yes", timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines() == ["  db: dropped database codelab"]
    assert "codelab" not in databases(project)
    again = stapel(project, "db", "drop", "--yes", timeout=120)
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines() == ["db drop: nothing to drop (db: database codelab does not exist)"]
    assert "dropped" not in again.stdout


def test_up_after_drop_creates_the_database_again(project) -> None:
    if "codelab" in databases(project):
        assert stapel(project, "db", "drop", "--yes", timeout=120).returncode == 0
    done = stapel(project, "up", "--skip-backend", timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "db: created database codelab" in done.stdout
    assert query(project, "SELECT count(*) FROM agents") == [(3,)]


def test_drop_without_a_database_of_its_own_is_refused() -> None:
    base = traversable_dir("dblife-none")
    (base / "stapel.yaml").write_text(f"name: bare\ncomponents:\n  db:\n    kind: postgres\n    password: {ADMIN}\n")
    try:
        assert stapel(base, "up", timeout=300).returncode == 0
        done = stapel(base, "db", "reset", "--yes", timeout=120)
        assert done.returncode == 1
        assert done.stderr.splitlines() == [
            "stapel: error: db reset: components.db: no database of its own to drop (stapel never drops the maintenance "
            "database 'postgres') (give the application's data its own: components.db.database: NAME)"]
        assert "dropped" not in done.stdout
    finally:
        assert not stop_and_clean(base)


def test_drop_when_the_stack_is_down_touches_nothing() -> None:
    """Never whatever server holds the configured port (this machine's own PostgreSQL holds 5432)."""
    base = make()
    try:
        done = stapel(base, "db", "drop", "--yes", timeout=120)
        assert done.returncode == 1
        assert done.stderr.splitlines() == ["stapel: error: db: not running in contour 'dev' (run stapel up first)"]
        assert done.stdout == ""
    finally:
        assert not stop_and_clean(base)
