"""The Execution Engine's model of a schema (seed 002: "JSON с нодами и рёбрами"): what a definition must hold and
what each node type does. No I/O here: worker.py runs the nodes, records every step and handles the failures.

    {"nodes": [{"id": "start", "type": "start"},
               {"id": "greet", "type": "template", "config": {"var": "greeting", "template": "Hello, {name}"}},
               {"id": "notify", "type": "call", "config": {"service": "mailer", "unavailable_attempts": 1}},
               {"id": "end", "type": "end"}],
     "edges": [{"from": "start", "to": "greet"}, {"from": "greet", "to": "notify"}, {"from": "notify", "to": "end"}]}

Node types: start (the one entry), set {var, value}, template {var, template} (str.format over the context),
condition {var} (edges carry "when": true/false), call {service, unavailable_attempts, reject} (a stand-in for an
external service: unavailable on its first `unavailable_attempts` attempts, a Temporary failure; `reject`, a
Permanent one), end. The trigger's payload is the initial context.
"""

from __future__ import annotations

from typing import Any

from stapel.kit.bus import Permanent, Temporary

TYPES = ("start", "set", "template", "condition", "call", "end")


class InvalidDefinition(ValueError):
    """A definition the engine cannot run; the message says where."""


def validate(definition: Any) -> None:
    if not isinstance(definition, dict) or not isinstance(definition.get("nodes"), list):
        raise InvalidDefinition("definition: expected {\"nodes\": [...], \"edges\": [...]}")
    ids = [n.get("id") if isinstance(n, dict) else None for n in definition["nodes"]]
    for i, node in enumerate(definition["nodes"]):
        if not isinstance(node, dict) or not isinstance(node.get("id"), str) or node.get("type") not in TYPES:
            raise InvalidDefinition(f"nodes[{i}]: needs a string id and a type of {', '.join(TYPES)}")
    if len(set(ids)) != len(ids):
        raise InvalidDefinition("nodes: ids must be unique")
    if [n["type"] for n in definition["nodes"]].count("start") != 1:
        raise InvalidDefinition("nodes: exactly one node of type start")
    for i, edge in enumerate(definition.get("edges") or []):
        if not isinstance(edge, dict) or edge.get("from") not in ids or edge.get("to") not in ids:
            raise InvalidDefinition(f"edges[{i}]: from and to must name nodes")


def start_node(definition: dict) -> str:
    return next(n["id"] for n in definition["nodes"] if n["type"] == "start")


def node_by_id(definition: dict, node_id: str) -> dict:
    return next(n for n in definition["nodes"] if n["id"] == node_id)


def run_node(node: dict, context: dict[str, Any], attempt: int) -> dict[str, Any]:
    """One node: its output (merged into the context by the caller). Temporary / Permanent on failure."""
    config, kind = node.get("config") or {}, node["type"]
    if kind == "set":
        return {config["var"]: config.get("value")}
    if kind == "template":
        try:
            return {config["var"]: str(config["template"]).format(**context)}
        except KeyError as exc:
            raise Permanent("template", f"node {node['id']}: the context has no {exc.args[0]!r}") from None
    if kind == "call":
        service = config.get("service", "external")
        if config.get("reject"):
            raise Permanent(service, f"node {node['id']}: {config['reject']}")
        if attempt <= int(config.get("unavailable_attempts", 0)):
            raise Temporary(service, f"node {node['id']}: {service} is unavailable (attempt {attempt})")
        return {f"{node['id']}_result": {"service": service, "ok": True, "attempt": attempt}}
    return {}  # start, condition, end: no output of their own


def next_node(definition: dict, node: dict, context: dict[str, Any]) -> str | None:
    edges = [e for e in definition.get("edges") or [] if e["from"] == node["id"]]
    if node["type"] == "condition":
        wanted = bool(context.get((node.get("config") or {}).get("var")))
        edges = [e for e in edges if bool(e.get("when", True)) == wanted]
    return edges[0]["to"] if edges and node["type"] != "end" else None
