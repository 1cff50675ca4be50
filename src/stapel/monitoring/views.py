"""Where Prometheus and Grafana reach each node: one view per runtime.

    native   127.0.0.1 and the resolved host ports; PostgreSQL and Redis have no /metrics of their own and no
             exporter runs natively, so they are not scraped
    compose  Compose service names and container ports; an exporter service `<node>-exporter` per PostgreSQL
             and Redis node (profile monitoring)
    k8s      Kubernetes Service names and container ports; the exporter is a sidecar of the node's pod, its port
             `metrics` on the node's own Service
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stapel.components.base import Node
from stapel.env.connections import HOST
from stapel.render.inside import InsideStack, inside

# kind without a native endpoint -> (exporter image, its port)
EXPORTERS = {
    "postgres": ("prometheuscommunity/postgres-exporter:v0.15.0", 9187),
    "redis": ("oliver006/redis_exporter:v1.62.0", 9121),
}


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
        if node.kind not in EXPORTERS or self.runtime == "native":
            return None
        port = EXPORTERS[node.kind][1]
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
