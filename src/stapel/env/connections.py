"""Connection strings in the forms the services' client libraries take (seed 000), and what a service may use.

Every user, password, database, schema and vhost is percent-encoded, so any character survives. PostgreSQL:
  DATABASE_URL             libpq URI (psycopg, psql); a schema goes in `options=-csearch_path=...`, because
                           libpq rejects URI parameters it does not know
  DATABASE_URL_ASYNCPG     asyncpg.connect(dsn): unknown parameters become server settings (`search_path=`)
  DATABASE_URL_SQLALCHEMY  postgresql+asyncpg://, never with a schema: SQLAlchemy passes every URL parameter to
                           asyncpg.connect() as a keyword, which has none for it; pass the schema as
                           connect_args={"server_settings": {"search_path": <P>POSTGRES_SCHEMA}}
  JDBC_URL                 `currentSchema=`; no credentials (JDBC takes <P>POSTGRES_USER / _PASSWORD apart)
  R2DBC_URL                `schema=`
"""

from __future__ import annotations

from typing import NamedTuple
from urllib.parse import quote

HOST = "127.0.0.1"


class Exports(NamedTuple):
    """What a node gives a service that uses it. kind_wide (DATABASE_URL, REDIS_URL, ...) go to the first node
    of each kind the service uses; by_name ({"URL": ..., "HOST": ...}) appear under the node's own name (DB_URL)."""

    kind_wide: dict[str, str]
    by_name: dict[str, str]
    admin: dict[str, str] = {}  # {"ADMIN_URL": ...}: only referred to by name in a service's env (env/derived.py)


def grouped(kind: str, main_url: str, urls: dict[str, str], details: dict[str, str]) -> Exports:
    """KIND_<detail> and the URLs kind-wide; <NAME>_URL (the main one) and <NAME>_<detail> by name."""
    return Exports({**urls, **{f"{kind}_{key}": value for key, value in details.items()}}, {"URL": main_url, **details})


def _enc(value: str) -> str:
    return quote(value, safe="")


def _auth(user: str, password: str | None) -> str:
    return f"{_enc(user)}:{_enc(password)}@" if password else f"{_enc(user)}@"


def postgres_urls(user: str, password: str, port: int, database: str, schema: str | None) -> dict[str, str]:
    auth, where = _auth(user, password), f"{HOST}:{port}/{_enc(database)}"

    def param(key: str, before: str = "") -> str:
        return f"?{key}={before}{_enc(schema)}" if schema else ""

    return {
        "DATABASE_URL": f"postgresql://{auth}{where}{param('options', '-csearch_path%3D')}",
        "DATABASE_URL_ASYNCPG": f"postgresql://{auth}{where}{param('search_path')}",
        "DATABASE_URL_SQLALCHEMY": f"postgresql+asyncpg://{auth}{where}",
        "JDBC_URL": f"jdbc:postgresql://{where}{param('currentSchema')}",
        "R2DBC_URL": f"r2dbc:postgresql://{auth}{where}{param('schema')}",
    }


def redis_url(password: str | None, port: int, db: int, user: str | None = None) -> str:
    auth = f"{_enc(user) if user else ''}:{_enc(password)}@" if password else ""
    return f"redis://{auth}{HOST}:{port}/{db}"


def amqp_url(user: str, password: str, port: int, vhost: str) -> str:
    return f"amqp://{_auth(user, password)}{HOST}:{port}/{_enc(vhost)}"


def http_url(port: int) -> str:
    return f"http://{HOST}:{port}"
