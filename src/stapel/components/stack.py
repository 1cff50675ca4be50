"""The resolved stack: stapel.yaml loaded for one contour, its nodes, their env and secrets.

It lives below the engine so that renderers (render/inside.py re-hosts it for a container network) use it
without reaching up; engine/stack.py opens it (open_stack)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stapel.components import kind_module, service
from stapel.components.base import Node
from stapel.env import derived
from stapel.env.connections import Exports
from stapel.env.derived import GivenEnv
from stapel.errors import StapelError
from stapel.paths import Paths
from stapel.probes import ProbeSpec


@dataclass
class Stack:
    name: str
    file: Path
    contour: str  # as declared: dev, stage
    model: Any  # StackFile
    nodes: dict[str, Node]
    file_hash: str
    env: dict[str, str] = field(default_factory=dict)
    settings: Any = None  # the contour's Contour block, its from: chain merged
    slot: int | None = None
    env_files: list[Path] = field(default_factory=list)
    reserved_ports: frozenset[int] = frozenset()  # other contours' fixed ports: a moved port skips them
    left_out: list[str] = field(default_factory=list)  # nodes the contour's profiles leave out (model/profiles.py)
    env_templates: dict[str, dict[str, str]] = field(default_factory=dict)  # service -> env key -> value as written (${VAR})
    _secrets: list[str] | None = field(default=None, repr=False)

    @property
    def root(self) -> Path:
        return self.file.parent

    @property
    def instance(self) -> str:
        """What this contour (and slot) is called on disk, in node names and locks."""
        from stapel.model.contours import instance

        return instance(self.contour, self.slot)

    @property
    def paths(self) -> Paths:
        return Paths(self.root, self.instance, tuple(sorted(self.settings.volumes.items())) if self.settings else ())

    @property
    def auto_ports(self) -> bool:
        policy = self.settings.ports.policy if self.settings else None
        return policy == "auto" if policy else self.contour == "dev"

    @property
    def network(self) -> str:
        return (self.settings.network if self.settings else None) or f"{self.name}-{self.instance}"

    def components(self) -> list[Node]:
        return [n for n in self.nodes.values() if not n.is_service]

    def services(self) -> list[Node]:
        return [n for n in self.nodes.values() if n.is_service]

    def edges(self) -> dict[str, list[str]]:
        return {name: list(node.depends_on) for name, node in self.nodes.items()}

    def probe(self, node: Node) -> ProbeSpec | None:
        if node.is_service:
            return service.probe(node)
        return kind_module(node.kind).probe(node)

    def exports(self, node: Node, use: Any = None, service_name: str | None = None) -> Exports:
        """What `node` gives a service, narrowed by that service's `uses.<node>` (a schema, a Redis db); with the
        service's name, as that service sees it (a shared broker: the service's own user)."""
        if node.is_service:
            return service.exports(node)
        module = kind_module(node.kind)
        if service_name and hasattr(module, "service_exports"):
            found = module.service_exports(node, service_name, use, self.all_env())
        else:
            found = module.exports(node, use)
        admin = getattr(module, "admin_url", None)
        return found._replace(admin={"ADMIN_URL": admin(node, use)}) if admin and service_name else found

    def all_env(self) -> dict[str, str]:
        """The project's env under every service's own env: where *_RABBITMQ_URL users come from (seed 000)."""
        env = dict(self.env)
        for node in self.services():
            env.update(node.config.env)
        return env

    def users_of(self, node: Node) -> dict[str, Any]:
        """The services that see `node` (depends_on or uses), each with its `uses.<node>` block (or None)."""
        return {s.name: s.config.uses.get(node.name) for s in self.services() if node.name in s.depends_on or node.name in s.config.uses}

    def service_env(self, node: Node) -> GivenEnv:
        """What a service sees: the nodes in its depends_on, then those in its uses:, every name under its
        env_prefix. Names under a node's own name (DB_URL, ...) are always there; the kind-wide ones
        (DATABASE_URL, REDIS_URL, ...) come from the first node of each kind in that order. It also knows how to
        expand the service's own env on top (env/derived.py: `${NAME}` of what the service is given)."""
        kind_wide: dict[str, str] = {}
        by_name: dict[str, str] = {}
        refs: dict[str, str] = {}
        unpublished: dict[str, str] = {}  # <P><NODE>_PUBLIC_URL of a node without one: why, should the env name it
        kinds_seen: set[str] = set()
        for name in dict.fromkeys([*node.depends_on, *node.config.uses]):
            other = self.nodes[name]
            found = self.exports(other, node.config.uses.get(name), node.name)
            if other.speaks not in kinds_seen:  # an external postgres gives DATABASE_URL like a local one
                kinds_seen.add(other.speaks)
                kind_wide.update(found.kind_wide)
            by_name.update({f"{other.env_name}_{key}": value for key, value in found.by_name.items()})
            refs.update({f"{node.config.env_prefix}{other.env_name}_{key}": value for key, value in found.admin.items()})
            public, key = self.public_url(other), f"{node.config.env_prefix}{other.env_name}_PUBLIC_URL"
            if public:
                refs[key] = public
            else:
                unpublished[key] = (f"{key}: '{other.name}' publishes no HTTP port on the developer's machine"
                                    f"{'' if other.is_service else ' (it is no HTTP server)'}; give it a port, or use "
                                    f"{node.config.env_prefix}{other.env_name}_URL inside the network")
        prefixed = {f"{node.config.env_prefix}{key}": value for key, value in {**kind_wide, **by_name}.items()}
        templates = self.env_templates.get(node.name, {})

        def own(below: Any) -> dict[str, str]:
            if not templates:
                return dict(node.config.env)
            return derived.resolve(node.config.env, templates, below, refs, self.env, unpublished)

        return GivenEnv({**prefixed, **self.volume_env(node)}, own)

    def public_url(self, node: Node) -> str | None:
        """Where the developer's browser reaches `node` over HTTP (<P><NODE>_PUBLIC_URL, env/derived.py): natively its
        URL, moved port included; None when it has no HTTP address (no port, a database)."""
        return http_only(Stack.exports(self, node).by_name.get("URL"))  # this class's: 127.0.0.1, never a network host

    def volume_env(self, node: Node) -> dict[str, str]:
        """A service's own volumes (never prefixed, like HOST and PORT): <NAME>_DIR -> where it is, here a folder
        under .local/data (a contour may rename it: `volumes: {api.data: app_data_stage}`)."""
        volumes = node.config.volumes if node.is_service else {}
        return {service.volume_variable(name): self.volume_at(node, name, path) for name, path in volumes.items()}

    def volume_at(self, node: Node, name: str, path: str) -> str:
        """Where a service's volume `name` is for it (`path`: where it is mounted in a container)."""
        return str(self.paths.volume(node.name, name))

    def secrets(self) -> list[str]:
        """Every secret value the stack knows: component passwords, and the values of secret keys (declared
        under env.secrets, marked in an example, or named like one) in the .env files, the contour's env
        files, the environment and the services' env. Computed once: it reads the .env files."""
        if self._secrets is None:
            from stapel.env.secrets import secret_values

            values = [v for node in self.components() for v in kind_module(node.kind).secrets(node.config)]
            extra = self.all_env()
            for node in self.services():
                try:
                    env = service.declared_env(node, self.root, self.service_env(node))  # own broker users, derived values
                    extra.update({f"{node.name}:{k}": v for k, v in env.items()})
                except (StapelError, ValueError):  # reported where the env is used; the masker must still be built
                    pass
            values += secret_values(self.root, self.model.env, extra)
            self._secrets = sorted({v for v in values if v and len(v) >= 3}, key=len, reverse=True)
        return self._secrets

    def masker(self):
        from stapel.env.masking import Masker

        return Masker(self.secrets())

    def endpoint(self, node: Node) -> str:
        return f"127.0.0.1:{node.port}" if node.port else "-"


def http_only(url: str | None) -> str | None:
    return url if url and url.startswith(("http://", "https://")) else None
