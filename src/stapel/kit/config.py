"""One typed settings class per service, read from the environment only, with the names stapel exports.

    class UsersConfig(Config, prefix="USERS_"):     # the service's env_prefix in stapel.yaml
        postgres: Postgres                           # USERS_DATABASE_URL, USERS_POSTGRES_HOST, ..._PASSWORD
        redis: Redis                                 # USERS_REDIS_URL, USERS_REDIS_DB, ...
        listen: Listen                               # HOST, PORT (never prefixed: where to listen)
        own_table: str = "users"                     # USERS_OWN_TABLE

    config = load(UsersConfig)                       # the instance, or one line per problem on stderr and exit 1

A block reads the kind-wide names (DATABASE_URL, POSTGRES_*); `Annotated[Postgres, node("analytics")]` reads a
node's own names instead (ANALYTICS_URL, ANALYTICS_HOST, ...). Errors name the full variable and never print a
value: pydantic's own messages carry the input (pydantic-settings #256, #937), so `load` rewrites them.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any, ClassVar

from pydantic import BaseModel, Field, SecretStr, ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, EnvSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict, SettingsError

from stapel.kit._mask import mask_url

__all__ = ["Config", "Consul", "Listen", "Postgres", "Qdrant", "RabbitMQ", "Redis", "Volume", "load", "node", "required_env",
           "safe_dump", "secret_values"]


class node:  # noqa: N801 - used like a function in Annotated[...]
    """Read a block from a node's own names (<NAME>_URL, <NAME>_HOST, ...) rather than the kind-wide ones."""

    def __init__(self, name: str) -> None:
        self.prefix = name.upper().replace("-", "_") + "_"


class Block(BaseModel):
    """Settings stapel exports for one kind. KIND: the kind-wide prefix of the details (POSTGRES_); URL: the
    kind-wide name of the main URL (DATABASE_URL); PREFIXED: False for what is never under the env_prefix."""

    model_config = {"extra": "ignore", "frozen": True}
    KIND: ClassVar[str] = ""
    URL: ClassVar[str] = ""
    PREFIXED: ClassVar[bool] = True

    @classmethod
    def env_names(cls, prefix: str, marker: node | None) -> dict[str, str]:
        """field -> full variable name."""
        base = prefix if cls.PREFIXED else ""
        names = {}
        for field in cls.model_fields:
            if field == "url":
                names[field] = f"{base}{marker.prefix}URL" if marker else f"{base}{cls.URL}"
            else:
                names[field] = f"{base}{marker.prefix if marker else cls.KIND}{field.upper()}"
        return names


class Postgres(Block):
    KIND, URL = "POSTGRES_", "DATABASE_URL"
    url: SecretStr                       # libpq URI: what psycopg takes (the schema in options=-csearch_path=...)
    host: str
    port: int
    user: str
    password: SecretStr
    db: str
    schema_: str | None = Field(default=None, alias="schema")  # `schema` itself is taken by BaseModel

    model_config = {"extra": "ignore", "frozen": True, "populate_by_name": True}

    @property
    def dsn(self) -> str:
        return self.url.get_secret_value()

    @classmethod
    def env_names(cls, prefix: str, marker: node | None) -> dict[str, str]:
        names = super().env_names(prefix, marker)
        names["schema_"] = names.pop("schema_")[:-1]  # the field schema_ (BaseModel.schema is taken) reads ..._SCHEMA
        return names


class Redis(Block):
    KIND, URL = "REDIS_", "REDIS_URL"
    url: SecretStr
    host: str
    port: int
    user: str | None = None              # the service's own ACL user when the Redis has a password (else the default)
    password: SecretStr | None = None
    db: int = 0


class RabbitMQ(Block):
    KIND, URL = "RABBITMQ_", "RABBITMQ_URL"
    url: SecretStr
    host: str
    port: int
    user: str
    password: SecretStr
    vhost: str
    management_url: str | None = None


class Qdrant(Block):
    KIND, URL = "QDRANT_", "QDRANT_URL"
    url: str
    host: str
    port: int
    grpc_port: int | None = None
    api_key: SecretStr | None = None


class Consul(Block):
    KIND, URL = "CONSUL_", "CONSUL_URL"
    url: str
    http_addr: str | None = None
    host: str
    port: int


class Listen(Block):
    """The service's own HOST and PORT (never prefixed): 127.0.0.1 natively, 0.0.0.0 in a container."""

    PREFIXED = False
    host: str = "127.0.0.1"
    port: int


class Volume(Block):
    """A named volume of the service's own (`services.<s>.volumes` in stapel.yaml), never prefixed:
    `at: Annotated[Volume, node("at")]` reads AT_DIR, its folder (natively under .local/data, in a container
    where it is mounted)."""

    PREFIXED = False
    dir: str

    @classmethod
    def env_names(cls, prefix: str, marker: node | None) -> dict[str, str]:
        if marker is None:
            raise TypeError("a Volume block names its volume: Annotated[Volume, node('at')] reads AT_DIR")
        return {"dir": f"{marker.prefix}DIR"}


def _block_fields(cls: type[BaseSettings]) -> Iterator[tuple[str, type[Block], node | None]]:
    for name, field in cls.model_fields.items():
        block = _block_of(field)
        if block is not None:
            yield name, block, next((m for m in field.metadata if isinstance(m, node)), None)


def _block_of(field: FieldInfo) -> type[Block] | None:
    annotation = field.annotation
    return annotation if isinstance(annotation, type) and issubclass(annotation, Block) else None


class _EnvSource(EnvSettingsSource):
    """pydantic-settings' env source, plus the blocks filled from their flat names (no nested delimiter, whose
    splitting surprises: pydantic-settings #426, #279)."""

    def __call__(self) -> dict[str, Any]:
        data = super().__call__()
        prefix = self.settings_cls.model_config.get("env_prefix", "")
        for name, block, marker in _block_fields(self.settings_cls):
            values = {}
            for field, var in block.env_names(prefix, marker).items():
                value = self.env_vars.get(var if self.case_sensitive else var.lower())
                if value is not None:
                    values[field] = value
            data[name] = values
        return data


class Config(BaseSettings):
    """Base of a service's settings: env only (no .env file: stapel gives the environment), unknown variables
    ignored. The env_prefix is a class keyword: `class UsersConfig(Config, prefix="USERS_")`."""

    model_config = SettingsConfigDict(extra="ignore", env_file=None, case_sensitive=False)

    def __init_subclass__(cls, prefix: str | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)

    @classmethod
    def __pydantic_init_subclass__(cls, prefix: str | None = None, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        if prefix is not None:
            cls.model_config["env_prefix"] = prefix

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, _EnvSource(settings_cls)

    def safe_dump(self) -> dict[str, Any]:
        return safe_dump(self)

    def secret_values(self) -> list[str]:
        return secret_values(self)


def variable_of(cls: type[Config], loc: tuple) -> str:
    """The full variable name behind a validation error's location."""
    prefix = cls.model_config.get("env_prefix", "")
    first = str(loc[0]) if loc else ""
    field = cls.model_fields.get(first)
    if field is None:
        return f"{prefix}{first.upper()}"
    block = _block_of(field)
    if block is not None and len(loc) > 1:
        marker = next((m for m in field.metadata if isinstance(m, node)), None)
        return block.env_names(prefix, marker).get(str(loc[1]), f"{prefix}{first.upper()}")
    alias = field.validation_alias if isinstance(field.validation_alias, str) else field.alias
    return f"{prefix}{(alias or first).upper()}"


def required_env(cls: type[Config]) -> list[str]:
    """The variables a settings class cannot start without (for a check against what stapel.yaml gives)."""
    prefix, names = cls.model_config.get("env_prefix", ""), []
    blocks = {name: (block, marker) for name, block, marker in _block_fields(cls)}
    for name, field in cls.model_fields.items():
        if name in blocks:
            block, marker = blocks[name]
            env = block.env_names(prefix, marker)
            names += [env[f] for f, info in block.model_fields.items() if info.is_required()]
        elif field.is_required():
            names.append(variable_of(cls, (name,)))
    return names


def problems(cls: type[Config], error: ValidationError) -> list[str]:
    """One line per problem: the variable and what is wrong, the input masked wherever it appears."""
    lines = []
    for item in error.errors(include_url=False, include_input=True):
        variable = variable_of(cls, item["loc"])
        if item["type"] == "missing":
            lines.append(f"{variable}: missing (stapel exports it to a service that uses the node; or set it)")
            continue
        message, value = item["msg"], item.get("input")
        if isinstance(value, str) and value:
            message = message.replace(value, "***")
        lines.append(f"{variable}: {message}")
    return list(dict.fromkeys(lines))


def load(cls: type[Config], **overrides: Any) -> Config:
    """The settings, or one line per problem on stderr (`config: USERS_POSTGRES_PORT: Input should be ...`) and
    SystemExit(1). Never prints a value."""
    try:
        return cls(**overrides)
    except ValidationError as exc:
        lines = problems(cls, exc)
    except SettingsError as exc:  # a complex field (list, dict) whose value is not JSON
        field = str(exc).split('"')[1] if '"' in str(exc) else ""
        lines = [f"{variable_of(cls, (field,))}: not valid JSON"]
    for line in lines:
        print(f"config: {line}", file=sys.stderr)
    raise SystemExit(1)


def _dump(value: Any) -> Any:
    if isinstance(value, SecretStr):
        text = value.get_secret_value()
        return mask_url(text) if "://" in text else "******"
    if isinstance(value, BaseModel):
        return {info.alias or name: _dump(getattr(value, name)) for name, info in type(value).model_fields.items()}
    if isinstance(value, dict):
        return {k: _dump(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_dump(v) for v in value]
    if isinstance(value, str) and "://" in value:
        return mask_url(value)
    return value


def safe_dump(config: BaseModel) -> dict[str, Any]:
    """The settings as a dict for a log line: every SecretStr masked, the password inside any URL masked."""
    return _dump(config)


def secret_values(config: BaseModel) -> list[str]:
    """Every secret value in the settings (SecretStr fields, passwords inside URLs): what log redacts."""
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, SecretStr):
            text = value.get_secret_value()
            found.append(text)
            if "://" in text:
                found.extend(_url_password(text))
        elif isinstance(value, BaseModel):
            for name in type(value).model_fields:
                walk(getattr(value, name))
        elif isinstance(value, str) and "://" in value:
            found.extend(_url_password(value))

    walk(config)
    return sorted({v for v in found if v}, key=len, reverse=True)


def _url_password(url: str) -> list[str]:
    from urllib.parse import unquote, urlsplit

    try:
        password = urlsplit(url).password
    except ValueError:
        return []
    return [password, unquote(password)] if password else []
