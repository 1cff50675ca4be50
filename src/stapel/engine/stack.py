"""Opening the resolved stack (components/stack.py): stapel.yaml loaded for one contour, its nodes and ports."""

from __future__ import annotations

import hashlib
from pathlib import Path

from stapel.components.base import Node
from stapel.components.stack import Stack
from stapel.errors import ConfigError

__all__ = ["Stack", "open_stack"]


def open_stack(file: Path, contour: str | None = None, env: dict[str, str] | None = None, slot: int | None = None,
               whole: bool = False) -> Stack:
    """The contour's stack: the nodes its profiles run (every declared node with `whole`: the kustomize base)."""
    from stapel.components import load
    from stapel.model.ports import fixed_elsewhere, node_ports
    from stapel.model.profiles import left_out

    if slot is not None and slot < 0:
        raise ConfigError(f"--slot: expected a number >= 0, got {slot}")
    loaded = load(file, env, contour)
    model, settings = loaded.model, loaded.settings
    out = [] if whole else left_out(model, settings)
    nodes: dict[str, Node] = {}
    for name, config in model.components.items():
        if name not in out:
            nodes[name] = Node(name, config.kind, config, node_ports(name, config.kind, config, settings, slot))
    for name, svc in model.services.items():
        if name not in out:
            nodes[name] = Node(name, "service", svc, node_ports(name, "service", svc, settings, slot))
    for node in nodes.values():
        node.configured = dict(node.ports)
    return Stack(
        name=model.name or _project_name(file.parent),
        file=file,
        contour=loaded.contour,
        model=model,
        nodes=nodes,
        file_hash=hashlib.sha256(file.read_bytes()).hexdigest()[:16],
        env=loaded.env,
        settings=settings,
        slot=slot,
        env_files=loaded.env_files or [],
        reserved_ports=fixed_elsewhere(loaded.located, model, loaded.contour),
        left_out=out,
    )


def _project_name(root: Path) -> str:
    import re

    name = re.sub(r"[^a-z0-9_-]+", "-", root.name.lower()).strip("-")
    return name or "stack"

