"""The stapel.yaml schema (pydantic v2). `stapel schema` prints it as JSON Schema for editors.

The component kinds' config models live in their kind modules (stapel.components.<kind>), above this layer: the
registry (stapel.components.KINDS) hands them to `stack_model`, which makes the StackFile whose `components:` is
their discriminated union. StackFile itself (no kinds) is the shape every such model shares."""

from __future__ import annotations

import functools
import re
from typing import Annotated, Any, ClassVar, Literal, Union, get_args

from pydantic import BaseModel, Field, create_model, field_validator, model_validator
from pydantic_core import PydanticCustomError

from stapel.model.base import (  # noqa: F401 - the model's public names live here
    IDENTIFIER_PATTERN,
    NAME_PATTERN,
    PREFIX_PATTERN,
    Port,
    Strict,
    _as_argv,
    _as_env,
    _as_list,
    _as_name_map,
    _no_bool,
    did_you_mean,
)
from stapel.model.contour_schema import Agreement, Contour, EnvBlock, EnvFilePair, Ports, Secret
from stapel.model.nodes import (
    ComponentBase,
    Dependency,
    ExecCheck,
    HttpCheck,
    LogRotation,
    Node,
    Probe,
    Restart,
    TcpCheck,
)


class Use(Strict):
    """What a service sees of one component: its endpoint and credentials, narrowed where the kind allows."""

    schema_: str | None = Field(None, alias="schema", pattern=IDENTIFIER_PATTERN,
                                description="PostgreSQL schema: search_path / currentSchema / schema in the URLs.")
    db: int | None = Field(None, ge=0, le=15, description="Redis database index in REDIS_URL.")
    role: str | None = Field(None, description="PostgreSQL: connect as this role of the component's roles: (its password, database, schema).")
    # Shared brokers (issue 13 item 7): by default each service connects as a user of its own, least privilege.
    user: str | None = Field(None, min_length=1, description=(
        "RabbitMQ/Redis: connect as this user instead of the service's own (a user named after the service, provisioned "
        "on every up with a password derived from the component's; RabbitMQ: no tags, rights on the component's vhost "
        "except what other services' names start (<service>.), Redis: the key pattern `keys`, no @dangerous commands). "
        "RabbitMQ: the component's own user (the opt-out: its administrator), a user under components.<mq>.users or one "
        "derived from a *_RABBITMQ_URL; Redis: `default` (the component's password, every key and command)."))
    keys: list[str] | None = Field(None, min_length=1, description=(
        "Redis: the key (and pub/sub channel) patterns of the service's own ACL user; default ['<service>:*'] "
        "(seed 004's <domain>:<entity>:<id> with the service as the domain)."))

    _keys = field_validator("keys", mode="before")(lambda cls, v: _as_list(v) if isinstance(v, str) else v)

    @field_validator("keys")
    @classmethod
    def _key_patterns(cls, keys: list[str] | None) -> list[str] | None:
        for pattern in keys or []:
            if not pattern or any(c.isspace() for c in pattern):
                raise ValueError(f"'{pattern}' is not a key pattern (a glob without spaces, e.g. users:*)")
        return keys


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


class Watch(Strict):
    """Live reload: what `stapel up --watch` / `stapel watch` does when files under the service change."""

    paths: list[str] = Field(default_factory=list, description="Folders or files to watch (relative to the project root); default: the service's cwd.")
    include: list[str] = Field(default_factory=list, description="Only changes matching one of these globs count (e.g. '*.py'); default: all.")
    ignore: list[str] = Field(default_factory=list, description="Globs to ignore besides the defaults (.git, .local, __pycache__, node_modules, "
                                                                "virtual envs, editor swap files).")
    mode: Literal["restart", "sync"] = Field("restart", description="restart: stapel restarts it and waits for its probe; sync: its command "
                                                                  "reloads itself (uvicorn --reload, vite), stapel only waits for its probe.")
    restart_dependents: bool = Field(False, description="Also restart the services that depend on it.")

    _paths = field_validator("paths", "include", "ignore", mode="before")(lambda cls, v: _as_list(v))

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        if value is True:
            return {}
        if isinstance(value, (str, list)):
            return {"paths": value}
        return value


class Build(Strict):
    """How a container image of the service is built (Compose's `build:`): render compose, render k8s, render dockerfile."""

    context: str | None = Field(None, min_length=1, description=(
        "The folder sent to the image build, relative to the project root (inside it); default: the service's cwd. "
        "Widen it when the service reads files beside its folder (seed 004: ../../api/server/asyncapi.yaml)."))
    dockerfile: str | None = Field(None, min_length=1, description=(
        "The Dockerfile, relative to the context (as in Compose); default: the Dockerfile in the service's cwd."))


VOLUME_NAME = r"[a-z][a-z0-9_-]*"


class Service(Node):
    command: list[str] = Field(description="Argument list, or a string split like a shell would (no shell runs).")
    migrations: Migrations | None = None
    seeds: list[str] = Field(default_factory=list, description="SQL files (globs, relative to cwd) or Python `module:function`s "
                             "(run in the service's env); each recorded with its checksum and re-run only when it changed.")
    cwd: str | None = Field(None, description="Relative to the project root.")
    build: Build | None = Field(None, description="Its image's build: {context, dockerfile} (default: its cwd and the Dockerfile there).")
    env_file: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict, description=(
        "Its own variables, over what stapel gives it. A ${NAME} may name what it is given (derived env: "
        "REACT_APP_API_URL: ${WEB_API_PUBLIC_URL}/api, DATABASE_URL: ${WEB_DB_ADMIN_URL}); looked up in its other env keys, "
        "what stapel gives it (exports under its prefix, HOST, PORT, <VOLUME>_DIR, env files), <prefix><NODE>_ADMIN_URL "
        "and <prefix><NODE>_PUBLIC_URL (a node's HTTP address on the developer's machine; referred to only, never "
        "exported), then the environment and .env."))
    env_prefix: str = Field("", pattern=PREFIX_PATTERN,
                            description="Prefix of every variable stapel exports to it (seed 004: USERS_ gives USERS_POSTGRES_PASSWORD).")
    uses: dict[str, Use] = Field(default_factory=dict,
                                 description="Components and services whose endpoints and credentials it sees, besides those in depends_on.")
    port: Port | None = Field(None, description="The port it listens on; exported to it as PORT.")
    stop_timeout_seconds: float = Field(10, gt=0)
    watch: Watch | None = Field(None, description="Live reload (`stapel up --watch`, `stapel watch`): true, a list of paths, or "
                                "{paths, include, ignore, mode, restart_dependents}.")
    metrics: Metrics | None = Field(default_factory=Metrics,
                                    description="Scraped by the stack's Prometheus: {path, port} (default /metrics on its port), or false.")
    volumes: dict[str, str] = Field(default_factory=dict, description=(
        "Named volumes it keeps across restarts (seed 002: the SQLite file of `at`): name -> the absolute path inside a "
        "container. Natively .local/data/<contour>/<service>.<name>; the service gets its path as <NAME>_DIR."))

    _argv = field_validator("command", mode="before")(lambda cls, v: _as_argv(v))
    _env_file = field_validator("env_file", mode="before")(lambda cls, v: _as_list(v))
    _uses = field_validator("uses", mode="before")(lambda cls, v: _as_name_map(v))
    _seeds = field_validator("seeds", mode="before")(lambda cls, v: _as_list(v))
    _migrations = field_validator("migrations", mode="before")(lambda cls, v: {"dir": v} if isinstance(v, str) else v)
    _metrics = field_validator("metrics", mode="before")(lambda cls, v: {} if v is True else (None if v is False else v))
    _watch = field_validator("watch", mode="before")(lambda cls, v: None if v is False else v)

    @field_validator("volumes")
    @classmethod
    def _volume_paths(cls, volumes: dict[str, str]) -> dict[str, str]:
        for name, path in volumes.items():
            if not re.fullmatch(VOLUME_NAME, name):
                raise ValueError(f"volume name '{name}': use lowercase letters, digits, _ and -, starting with a letter")
            if not path.startswith("/") or path == "/":
                raise ValueError(f"volume '{name}': the path inside a container must be absolute and not /, got '{path}'")
        return volumes

    @model_validator(mode="after")
    def _default_profiles(self) -> Service:
        if self.profiles is None:
            self.profiles = ["backend"]
        return self


class StackFile(Strict):
    """stapel.yaml"""

    KINDS: ClassVar[tuple[type[ComponentBase], ...]] = ()  # the component kinds' config models (stack_model sets them)
    name: str | None = Field(None, pattern=NAME_PATTERN, description="Project name; default: the directory's name.")
    contour: str = Field("dev", description="Default contour for every command (--contour overrides).")
    contours: dict[str, Contour] = Field(default_factory=lambda: {"dev": Contour()})
    env: EnvBlock = Field(default_factory=EnvBlock)
    components: dict[str, ComponentBase] = Field(default_factory=dict)  # stack_model: the kinds' union
    services: dict[str, Service] = Field(default_factory=dict)
    logs: LogRotation | None = Field(None, description="Rotation of every native process log: {max_size: 10MiB, keep: 5} "
                                     "(the defaults); a node's own `logs:` overrides it field by field.")

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

    @classmethod
    def kind_names(cls) -> tuple[str, ...]:
        """The `kind:` values this model accepts, in the registry's order."""
        return tuple(kind_name(model) for model in cls.KINDS)


def kind_name(model: type[ComponentBase]) -> str:
    """A config model's `kind:` value: its `kind: Literal["..."]` field."""
    (name,) = get_args(model.model_fields["kind"].annotation)
    return str(name)


@functools.cache
def stack_model(kinds: tuple[type[ComponentBase], ...]) -> type[StackFile]:
    """StackFile whose `components:` values are one of `kinds` (config models), told apart by `kind:`."""
    union: Any = Annotated[Union[kinds], Field(discriminator="kind")] if len(kinds) > 1 else kinds[0]  # noqa: UP007 - a runtime tuple
    model = create_model("StackFile", __base__=StackFile, __doc__=StackFile.__doc__, __module__=__name__,
                         components=(dict[str, union], Field(default_factory=dict)))
    model.KINDS = kinds
    return model


def _field_model(model: type[BaseModel], field: Any) -> type[BaseModel] | None:
    """The model of a mapping field's values (`collections: dict[str, QdrantCollection]` -> QdrantCollection)."""
    info = model.model_fields.get(str(field))
    args = get_args(info.annotation) if info else ()
    found = args[-1] if len(args) == 2 else None
    return found if isinstance(found, type) and issubclass(found, BaseModel) else None


def block_model(path: tuple, data: Any, stack: type[StackFile] = StackFile) -> type[BaseModel] | None:
    """The schema class of the block at `path` in the raw data (for "did you mean" on unknown keys)."""
    by_kind: dict[str, type[BaseModel]] = {kind_name(m): m for m in stack.KINDS}
    by_key: dict[str, type[BaseModel]] = {"migrations": Migrations, "probe": Probe, "tcp": TcpCheck, "http": HttpCheck, "exec": ExecCheck, "restart": Restart, "env": EnvBlock,
              "logs": LogRotation}
    if not path:
        return stack
    if len(path) in (2, 4) and path[0] == "components":
        block = data.get("components", {}).get(path[1]) if isinstance(data, dict) else None
        model = by_kind.get(str(block.get("kind"))) if isinstance(block, dict) else None
        if len(path) == 2:
            return model
        found = model and _field_model(model, path[2])  # an entry of one of the kind's mappings (collections, roles, vhosts)
        if found:
            return found
    if len(path) == 2:
        sections: dict[str, type[BaseModel]] = {"services": Service, "contours": Contour}
        return sections.get(path[0])
    if len(path) == 3 and path[0] == "contours" and path[2] == "ports":
        return Ports
    if len(path) == 3 and path[0] == "services" and path[2] == "uses":
        return None
    if len(path) == 4 and path[0] == "services" and path[2] == "uses":
        return Use
    if len(path) == 3 and path[0] == "services" and path[2] == "metrics":
        return Metrics
    if len(path) == 3 and path[0] == "services" and path[2] == "watch":
        return Watch
    if len(path) == 3 and path[0] == "services" and path[2] == "build":
        return Build
    if len(path) == 3 and path[:2] == ("env", "files"):
        return EnvFilePair
    if len(path) == 3 and path[:2] == ("env", "secrets"):
        return Secret
    if len(path) == 3 and path[:2] == ("env", "agree"):
        return Agreement
    if len(path) >= 2 and path[-2] == "depends_on":
        return Dependency
    return by_key.get(path[-1])


def json_schema(stack: type[StackFile]) -> dict[str, Any]:
    schema = stack.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "stapel.yaml"
    return schema
