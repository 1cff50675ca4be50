"""stapel.testing, the pytest plugin, used as a project uses it: a pytest run in a subprocess, in a project with a
real PostgreSQL and a small service with migrations and seeds. (Until `./dev setup` reinstalls the package and so
registers the pytest11 entry point, the run loads the plugin with -p stapel.testing.plugin.)"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from conftest import REPO, processes_under, stapel_env, stop_and_clean, traversable_dir, wait_until

pytestmark = pytest.mark.integration

APP = '''
import os
from http.server import BaseHTTPRequestHandler, HTTPServer


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


HTTPServer((os.environ["HOST"], int(os.environ["PORT"])), Handler).serve_forever()
'''

STAPEL_YAML = """
name: plugintest
components:
  db: {kind: postgres, database: shop, password: plugin-test-pw-31337}
  spare: {kind: postgres, database: other, password: plugin-test-pw-31338}
services:
  api:
    command: python3 app.py
    cwd: api
    port: 18181
    migrations: {dir: migrations}
    seeds: [seeds/*.sql]
    probe: {http: {path: /health}, period_seconds: 0.1}
    depends_on: {db: {condition: healthy}}
"""

MIGRATION = """
-- +goose Up
CREATE TABLE users (id serial PRIMARY KEY, name text NOT NULL);
-- +goose Down
DROP TABLE users;
"""

TESTS = '''
import json, os, subprocess, sys, urllib.request

import psycopg


def test_env_is_what_env_print_gives(stapel_stack):
    printed = subprocess.run([sys.executable, "-m", "stapel", "--file", str(stapel_stack.file), "--slot", str(stapel_stack.slot),
                              "env", "print", "--service", "api", "--format", "json", "--reveal"],
                             capture_output=True, text=True, check=True)
    env = stapel_stack.env("api")
    assert env == json.loads(printed.stdout)
    assert "plugin-test-pw-31337" in env["DATABASE_URL"]


def test_endpoints_answer(stapel_stack):
    host, port = stapel_stack.endpoint("api")
    assert host == "127.0.0.1" and port != 18181  # its own slot: its own ports
    assert urllib.request.urlopen(f"http://{host}:{port}/health", timeout=5).status == 200
    host, port = stapel_stack.endpoint("db")
    with psycopg.connect(host=host, port=port, user="postgres", password="plugin-test-pw-31337", dbname="shop") as conn:
        assert conn.execute("SELECT count(*) FROM users").fetchone()[0] == 2


def test_clean_database_one(stapel_db):
    with stapel_db.connect() as conn:
        assert conn.execute("SELECT count(*) FROM users").fetchone()[0] == 2  # migrated and seeded
        conn.execute("INSERT INTO users (name) VALUES ('only in this test')")
        conn.commit()
    with psycopg.connect(stapel_db) as conn:  # the DSN is a str
        assert conn.execute("SELECT count(*) FROM users").fetchone()[0] == 3


def test_clean_database_two(stapel_db):
    with stapel_db.connect() as conn:
        assert conn.execute("SELECT count(*) FROM users").fetchone()[0] == 2


def test_unknown_node_is_one_line(stapel_stack):
    stapel_stack.endpoint("nope")


def test_unknown_service_env_is_one_line(stapel_stack):
    stapel_stack.env("db")
'''


@pytest.fixture
def project():
    folder = traversable_dir("plugin")
    (folder / "api" / "migrations").mkdir(parents=True)
    (folder / "api" / "seeds").mkdir()
    (folder / "api" / "app.py").write_text(APP)
    (folder / "api" / "migrations" / "20250101000000_users.sql").write_text(MIGRATION)
    (folder / "api" / "seeds" / "users.sql").write_text("INSERT INTO users (name) VALUES ('ada'), ('grace');\n")
    (folder / "stapel.yaml").write_text(STAPEL_YAML)
    (folder / "tests").mkdir()
    (folder / "tests" / "test_with_stack.py").write_text(TESTS)
    yield folder
    for slot in ("80", "81"):
        subprocess.run([sys.executable, "-m", "stapel", "--slot", slot, "down"], cwd=folder, env=stapel_env(),
                       capture_output=True, timeout=120)
    leftovers = stop_and_clean(folder)
    assert not leftovers, f"processes left running: {leftovers}"


def plugin_args() -> list[str]:
    """Nothing once the package is installed with its pytest11 entry point (./dev setup); else load it by name."""
    from importlib.metadata import entry_points

    return [] if any(ep.name == "stapel" for ep in entry_points(group="pytest11")) else ["-p", "stapel.testing.plugin"]


def run_pytest(folder: Path, *args: str, timeout: float = 400, **kwargs) -> subprocess.Popen | subprocess.CompletedProcess:
    env = {**stapel_env(), "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")])}
    argv = [sys.executable, "-m", "pytest", *plugin_args(), "-p", "no:cacheprovider", "-q", *args]
    if kwargs.get("background"):
        return subprocess.Popen(argv, cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                start_new_session=True)
    return subprocess.run(argv, cwd=folder, env=env, capture_output=True, text=True, timeout=timeout)


def test_a_project_takes_its_stack_as_a_fixture(project: Path) -> None:
    done = run_pytest(project, "-rA", "tests")
    out = done.stdout + done.stderr
    assert "2 failed, 4 passed" in out, out
    assert "stapel_stack: 'nope' is not a node of" in out and "components: db, spare; services: api" in out, out
    assert "stapel_stack.env: 'db' is a component (postgres), not a service" in out, out
    assert "Traceback" not in out and "def test_unknown_node_is_one_line" not in out, out  # one line, not a traceback
    assert not processes_under(project), "the session left processes"
    assert not (project / ".local" / "data" / "dev-slot80").exists(), "the session left its data"


def test_a_subset_and_a_bad_name(project: Path) -> None:
    done = run_pytest(project, "tests", "-k", "clean_database", "-o", "stapel_services=db", "-o", "stapel_slot=81")
    out = done.stdout + done.stderr
    # stapel_db clones db's database, which the service's migrations fill: without api, no users table
    assert done.returncode == 1 and 'relation "users" does not exist' in out, out
    bad = run_pytest(project, "tests", "-k", "clean_database_two", "-o", "stapel_services=dbx")
    out = bad.stdout + bad.stderr
    assert bad.returncode != 0 and "stapel_services: 'dbx' is not a node of" in out, out
    assert "Traceback" not in out, out


def test_ctrl_c_takes_the_stack_down(project: Path) -> None:
    marker = project / "stack-is-up"
    (project / "tests" / "test_slow.py").write_text(textwrap.dedent(f"""
        import pathlib, time

        def test_waits(stapel_stack):
            pathlib.Path({str(marker)!r}).write_text("up")
            time.sleep(120)
    """))
    proc = run_pytest(project, "tests/test_slow.py", background=True)
    try:
        assert wait_until(marker.exists, timeout=180), proc.communicate(timeout=30)[0] if proc.poll() is not None else "no marker"
        assert processes_under(project / ".local")
        os.killpg(proc.pid, signal.SIGINT)
        out, _ = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 2, out  # pytest's "interrupted"
    assert wait_until(lambda: not processes_under(project / ".local"), timeout=30), "Ctrl-C left processes"
    time.sleep(0.1)


def test_xdist_workers_each_get_their_own_slot(project: Path) -> None:
    pytest.importorskip("xdist")
    (project / "tests" / "test_workers.py").write_text(textwrap.dedent("""
        import os, pathlib, pytest

        @pytest.mark.parametrize("i", range(4))
        def test_slot(stapel_stack, stapel_db, i):
            worker = os.environ["PYTEST_XDIST_WORKER"]
            host, port = stapel_stack.endpoint("db")
            with stapel_db.connect() as conn:
                assert conn.execute("SELECT count(*) FROM users").fetchone()[0] == 2
            pathlib.Path(f"{worker}-{i}.seen").write_text(f"{stapel_stack.slot} {port}")
    """))
    done = run_pytest(project, "-n", "2", "tests/test_workers.py")
    assert done.returncode == 0, done.stdout + done.stderr
    seen = {p.name.split("-")[0]: p.read_text() for p in project.glob("gw*.seen")}
    assert sorted(seen) == ["gw0", "gw1"], seen
    assert {text.split()[0] for text in seen.values()} == {"80", "81"} and len({t.split()[1] for t in seen.values()}) == 2, seen
    assert not processes_under(project / ".local"), "the workers left processes"


def test_the_tests_only_tmpfs_mode_keeps_the_database_in_ram_and_deletes_it(project: Path) -> None:
    seen = project / "ram.seen"
    (project / "tests" / "test_ram.py").write_text(textwrap.dedent(f"""
        import os, pathlib

        def test_in_ram(stapel_stack, stapel_db):
            data = stapel_stack.model().paths.data("db")
            with stapel_db.connect() as conn:
                assert conn.execute("SELECT count(*) FROM users").fetchone()[0] == 2  # migrated and seeded, as on disk
                folder = os.path.realpath(conn.execute("SHOW data_directory").fetchone()[0])
                settings = [conn.execute(f"SHOW {{name}}").fetchone()[0] for name in ("fsync", "synchronous_commit", "full_page_writes")]
            pathlib.Path({str(seen)!r}).write_text(f"{{data.is_symlink()}} {{folder}} {{settings}}")
    """))
    done = run_pytest(project, "tests/test_ram.py", "-o", "stapel_db_tmpfs=true")
    assert done.returncode == 0, done.stdout + done.stderr
    linked, folder, settings = seen.read_text().split(" ", 2)
    assert linked == "True" and folder.startswith("/dev/shm/stapel-tests-only-"), seen.read_text()
    assert settings == "['off', 'off', 'off']"
    assert not Path(folder).exists() and not Path(folder).parent.exists(), "the session left its RAM folder"
    assert not processes_under(project / ".local"), "the session left processes"
