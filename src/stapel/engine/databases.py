"""`stapel db drop` (and the first half of `db reset`): every postgres component's own databases, declared schemas
and roles dropped, on the running stack only; the next up provisions again from scratch."""

from __future__ import annotations

from typing import Any

from stapel.components import kind_module
from stapel.engine import expected, ports
from stapel.errors import StapelError


def drop(stack: Any, command: str) -> tuple[list[str], list[str]]:
    """(what was dropped, what was already absent); `command` names the user's command in the messages."""
    from stapel.provision import postgres
    from stapel.provision.rabbitmq import require_running

    ports.apply_remembered(stack)
    nodes = [n for n in stack.components() if kind_module(n.kind).DATABASE]
    targets = [n for n in nodes if postgres.droppable(n.config)]
    if not nodes:
        raise StapelError(f"db {command}: no postgres component in {stack.file.name}")
    if not targets:
        raise StapelError(f"db {command}: components.{nodes[0].name}: no database of its own to drop (stapel never "
                          f"drops the maintenance database '{postgres.MAINTENANCE_DB}')",
                          hint=f"give the application's data its own: components.{nodes[0].name}.database: NAME")
    require_running(stack, targets)  # never a server of someone else's that holds the configured port
    dropped, absent = [], []
    for node in targets:
        done, missing = postgres.drop(node.name, node.config, node.port)
        dropped += done
        absent += missing
    expected.forget(stack.paths, [])  # the next up provisions again, never the fast path
    return dropped, absent
