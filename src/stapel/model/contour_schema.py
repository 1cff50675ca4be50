"""The contour and env blocks of stapel.yaml (contours:, env:)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from stapel.model.base import Port, Strict, _as_list, _as_name_map


class Ports(Strict):
    """A contour's ports: `auto` / `fixed`, an offset (`100`), or {policy, offset, set: {name[.port]: N}}."""

    policy: Literal["auto", "fixed"] | None = Field(
        None, description="auto: a busy port moves to a free one, remembered across runs. Default: auto for dev, fixed otherwise.")
    offset: int = Field(0, ge=-60000, le=60000, description="Added to every configured port (the set: table wins).")
    set: dict[str, Port] = Field(default_factory=dict, description="Explicit ports: `api: 3100`, `db: 5433`, `mq.management: 15673`.")

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        if isinstance(value, str):
            return {"policy": value}
        if isinstance(value, int) and not isinstance(value, bool):
            return {"offset": value}
        return value


class Contour(Strict):
    """One contour (dev, stage, prod, ...). Anything in components:/services: can be overridden here."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_: str | None = Field(None, alias="from", description="Inherit this contour's settings, then override.")
    ports: Ports = Field(default_factory=Ports)
    env_file: list[str] = Field(default_factory=list, description="Env files read after .env for ${VAR} (e.g. .env.stage).")
    volumes: dict[str, str] = Field(default_factory=dict, description="Volume name per component (pgdata_stage); natively the data folder's name.")
    network: str | None = Field(None, description="Network name for Compose/Kubernetes; default: <name>-<contour>.")
    weak_credentials: Literal["allow", "refuse"] | None = Field(
        None, description="refuse: default or weak passwords stop `up`. Default: allow in dev, refuse elsewhere.")
    slot_stride: int = Field(10, ge=1, le=1000, description="--slot N adds N * slot_stride to every port.")
    profiles: list[str] | None = Field(
        None, description="The profiles this contour runs (seed 004: services/dev/* not in prod): a component or service "
                          "whose profiles are all outside this list is not part of the contour, for `up`, `render compose` "
                          "and `render k8s` alike. Default: every profile. Services have `backend` unless they say otherwise.")
    components: dict[str, dict[str, Any]] = Field(default_factory=dict, description="Overrides merged into components.<name>.")
    services: dict[str, dict[str, Any]] = Field(default_factory=dict, description="Overrides merged into services.<name>.")

    _env_file = field_validator("env_file", mode="before")(lambda cls, v: _as_list(v))


class Secret(Strict):
    """How a missing secret is generated (Python's `secrets` module)."""

    length: int = Field(32, ge=8, le=1024)
    alphabet: str = Field("alnum", description="alnum, hex, urlsafe, or the literal characters to draw from.")


class EnvFilePair(Strict):
    example: str = Field(description="The committed example (env.example), relative to the project root.")
    path: str | None = Field(None, description="The .env it keeps in sync; default: .env beside the example.")

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return {"example": value} if isinstance(value, str) else value


class Agreement(Strict):
    keys: list[str] = Field(description="Keys that must hold the same value in every file below that has them.")
    files: list[str] = Field(default_factory=list, description="Env files (relative to the root); default: every synced .env.")


class EnvBlock(Strict):
    """`stapel env sync` / `env check`: which .env files to keep in sync, what is secret, what must agree."""

    files: list[EnvFilePair] = Field(default_factory=list, description="Default: every env.example / .env.example under the project.")
    secrets: dict[str, Secret] = Field(default_factory=dict, description="Keys that are secret: masked everywhere, generated when missing.")
    required: list[str] = Field(default_factory=list, description="Keys that must be set and non-empty in every synced .env that has them in its example.")
    agree: dict[str, Agreement] = Field(default_factory=dict, description="Named groups of keys kept equal across files (seed 003).")

    _secrets = field_validator("secrets", mode="before")(lambda cls, v: _as_name_map(v))
