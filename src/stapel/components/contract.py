"""The kind contract: what every kind MODULE (postgres.py, redis.py, ...) provides, as a typed Protocol.

Modules satisfy a Protocol structurally (mypy checks `kind: Kind = postgres`), the way pre-commit's language
modules satisfy its `Language` Protocol. A method below is a module-level function of the kind (no `self` in the
module); an attribute is a module constant. Members with a default are defined in components/base.py and a kind
module re-exports (imports) them unless it overrides them, like pre-commit's `lang_base`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from stapel.components.base import BinaryVersion, Container, LaunchSpec, Node, Target
    from stapel.env.connections import Exports
    from stapel.probes import ProbeSpec


class Kind(Protocol):
    # ---- native: ports, launch, readiness, what services get
    DEFAULT_PORTS: Mapping[str, int]  # named ports with their standard numbers; "main" is the one users connect to
    INTERNAL_PORTS: tuple[str, ...]  # names of ports nobody connects to by number (always moved when busy)
    PROGRAMS: list[str]  # the binaries native() needs ("redis-server|valkey-server": either one)

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
    CONTAINER: Container | None  # image, default tag and the version -> tag rule, ports, data path, fsGroup, resources,
    #                              secret env keys, its health check's http client, its one-shots' style; None: not run in a container

    def container_env(self, node: Node, target: Target) -> dict[str, str]:
        """What its official image reads (user, database, password...), before the block's own `env:`; raw values
        (the renderer escapes them, and references the keys CONTAINER.secret_env names). Default: {}."""

    def container_args(self, node: Node, target: Target) -> list[str]:
        """The container's command (Compose `command:`) or args (Kubernetes `args:`); [] keeps the image's.
        Default: []."""

    def job_env(self, node: Node) -> dict[str, str]:
        """The env its one-shots (render/jobs.py) run with in Compose, raw values. Default: {}."""

    # ---- members added by the monitoring/provisioning/model side
