"""PostgreSQL provisioning on every `up`: databases, extensions, schemas, login roles with least privilege.

Idempotent: each object is created only when missing, so a second run changes nothing and says so.
A role's password is checked by logging in with it; when that fails (the password changed in .env),
it is set again: seed 000's "password sync". Least privilege: a role gets CONNECT on its database
only, owns its schemas (its search_path), and nobody else gets USAGE on them; PUBLIC loses CREATE
on the public schema, and, once the component declares roles, CONNECT on every database a role could
otherwise reach: `postgres`, `template1`, the component's own and the declared ones (closed_databases()).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from stapel.components.postgres import MAINTENANCE_DATABASES, MAINTENANCE_DB
from stapel.errors import ConfigError, StartError

HOST = "127.0.0.1"  # a stapel-run server; an external one's host comes with its node (Node.host)


def plan(config: Any) -> dict[str, dict[str, Any]]:
    """database -> {extensions, schemas: {name: owner or None}}: what stapel.yaml asks for, roles' schemas included."""
    wanted: dict[str, dict[str, Any]] = {}
    for name, db in config.databases.items():
        wanted[name] = {"extensions": list(db.extensions), "schemas": {s: spec.owner for s, spec in db.schemas.items()}}
    for role_name, role in config.roles.items():
        entry = wanted.setdefault(role.database, {"extensions": [], "schemas": {}})
        for schema in role.schemas:
            if entry["schemas"].get(schema) is None:  # a role's schema is its own unless an owner is declared
                entry["schemas"][schema] = role_name
    return wanted


def provision(name: str, config: Any, port: int, say: Callable[[str], None], host: str = HOST) -> list[str]:
    """Apply the plan; returns the changes made ("db: created role auth"). PostgreSQL's refusals are
    user errors naming the config path; what it does not know (an extension) is checked before any change."""
    import psycopg

    try:
        return _provision(name, config, port, say, host)
    except psycopg.OperationalError as exc:
        if "password authentication failed" in str(exc):
            raise ConfigError(
                f"components.{name}.password: PostgreSQL refuses it for user '{config.user}'",
                hint="its data folder was created with another password: put that one back (.env or stapel.yaml), "
                     "or delete the contour's data with `stapel down --volumes`") from None
        raise StartError(f"components.{name}: cannot provision: {_first_line(exc)}", hint="see the provision step's log") from None
    except psycopg.Error as exc:
        raise StartError(f"components.{name}: provisioning failed: {_first_line(exc)}", hint="see the provision step's log") from None


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _unavailable_extensions(conn: Any, name: str, wanted: dict[str, dict[str, Any]]) -> None:
    import difflib

    available = {r[0] for r in conn.execute("SELECT name FROM pg_available_extensions")}
    for db, spec in wanted.items():
        for extension in spec["extensions"]:
            if extension not in available:
                close = difflib.get_close_matches(extension, sorted(available), n=1)
                raise ConfigError(f"components.{name}.databases.{db}.extensions: '{extension}' is not available in this PostgreSQL",
                                  hint=f"did you mean '{close[0]}'?" if close else "install the package that ships it, or remove it")


def _provision(name: str, config: Any, port: int, say: Callable[[str], None], host: str) -> list[str]:
    import psycopg

    changes: list[str] = []
    admin = _dsn(config.user, config.password, port, MAINTENANCE_DB, host)
    wanted = plan(config)
    with psycopg.connect(admin, autocommit=True) as conn:
        _unavailable_extensions(conn, name, wanted)
        existing = {r[0] for r in conn.execute("SELECT datname FROM pg_database")}
        for db in wanted:
            if db not in existing:
                conn.execute(_sql("CREATE DATABASE {}", db))
                changes.append(f"{name}: created database {db}")
        for db in closed_databases(config):
            changes += _close_to_public(conn, name, db)
        for role_name, role in config.roles.items():
            changes += _role(conn, name, role_name, role, port, host)
    for db, spec in wanted.items():
        with psycopg.connect(_dsn(config.user, config.password, port, db, host), autocommit=True) as conn:
            changes += _inside(conn, name, db, spec, config)
    for change in changes:
        say(change)
    return changes


def closed_databases(config: Any) -> list[str]:
    """The databases PUBLIC may not CONNECT to: none without login roles, else every database of the cluster
    a role could reach by default (template0 refuses connections anyway). Each role then gets its own back."""
    if not config.roles:
        return []
    return list(dict.fromkeys([*MAINTENANCE_DATABASES, config.database, *plan(config)]))


def _close_to_public(conn: Any, name: str, database: str) -> list[str]:
    if not conn.execute("SELECT has_database_privilege('public', %s, 'CONNECT')", (database,)).fetchone()[0]:
        return []
    conn.execute(_sql("REVOKE CONNECT ON DATABASE {} FROM PUBLIC", database))
    return [f"{name}: database {database} no longer open to every role"]


def _role(conn: Any, name: str, role_name: str, role: Any, port: int, host: str) -> list[str]:
    return (_login(conn, name, role_name, role, port, host) + _connect_right(conn, name, role_name, role.database)
            + _search_path(conn, name, role_name, role.schemas))


def _login(conn: Any, name: str, role_name: str, role: Any, port: int, host: str) -> list[str]:
    from psycopg import sql

    password = sql.Literal(role.password)
    if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role_name,)).fetchone():
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(role_name), password))
        return [f"{name}: created role {role_name}"]
    if not _can_log_in(role_name, role.password, port, role.database, host):
        conn.execute(sql.SQL("ALTER ROLE {} WITH LOGIN PASSWORD {}").format(sql.Identifier(role_name), password))
        return [f"{name}: synced the password of role {role_name}"]
    return []


def _connect_right(conn: Any, name: str, role_name: str, database: str) -> list[str]:
    changes = []
    if not conn.execute("SELECT has_database_privilege(%s, %s, 'CONNECT')", (role_name, database)).fetchone()[0]:
        conn.execute(_sql("GRANT CONNECT ON DATABASE {} TO {}", database, role_name))
        changes.append(f"{name}: role {role_name} may connect to {database}")
    return changes


def _search_path(conn: Any, name: str, role_name: str, schemas: list[str]) -> list[str]:
    from psycopg import sql

    if not schemas:
        return []
    wanted = "search_path=" + ", ".join(schemas)
    row = conn.execute("SELECT s.setconfig FROM pg_db_role_setting s JOIN pg_roles r ON r.oid = s.setrole "
                       "WHERE r.rolname = %s AND s.setdatabase = 0", (role_name,)).fetchone()
    if row and wanted in (row[0] or []):
        return []
    conn.execute(sql.SQL("ALTER ROLE {} SET search_path = {}").format(
        sql.Identifier(role_name), sql.SQL(", ").join(sql.Identifier(s) for s in schemas)))
    return [f"{name}: role {role_name} {wanted}"]


def _inside(conn: Any, name: str, db: str, spec: dict[str, Any], config: Any) -> list[str]:
    changes = []
    installed = {r[0] for r in conn.execute("SELECT extname FROM pg_extension")}
    for extension in spec["extensions"]:
        if extension not in installed:
            conn.execute(_sql("CREATE EXTENSION IF NOT EXISTS {}", extension))
            changes.append(f"{name}: {db}: created extension {extension}")
    if conn.execute("SELECT has_schema_privilege('public', 'public', 'CREATE')").fetchone()[0]:
        conn.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
        changes.append(f"{name}: {db}: schema public no longer writable by every role")
    schemas = dict(conn.execute("SELECT n.nspname, r.rolname FROM pg_namespace n JOIN pg_roles r ON r.oid = n.nspowner").fetchall())
    for schema, owner in spec["schemas"].items():
        owner = owner or config.user
        if schema not in schemas:
            conn.execute(_sql("CREATE SCHEMA {} AUTHORIZATION {}", schema, owner))
            changes.append(f"{name}: {db}: created schema {schema} (owner {owner})")
        elif schemas[schema] != owner:
            conn.execute(_sql("ALTER SCHEMA {} OWNER TO {}", schema, owner))
            changes.append(f"{name}: {db}: schema {schema} now owned by {owner}")
    return changes


def _can_log_in(role: str, password: str, port: int, database: str, host: str) -> bool:
    """Whether the server accepts this password (any other refusal, like no CONNECT right, means it did)."""
    import psycopg

    try:
        psycopg.connect(_dsn(role, password, port, database, host), connect_timeout=5).close()
        return True
    except psycopg.OperationalError as exc:
        return "password authentication failed" not in str(exc)


def _sql(template: str, *names: str) -> Any:
    from psycopg import sql

    return sql.SQL(template).format(*(sql.Identifier(n) for n in names))


def _dsn(user: str, password: str, port: int, database: str, host: str = HOST) -> str:
    from psycopg.conninfo import make_conninfo

    return make_conninfo(host=host, port=port, user=user, password=password, dbname=database)


def owned_databases(config: Any) -> list[str]:
    """The databases a postgres component holds the application's data in: its `database:`, the declared ones
    and its roles' (the maintenance database `postgres` aside)."""
    return [db for db in dict.fromkeys([config.database, *plan(config)]) if db != MAINTENANCE_DB]


def droppable(config: Any) -> bool:
    """Whether `db drop` has anything of this component to drop: a database of its own, a declared schema in
    `postgres`, or a role."""
    return bool(owned_databases(config) or plan(config).get(MAINTENANCE_DB, {}).get("schemas") or config.roles)


def ensure_database(name: str, config: Any, port: int, host: str = HOST) -> list[str]:
    """The component's own `database:` exists (initdb made it once; `db drop` removes it): created when missing."""
    if config.database == MAINTENANCE_DB:
        return []
    with _admin(name, config, port, host) as admin:
        if admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (config.database,)).fetchone():
            return []
        admin.execute(_sql("CREATE DATABASE {}", config.database))
    return [f"{name}: created database {config.database}"]


def drop(name: str, config: Any, port: int) -> tuple[list[str], list[str]]:
    """Drop what the component holds for the application: its databases (`database:`, the declared ones, the
    roles'; their connections closed), the declared schemas of `postgres`, and the roles (with what they own).
    Returns (what was dropped, what was already absent)."""
    import psycopg

    dropped: list[str] = []
    wanted = plan(config)
    with _admin(name, config, port) as admin:
        existing = {r[0] for r in admin.execute("SELECT datname FROM pg_database")}
        databases = owned_databases(config)
        for db in [d for d in databases if d in existing]:
            admin.execute(_sql("DROP DATABASE {} WITH (FORCE)", db))
            dropped.append(f"{name}: dropped database {db}")
        absent = [f"{name}: database {db} does not exist" for db in databases if db not in existing]
        schemas = wanted.get(MAINTENANCE_DB, {}).get("schemas", {})
        present = {r[0] for r in admin.execute("SELECT nspname FROM pg_namespace WHERE nspname = ANY(%s)", (list(schemas),))}
        for schema in schemas:
            if schema in present:
                admin.execute(_sql("DROP SCHEMA {} CASCADE", schema))
                dropped.append(f"{name}: {MAINTENANCE_DB}: dropped schema {schema}")
            else:
                absent.append(f"{name}: {MAINTENANCE_DB}: schema {schema} does not exist")
        for role in config.roles:
            if admin.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone():
                admin.execute(_sql("DROP OWNED BY {}", role))
                try:
                    admin.execute(_sql("DROP ROLE {}", role))
                except psycopg.errors.DependentObjectsStillExist as exc:
                    from stapel.errors import StapelError

                    raise StapelError(f"components.{name}.roles.{role}: cannot drop it: {exc.diag.message_primary}",
                                      hint=f"it owns objects in a database stapel does not manage; DROP OWNED BY {role} there",
                                      problems=[f"dropped before: {line}" for line in dropped]) from None
                dropped.append(f"{name}: dropped role {role}")
            else:
                absent.append(f"{name}: role {role} does not exist")
    return dropped, absent


def _admin(name: str, config: Any, port: int, host: str = HOST) -> Any:
    """A superuser connection to `postgres` (autocommit); a server that is not up is a user error naming the fix."""
    import psycopg

    try:
        return psycopg.connect(_dsn(config.user, config.password, port, MAINTENANCE_DB, host), autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        from stapel.errors import StapelError

        raise StapelError(f"components.{name}: cannot connect: {str(exc).strip().splitlines()[-1]}", hint="run stapel up first") from None


# ---- the provisioner interface of provision/steps.py (components/postgres.py names this module its PROVISIONER)
def wanted(stack: Any, node: Any) -> bool:
    return bool(node.config.databases or node.config.roles)


def ensure(stack: Any, node: Any) -> list[str]:
    return ensure_database(node.name, node.config, node.port, node.host)


def apply(stack: Any, node: Any, log: Callable[[str], None]) -> list[str]:
    return provision(node.name, node.config, node.port, log, node.host)
