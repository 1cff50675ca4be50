"""Compose health checks from stapel's probes, runnable inside each image: the probe's type says how it looks
(probes/forms.py), the node's kind what its image has (CONTAINER.http_client; a project image may lack curl and wget:
python3 is the last resort there)."""

from __future__ import annotations

from typing import Any

from stapel.components.base import Node
from stapel.components.container import container_of, container_ports
from stapel.probes import InContainer
from stapel.probes.forms import compose_healthcheck, duration
from stapel.render.compose_vars import Refs, compose_target, escape

__all__ = ["duration", "healthcheck"]


def _container_port(node: Node, port: int | None) -> int | None:
    """A probe's host port as seen inside the node's own container."""
    if node.is_service or port is None:
        return port
    inside = container_ports(node)
    return next((inside[name] for name, host in node.ports.items() if host == port and name in inside), port)


def healthcheck(spec: Any, node: Node, refs: Refs) -> dict[str, Any] | None:
    if spec is None:
        return None
    target = compose_target(refs)
    where = InContainer(port=_container_port(node, spec.params.get("port")),
                        http_client="curl|wget|python3" if node.is_service else container_of(node).http_client,
                        secret=lambda key, value: target.secret(node, key, value), text=escape)
    return compose_healthcheck(spec, where)
