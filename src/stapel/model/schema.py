"""The stapel.yaml schema (pydantic v2). `stapel schema` prints it as JSON Schema for editors."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from stapel.model.base import (  # noqa: F401 - the model's public names live here
    IDENTIFIER_PATTERN, KINDS, NAME_PATTERN, PREFIX_PATTERN, Port, Strict, _as_argv, _as_env, _as_list, _as_name_map, _no_bool, did_you_mean,
)
from stapel.model.contour_schema import Agreement, Contour, EnvBlock, EnvFilePair, Ports, Secret  # noqa: F401
from stapel.model.topology import MqUser, VHost

class TcpCheck(Strict):
    port: Port | None = Field(None, description="Port to connect to; default: the component's or service's port.")
    host: str = "127.0.0.1"


class HttpCheck(Strict):
    path: str = "/"
    port: Port | None = Field(None, description="Default: the component's or service's port.")
    host: str = "127.0.0.1"
    scheme: Literal["http", "https"] = "http"
    status: int | None = Field(None, description="Expected status; default: any 2xx or 3xx.")


class ExecCheck(Strict):
    command: list[str] = Field(description="Healthy when it exits 0 (argument list or string).")

    _argv = field_validator("command", mode="before")(lambda cls, v: _as_argv(v))


class Probe(Strict):
    """Readiness probe with process-compose's fields; one of tcp/http/exec, or none for the kind's own."""

    tcp: TcpCheck | None = None
    http: HttpCheck | None = None
    exec: ExecCheck | None = None
    initial_delay_seconds: float = Field(0, ge=0)
    period_seconds: float | None = Field(None, gt=0)
    timeout_seconds: float | None = Field(None, gt=0)
    failure_threshold: int | None = Field(None, ge=1, description="Failures in a row before giving up the wait.")

    @model_validator(mode="after")
    def _one_check(self) -> Probe:
        if sum(x is not None for x in (self.tcp, self.http, self.exec)) > 1:
            raise PydanticCustomError("probe", "give at most one of tcp, http, exec", {})
        return self


class Restart(Strict):
    policy: Literal["no", "on-failure", "always"] = "no"
    backoff_seconds: float = Field(1.0, ge=0)
    max_restarts: int | None = Field(None, ge=0, description="None: no limit.")

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        if value is False:  # YAML 1.1 reads a bare `no` as false
            return {"policy": "no"}
        if isinstance(value, str):
            return {"policy": value}
        return value


class Dependency(Strict):
    condition: Literal["started", "healthy", "completed"] = "healthy"


PROFILE_PATTERN = r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$"
MONITORING_KINDS = ("prometheus", "grafana")


class Node(Strict):
    """What components and services share."""

    profiles: list[Annotated[str, Field(pattern=PROFILE_PATTERN)]] | None = Field(
        None, description="Compose-style profiles (`stapel up --profile NAME`, `docker compose --profile NAME`); default: "
                          "[monitoring] for prometheus and grafana, [backend] for services, none for other components.")
    probe: Probe | None = None
    restart: Restart = Field(default_factory=Restart)
    depends_on: dict[str, Dependency] = Field(default_factory=dict)
    env: dict[str, str] = Field(default_factory=dict)

    _deps = field_validator("depends_on", mode="before")(lambda cls, v: _as_name_map(v))
    _env = field_validator("env", mode="before")(lambda cls, v: _as_env(v))
    _restart = field_validator("restart", mode="before")(lambda cls, v: Restart._shorthand(v))


class ComponentBase(Node):
    version: str | None = Field(None, description="Wanted major version (informational natively; the image tag elsewhere).")
    port: Port | None = Field(None, description="Main port on 127.0.0.1; default: the kind's standard port.")
    bin_dir: str | None = Field(None, description="Directory with the server binaries; default: searched.")
    args: list[str] = Field(default_factory=list, description="Extra server arguments.")

    @model_validator(mode="after")
    def _default_profiles(self) -> ComponentBase:
        if self.profiles is None:
            self.profiles = ["monitoring"] if self.kind in MONITORING_KINDS else []
        return self


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


Component = Annotated[
    Union[Postgres, Redis, RabbitMQ, Prometheus, Consul, Qdrant, Grafana], Field(discriminator="kind")
]


class Use(Strict):
    """What a service sees of one component: its endpoint and credentials, narrowed where the kind allows."""

    schema_: str | None = Field(None, alias="schema", pattern=IDENTIFIER_PATTERN,
                                description="PostgreSQL schema: search_path / currentSchema / schema in the URLs.")
    db: int | None = Field(None, ge=0, le=15, description="Redis database index in REDIS_URL.")
    role: str | None = Field(None, description="PostgreSQL: connect as this role of the component's roles: (its password, database, schema).")


class Migrations(Strict):
    """A service's schema migrations, run by `up` after provisioning and before the services start."""

    dir: str | None = Field(None, description="goose-format SQL files (relative to the service's cwd), applied with DATABASE_URL.")
    command: list[str] | None = Field(None, description="Or the service's own tool (alembic upgrade head, a gradle task), in its cwd and env.")

    _argv = field_validator("command", mode="before")(lambda cls, v: None if v is None else _as_argv(v))

    @model_validator(mode="after")
    def _one(self) -> Migrations:
        if (self.dir is None) == (self.command is None):
            raise PydanticCustomError("migrations", "give exactly one of dir or command", {})
        return self


class Metrics(Strict):
    """Where Prometheus scrapes a service (`metrics: false`: not at all)."""

    path: str = Field("/metrics", pattern=r"^/", description="HTTP path of the Prometheus text format.")
    port: Port | None = Field(None, description="Default: the service's port (no port: not scraped).")


class Service(Node):
    command: list[str] = Field(description="Argument list, or a string split like a shell would (no shell runs).")
    migrations: Migrations | None = None
    seeds: list[str] = Field(default_factory=list, description="SQL files (globs, relative to cwd) or Python `module:function`s "
                             "(run in the service's env); each recorded with its checksum and re-run only when it changed.")
    cwd: str | None = Field(None, description="Relative to the project root.")
    env_file: list[str] = Field(default_factory=list)
    env_prefix: str = Field("", pattern=PREFIX_PATTERN,
                            description="Prefix of every variable stapel exports to it (seed 004: USERS_ gives USERS_POSTGRES_PASSWORD).")
    uses: dict[str, Use] = Field(default_factory=dict,
                                 description="Components and services whose endpoints and credentials it sees, besides those in depends_on.")
    port: Port | None = Field(None, description="The port it listens on; exported to it as PORT.")
    stop_timeout_seconds: float = Field(10, gt=0)
    metrics: Metrics | None = Field(default_factory=Metrics,
                                    description="Scraped by the stack's Prometheus: {path, port} (default /metrics on its port), or false.")

    _argv = field_validator("command", mode="before")(lambda cls, v: _as_argv(v))
    _env_file = field_validator("env_file", mode="before")(lambda cls, v: _as_list(v))
    _uses = field_validator("uses", mode="before")(lambda cls, v: _as_name_map(v))
    _seeds = field_validator("seeds", mode="before")(lambda cls, v: _as_list(v))
    _migrations = field_validator("migrations", mode="before")(lambda cls, v: {"dir": v} if isinstance(v, str) else v)
    _metrics = field_validator("metrics", mode="before")(lambda cls, v: {} if v is True else (None if v is False else v))

    @model_validator(mode="after")
    def _default_profiles(self) -> Service:
        if self.profiles is None:
            self.profiles = ["backend"]
        return self


class StackFile(Strict):
    """stapel.yaml"""

    name: str | None = Field(None, pattern=NAME_PATTERN, description="Project name; default: the directory's name.")
    contour: str = Field("dev", description="Default contour for every command (--contour overrides).")
    contours: dict[str, Contour] = Field(default_factory=lambda: {"dev": Contour()})
    env: EnvBlock = Field(default_factory=EnvBlock)
    components: dict[str, Component] = Field(default_factory=dict)
    services: dict[str, Service] = Field(default_factory=dict)

    @field_validator("components", "services", "contours", mode="before")
    @classmethod
    def _names(cls, value: Any) -> Any:
        import re

        if isinstance(value, dict):
            for key in value:
                if not re.match(NAME_PATTERN, str(key)):
                    raise PydanticCustomError(
                        "name", "'{key}' is not a valid name (lower case letters, digits, - and _, starting with a letter)", {"key": key}
                    )
        return value


def block_model(path: tuple, data: Any) -> type[BaseModel] | None:
    """The schema class of the block at `path` in the raw data (for "did you mean" on unknown keys)."""
    by_kind = {m.model_fields["kind"].annotation.__args__[0]: m for m in (Postgres, Redis, RabbitMQ, Prometheus, Consul, Qdrant, Grafana)}
    by_key = {"migrations": Migrations, "probe": Probe, "tcp": TcpCheck, "http": HttpCheck, "exec": ExecCheck, "restart": Restart, "env": EnvBlock}
    if not path:
        return StackFile
    if len(path) == 2 and path[0] == "components":
        block = data.get("components", {}).get(path[1]) if isinstance(data, dict) else None
        return by_kind.get(block.get("kind")) if isinstance(block, dict) else None
    if len(path) == 2:
        return {"services": Service, "contours": Contour}.get(path[0])
    if len(path) == 4 and path[0] == "components" and path[2] == "collections":
        return QdrantCollection
    if len(path) == 3 and path[0] == "contours" and path[2] == "ports":
        return Ports
    if len(path) == 3 and path[0] == "services" and path[2] == "uses":
        return None
    if len(path) == 4 and path[0] == "services" and path[2] == "uses":
        return Use
    if len(path) == 3 and path[0] == "services" and path[2] == "metrics":
        return Metrics
    if len(path) == 3 and path[:2] == ("env", "files"):
        return EnvFilePair
    if len(path) == 3 and path[:2] == ("env", "secrets"):
        return Secret
    if len(path) == 3 and path[:2] == ("env", "agree"):
        return Agreement
    if len(path) >= 2 and path[-2] == "depends_on":
        return Dependency
    return by_key.get(path[-1])


def json_schema() -> dict[str, Any]:
    schema = StackFile.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "stapel.yaml"
    return schema
