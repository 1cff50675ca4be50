"""PostgreSQL's template cache (components/pg_template.py), without a server: keys, entries, what makes one unusable."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from stapel.components import pg_template


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return tmp_path / "xdg" / "stapel" / "postgres-templates"


def cluster(folder: Path, major: int = 15) -> Path:
    (folder / "global").mkdir(parents=True)
    (folder / "PG_VERSION").write_text(f"{major}\n")
    (folder / "global" / "pg_control").write_bytes(b"\1" * 64)
    (folder / "base").mkdir()
    return folder


def key(major: int = 15, owner: tuple[int, int] = (os.getuid(), os.getgid())) -> dict:
    return pg_template.key_of(major, "/usr/lib/postgresql/15/bin/postgres", owner, ["-U", "postgres"], ["postgres"])


def test_an_entry_round_trips_and_its_copy_is_private(tmp_path: Path, cache: Path) -> None:
    entry = pg_template.store(cluster(tmp_path / "made"), key())
    assert entry.parent == cache and stat.S_IMODE(cache.stat().st_mode) == 0o700
    assert pg_template.problem(entry, key()) is None
    assert json.loads((entry / "key.json").read_text()) == key()
    dest = tmp_path / "data"
    dest.mkdir()
    pg_template.copy_into(entry / "data", dest)
    assert (dest / "PG_VERSION").read_text() == "15\n" and (dest / "base").is_dir()
    assert stat.S_IMODE(dest.stat().st_mode) == 0o700
    assert not [p for p in cache.iterdir() if p.name.startswith(".")]  # nothing half-built left


def test_storing_the_same_key_twice_keeps_one_good_entry(tmp_path: Path, cache: Path) -> None:
    first = pg_template.store(cluster(tmp_path / "a"), key())
    second = pg_template.store(cluster(tmp_path / "b"), key())
    assert first == second and pg_template.problem(first, key()) is None and len(list(cache.iterdir())) == 1


def test_keys_differ_by_every_setting() -> None:
    entries = {pg_template.entry_of(k) for k in (key(), key(major=16), key(owner=(1234, 1234)),
               pg_template.key_of(15, "/usr/lib/postgresql/15/bin/postgres", (0, 0), ["-U", "app"], ["postgres"]),
               pg_template.key_of(15, "/usr/lib/postgresql/15/bin/postgres", (0, 0), ["-U", "postgres"], ["postgres", "x"]))}
    assert len(entries) == 5


@pytest.mark.parametrize(("damage", "why"), [
    ("absent", "absent"),
    ("no key", "incomplete (no readable key.json)"),
    ("bad key", "incomplete (no readable key.json)"),
    ("other key", "made for other settings"),
    ("no version", "incomplete (no PG_VERSION)"),
    ("other major", "holds another major than 15"),
    ("no control", "incomplete (no global/pg_control)"),
    ("running", "not cleanly stopped (postmaster.pid)"),
])
def test_what_makes_an_entry_unusable(tmp_path: Path, cache: Path, damage: str, why: str) -> None:
    entry = pg_template.store(cluster(tmp_path / "made"), key())
    data = entry / "data"
    if damage == "absent":
        pg_template.discard(entry)
    elif damage == "no key":
        (entry / "key.json").unlink()
    elif damage == "bad key":
        (entry / "key.json").write_text("{half")
    elif damage == "other key":
        (entry / "key.json").write_text(json.dumps(key(major=16)))
    elif damage == "no version":
        (data / "PG_VERSION").unlink()
    elif damage == "other major":
        (data / "PG_VERSION").write_text("16\n")
    elif damage == "no control":
        (data / "global" / "pg_control").unlink()
    else:
        (data / "postmaster.pid").write_text("1\n")
    assert pg_template.problem(entry, key()) == why


def test_a_cache_that_cannot_be_made_raises_oserror(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    with pytest.raises(OSError):
        pg_template.store(cluster(tmp_path / "made"), key())
    assert pg_template.problem(pg_template.entry_of(key()), key()) in ("absent", "unreadable (Not a directory)")


def test_without_cp_the_copy_is_pythons(tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    entry = pg_template.store(cluster(tmp_path / "made"), key())
    monkeypatch.setattr(pg_template.shutil, "which", lambda name: None)
    dest = tmp_path / "data"
    dest.mkdir()
    pg_template.copy_into(entry / "data", dest)
    assert (dest / "global" / "pg_control").read_bytes() == b"\1" * 64 and stat.S_IMODE(dest.stat().st_mode) == 0o700


def test_a_failing_copy_is_an_oserror(tmp_path: Path) -> None:
    with pytest.raises(OSError, match="cp -a failed"):
        pg_template.copy_into(tmp_path / "nothing-here", tmp_path)
