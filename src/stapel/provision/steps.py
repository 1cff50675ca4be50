"""The `provision` step of `up`: each component kind that declares something to set up inside it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def declared(stack: Any, node: Any) -> bool:
    config = node.config
    if node.kind == "postgres":
        return bool(config.databases or config.roles)
    if node.kind == "rabbitmq":
        from stapel.provision import rabbitmq

        topology = rabbitmq.declared(stack, node)  # stapel.yaml, AsyncAPI documents, *_RABBITMQ_URL values
        return bool(topology.vhosts or topology.users)
    if node.kind == "consul":
        return bool(config.kv)
    if node.kind == "qdrant":
        return bool(config.collections)
    return False


def run_all(stack: Any, nodes: list[Any], log: Callable[[str], None]) -> list[str] | None:
    """The changes made, or None when no component declares anything to provision (and none had to be
    recreated: a postgres component's own `database:` is created again after `stapel db drop`)."""
    from stapel.provision import postgres

    nodes = [_provisioned_as(stack, node) for node in nodes]
    wanted = [node for node in nodes if declared(stack, node)]
    changes: list[str] = []
    for node in nodes:
        if node.kind == "postgres":
            changes += postgres.ensure_database(node.name, node.config, node.port, node.host)
    for change in changes:
        log(change)
    if not wanted:
        return changes or None
    for node in wanted:
        if node.kind == "postgres":
            changes += postgres.provision(node.name, node.config, node.port, log, node.host)
        elif node.kind == "rabbitmq":
            from stapel.provision import rabbitmq

            changes += rabbitmq.provision(stack, say=log, only=node.name)
        elif node.kind in ("consul", "qdrant"):
            from stapel.provision import consul, qdrant

            changes += {"consul": consul, "qdrant": qdrant}[node.kind].provision(node.name, node.config, node.port, log)
    return changes


def _provisioned_as(stack: Any, node: Any) -> Any:
    """An external component is provisioned as the node of the kind it serves (its config filled from its URL, its host
    the URL's); `reachable`: its kind's provisioner can reach that host (external.py says which can)."""
    from stapel.components import kind_module

    served = getattr(kind_module(node.kind), "provisioned_as", None)
    if served is None:
        return node
    as_served, reachable = served(node)
    if not reachable and declared(stack, as_served):
        from stapel.errors import ConfigError

        raise ConfigError(f"components.{node.name}: provisioning an external {as_served.kind} that is not on this machine is not "
                          "supported yet", hint="create what it declares there, and remove it from stapel.yaml")
    return as_served
