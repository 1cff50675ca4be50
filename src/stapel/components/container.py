"""Asking a node's kind for its container facet (components/contract.py: CONTAINER, container_env, container_args)."""

from __future__ import annotations

from types import ModuleType
from typing import Any

from stapel.components.base import Container, Node, Resources
from stapel.errors import ConfigError


def kind_of(node: Node) -> ModuleType:
    from stapel.components import kind_module

    return kind_module(node.kind)


def container_kinds() -> list[str]:
    """Every registered kind that runs in a container."""
    from stapel.components import kinds

    return sorted(kind for kind, module in kinds().items() if getattr(module, "CONTAINER", None) is not None)


def container_of(node: Node) -> Container:
    """The component's image, ports and volume; a kind without one cannot be rendered (one line, exit 1)."""
    found = getattr(kind_of(node), "CONTAINER", None)
    if found is None:
        raise ConfigError(f"components.{node.name}.kind: no container image is known for kind '{node.kind}'",
                          hint=f"known: {', '.join(container_kinds())}")
    return found


def container_ports(node: Node) -> dict[str, int]:
    return dict(container_of(node).ports)


def image_of(node: Node) -> str:
    return container_of(node).image_for(node.config)


def resources_of(node: Node) -> Resources:
    if node.is_service:
        from stapel.components.service import RESOURCES

        return RESOURCES
    return container_of(node).resources


def env_of(node: Node, target: Any) -> dict[str, str]:
    return kind_of(node).container_env(node, target)


def args_of(node: Node, target: Any) -> list[str]:
    return kind_of(node).container_args(node, target)


def files_of(stack: Any, node: Node, host_of: Any, target: str = "compose") -> dict[str, str]:
    """The files its container reads ({path in the container: text}); a kind without container_files has none."""
    from stapel.components import base

    return getattr(kind_of(node), "container_files", base.container_files)(stack, node, host_of, target)


def file_key(path: str) -> str:
    """A container file's name beside compose.yaml (files/<node>/<key>) and in its ConfigMap: its base name."""
    return path.rsplit("/", 1)[-1]
