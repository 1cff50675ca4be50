"""PostgreSQL's template clusters: a new data folder is a copy of a cleanly stopped, password-less cluster that
`initdb --no-sync` made once, kept in the user's cache, instead of a fresh initdb (~0.4 s on a 2-core machine;
a copy is ~0.03-0.1 s).

One entry per key: the major version, the `postgres` binary's real path, the owner (uid:gid) of its files,
initdb's settings (superuser, encoding, locale, authentication) and the databases made after it. An entry is `<root>/<digest>/` holding `data/`
(the cluster) and `key.json`, written last and renamed into place as a whole, so a half-written entry is never
taken. No password is ever stored: the cluster's superuser has none until the stack's is set in the copy.

The cache belongs to the user who runs stapel: $XDG_CACHE_HOME/stapel/postgres-templates (default ~/.cache).
Root, running the server as an unprivileged user, copies as root (it reads its own 0700 cache) and the copy keeps
the server user's ownership; the user itself never needs to reach the cache.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import uuid
from pathlib import Path

FORMAT = 1  # bump when what an entry holds changes


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "stapel" / "postgres-templates"


def key_of(major: int, postgres: str, owner: tuple[int, int], initdb_args: list[str], databases: list[str]) -> dict:
    return {"format": FORMAT, "major": major, "postgres": os.path.realpath(postgres), "owner": list(owner),
            "initdb": initdb_args, "databases": databases}


def entry_of(key: dict) -> Path:
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    return cache_root() / f"pg{key['major']}-{digest}"


def problem(entry: Path, key: dict) -> str | None:
    """Why `entry` cannot serve as the template for `key` (None: it can)."""
    try:
        return _problem(entry, key)
    except OSError as exc:
        return f"unreadable ({exc.strerror})"


def _problem(entry: Path, key: dict) -> str | None:
    if not entry.exists():
        return "absent"
    try:
        stored = json.loads((entry / "key.json").read_text())
    except (OSError, ValueError):
        return "incomplete (no readable key.json)"
    if stored != key:
        return "made for other settings"
    data = entry / "data"
    try:
        if (data / "PG_VERSION").read_text().strip() != str(key["major"]):
            return f"holds another major than {key['major']}"
    except OSError:
        return "incomplete (no PG_VERSION)"
    if not (data / "global" / "pg_control").is_file():
        return "incomplete (no global/pg_control)"
    if (data / "postmaster.pid").exists():
        return "not cleanly stopped (postmaster.pid)"
    return None


def copy_into(source: Path, dest: Path) -> None:
    """Every file of `source` into the (empty) folder `dest`, keeping modes and owners (never hard links:
    PostgreSQL rewrites files in place); OSError when it cannot. `cp -a` at a low priority where there is one:
    servers booting meanwhile (RabbitMQ, the long pole) come first, and stapel's own threads keep the interpreter."""
    cp, nice = shutil.which("cp"), shutil.which("nice")
    if cp:
        try:
            subprocess.run([*([nice, "-n", "10"] if nice else []), cp, "-a", f"{source}/.", f"{dest}/"], check=True,
                           capture_output=True, text=True, timeout=300)
        except subprocess.CalledProcessError as exc:
            raise OSError(f"cp -a failed: {(exc.stderr or '').strip()[:200]}") from None
        except subprocess.TimeoutExpired:
            raise OSError("cp -a took over 300 s") from None
    else:
        _copy_tree(source, dest)
    os.chmod(dest, 0o700)


def _copy_tree(source: Path, dest: Path) -> None:
    shutil.copytree(source, dest, symlinks=True, dirs_exist_ok=True)
    st = source.stat()
    if os.geteuid() == 0 and (st.st_uid, st.st_gid) != (os.getuid(), os.getgid()):
        for current, dirs, files in os.walk(dest):
            for name in [*dirs, *files]:
                os.lchown(os.path.join(current, name), st.st_uid, st.st_gid)
        os.chown(dest, st.st_uid, st.st_gid)


def store(data: Path, key: dict) -> Path:
    """Keep a copy of the freshly made, never started cluster `data` as the entry for `key` (OSError on failure;
    another stack storing the same entry at once is no failure: the first one in stays)."""
    entry = entry_of(key)
    entry.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(entry.parent, 0o700)
    building = entry.parent / f".{entry.name}.{uuid.uuid4().hex[:8]}"
    try:
        building.mkdir(mode=0o700)
        (building / "data").mkdir(mode=0o700)
        copy_into(data, building / "data")
        _sync(building / "data")  # initdb --no-sync wrote it: the entry outlives this cluster, so it goes to disk
        (building / "key.json").write_text(json.dumps(key, sort_keys=True))
        if entry.exists():
            shutil.rmtree(entry)  # an entry `problem` refused
        try:
            building.rename(entry)
        except OSError:
            if problem(entry, key) is not None:  # not another stack's good entry
                raise
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return entry


def _sync(folder: Path) -> None:
    for current, _dirs, files in os.walk(folder):
        for name in [*files, "."]:
            fd = os.open(os.path.join(current, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)


def discard(entry: Path) -> None:
    shutil.rmtree(entry, ignore_errors=True)
