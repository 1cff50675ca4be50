"""New PostgreSQL clusters are copies of a template cluster kept in the user's cache (components/pg_template.py):
the first new cluster runs initdb and keeps its result, later ones copy it; the stack's password is set in the copy,
never stored in the cache; a broken entry or an unusable cache falls back to initdb, said in the run log."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
from pathlib import Path

import psycopg
import pytest
from conftest import processes_under, stapel, status, stop_and_clean, traversable_dir

pytestmark = pytest.mark.integration

PASSWORD = "pw-template-test-0001"


@pytest.fixture
def cache(monkeypatch: pytest.MonkeyPatch):
    """A private (0700, like every mktemp -d) cache the test owns: the user's own cache is never touched."""
    folder = Path(subprocess.run(["mktemp", "-d"], capture_output=True, text=True, check=True).stdout.strip())
    monkeypatch.setenv("XDG_CACHE_HOME", str(folder))
    yield folder / "stapel" / "postgres-templates"
    subprocess.run(["rm", "-rf", str(folder)], check=False)


@pytest.fixture
def projects():
    made: list[Path] = []

    def make(name: str, database: str = "app") -> Path:
        folder = traversable_dir(name)
        (folder / "stapel.yaml").write_text(
            f"name: {name}\ncomponents:\n  db:\n    kind: postgres\n    database: {database}\n    password: {PASSWORD}\n")
        made.append(folder)
        return folder

    yield make
    leftovers = [left for folder in made for left in stop_and_clean(folder)]
    assert not leftovers, f"processes left running: {leftovers}"


def up(project: Path) -> str:
    """`stapel up`, and what the run log's start step says about the db."""
    done = stapel(project, "up")
    assert done.returncode == 0, done.stdout + done.stderr
    runs = sorted((project / ".local/logs/bootstrap").glob("run-*"))
    step = next((runs[-1] / "steps").glob("*start*"))
    return "\n".join(line for line in step.read_text().splitlines() if "db: " in line)


def seconds(note: str, what: str) -> float:
    found = re.search(rf"{what} in (\d+\.\d+) s", note)
    assert found, note
    return float(found.group(1))


def connect(project: Path, password: str = PASSWORD, database: str = "app") -> psycopg.Connection:
    port = int(status(project)["db"]["endpoint"].split(":")[1])
    return psycopg.connect(f"postgresql://postgres:{password}@127.0.0.1:{port}/{database}", connect_timeout=10)


def check_cluster(project: Path, database: str = "app") -> None:
    with connect(project, database=database) as conn:
        assert conn.execute("SELECT current_database()").fetchone()[0] == database
        assert conn.execute("SHOW server_encoding").fetchone()[0] == "UTF8"
        assert conn.execute("SELECT datcollate, datctype FROM pg_database WHERE datname = current_database()").fetchone() == ("C", "C")
        assert conn.execute("SHOW fsync").fetchone()[0] == "on"  # durability as it was: a dev stack's data is kept
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        connect(project, password="not-the-password", database=database)


def test_second_project_copies_the_template_made_by_the_first(cache: Path, projects) -> None:
    first = projects("tpl-first")
    note = up(first)
    assert "kept the new cluster as the template" in note and "made by initdb" in note, note
    check_cluster(first)
    entries = list(cache.iterdir())
    assert len(entries) == 1 and (entries[0] / "key.json").is_file()
    assert stat.S_IMODE(cache.stat().st_mode) == 0o700
    stored = b"".join(p.read_bytes() for p in entries[0].rglob("*") if p.is_file())
    assert PASSWORD.encode() not in stored and b"SCRAM-SHA-256$" not in stored  # no password, not even its hash

    second = projects("tpl-second", database="shop")
    note2 = up(second)
    assert "copied from the template" in note2 and "initdb" not in note2, note2
    check_cluster(second, database="shop")
    assert "The files belonging to this database system" not in (second / ".local/logs/dev/db.log").read_text()
    assert seconds(note2, "copied from the template .*?") < seconds(note, "made by initdb")

    # the two clusters are separate: a table made in one is not in the other
    with connect(second, database="shop") as conn:
        conn.execute("CREATE TABLE only_here (v int)")
    with connect(first) as conn:
        assert conn.execute("SELECT to_regclass('only_here')").fetchone()[0] is None


@pytest.mark.parametrize("damage", ["no key.json", "truncated pg_control", "left running"])
def test_a_broken_template_falls_back_to_initdb(cache: Path, projects, damage: str) -> None:
    first = projects("tpl-maker")
    up(first)
    entry = next(cache.iterdir())
    if damage == "no key.json":
        (entry / "key.json").unlink()
    elif damage == "truncated pg_control":
        (entry / "data/global/pg_control").write_bytes(b"\0" * 16)
    else:
        (entry / "data/postmaster.pid").write_text("12345\n")

    second = projects("tpl-broken")
    note = up(second)
    assert "discarded, running initdb" in note and "made by initdb" in note, note
    check_cluster(second)
    assert "kept the new cluster as the template" in note  # and the cache is whole again
    assert json.loads((entry / "key.json").read_text())["major"] > 0
    assert not (entry / "data/postmaster.pid").exists()


def test_an_unusable_cache_falls_back_to_initdb(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, projects) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    project = projects("tpl-nocache")
    note = up(project)
    assert "cannot keep a template in" in note and "made by initdb" in note, note
    check_cluster(project)


def test_root_copies_from_its_private_cache_into_a_0700_project(cache: Path) -> None:
    """The cache is root's (0700, out of the postgres user's reach) and so is the project: the copy is root's, the
    server user owns the new cluster, which lives in its stand-in."""
    if os.geteuid() != 0:
        pytest.skip("only root runs PostgreSQL as another user")
    folder = Path(subprocess.run(["mktemp", "-d"], capture_output=True, text=True, check=True).stdout.strip())
    try:
        for name in ("one", "two"):
            project = folder / name
            project.mkdir()
            (project / "stapel.yaml").write_text(
                f"name: {name}\ncomponents:\n  db:\n    kind: postgres\n    database: app\n    password: {PASSWORD}\n")
            note = up(project)
            check_cluster(project)
        assert "copied from the template" in note, note
        data = Path(os.readlink(folder / "two/.local/data/dev/db"))
        owner = data.stat()
        assert stat.S_IMODE(owner.st_mode) == 0o700 and owner.st_uid != 0
        assert all(p.stat().st_uid == owner.st_uid for p in data.rglob("*") if not p.is_symlink())
    finally:
        for name in ("one", "two"):
            if (folder / name).exists():
                stapel(folder / name, "down", "--volumes", "--yes", timeout=120)
        for proc in processes_under(folder):
            proc.kill()
        subprocess.run(["rm", "-rf", str(folder)], check=False)
