"""The migrate and seed steps of `up` against a real PostgreSQL: a service's own migration command,
SQL and Python seeds recorded with checksums, re-run only when changed (or forced), a failing seed."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest
from conftest import stapel, status, stop_and_clean, traversable_dir

pytestmark = pytest.mark.integration

STACK = """
name: seeding
components:
  db:
    kind: postgres
    password: admin-pw-8c1d2e3f4a
    databases: {shop: {}}
    roles:
      app: {password: app-pw-6a5b4c3d2e, database: shop, schemas: [app]}
services:
  app:
    command: python3 -c "import time; time.sleep(3600)"
    cwd: app
    uses: {db: {role: app}}
    migrations: {command: python3 migrate.py}
    seeds: [seeds/*.sql, "seedpy:run"]
  audit:
    command: python3 -c "import time; time.sleep(3600)"
    cwd: audit
    uses: {db: {role: app}}
    depends_on: [app]
    migrations: {dir: migrations}
"""

GOOSE_1 = """-- +goose Up
CREATE TABLE audit_log (id serial PRIMARY KEY, what text NOT NULL);
-- +goose Down
DROP TABLE audit_log;
"""

MIGRATE = """
import os, psycopg
with psycopg.connect(os.environ["DATABASE_URL"]) as conn:
    conn.execute("CREATE TABLE IF NOT EXISTS users (name text PRIMARY KEY)")
    conn.execute("CREATE TABLE IF NOT EXISTS settings (key text PRIMARY KEY, value text)")
print("migrated")
"""

SEEDPY = """
import os, psycopg
def run():
    with psycopg.connect(os.environ["DATABASE_URL"]) as conn:
        conn.execute("INSERT INTO settings VALUES ('theme', 'dark') ON CONFLICT (key) DO UPDATE SET value = excluded.value")
"""


@pytest.fixture(scope="module")
def project():
    base = traversable_dir("seeds")
    (base / "stapel.yaml").write_text(STACK)
    app = base / "app"
    (app / "seeds").mkdir(parents=True)
    (app / "migrate.py").write_text(MIGRATE)
    (app / "seedpy.py").write_text(SEEDPY)
    (base / "audit/migrations").mkdir(parents=True)
    (base / "audit/migrations/00001_audit_log.sql").write_text(GOOSE_1)
    (app / "seeds/001_users.sql").write_text("INSERT INTO users VALUES ('ann') ON CONFLICT DO NOTHING;\n"
                                             "INSERT INTO users VALUES ('bob') ON CONFLICT DO NOTHING;\n")
    yield base
    assert not stop_and_clean(base)


def up(root: Path, *args: str) -> dict:
    done = stapel(root, "up", "--skip-backend", "--json", *args, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)


def step(summary: dict, name: str) -> dict:
    return next(s for s in summary["steps"] if s["name"] == name)


def query(root: Path, sql: str) -> list[tuple]:
    with psycopg.connect(f"postgresql://app:app-pw-6a5b4c3d2e@{status(root)['db']['endpoint']}/shop") as conn:
        return conn.execute(sql).fetchall()


def test_first_up_migrates_then_seeds(project) -> None:
    summary = up(project)
    assert step(summary, "migrate")["changes"] == ["audit: applied 00001_audit_log.sql"]
    assert "migrated" in (Path(summary["run_dir"]) / step(summary, "migrate")["log"]).read_text()
    assert step(summary, "seed")["changes"] == ["app: seeded seeds/001_users.sql", "app: seeded seedpy:run"]
    assert query(project, "SELECT name FROM users ORDER BY name") == [("ann",), ("bob",)]
    assert query(project, "SELECT value FROM settings") == [("dark",)]


def test_goose_migrations_run_in_dependency_order_and_a_new_file_is_applied_by_the_next_up(project) -> None:
    (project / ".env").write_text("UNRELATED=0\n")  # a full run, not the fast path
    first = step(up(project), "migrate")
    assert first["changes"] == []  # applied by the first up already: nothing new, nothing applied
    assert query(project, "SELECT version_id FROM goose_db_version ORDER BY id") == [(0,), (1,)]
    (project / "audit/migrations/00002_audit_at.sql").write_text(
        "-- +goose Up\nALTER TABLE audit_log ADD COLUMN at timestamptz DEFAULT now();\n-- +goose Down\nALTER TABLE audit_log DROP COLUMN at;\n")
    assert step(up(project), "migrate")["changes"] == ["audit: applied 00002_audit_at.sql"]  # not the fast path


def test_stapel_migrate_per_service(project) -> None:
    done = stapel(project, "migrate", "status", "--service", "audit", "--json", check=True)
    assert [(m["version"], m["applied"]) for m in json.loads(done.stdout)["migrations"]] == [(1, True), (2, True)]
    down = stapel(project, "migrate", "down", "--service", "audit", check=True)
    assert "00002_audit_at.sql" in down.stdout
    assert stapel(project, "migrate", "up", "--service", "audit", check=True).returncode == 0
    wrong = stapel(project, "migrate", "status", "--service", "aduit")
    assert wrong.returncode == 1 and wrong.stderr == "stapel: error: migrate --service: unknown service 'aduit'; did you mean 'audit'?\n"


def test_unchanged_seeds_do_not_run_again(project) -> None:
    (project / ".env").write_text("UNRELATED=1\n")  # a full run, not the fast path
    summary = up(project)
    assert step(summary, "seed")["status"] == "ok" and step(summary, "seed")["changes"] == []


def test_a_changed_seed_runs_again_and_a_forced_seed_runs_all(project) -> None:
    (project / "app/seeds/001_users.sql").write_text("INSERT INTO users VALUES ('cid') ON CONFLICT DO NOTHING;\n")
    summary = up(project)  # the seed file is an input: no fast path
    assert step(summary, "seed")["changes"] == ["app: seeded seeds/001_users.sql (changed)"]
    done = stapel(project, "seed", "--force", "--json", timeout=300)
    assert done.returncode == 0, done.stderr
    forced = step(json.loads(done.stdout), "seed")["changes"]
    assert forced == ["app: seeded seeds/001_users.sql (changed)", "app: seeded seedpy:run (changed)"]


def test_a_failing_seed_is_reported_and_not_recorded(project) -> None:
    bad = project / "app/seeds/002_bad.sql"
    bad.write_text("INSERT INTO users VALUES ('dan');\nINSERT INTO no_such_table VALUES (1);\n")
    try:
        done = stapel(project, "up", "--skip-backend", timeout=300)
        assert done.returncode == 1
        assert done.stderr.splitlines()[0].startswith(
            'stapel: error: services.app.seeds: seeds/002_bad.sql:2 failed: relation "no_such_table" does not exist')  # its line
        assert query(project, "SELECT count(*) FROM users WHERE name = 'dan'") == [(0,)]  # its transaction rolled back
        assert query(project, "SELECT name FROM stapel_seed_history ORDER BY name") == [("seedpy:run",), ("seeds/001_users.sql",)]
    finally:
        bad.unlink()
    assert up(project)["outcome"] == "ok"


def test_skip_flags(project) -> None:
    (project / ".env").write_text("UNRELATED=2\n")
    summary = up(project, "--skip-migrations", "--skip-seeds")
    assert (step(summary, "migrate")["message"], step(summary, "seed")["message"]) == ("--skip-migrations", "--skip-seeds")


def test_db_reset_drops_and_rebuilds_and_drop_asks_first(project) -> None:
    query(project, "INSERT INTO users VALUES ('temp') RETURNING name")
    refused = stapel(project, "db", "drop", input="")
    assert refused.returncode == 1 and refused.stderr.splitlines()[0].endswith("(pass --yes to confirm)")
    done = stapel(project, "db", "reset", "--yes", timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "db: dropped database shop" in done.stdout and "db: dropped role app" in done.stdout
    assert query(project, "SELECT name FROM users ORDER BY name") == [("cid",)]  # migrated and seeded again, temp gone
    assert stapel(project, "db", "drop", "--yes").returncode == 0
    with pytest.raises(psycopg.OperationalError):
        query(project, "SELECT 1")
