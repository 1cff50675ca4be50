"""The component kinds of stapel.yaml, one model each, told apart by `kind:` (a pydantic discriminated union)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, field_validator
from pydantic_core import PydanticCustomError

from stapel.model.base import Port, Strict, _as_list, _as_name_map, _no_bool
from stapel.model.nodes import ComponentBase
from stapel.model.topology import MqUser, VHost


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


class Redis(ComponentBase):
    kind: Literal["redis"]
    password: str | None = None


class RabbitMQ(ComponentBase):
    kind: Literal["rabbitmq"]
    user: str = "guest"
    password: str = "guest"
    vhost: str = "/"
    management_port: Port | None = Field(None, description="Default: 15672.")
    vhosts: dict[str, VHost] = Field(default_factory=dict, description="Exchanges, queues (with DLQs), bindings; declared by stapel provision.")
    users: dict[str, MqUser] = Field(default_factory=dict, description="Users with their permissions per vhost; a changed password is re-synced.")
    users_from_env: bool = Field(True, description="Also a user (and vhost) for every *_RABBITMQ_URL value pointing at this broker (seed 000).")
    asyncapi: list[str] = Field(default_factory=list, description="AsyncAPI 2.x/3.x documents whose AMQP bindings are declared too (seed 004).")

    _vhosts = field_validator("vhosts", mode="before")(lambda cls, v: _as_name_map(v))
    _asyncapi = field_validator("asyncapi", mode="before")(lambda cls, v: _as_list(v))


class Prometheus(ComponentBase):
    kind: Literal["prometheus"]
    scrape_interval: str = "15s"


def _kv_values(value: Any) -> Any:
    """Consul KV values are strings; YAML scalars (5, true) are taken as they read. Keys are paths without a leading /."""
    if not isinstance(value, dict):
        return value
    for key in value:
        if not str(key) or str(key).startswith("/") or str(key).endswith("/"):
            raise PydanticCustomError("kv", "'{key}': a key is a path like config/crm/db_pool, without a leading or trailing /",
                                      {"key": key})
    scalar = (int, float, bool)
    return {str(k): (str(v).lower() if isinstance(v, bool) else str(v) if isinstance(v, scalar) else v) for k, v in value.items()}


class Consul(ComponentBase):
    kind: Literal["consul"]
    kv: dict[str, str] = Field(default_factory=dict, description="Consul KV keys and their values, PUT on every up when they differ "
                               "(keys stapel.yaml does not name are never touched).")

    _kv = field_validator("kv", mode="before")(lambda cls, v: _kv_values(v))


class QdrantCollection(Strict):
    size: int = Field(ge=1, le=65536, description="Vector dimension.")
    distance: Literal["Cosine", "Euclid", "Dot", "Manhattan"] = Field(description="Qdrant's distance name (case matters).")
    on_disk: bool | None = Field(None, description="Keep the vectors on disk (memmap) instead of in RAM; applied when created.")

    _size = field_validator("size", mode="before")(lambda cls, v: _no_bool(v))  # YAML true is no dimension


def _collection_names(value: Any) -> Any:
    import re

    if isinstance(value, dict):
        for key in value:
            if not re.match(r"^[A-Za-z0-9_.-]{1,255}$", str(key)):
                raise PydanticCustomError("collection", "'{key}' is not a collection name (letters, digits, _ . -)", {"key": key})
    return value


class Qdrant(ComponentBase):
    kind: Literal["qdrant"]
    grpc_port: Port | None = Field(None, description="Default: 6334.")
    api_key: str | None = Field(None, description="Required by every request when set (QDRANT__SERVICE__API_KEY; a secret).")
    collections: dict[str, QdrantCollection] = Field(default_factory=dict, description="Created on every up when missing; a "
                                                     "different size or distance is reported (Qdrant cannot change it in place).")

    _collections = field_validator("collections", mode="before")(lambda cls, v: _collection_names(v))


class Grafana(ComponentBase):
    kind: Literal["grafana"]
    user: str = "admin"
    password: str = "admin"
    dashboards: list[str] = Field(default_factory=list, description=(
        "The project's own dashboards: Grafana JSON files, or folders of them (their *.json), relative to the project "
        "root; provisioned beside stapel's (folder stapel), natively, in Compose and in Kubernetes."))


Component = Annotated[
    Postgres | Redis | RabbitMQ | Prometheus | Consul | Qdrant | Grafana, Field(discriminator="kind")
]
