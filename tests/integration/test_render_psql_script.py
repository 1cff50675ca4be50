"""The provisioning script of the Compose one-shot / Kubernetes Job (render/psql_script.py), proven on a real
PostgreSQL with the real psql binary: two servers started by stapel, one provisioned natively by `up`, the other
bare and then given the rendered script (twice). Both must end up the same, with the same least privilege; the
second run must succeed and change nothing but the roles' SCRAM salts; no password may be in the script."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace

import psycopg
import pytest
from conftest import stapel, status, stop_and_clean, traversable_dir

from stapel.components import postgres
from stapel.engine.stack import open_stack
from stapel.render import jobs, psql_script

pytestmark = pytest.mark.integration

ADMIN = "admin-pw-7c1e9a3b5d"
PASSWORDS = {"auth": "auth-pw-1111aaaa'q", "crm": "crm-pw-2222bbbb", "analyst": "analyst-pw-5555eeee"}
DECLARED = f"""
    databases:
      crm:
        extensions: [pgcrypto]
        schemas: {{auth: {{}}, crm: {{}}, documents: {{}}, bot: {{owner: crm}}}}
      analytics: {{}}
    roles:
      auth: {{password: "${{AUTH_DB_PASSWORD}}", database: crm, schemas: [auth]}}
      crm: {{password: {PASSWORDS['crm']}, database: crm, schemas: [crm]}}
      analyst: {{password: {PASSWORDS['analyst']}, database: analytics, schemas: [marts]}}
"""
STACK = f"""
name: psqlscript
components:
  native:
    kind: postgres
    password: {ADMIN}
{DECLARED}
  bare:
    kind: postgres
    password: {ADMIN}
"""
SNAPSHOT = {
    "databases": "SELECT datname, array(SELECT unnest(datacl)::text ORDER BY 1) FROM pg_database "
                 "WHERE datname <> 'template0' ORDER BY 1",
    "roles": "SELECT r.rolname, r.rolcanlogin, r.rolsuper, r.rolcreatedb, r.rolcreaterole, s.setconfig FROM pg_roles r "
             "LEFT JOIN pg_db_role_setting s ON s.setrole = r.oid AND s.setdatabase = 0 WHERE r.rolname !~ '^pg_' ORDER BY 1",
}
PER_DB = {
    "schemas": "SELECT n.nspname, pg_get_userbyid(n.nspowner), array(SELECT unnest(n.nspacl)::text ORDER BY 1) FROM pg_namespace n "
               "WHERE n.nspname !~ '^(pg_|information_schema)' ORDER BY 1",
    "extensions": "SELECT extname FROM pg_extension ORDER BY 1",
}


@pytest.fixture(scope="module")
def servers():
    base = traversable_dir("psqlscript")
    (base / "stapel.yaml").write_text(STACK)
    (base / ".env").write_text(f"AUTH_DB_PASSWORD={PASSWORDS['auth']}\n")
    done = stapel(base, "up", "--skip-backend", "--json", timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    ports = {name: int(status(base)[name]["endpoint"].rsplit(":", 1)[1]) for name in ("native", "bare")}
    yield base, ports
    assert not stop_and_clean(base)


def psql() -> str:
    binary = shutil.which("psql")
    if binary is None:
        pytest.skip("psql not installed (apt-get install postgresql-client)")
    return binary


def run_script(base: Path, port: int) -> subprocess.CompletedProcess:
    """As the one-shot runs it: the script from a file, role passwords as psql variables from the environment."""
    node = open_stack(base / "stapel.yaml", "dev").nodes["native"]
    path = base / "provision.sql"
    path.write_text(psql_script.script(node.config))
    shot = jobs.one_shots(open_stack(base / "stapel.yaml", "dev"), host_of=lambda name: "127.0.0.1")[0]
    command = shot.command[2].replace("-p 5432", f"-p {port}").replace(f"{jobs.STAPEL_DIR}/provision.sql", str(path))
    env = {"PATH": "/usr/bin:/bin", "POSTGRES_USER": "postgres", "POSTGRES_PASSWORD": ADMIN,
           **postgres.role_env(node.config)}
    return subprocess.run(["sh", "-c", command.replace("exec psql", f"exec {psql()}")], env=env, capture_output=True,
                          text=True, timeout=60, check=False)


def snapshot(port: int) -> dict:
    admin = f"postgresql://postgres:{ADMIN}@127.0.0.1:{port}/"
    with psycopg.connect(admin + "postgres", autocommit=True) as conn:
        found = {key: conn.execute(query).fetchall() for key, query in SNAPSHOT.items()}
    for db in ("crm", "analytics"):
        with psycopg.connect(admin + db, autocommit=True) as conn:
            found.update({f"{db}.{key}": conn.execute(query).fetchall() for key, query in PER_DB.items()})
    return found


def verifiers(port: int) -> dict:
    with psycopg.connect(f"postgresql://postgres:{ADMIN}@127.0.0.1:{port}/postgres", autocommit=True) as conn:
        return dict(conn.execute("SELECT rolname, rolpassword FROM pg_authid WHERE rolname = ANY(%s)", (list(PASSWORDS),)).fetchall())


def test_the_script_holds_no_password(servers) -> None:
    base, _ = servers
    text = psql_script.script(open_stack(base / "stapel.yaml", "dev").nodes["native"].config)
    assert not any(password in text for password in [*PASSWORDS.values(), ADMIN])
    assert ":'password_1'" in text and "\\gexec" in text


def test_the_script_gives_what_native_provisioning_gives_and_twice_is_the_same(servers) -> None:
    base, ports = servers
    first = run_script(base, ports["bare"])
    assert first.returncode == 0, first.stderr
    assert "ERROR" not in first.stderr
    after_first = snapshot(ports["bare"])
    assert after_first == snapshot(ports["native"])
    salts = verifiers(ports["bare"])
    second = run_script(base, ports["bare"])
    assert second.returncode == 0, second.stderr
    assert snapshot(ports["bare"]) == after_first
    assert set(verifiers(ports["bare"])) == set(salts) == set(PASSWORDS)


def test_the_roles_log_in_with_least_privilege(servers) -> None:
    base, ports = servers
    assert run_script(base, ports["bare"]).returncode == 0
    url = lambda role, db="crm": f"postgresql://{role}:{PASSWORDS[role]}@127.0.0.1:{ports['bare']}/{db}"  # noqa: E731
    with psycopg.connect(url("crm"), autocommit=True) as crm:
        crm.execute("CREATE TABLE deals (id int)")
        assert crm.execute("SELECT schemaname FROM pg_tables WHERE tablename = 'deals'").fetchone() == ("crm",)
    with psycopg.connect(url("auth"), autocommit=True) as auth:
        assert auth.execute("SELECT current_schema()").fetchone() == ("auth",)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            auth.execute("SELECT * FROM crm.deals")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            auth.execute("CREATE TABLE public.sneaky (id int)")
    for other in ("analytics", "postgres", "template1"):
        with pytest.raises(psycopg.OperationalError, match=f'permission denied for database "{other}"'):
            psycopg.connect(url("auth", other), connect_timeout=3)
    psycopg.connect(url("analyst", "analytics"), connect_timeout=3).close()
    with pytest.raises(psycopg.OperationalError, match='permission denied for database "crm"'):
        psycopg.connect(url("analyst", "crm"), connect_timeout=3)


def test_a_changed_password_is_synced(servers) -> None:
    base, ports = servers
    file = base / "stapel.yaml"
    original = file.read_text()
    file.write_text(original.replace(PASSWORDS["crm"], "crm-pw-new-9999zzzz"))
    try:
        assert run_script(base, ports["bare"]).returncode == 0
        psycopg.connect(f"postgresql://crm:crm-pw-new-9999zzzz@127.0.0.1:{ports['bare']}/crm", connect_timeout=3).close()
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            psycopg.connect(f"postgresql://crm:{PASSWORDS['crm']}@127.0.0.1:{ports['bare']}/crm", connect_timeout=3)
    finally:
        file.write_text(original)
        assert run_script(base, ports["bare"]).returncode == 0


def test_the_sql_seed_one_shot_records_like_stapel_seed(servers, tmp_path: Path) -> None:
    """The seed one-shot's command and seed.psql, run with the real psql: applied once, recorded with the checksum
    `stapel seed` records, skipped when unchanged, applied again when changed."""
    from stapel.migrate.seeds import collect

    base, ports = servers
    (tmp_path / "seeds").mkdir()
    seed = tmp_path / "seeds" / "01 users.sql"
    seed.write_text("CREATE TABLE IF NOT EXISTS seeded (n int); INSERT INTO seeded VALUES (1);\n")
    url = f"postgresql://postgres:{ADMIN}@127.0.0.1:{ports['bare']}/postgres"
    shot = jobs._sql_seeds(open_stack(base / "stapel.yaml", "dev"), SimpleNamespace(name="x"), "native", "x-seed", ["seeds/01 users.sql"], tmp_path, "$DATABASE_URL")
    (tmp_path / "seed.psql").write_text(shot.files["seed.psql"])
    command = shot.command[2].replace(f"{jobs.STAPEL_DIR}/seed.psql", str(tmp_path / "seed.psql")).replace("psql -X", f"{psql()} -X")

    def run() -> str:
        done = subprocess.run(["sh", "-c", command], cwd=tmp_path, env={"PATH": "/usr/bin:/bin", "DATABASE_URL": url},
                              capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 0, done.stderr
        return done.stdout

    assert "seeded seeds/01 users.sql" in run()
    assert "unchanged" in run()
    seed.write_text("INSERT INTO seeded VALUES (2);\n")
    assert "seeded" in run()
    with psycopg.connect(url, autocommit=True) as conn:
        assert conn.execute("SELECT n FROM seeded ORDER BY n").fetchall() == [(1,), (2,)]
        recorded = conn.execute("SELECT name, checksum FROM stapel_seed_history").fetchall()
    expected = collect(["seeds/*.sql"], tmp_path, "services.x")[0]
    assert recorded == [(expected.name, expected.checksum)]
