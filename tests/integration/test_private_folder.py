"""A project under a 0700 folder (every `mktemp -d`): PostgreSQL, which runs as an unprivileged user when stapel
is root, keeps its data in a stand-in it can reach (runtimes/native/standin.py); nobody is asked to chmod."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import psycopg
import pytest
from conftest import processes_under, stapel, status

pytestmark = pytest.mark.integration


@pytest.fixture
def private_project():
    if os.geteuid() != 0:
        pytest.skip("only root runs PostgreSQL as another user")
    folder = Path(subprocess.run(["mktemp", "-d"], capture_output=True, text=True, check=True).stdout.strip())
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    project = folder / "shop"
    project.mkdir()
    yield project
    stapel(project, "down", "--volumes", "--yes", timeout=120)
    for proc in processes_under(folder):
        proc.kill()
    subprocess.run(["rm", "-rf", str(folder)], check=False)


def test_postgres_comes_up_and_goes_down_in_a_0700_folder(private_project: Path) -> None:
    folder = private_project.parent
    (private_project / "stapel.yaml").write_text(
        "components:\n  db:\n    kind: postgres\n    database: app\n    password: pw-0700-folder-test\n")
    done = stapel(private_project, "up")
    assert done.returncode == 0, done.stdout + done.stderr
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700  # untouched

    link = private_project / ".local/data/dev/db"
    assert link.is_symlink()
    standin = Path(os.readlink(link))
    assert standin.parent == Path("/var/lib/stapel") and (standin / "PG_VERSION").is_file()
    owner = standin.stat()
    assert stat.S_IMODE(owner.st_mode) == 0o700 and owner.st_uid != 0 and owner.st_gid != 0
    assert not list(standin.parent.glob(f".{standin.name}.initdb.pw"))  # the password file is gone after initdb

    port = int(status(private_project)["db"]["endpoint"].split(":")[1])
    with psycopg.connect(f"postgresql://postgres:pw-0700-folder-test@127.0.0.1:{port}/app") as conn:
        conn.execute("CREATE TABLE kept (v text)")
        conn.execute("INSERT INTO kept VALUES ('yes')")
        data_dir = conn.execute("SHOW data_directory").fetchone()[0]
    assert data_dir == str(standin)
    log = (private_project / ".local/logs/dev/db.log").read_text()
    assert "database system is ready to accept connections" in log  # the log stays in the project

    # a second up (full pipeline, not the fast path) keeps the same server and data
    assert stapel(private_project, "down").returncode == 0
    again = stapel(private_project, "up")
    assert again.returncode == 0, again.stdout + again.stderr
    port = int(status(private_project)["db"]["endpoint"].split(":")[1])
    with psycopg.connect(f"postgresql://postgres:pw-0700-folder-test@127.0.0.1:{port}/app") as conn:
        assert conn.execute("SELECT v FROM kept").fetchone() == ("yes",)

    gone = stapel(private_project, "down", "--volumes", "--yes")
    assert gone.returncode == 0, gone.stderr
    assert not standin.exists() and not Path(f"{standin}.link").exists()
    assert not link.exists() and not link.is_symlink()
    assert not processes_under(folder) and not processes_under(standin)
