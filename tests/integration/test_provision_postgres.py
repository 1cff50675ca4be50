"""PostgreSQL provisioning in `up` against a real server: seed 000's single cluster with schemas, roles per
service with least privilege, password sync from .env, and a second run that changes nothing."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import psycopg
import pytest
from conftest import stapel, status, stop_and_clean, traversable_dir

pytestmark = pytest.mark.integration

STACK = """
name: prov
components:
  db:
    kind: postgres
    password: admin-pw-4b9f1c7e2d
    databases:
      crm:
        extensions: [pgcrypto]
        schemas: [auth, crm, documents, tasks, notifications, reports, audit, bot]
      analytics: {}
    roles:
      auth: {password: "${AUTH_DB_PASSWORD}", database: crm, schemas: [auth]}
      crm: {password: "${CRM_DB_PASSWORD}", database: crm, schemas: [crm]}
      analyst: {password: analyst-pw-5555eeee, database: analytics, schemas: [marts]}
services:
  auth:
    command: python3 -c "import time; time.sleep(3600)"
    uses: {db: {role: auth}}
"""


@pytest.fixture(scope="module")
def project():
    base = traversable_dir("provision")
    (base / "stapel.yaml").write_text(STACK)
    (base / ".env").write_text("AUTH_DB_PASSWORD=auth-pw-1111aaaa\nCRM_DB_PASSWORD=crm-pw-2222bbbb\n")
    done = stapel(base, "up", "--skip-backend", "--json", timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    yield base, json.loads(done.stdout)
    assert not stop_and_clean(base)


def url(project: Path, user: str, password: str, db: str = "crm") -> str:
    return f"postgresql://{user}:{password}@{status(project)['db']['endpoint']}/{db}"


def provision_step(summary: dict) -> dict:
    return next(step for step in summary["steps"] if step["name"] == "provision")


def test_first_up_creates_everything_and_lists_it(project) -> None:
    _, summary = project
    changes = provision_step(summary)["changes"]
    assert "db: created database crm" in changes and "db: created role auth" in changes
    assert "db: crm: created extension pgcrypto" in changes
    assert "db: crm: created schema auth (owner auth)" in changes and "db: crm: created schema bot (owner postgres)" in changes
    closed = [c for c in changes if "no longer open to every role" in c]
    assert closed == [f"db: database {db} no longer open to every role" for db in ("postgres", "template1", "crm", "analytics")]


def test_a_role_uses_its_own_schema_and_cannot_read_another(project) -> None:
    root, _ = project
    with psycopg.connect(url(root, "crm", "crm-pw-2222bbbb"), autocommit=True) as crm:
        crm.execute("CREATE TABLE deals (id int)")  # lands in schema crm (its search_path)
        assert crm.execute("SELECT schemaname FROM pg_tables WHERE tablename = 'deals'").fetchone() == ("crm",)
    with psycopg.connect(url(root, "auth", "auth-pw-1111aaaa"), autocommit=True) as auth:
        auth.execute("CREATE TABLE users (id int)")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            auth.execute("SELECT * FROM crm.deals")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            auth.execute("CREATE TABLE public.sneaky (id int)")
    with pytest.raises(psycopg.OperationalError, match='permission denied for database "analytics"'):
        psycopg.connect(url(root, "auth", "auth-pw-1111aaaa", db="analytics"), connect_timeout=3)


@pytest.mark.parametrize("other", ["postgres", "template1", "analytics"])
def test_a_role_can_connect_to_its_own_database_only(project, other) -> None:
    root, _ = project
    psycopg.connect(url(root, "auth", "auth-pw-1111aaaa"), connect_timeout=3).close()
    with pytest.raises(psycopg.OperationalError, match=f'permission denied for database "{other}"'):
        psycopg.connect(url(root, "auth", "auth-pw-1111aaaa", db=other), connect_timeout=3)
    psycopg.connect(url(root, "postgres", "admin-pw-4b9f1c7e2d", db=other), connect_timeout=3).close()  # the superuser can


def test_the_service_connects_as_its_role(project) -> None:
    root, _ = project
    env = json.loads(stapel(root, "env", "print", "--service", "auth", "--format", "json", "--reveal", check=True).stdout)
    assert (env["POSTGRES_USER"], env["POSTGRES_DB"], env["POSTGRES_SCHEMA"]) == ("auth", "crm", "auth")
    with psycopg.connect(env["DATABASE_URL"]) as conn:
        assert conn.execute("SELECT current_user, current_schema()").fetchone() == ("auth", "auth")


def test_a_full_run_with_nothing_new_changes_nothing(project) -> None:
    root, _ = project
    (root / ".env").write_text((root / ".env").read_text() + "UNRELATED=1\n")  # not the fast path
    summary = json.loads(stapel(root, "up", "--skip-backend", "--json", check=True).stdout)
    assert provision_step(summary)["status"] == "ok" and provision_step(summary)["changes"] == []


def test_a_password_changed_in_dotenv_is_synced(project) -> None:
    root, _ = project
    (root / ".env").write_text("AUTH_DB_PASSWORD=auth-pw-new-3333cccc\nCRM_DB_PASSWORD=crm-pw-2222bbbb\n")
    summary = json.loads(stapel(root, "up", "--skip-backend", "--json", check=True).stdout)
    assert provision_step(summary)["changes"] == ["db: synced the password of role auth"]
    psycopg.connect(url(root, "auth", "auth-pw-new-3333cccc")).close()
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(url(root, "auth", "auth-pw-1111aaaa"))
    assert "auth-pw-new-3333cccc" not in json.dumps(summary)


def test_a_role_on_an_unknown_database_is_refused_at_load(tmp_path) -> None:
    folder = traversable_dir("provision-bad")
    try:
        (folder / "stapel.yaml").write_text(
            "components:\n  db:\n    kind: postgres\n    roles:\n      app: {password: x-long-password, database: shop}\n")
        done = stapel(folder, "up")
        assert done.returncode == 1
        assert done.stderr.splitlines()[0] == ("stapel: error: stapel.yaml:5: components.db.roles.app.database: unknown database "
                                               "'shop' (declare it under components.db.databases)")
        assert not (folder / ".local").exists()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
