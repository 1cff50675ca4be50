"""The kind contract: what every kind MODULE (postgres.py, redis.py, ...) provides, as a typed Protocol.

Modules satisfy a Protocol structurally (each kind module ends with `_CONTRACT: Kind = <itself>` for mypy), the way pre-commit's language
modules satisfy its `Language` Protocol. A method below is a module-level function of the kind (no `self` in the
module); a read-only property is a module constant (read-only, so a module's dict or narrower type satisfies it).
Members with a default are defined in components/base.py and a kind module assigns (re-exports) them unless it
overrides them, like pre-commit's `lang_base`.

Optional, where CONTAINER says so: `definitions(node, declared) -> dict` (CONTAINER.boot_definitions: the file the
image loads at boot), `role_var(role) -> str` (CONTAINER.sql: the env name of a role's password in its one-shot).
A kind's own probe type (a probes.Probe subclass whose `type` is the kind's name) is defined in its module.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from stapel.components.base import BinaryVersion, Container, LaunchSpec, Node, Target
    from stapel.components.facets import BinarySearch, Dashboard, Exporter, MetricsEndpoint
    from stapel.env.connections import Exports
    from stapel.model.nodes import ComponentBase
    from stapel.probes import ProbeSpec


class Kind(Protocol):
    # ---- native: ports, launch, readiness, what services get
    @property
    def DEFAULT_PORTS(self) -> Mapping[str, int]:  # noqa: N802
        """Named ports with their standard numbers; "main" is the one users connect to."""

    @property
    def INTERNAL_PORTS(self) -> tuple[str, ...]:  # noqa: N802
        """Names of ports nobody connects to by number (always moved when busy)."""

    @property
    def PROGRAMS(self) -> list[str]:  # noqa: N802
        """The binaries native() needs ("redis-server|valkey-server": either one)."""

    def configured_ports(self, config: Any) -> dict[str, int]: ...

    def probe(self, node: Node) -> ProbeSpec:
        """Its own readiness check (stapel.yaml's probe: may replace it)."""

    def exports(self, node: Node, use: Any = None) -> Exports:
        """Connection details for services (env/connections.py), narrowed by a service's `uses.<node>`."""

    def secrets(self, config: Any) -> list[str]:
        """Every secret value of its block: what the masker must hide."""

    def native(self, node: Node, ctx: Any) -> LaunchSpec:
        """How it runs as a plain process (no side effects)."""

    def prepare(self, node: Node, ctx: Any) -> list[str] | None:
        """What must exist on disk before it starts (initdb, configs); notes for the run log."""

    def binary_version(self, bins: dict[str, str], run: Callable[[list[str]], str]) -> BinaryVersion | None:
        """What the found binaries are (run(argv) -> output, cached); None: unknown."""

    def version_sources(self, wanted: tuple[int, ...]) -> dict[str, str]:
        """Where a wanted `version:` comes from ({apt|brew|pip|note: ...}), for the preflight error."""

    # ---- the container facet (render compose and k8s, the compose runtime); defaults in components/base.py
    @property
    def CONTAINER(self) -> Container | None:  # noqa: N802
        """Image, default tag and the version -> tag rule, ports, data path, fsGroup, resources, secret env keys, its
        health check's http client, its one-shots' style, definitions loaded at boot; None: not run in a container."""

    def container_env(self, node: Node, target: Target) -> dict[str, str]:
        """What its official image reads (user, database, password...), before the block's own `env:`; raw values
        (the renderer escapes them, and references the keys CONTAINER.secret_env names). Default: {}."""

    def container_args(self, node: Node, target: Target) -> list[str]:
        """The container's command (Compose `command:`) or args (Kubernetes `args:`); [] keeps the image's.
        Default: []."""

    def job_env(self, node: Node) -> dict[str, str]:
        """The env its one-shots (render/jobs.py) run with in Compose, raw values. Default: {}."""

    # ---- members added by the monitoring/provisioning/model side; types and defaults in components/facets.py
    @property
    def CONFIG(self) -> type[ComponentBase]:  # noqa: N802
        """Its stapel.yaml block: a pydantic model with `kind: Literal["<its registry key>"]` (the Stack's union member)."""

    @property
    def METRICS(self) -> MetricsEndpoint | None:  # noqa: N802
        """Where it serves Prometheus metrics itself (port name, path, params); None: nowhere (see EXPORTER)."""

    @property
    def EXPORTER(self) -> Exporter | None:  # noqa: N802
        """The exporter standing in for its missing endpoint in Compose and Kubernetes (image, port, env); None: none."""

    @property
    def DASHBOARDS(self) -> tuple[Dashboard, ...]:  # noqa: N802
        """Its Grafana dashboards: (uid, title, panels), selecting by the `kind` label."""

    @property
    def GRAFANA_DATASOURCE(self) -> str | None:  # noqa: N802
        """The Grafana datasource type it serves as (Prometheus: "prometheus"); None: it is no datasource."""

    @property
    def SCRAPES_STACK(self) -> bool:  # noqa: N802
        """It reads the stack's scrape config (monitoring/prometheus.py: natively through ctx.stack_files)."""

    @property
    def SHOWS_STACK(self) -> bool:  # noqa: N802
        """It reads the stack's Grafana provisioning (monitoring/grafana.py: natively through ctx.stack_files)."""

    def scrape_key(self, config: Any) -> str | None:
        """The secret a scrape of it sends (a Bearer token), "" for a slot without one, None: none. Default: None."""

    @property
    def PROVISIONER(self) -> str | None:  # noqa: N802
        """Its provisioner: a module of stapel.provision giving wanted/ensure/apply for one node; None: nothing to set up."""

    @property
    def BINARIES(self) -> BinarySearch:  # noqa: N802
        """Where runtimes/native/binaries.py looks for PROGRAMS beyond PATH, and how the preflight says to install them."""

    @property
    def DATABASE(self) -> bool:  # noqa: N802
        """An SQL database server: `stapel db` and stapel.testing's per-test databases work on it."""

    def input_files(self, config: Any) -> list[str]:
        """Files besides stapel.yaml it reads at `up` (relative to the project): a changed one is no no-op. Default: []."""
