"""What every component and service of stapel.yaml shares: probes (process-compose's fields), restart policy,
depends_on, env and profiles; and what every component kind adds (version, port, bin_dir, args)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from stapel.model.base import Port, Strict, _as_argv, _as_env, _as_list, _as_name_map  # noqa: F401


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
    """What the supervisor does when the process exits. Each failure in a row doubles the wait before the next
    start (backoff_seconds, 2x, 4x ... at most max_backoff_seconds); a run of a minute resets the count."""

    policy: Literal["no", "on-failure", "always"] = "no"
    backoff_seconds: float = Field(1.0, ge=0, description="Wait before the first restart; doubled after each further failure in a row.")
    max_backoff_seconds: float = Field(30.0, ge=0, description="The longest wait between restarts.")
    max_restarts: int | None = Field(None, ge=0, description="Restarts in a row before giving up (a run of a minute resets "
                                                             "the count); None: no limit.")

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return _restart_shorthand(value)


def _restart_shorthand(value: Any) -> Any:
    """`restart: always` means {policy: always}."""
    if value is False:  # YAML 1.1 reads a bare `no` as false
        return {"policy": "no"}
    if isinstance(value, str):
        return {"policy": value}
    return value


class ComponentRestart(Restart):
    """Infrastructure restarts unless told otherwise: a PostgreSQL the OOM killer took comes back by itself."""

    policy: Literal["no", "on-failure", "always"] = "on-failure"
    backoff_seconds: float = Field(0.5, ge=0, description="Wait before the first restart; doubled after each further failure in a row.")
    max_restarts: int | None = Field(10, ge=0, description="Restarts in a row before giving up (a run of a minute resets "
                                                           "the count); None: no limit.")


_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "kib": 1024, "m": 1000**2, "mb": 1000**2, "mib": 1024**2,
          "g": 1000**3, "gb": 1000**3, "gib": 1024**3}


def parse_size(value: Any) -> Any:
    """10MiB, 512KiB, 1GB, 1048576 -> bytes."""
    import re

    if isinstance(value, bool) or not isinstance(value, (int, str)):
        return value
    found = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", str(value))
    if not found or found.group(2).lower() not in _UNITS:
        raise PydanticCustomError("size", "'{value}' is not a size: give bytes or e.g. 10MiB, 512KiB, 1GB", {"value": value})
    return int(float(found.group(1)) * _UNITS[found.group(2).lower()])


class LogRotation(Strict):
    """Native process logs, rotated by the supervisor: log -> log.1 -> ... -> log.KEEP, at a line boundary."""

    max_size: int = Field(10 * 1024 * 1024, ge=1024, description="Rotate past this size: bytes, or e.g. 10MiB, 512KiB (default 10MiB).")
    keep: int = Field(5, ge=0, description="Rotated files kept besides the current one (default 5).")

    _size = field_validator("max_size", mode="before")(lambda cls, v: parse_size(v))


def log_rotation(stack_wide: LogRotation | None, own: LogRotation | None) -> dict[str, int]:
    """A node's rotation: its own `logs:` fields over the stack's over the defaults."""
    merged: dict[str, int] = LogRotation().model_dump()
    for block in (stack_wide, own):
        if block is not None:
            merged.update({k: getattr(block, k) for k in block.model_fields_set})
    return merged


class Dependency(Strict):
    condition: Literal["started", "healthy", "completed"] = "healthy"


PROFILE_PATTERN = r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$"


class Node(Strict):
    """What components and services share."""

    profiles: list[Annotated[str, Field(pattern=PROFILE_PATTERN)]] | None = Field(
        None, description="Compose-style profiles (`stapel up --profile NAME`, `docker compose --profile NAME`); default: "
                          "[monitoring] for prometheus and grafana, [backend] for services, none for other components.")
    probe: Probe | None = None
    restart: Restart = Field(default_factory=Restart)
    depends_on: dict[str, Dependency] = Field(default_factory=dict)
    env: dict[str, str] = Field(default_factory=dict)
    logs: LogRotation | None = Field(None, description="Its log's rotation (natively): {max_size, keep}; default: the stack's `logs:`.")

    _deps = field_validator("depends_on", mode="before")(lambda cls, v: _as_name_map(v))
    _env = field_validator("env", mode="before")(lambda cls, v: _as_env(v))
    _restart = field_validator("restart", mode="before")(lambda cls, v: _restart_shorthand(v))


class ComponentBase(Node):
    """What every kind's config model (in its module, stapel.components.<kind>) adds to; each declares
    `kind: Literal["<its registry key>"]` (the Stack's discriminator), not declared here so that it stays where it
    always was in the JSON schema: after these fields."""

    if TYPE_CHECKING:  # each kind's model declares it as a Literal (the union's discriminator)
        kind: str
    DEFAULT_PROFILES: ClassVar[tuple[str, ...]] = ()  # profiles when stapel.yaml gives none (monitoring kinds: monitoring)
    USE_KEYS: ClassVar[tuple[str, ...]] = ()  # the fields of a service's `uses:` entry (model.schema.Use) that fit this kind
    RUNS: ClassVar[bool] = True  # False: stapel points at it and never starts or stops it (external)

    def use_problems(self, use: Any) -> list[str]:
        """What is wrong with a service's `uses.<this>` block beyond USE_KEYS ("<key>: <problem>" each)."""
        return []

    def admin_user(self) -> str | None:
        """The user that administers it, which a service's own user (named after the service) must not be."""
        return None

    version: str | None = Field(None, description="Wanted version, e.g. '16' or '16.4': natively the first binaries found of that version run "
                                                  "(none: preflight fails); the image tag in Compose and Kubernetes.")
    port: Port | None = Field(None, description="Main port on 127.0.0.1; default: the kind's standard port.")
    bin_dir: str | None = Field(None, description="Directory with the server binaries; default: searched.")
    args: list[str] = Field(default_factory=list, description="Extra server arguments.")
    restart: ComponentRestart = Field(default_factory=ComponentRestart)

    @field_validator("version", mode="before")
    @classmethod
    def _version_text(cls, value: Any) -> Any:
        """`version: 16` means '16'; a YAML float is refused (15.10 would silently be 15.1)."""
        if isinstance(value, bool):
            return value
        if isinstance(value, int):
            return str(value)
        if isinstance(value, float):
            raise PydanticCustomError("version", "got the number {value}: quote the version, e.g. '16.10' (YAML reads "
                                      "16.10 unquoted as 16.1)", {"value": value})
        return value

    def configured_ports(self) -> dict[str, int]:
        """Port name -> number as this block configures it (the kind's standard ones unless set); "main" among them.
        Each kind's model answers with its module's configured_ports(config)."""
        raise NotImplementedError

    def internal_ports(self) -> tuple[str, ...]:
        """Names of its ports nobody connects to by number (its module's INTERNAL_PORTS)."""
        return ()

    def config_problems(self, name: str) -> list[str]:
        """What cannot work across its fields, by config path (reported with every other problem of the file)."""
        return []

    def stack_problems(self, name: str, nodes: dict[str, Any]) -> list[str]:
        """What it names of the rest of the stack that cannot work (`nodes`: every component's and service's config
        by name), by config path: an nginx route to an unknown service, say. Most kinds name nothing."""
        return []

    @model_validator(mode="after")
    def _default_profiles(self) -> ComponentBase:
        if self.profiles is None:
            self.profiles = list(self.DEFAULT_PROFILES)
        return self
