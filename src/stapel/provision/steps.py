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
    if node.kind == "redis":
        from stapel.provision import redis

        return bool(redis.wanted(stack, node))  # the services' own ACL users
    if node.kind == "consul":
        return bool(config.kv)
    if node.kind == "qdrant":
        return bool(config.collections)
    return False


def run_all(stack: Any, nodes: list[Any], log: Callable[[str], None]) -> list[str] | None:
    """The changes made, or None when no component declares anything to provision (and none had to be
    recreated: a postgres component's own `database:` is created again after `stapel db drop`)."""
    from stapel.provision import postgres

    wanted = [node for node in nodes if declared(stack, node)]
    changes: list[str] = []
    for node in nodes:
        if node.kind == "postgres":
            changes += postgres.ensure_database(node.name, node.config, node.port)
    for change in changes:
        log(change)
    if not wanted:
        return changes or None
    for node in wanted:
        if node.kind == "postgres":
            changes += postgres.provision(node.name, node.config, node.port, log)
        elif node.kind == "rabbitmq":
            from stapel.provision import rabbitmq

            changes += rabbitmq.provision(stack, say=log, only=node.name)
        elif node.kind == "redis":
            from stapel.provision import redis

            changes += redis.provision(stack, node, log)
        elif node.kind in ("consul", "qdrant"):
            from stapel.provision import consul, qdrant

            changes += {"consul": consul, "qdrant": qdrant}[node.kind].provision(node.name, node.config, node.port, log)
    return changes
