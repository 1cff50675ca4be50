"""external: a component stapel points at but never runs (seed 001's managed PostgreSQL/Redis in stage and prod).

    db:
      kind: external
      serves: postgres                     # the kind whose protocol it speaks
      url: ${STAGE_DATABASE_URL}           # postgresql://user:password@host:port/database
      databases: {crm: {}}                 # the served kind's own fields, checked by its config model
      roles: {crm_app: {password: ..., database: crm}}

Its connection details come from the URL: the served kind's config is built from them (user, password, database or
vhost, port) plus every other key of the block, and validated by that kind's model, so a typo is reported as for a
local one. Probed with the served kind's probe on the URL's host; provisioned by the served kind's provisioner; what it
exports (DATABASE_URL, <NAME>_URL, ...) is the served kind's, with the URL's host. It is never started or stopped
(RUNS = False): `up` waits for its probe, `down` leaves it alone, and Compose and Kubernetes renders have no container
for it: services get its URL.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any, ClassVar, Literal
from urllib.parse import unquote, urlsplit

from pydantic import ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from stapel.components import base
from stapel.components.base import Container, Node, probe_from_config
from stapel.components.facets import BinarySearch, Dashboard, Exporter, MetricsEndpoint, no_input_files, no_scrape_key
from stapel.env.connections import HOST, Exports
from stapel.model.nodes import ComponentBase
from stapel.probes import ProbeSpec

if TYPE_CHECKING:
    from stapel.model.schema import Use

# The served kinds, by what their URLs look like: schemes, default port, and which config field each URL part fills.
# (Kinds stapel can point at are those whose services connect by one URL.)
URLS: dict[str, dict[str, Any]] = {
    "postgres": {"schemes": ("postgres", "postgresql"), "port": 5432, "path": "database",
                 "example": "postgresql://user:password@host:5432/database"},
    "redis": {"schemes": ("redis", "rediss"), "port": 6379, "path": None, "example": "redis://:password@host:6379/0"},
    "rabbitmq": {"schemes": ("amqp", "amqps"), "port": 5672, "path": "vhost", "example": "amqp://user:password@host:5672/vhost"},
}
OWN_KEYS = ("serves", "url")


class External(ComponentBase):
    """Every key but kind/serves/url and the shared ones (probe, depends_on, env, profiles...) is the served kind's."""

    model_config = ConfigDict(extra="allow")
    kind: Literal["external"]
    serves: str = Field(description="The kind whose protocol it speaks: " + ", ".join(URLS) + ".")
    url: str = Field(description="Its connection URL, usually from the environment: url: ${STAGE_DATABASE_URL}.")

    RUNS: ClassVar[bool] = False

    def configured_ports(self) -> dict[str, int]:
        return {}  # not a local port: never moved, never checked for being free

    def internal_ports(self) -> tuple[str, ...]:
        return ()

    @field_validator("serves")
    @classmethod
    def _known(cls, value: str) -> str:
        from stapel.components import kinds

        known = [k for k in URLS if k in kinds()]
        if value not in known:
            raise PydanticCustomError("serves", "'{serves}' cannot be external (one of {known})",
                                      {"serves": value, "known": ", ".join(known)})
        return value

    @field_validator("url")
    @classmethod
    def _parsable(cls, value: str, info: ValidationInfo) -> str:
        if "serves" in info.data:  # else serves' own error is the one to read
            _parse(info.data["serves"], value)
        return value

    @model_validator(mode="after")
    def _served_fields(self) -> External:
        served = self.served_config()  # every problem now, as a config error, not at `up`
        object.__setattr__(self, "USE_KEYS", type(served).USE_KEYS)  # a service's uses: narrows it as the served kind
        return self

    def __getattr__(self, name: str) -> Any:
        """The served kind's fields (roles, databases, user...) read through: the loader's checks of a service's
        `uses:` and everything else that reads a component's config see the served kind's."""
        try:
            return super().__getattr__(name)  # type: ignore[misc]
        except AttributeError:
            if name.startswith("_"):
                raise
            return getattr(self.served_config(), name)

    def location(self) -> tuple[str, int]:
        """(host, port) of the URL."""
        return _parse(self.serves, self.url)[1:]

    def served_config(self) -> Any:
        """The served kind's config model, filled from the URL and the block's own keys."""
        from stapel.components import kinds

        fields, _, port = _parse(self.serves, self.url)
        extra = dict(self.model_extra or {})
        taken = sorted(set(extra) & {*fields, "port"})
        if taken:
            raise PydanticCustomError("url", "'{key}' comes from url: remove it here", {"key": taken[0]})
        try:
            return kinds()[self.serves].CONFIG.model_validate({"kind": self.serves, **fields, "port": port, **extra})
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            where = ".".join(str(part) for part in first["loc"])
            raise PydanticCustomError("served", "{where}: {msg} (as a {serves} block)",
                                      {"where": where or self.serves, "msg": first["msg"], "serves": self.serves}) from None


def _parse(serves: str, url: str) -> tuple[dict[str, str], str, int]:
    """The served config's fields, the host and the port of a connection URL; a bad one is one line with an example."""
    form = URLS.get(serves)
    if form is None:
        return {}, "", 0
    bad = PydanticCustomError("url", "not a {serves} URL ({example})", {"serves": serves, "example": form["example"]})
    try:
        parts = urlsplit(url.strip())
        port = parts.port or form["port"]
    except ValueError:
        raise bad from None
    if parts.scheme not in form["schemes"] or not parts.hostname:
        raise bad
    fields: dict[str, str] = {}
    if parts.username:
        fields["user"] = unquote(parts.username)
    if parts.password is not None:
        fields["password"] = unquote(parts.password)
    path = unquote(parts.path[1:]) if parts.path.startswith("/") else ""
    if form["path"] and path:
        fields[form["path"]] = path
    if serves == "redis":
        fields.pop("user", None)  # a Redis URL's user is an ACL user the redis block has no field for
    return fields, parts.hostname, port


CONFIG = External
DEFAULT_PORTS: dict[str, int] = {}  # nothing listens here: the URL says where it is
INTERNAL_PORTS: tuple[str, ...] = ()
PROGRAMS: list[str] = []
RUNS = False  # never started, never stopped


def binary_version(bins: dict[str, str], run) -> None:
    return None  # nothing runs here


def version_sources(wanted: tuple[int, ...]) -> dict[str, str]:
    return {}


def configured_ports(config) -> dict[str, int]:
    return {}  # not a local port: never moved, never checked for being free


def served(node: Node) -> tuple[Any, Node]:
    """The served kind's module and `node` as a node of that kind (its config filled from the URL)."""
    from stapel.components import kinds

    config, module = node.config.served_config(), kinds()[node.config.serves]
    ports = {**module.configured_ports(config), "main": node.config.location()[1]}  # the others (management) at defaults
    return module, Node(node.name, node.config.serves, config, ports, dict(ports), host=node.config.location()[0])


REMOTE_PROVISIONING = ("postgres",)  # the provisioners that connect to a node's host (the others to 127.0.0.1)


def provisioned_as(node: Node) -> tuple[Node, bool]:
    """The node provision/steps.py provisions (the served kind's, its host the URL's), and whether its provisioner
    reaches it: PostgreSQL's anywhere, the others' only on this machine."""
    import ipaddress

    host = node.config.location()[0]
    try:
        local = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        local = False
    return served(node)[1], local or node.config.serves in REMOTE_PROVISIONING


def probe(node: Node) -> ProbeSpec:
    """The served kind's own probe, on the URL's host (a managed server answers slower than a local one)."""
    module, as_served = served(node)
    spec = module.probe(as_served)
    default = replace(spec, params={**spec.params, "host": node.config.location()[0]}, period_seconds=max(spec.period_seconds, 0.5),
                      timeout_seconds=max(spec.timeout_seconds, 3.0), failure_threshold=120)
    return probe_from_config(as_served, default)


def exports(node: Node, use: Use | None = None) -> Exports:
    """Exactly what a local one of the served kind gives a service, at the URL's host."""
    module, as_served = served(node)
    host = node.config.location()[0]

    def moved(values: dict[str, str]) -> dict[str, str]:  # every 127.0.0.1:<port> of the served kind's URLs, its host
        return {key: (host if value == HOST else value.replace(f"{HOST}:", f"{host}:")) for key, value in values.items()}

    found = module.exports(as_served, use)
    return Exports(moved(found.kind_wide), moved(found.by_name))


def secrets(config) -> list[str]:
    from stapel.components import kinds

    return kinds()[config.serves].secrets(config.served_config())


def native(node: Node, ctx) -> Any:
    raise AssertionError(f"components.{node.name}: an external component is never started")  # RUNS = False: never asked


def prepare(node: Node, ctx) -> None:
    return None


# ---- monitoring, provisioning, native search (components/facets.py)
METRICS: MetricsEndpoint | None = None
EXPORTER: Exporter | None = None
DASHBOARDS: tuple[Dashboard, ...] = ()
GRAFANA_DATASOURCE: str | None = None
SCRAPES_STACK = False
SHOWS_STACK = False
scrape_key = no_scrape_key
PROVISIONER: str | None = None  # the served kind's (provision/steps.py asks through served())
BINARIES = BinarySearch()
DATABASE = False
input_files = no_input_files


# ---- the container facet: none. Compose and Kubernetes renders have no container for it; services get its URL.
CONTAINER: Container | None = None
container_env, container_args, job_env = base.container_env, base.container_args, base.job_env  # the contract's defaults, kept


if TYPE_CHECKING:  # mypy holds this module to the kind contract (components/contract.py)
    from stapel.components import external as _this
    from stapel.components.contract import Kind

    _CONTRACT: Kind = _this
