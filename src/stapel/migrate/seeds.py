"""Seed data per service, idempotent: each seed is recorded with its checksum in `stapel_seed_history` (in
the service's own schema, through its DATABASE_URL) and runs again only when it changed, or with --force.

An entry is an SQL file (a glob, relative to the service's cwd; run in one transaction together with its
record), or a Python `module:function` run in a subprocess with the service's env and cwd (it reads
DATABASE_URL itself; its module's source is what the checksum covers). A seed that fails is reported and
not recorded; the seeds after it do not run.
"""

from __future__ import annotations

import glob
import hashlib
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from stapel.errors import StartError

HISTORY = ("CREATE TABLE IF NOT EXISTS stapel_seed_history "
           "(name text PRIMARY KEY, checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())")
TIMEOUT = 600


@dataclass(frozen=True)
class Seed:
    name: str  # as recorded: the file relative to cwd, or module:function
    kind: str  # sql | python
    source: Path

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.source.read_bytes()).hexdigest()


def collect(entries: list[str], cwd: Path, where: str) -> list[Seed]:
    seeds: list[Seed] = []
    for i, entry in enumerate(entries):
        if entry.endswith(".sql") or any(c in entry for c in "*?["):
            files = sorted(Path(p) for p in glob.glob(str(cwd / entry)))
            if not files:
                raise StartError(f"{where}.seeds[{i}]: no file matches {entry} (in {cwd})")
            seeds += [Seed(str(f.relative_to(cwd)), "sql", f) for f in files]
        else:
            module, sep, function = entry.partition(":")
            source = _module_file(cwd, module)
            if not sep or not function or source is None:
                raise StartError(f"{where}.seeds[{i}]: '{entry}' is neither an .sql file nor an importable module:function "
                                 f"under {cwd}")
            seeds.append(Seed(entry, "python", source))
    return seeds


def _module_file(cwd: Path, module: str) -> Path | None:
    base = cwd.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def run(where: str, entries: list[str], cwd: Path, env: dict[str, str], url_key: str, force: bool,
        log: Callable[[str], None]) -> list[str]:
    """Apply the seeds that are new or changed; returns the changes ("api: seeded seeds/users.sql")."""
    import psycopg

    seeds = collect(entries, cwd, where)
    if not seeds:
        return []
    url = env.get(url_key)
    if not url:
        raise StartError(f"{where}.seeds: the service has no {url_key}", hint="let it depend on or use a postgres component")
    from stapel.migrate.runner import connect

    name = where.split(".", 1)[1]
    changes = []
    with connect(url) as conn:
        try:
            conn.execute(HISTORY)
            done: dict[str, str] = dict(conn.execute("SELECT name, checksum FROM stapel_seed_history").fetchall())
        except psycopg.Error as exc:
            raise StartError(f"{where}.seeds: cannot keep the seed history: {_first_line(exc)}",
                             hint=f"the role in {url_key} needs CREATE on its schema") from None
        for seed in seeds:
            if not force and done.get(seed.name) == seed.checksum:
                log(f"{name}: {seed.name} unchanged")
                continue
            _apply(conn, seed, cwd, env, where)
            changes.append(f"{name}: seeded {seed.name}" + (" (changed)" if seed.name in done else ""))
    return changes


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def sql_text(seed: Seed, where: str) -> str:
    """An SQL seed's text; unreadable or not UTF-8 is the user's to fix (checked in preflight, too)."""
    try:
        return seed.source.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        line = seed.source.read_bytes().count(b"\n", 0, exc.start) + 1
        raise StartError(f"{seed.source}:{line}: not UTF-8 text", hint=f"{where}.seeds: save it as UTF-8") from None
    except OSError as exc:
        raise StartError(f"{seed.source}: cannot read it: {exc.strerror}", hint=f"{where}.seeds") from None


def _error_line(exc: Exception, text: str) -> int | None:
    """The line of the SQL text PostgreSQL's error position points at (it counts characters from 1)."""
    position = getattr(getattr(exc, "diag", None), "statement_position", None)
    if not position or not str(position).isdigit():
        return None
    return text.count("\n", 0, int(position) - 1) + 1


def _apply(conn, seed: Seed, cwd: Path, env: dict[str, str], where: str) -> None:
    import psycopg

    record = ("INSERT INTO stapel_seed_history (name, checksum) VALUES (%s, %s) "
              "ON CONFLICT (name) DO UPDATE SET checksum = excluded.checksum, applied_at = now()")
    text = sql_text(seed, where) if seed.kind == "sql" else ""
    try:
        with conn.transaction():
            if seed.kind == "sql":
                conn.execute(text, prepare=False)
            else:
                _call(seed, cwd, env, where)
            conn.execute(record, (seed.name, seed.checksum))
    except psycopg.Error as exc:
        line = _error_line(exc, text)
        at = f"{seed.name}:{line}" if line else seed.name
        raise StartError(f"{where}.seeds: {at} failed: {_first_line(exc)}",
                         hint="fix it and run again; it ran in one transaction, nothing of it stays") from None


def _call(seed: Seed, cwd: Path, env: dict[str, str], where: str) -> None:
    module, _, function = seed.name.partition(":")
    code = f"import importlib, sys; sys.path.insert(0, '.'); getattr(importlib.import_module({module!r}), {function!r})()"
    try:
        done = subprocess.run(["python3", "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        raise StartError(f"{where}.seeds: {seed.name} did not finish in {TIMEOUT} s") from None
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise StartError(f"{where}.seeds: {seed.name} failed (exit {done.returncode}): {tail[0]}")
