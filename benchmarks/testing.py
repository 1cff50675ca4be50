#!/usr/bin/env python3
"""stapel.testing against pytest-postgresql, side by side in one run (issue 14, item 4):

1. time to the first usable PostgreSQL connection of a pytest session (from launching `pytest` to the first test's
   query answered): stapel_stack (`stapel up` of a postgres + a service with migrations and seeds, in a test slot)
   vs pytest-postgresql's postgresql_proc (initdb, pg_ctl start, the template loaded);
2. per-test clean database: the median wall time of one test's whole protocol (setup, call, teardown) for a test
   that connects to its clean database and counts a seeded table: stapel_db (template clone) vs pytest-postgresql's
   `postgresql` (its janitor: CREATE DATABASE ... TEMPLATE, DROP DATABASE). Goal: stapel <= 0.5x.

Both servers are the system's PostgreSQL binaries (/usr/lib/postgresql/<major>/bin, or $PG_BIN); the same schema
(10 tables, 100 rows each) in both templates. pytest-postgresql runs its server with -F (no fsync); stapel_db turns
fsync off in its test slot the same way (ALTER SYSTEM); the `stapel durable` line keeps fsync on; `stapel-tmpfs` is the
tests-only mode (stapel_db_tmpfs: the database's data in RAM under /dev/shm). As root, initdb and
postgres refuse to run: pytest-postgresql's pg_ctl is then wrapped to run as the postgres user (stapel does that by
itself). pytest-postgresql is taken from PyPI: `pip install pytest-postgresql` (or --target DIR, then
PYTEST_POSTGRESQL_PATH=DIR). Usage: .venv/bin/python benchmarks/testing.py [--tests 60] [--rounds 3]
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

TABLES = 10
ROWS = 100
SCHEMA = "".join(f"CREATE TABLE t{i} (id serial PRIMARY KEY, name text NOT NULL, created timestamptz DEFAULT now());\n"
                 for i in range(TABLES))
SEED = "".join(f"INSERT INTO t{i} (name) SELECT 'row ' || g FROM generate_series(1, {ROWS}) g;\n" for i in range(TABLES))

TIMING = '''
import json, os, time
import pytest

durations = []


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    began = time.perf_counter()
    yield
    durations.append(time.perf_counter() - began)


def first_connection():
    path = os.environ["BENCH_FIRST"]
    if not os.path.exists(path):
        with open(path, "w") as f:
            f.write(repr(time.time()))


def pytest_sessionfinish(session):
    with open(os.environ["BENCH_OUT"], "w") as f:
        json.dump(durations, f)
'''

STAPEL_TESTS = f'''
import psycopg, pytest
from benchtiming import first_connection


@pytest.mark.parametrize("i", range(int(__import__("os").environ["BENCH_TESTS"])))
def test_clean(stapel_db, i):
    with psycopg.connect(stapel_db) as conn:
        assert conn.execute("SELECT count(*) FROM t0").fetchone()[0] == {ROWS}
    first_connection()
'''

PGP_TESTS = f'''
import pytest
from benchtiming import first_connection


@pytest.mark.parametrize("i", range(int(__import__("os").environ["BENCH_TESTS"])))
def test_clean(postgresql, i):
    assert postgresql.execute("SELECT count(*) FROM t0").fetchone()[0] == {ROWS}
    first_connection()
'''

# as root: initdb and postgres refuse to run; hand the data folder's parent to postgres, then run pg_ctl as it
PG_CTL_AS_POSTGRES = '''#!/bin/sh
data=""; previous=""
for arg in "$@"; do
  if [ "$previous" = "-D" ] || [ "$previous" = "--pgdata" ]; then data="$arg"; fi
  previous="$arg"
done
if [ -n "$data" ]; then
  parent=$(dirname "$data")
  chown postgres "$parent"; chmod 755 "$(dirname "$parent")" "$parent"
fi
exec runuser -u postgres -- "{pg_ctl}" "$@"
'''


def pg_bin() -> Path:
    if os.environ.get("PG_BIN"):
        return Path(os.environ["PG_BIN"])
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(p.split("/")[4]))
    if not found:
        sys.exit("no PostgreSQL binaries in /usr/lib/postgresql/*/bin (apt-get install postgresql, or set PG_BIN)")
    return Path(found[-1]).parent


def make_project(folder: Path, bins: Path) -> None:
    (folder / "app" / "migrations").mkdir(parents=True)
    (folder / "app" / "seeds").mkdir()
    (folder / "app" / "migrations" / "20250101000000_schema.sql").write_text(f"-- +goose Up\n{SCHEMA}")
    (folder / "app" / "seeds" / "rows.sql").write_text(SEED)
    (folder / "stapel.yaml").write_text(textwrap.dedent(f"""
        name: benchtesting
        components:
          db: {{kind: postgres, database: app, password: bench-testing-pw-1, version: "{bins.parent.name}"}}
        services:
          app:
            command: python3 -c "import time; time.sleep(86400)"
            cwd: app
            migrations: {{dir: migrations}}
            seeds: [seeds/*.sql]
            depends_on: {{db: {{condition: healthy}}}}
    """))
    for name, text in (("stapel", STAPEL_TESTS), ("pgp", PGP_TESTS)):
        (folder / f"tests_{name}").mkdir()
        (folder / f"tests_{name}" / "test_clean.py").write_text(text)
    (folder / "benchtiming.py").write_text(TIMING)
    (folder / "schema.sql").write_text(SCHEMA + SEED)
    (folder / "schema.sql").chmod(0o644)


def plugin_args() -> list[str]:
    from importlib.metadata import entry_points

    return [] if any(ep.name == "stapel" for ep in entry_points(group="pytest11")) else ["-p", "stapel.testing.plugin"]


def session(folder: Path, which: str, tests: int, bins: Path, extra_path: str | None) -> dict[str, float]:
    out, first = folder / f"{which}.json", folder / f"{which}.first"
    first.unlink(missing_ok=True)
    env = {**os.environ, "BENCH_OUT": str(out), "BENCH_FIRST": str(first), "BENCH_TESTS": str(tests),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    paths = [str(folder), str(REPO / "src")]
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "benchtiming"]
    if which.startswith("stapel"):
        argv += [*plugin_args(), "-p", "no:pytest_postgresql", "tests_stapel"]
        argv += ["-o", "stapel_db_durable=true"] if which == "stapel-durable" else []
        argv += ["-o", "stapel_db_tmpfs=true"] if which == "stapel-tmpfs" else []
    else:
        paths.append(extra_path or "")
        pg_ctl = bins / "pg_ctl"
        if os.geteuid() == 0:
            wrapper = folder / "pg_ctl_as_postgres"
            wrapper.write_text(PG_CTL_AS_POSTGRES.format(pg_ctl=pg_ctl))
            wrapper.chmod(0o755)
            pg_ctl = wrapper
        basetemp = folder / "basetemp"
        shutil.rmtree(basetemp, ignore_errors=True)
        argv += ["-p", "no:stapel", "-o", f"postgresql_exec={pg_ctl}", f"--postgresql-load={folder / 'schema.sql'}",
                 f"--basetemp={basetemp}", "tests_pgp"]
    env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    launched = time.time()
    done = subprocess.run(argv, cwd=folder, env=env, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        sys.exit(f"{which}: pytest failed (exit {done.returncode})\n{done.stdout[-3000:]}\n{done.stderr[-2000:]}")
    durations = json.loads(out.read_text())
    steady = durations[1:-1]  # the first test sets the session up, the last one takes it down
    return {"first_connection": float(first.read_text()) - launched, "per_test": statistics.median(steady),
            "per_test_mean": statistics.mean(steady),
            "per_test_p90": sorted(steady)[int(len(steady) * 0.9)], "session": time.time() - launched}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=60, help="tests per session (default 60)")
    parser.add_argument("--rounds", type=int, default=3, help="sessions of each, interleaved (default 3)")
    args = parser.parse_args()
    extra = os.environ.get("PYTEST_POSTGRESQL_PATH")
    probe = subprocess.run([sys.executable, "-c", "import pytest_postgresql"], env={**os.environ, "PYTHONPATH": extra or ""},
                           capture_output=True)
    if probe.returncode != 0:
        sys.exit("pytest-postgresql is missing: pip install pytest-postgresql (or --target DIR and PYTEST_POSTGRESQL_PATH=DIR)")
    bins = pg_bin()
    folder = Path(tempfile.mkdtemp(prefix="stapel-bench-testing-", dir="/tmp"))
    folder.chmod(0o755)
    results: dict[str, list[dict[str, float]]] = {"stapel": [], "pytest-postgresql": [], "stapel-tmpfs": [], "stapel-durable": []}
    try:
        make_project(folder, bins)
        for _ in range(args.rounds):
            for which in results:
                results[which].append(session(folder, which, args.tests, bins, extra))
    finally:
        subprocess.run([sys.executable, "-m", "stapel", "--slot", "80", "down", "--volumes", "--yes"], cwd=folder,
                       env={**os.environ, "PYTHONPATH": str(REPO / "src")}, capture_output=True, timeout=120)
        shutil.rmtree(folder, ignore_errors=True)

    def median(which: str, key: str) -> float:
        return statistics.median(r[key] for r in results[which])

    print(f"PostgreSQL {bins.parent.name}, {args.tests} tests x {args.rounds} sessions each, interleaved; medians")
    print(f"{'':<20}{'first connection':>18}{'per test':>12}{'mean':>11}{'p90':>11}{'session':>10}")
    for which in results:
        print(f"{which:<20}{median(which, 'first_connection'):>16.2f} s{median(which, 'per_test') * 1000:>9.1f} ms"
              f"{median(which, 'per_test_mean') * 1000:>8.1f} ms{median(which, 'per_test_p90') * 1000:>8.1f} ms"
              f"{median(which, 'session'):>8.2f} s")
    ratio = median("stapel", "per_test") / median("pytest-postgresql", "per_test")
    mean_ratio = median("stapel", "per_test_mean") / median("pytest-postgresql", "per_test_mean")
    print(f"per-test clean database: stapel_db / pytest-postgresql = {ratio:.2f}x median, {mean_ratio:.2f}x mean (goal <= 0.5x)")
    tmpfs = median("stapel-tmpfs", "per_test") / median("pytest-postgresql", "per_test")
    print(f"per-test clean database, tests-only tmpfs mode: stapel_db / pytest-postgresql = {tmpfs:.2f}x median, "
          f"{median('stapel-tmpfs', 'per_test_mean') / median('pytest-postgresql', 'per_test_mean'):.2f}x mean (goal <= 0.25x)")
    print(f"first connection: stapel / pytest-postgresql = "
          f"{median('stapel', 'first_connection') / median('pytest-postgresql', 'first_connection'):.2f}x")
    return 0 if ratio <= 0.5 and tmpfs <= 0.25 else 1


if __name__ == "__main__":
    sys.exit(main())
