"""Ports: busy ones are found before anything starts; in an auto contour they move, and stay moved."""

from __future__ import annotations

import json
from typing import Any

from stapel.components import kind_module
from stapel.engine.stack import Stack
from stapel.errors import PreflightError

SEARCH_SPAN = 200


def _state_file(stack: Stack):
    return stack.paths.state / "ports.json"


def load_remembered(stack: Stack) -> dict[str, dict[str, dict[str, int]]]:
    try:
        return json.loads(_state_file(stack).read_text())
    except (OSError, ValueError):
        return {}


def _internal(stack: Stack, node_name: str, port_name: str) -> bool:
    node = stack.nodes[node_name]
    return not node.is_service and port_name in kind_module(node.kind).INTERNAL_PORTS


def _config_path(stack: Stack, node_name: str, port_name: str) -> str:
    node = stack.nodes[node_name]
    section = "services" if node.is_service else "components"
    key = "port" if port_name == "main" else f"{port_name}_port"
    return f"{section}.{node_name}.{key}"


def resolve(stack: Stack, runtime: Any, running: dict[str, dict[str, Any]]) -> list[str]:
    """Give every node its ports, in place. Returns what changed ("db: 5432 busy -> 5433")."""
    remembered = load_remembered(stack)
    claimed: set[int] = set()
    problems: list[str] = []
    notes: list[str] = []
    # ports of what already runs are theirs: claim them first
    order = sorted(stack.nodes, key=lambda n: (n not in running, n))
    for name in order:
        node = stack.nodes[name]
        for port_name, wanted in list(node.ports.items()):
            memory = remembered.get(name, {}).get(port_name)
            if name in running and memory and memory.get("configured") == wanted:
                node.ports[port_name] = memory["chosen"]
                claimed.add(memory["chosen"])
                continue
            chosen, note, problem = _choose(stack, runtime, name, port_name, wanted, memory, claimed)
            if problem:
                problems.append(problem)
                continue
            node.ports[port_name] = chosen
            claimed.add(chosen)
            if note:
                notes.append(note)
    if problems:
        raise PreflightError(problems[0], problems=problems[1:])
    save(stack)
    return notes


def _choose(stack: Stack, runtime: Any, name: str, port_name: str, wanted: int, memory: dict | None, claimed: set[int]):
    movable = stack.auto_ports or _internal(stack, name, port_name)
    if memory and memory.get("configured") == wanted and movable:
        chosen = memory["chosen"]
        if chosen not in claimed and chosen not in stack.reserved_ports and runtime.port_holder(chosen) is None:
            return chosen, None, None
    holder = "another part of this stack" if wanted in claimed else runtime.port_holder(wanted)
    if holder is None:
        return wanted, None, None
    if not movable:
        return None, None, (
            f"{_config_path(stack, name, port_name)}: port {wanted} is busy (held by {holder}); "
            f"choose a free port there, or set contours.{stack.contour}.ports: auto"
        )
    for candidate in range(wanted + 1, min(wanted + SEARCH_SPAN, 65535)):
        if candidate not in claimed and candidate not in stack.reserved_ports and runtime.port_holder(candidate) is None:
            note = None if _internal(stack, name, port_name) else f"{name}: port {wanted} is held by {holder}; using {candidate}"
            return candidate, note, None
    return None, None, f"{_config_path(stack, name, port_name)}: no free port in {wanted}..{wanted + SEARCH_SPAN}"


def save(stack: Stack) -> None:
    data = {
        name: {
            port_name: {"configured": configured, "chosen": node.ports[port_name]}
            for port_name, configured in node.configured.items()
        }
        for name, node in stack.nodes.items()
    }
    path = _state_file(stack)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def apply_remembered(stack: Stack) -> None:
    """Give nodes the ports chosen at the last `up` (for commands that do not resolve ports themselves)."""
    remembered = load_remembered(stack)
    for name, node in stack.nodes.items():
        for port_name, wanted in list(node.ports.items()):
            memory = remembered.get(name, {}).get(port_name)
            if memory and memory.get("configured") == wanted:
                node.ports[port_name] = memory["chosen"]
