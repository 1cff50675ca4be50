"""Where Prometheus and Grafana reach each node: one view per runtime.

    native   127.0.0.1 and the resolved host ports; a kind with no metrics of its own (its EXPORTER stands in
             for it) is not scraped: no exporter runs natively
    compose  Compose service names and container ports; an exporter service `<node>-exporter` per node of a
             kind with an EXPORTER (in the Prometheus' profiles)
    k8s      Kubernetes Service names and container ports; the exporter is a sidecar of the node's pod, its port
             `metrics` on the node's own Service
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stapel.components import kind_module
from stapel.components.base import Node
from stapel.components.facets import Exporter
from stapel.env.connections import HOST
from stapel.render.inside import InsideStack, inside


def scrapes(node: Node) -> bool:
    """Whether the node's kind scrapes the stack: it reads prometheus.yml (SCRAPES_STACK)."""
    return not node.is_service and kind_module(node.kind).SCRAPES_STACK


def shows(node: Node) -> bool:
    """Whether the node's kind shows the stack: it reads Grafana's provisioning (SHOWS_STACK)."""
    return not node.is_service and kind_module(node.kind).SHOWS_STACK


def exporter_of(node: Node) -> Exporter | None:
    """The exporter standing in for a component whose kind has no metrics endpoint of its own (None: it has one)."""
    return None if node.is_service else kind_module(node.kind).EXPORTER


@dataclass
class View:
    runtime: str  # native | compose | k8s
    stack: InsideStack  # hosts and ports as this runtime's network has them

    def host(self, name: str) -> str:
        return self.stack.host_of(name)

    def address(self, name: str, port_name: str = "main") -> str:
        return f"{self.host(name)}:{self.stack.nodes[name].ports[port_name]}"

    def exporter(self, node: Node) -> str | None:
        """host:port of the exporter standing in for a kind without its own endpoint (None natively)."""
        exporter = exporter_of(node)
        if exporter is None or self.runtime == "native":
            return None
        port = exporter.port
        return f"{exporter_name(node.name)}:{port}" if self.runtime == "compose" else f"{self.host(node.name)}:{port}"


def exporter_name(name: str) -> str:
    return f"{name}-exporter"


def native_view(stack: Any) -> View:
    """After preflight, node.ports are the ports actually used (busy ones moved)."""
    return View("native", inside(stack, lambda name: HOST, lambda node: dict(node.ports)))


def compose_view(stack: Any) -> View:
    from stapel.render.inside import compose_ports

    return View("compose", inside(stack, str, compose_ports))


def k8s_view(stack: Any) -> View:
    from stapel.render.k8s_objects import cluster_stack

    return View("k8s", cluster_stack(stack))
