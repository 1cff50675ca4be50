"""The resolved stack: stapel.yaml loaded for one contour, its nodes, their env and secrets."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stapel.components import kind_module, service
from stapel.components.base import Node
from stapel.errors import ConfigError
from stapel.paths import Paths
from stapel.probes import ProbeSpec


@dataclass
class Stack:
    name: str
    file: Path
    contour: str
    model: Any  # StackFile
    nodes: dict[str, Node]
    file_hash: str
    env: dict[str, str] = field(default_factory=dict)

    @property
    def root(self) -> Path:
        return self.file.parent

    @property
    def paths(self) -> Paths:
        return Paths(self.root, self.contour)

    @property
    def auto_ports(self) -> bool:
        ports = self.model.contours[self.contour].ports
        return ports == "auto" if ports else self.contour == "dev"

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

    def exports(self, node: Node) -> dict[str, str]:
        return service.exports(node) if node.is_service else kind_module(node.kind).exports(node)

    def service_env(self, node: Node) -> dict[str, str]:
        """Endpoints of every component and other service; the kind-wide names (DATABASE_URL, ...) of the
        ones this service depends on win over the others."""
        env: dict[str, str] = {}
        others = [n for n in self.nodes.values() if n.name != node.name and n.name not in node.depends_on]
        for other in others + [self.nodes[d] for d in node.depends_on if d in self.nodes]:
            env.update(self.exports(other))
        return env

    def secrets(self) -> list[str]:
        values = []
        for node in self.components():
            values += kind_module(node.kind).secrets(node.config)
        return sorted({v for v in values if v and len(v) >= 3}, key=len, reverse=True)

    def masker(self):  # noqa: ANN201
        from stapel.env.masking import Masker

        return Masker(self.secrets())

    def endpoint(self, node: Node) -> str:
        return f"127.0.0.1:{node.port}" if node.port else "-"


def configured_ports(name: str, config: Any, kind: str) -> dict[str, int]:
    if kind == "service":
        return {"main": config.port} if config.port else {}
    return kind_module(kind).configured_ports(config)


def open_stack(file: Path, contour: str | None = None, env: dict[str, str] | None = None) -> Stack:
    from stapel.model.loader import load
    from stapel.model.schema import did_you_mean

    loaded = load(file, env)
    model = loaded.model
    contour = contour or model.contour
    if contour not in model.contours:
        raise ConfigError(f"--contour: unknown contour '{contour}'{did_you_mean(contour, sorted(model.contours))}",
                          hint=f"declare it under contours: in {file.name}")
    nodes: dict[str, Node] = {}
    for name, config in model.components.items():
        nodes[name] = Node(name, config.kind, config, configured_ports(name, config, config.kind))
    for name, config in model.services.items():
        nodes[name] = Node(name, "service", config, configured_ports(name, config, "service"))
    return Stack(
        name=model.name or _project_name(file.parent),
        file=file,
        contour=contour,
        model=model,
        nodes=nodes,
        file_hash=hashlib.sha256(file.read_bytes()).hexdigest()[:16],
        env=loaded.env,
    )


def _project_name(root: Path) -> str:
    import re

    name = re.sub(r"[^a-z0-9_-]+", "-", root.name.lower()).strip("-")
    return name or "stack"
