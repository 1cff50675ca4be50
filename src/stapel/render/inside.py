"""The stack as seen from inside a container network (Compose, Kubernetes): every node is reached by a
name instead of 127.0.0.1, on its container port. Services get exactly the env they get natively
(Stack.service_env: names, prefixes, formats), only re-hosted."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

from stapel.components.base import Node
from stapel.components.stack import Stack
from stapel.env.connections import HOST, Exports

LISTEN_ALL = "0.0.0.0"  # where a service in a container listens (HOST): 127.0.0.1 there is the container's own


@dataclass
class InsideStack(Stack):
    host_of: Callable[[str], str] = str  # node name -> its host name in the network
    published: Stack | None = None  # the host's view when the nodes' ports are published there as natively (Compose)

    def public_url(self, node: Node) -> str | None:
        """The developer's machine reaches a node through its published port (Compose: the native URL, on the contour's
        host port), else (Kubernetes: ClusterIP Services) through `kubectl port-forward svc/<node> <port>`, which
        listens on 127.0.0.1:<port>: the node's URL in the network with 127.0.0.1 as its host."""
        if self.published is not None:
            return self.published.public_url(self.published.nodes[node.name])
        return super().public_url(node)

    def volume_at(self, node: Node, name: str, path: str) -> str:
        """Inside a container a volume is where it is mounted: the path stapel.yaml gives it."""
        return path

    def exports(self, node: Node, use: Any = None, service_name: str | None = None) -> Exports:
        found, host = super().exports(node, use, service_name), self.host_of(node.name)
        return Exports(*({k: rehost(v, host) for k, v in part.items()} for part in (found.kind_wide, found.by_name, found.admin)))


def inside(stack: Stack, host_of: Callable[[str], str], ports_of: Callable[[Node], dict[str, int]],
           published: bool = False) -> InsideStack:
    """`published`: the nodes' ports are published on the developer's machine as natively (Compose's `ports:`)."""
    values = {f.name: getattr(stack, f.name) for f in fields(Stack)}
    values["nodes"] = {name: Node(name, n.kind, n.config, ports_of(n), ports_of(n)) for name, n in stack.nodes.items()}
    return InsideStack(**values, host_of=host_of, published=stack if published else None)


def rehost(value: str, host: str) -> str:
    if value == HOST:
        return host
    return value.replace(f"@{HOST}:", f"@{host}:").replace(f"//{HOST}:", f"//{host}:")


def compose_ports(node: Node) -> dict[str, int]:
    """A service listens on its (published) port inside its container too; a component on its image's ports."""
    from stapel.components.container import container_ports

    return dict(node.ports) if node.is_service or not node.runs else {**node.ports, **container_ports(node)}
