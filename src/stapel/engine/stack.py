"""Opening the resolved stack (components/stack.py): stapel.yaml loaded for one contour, its nodes and ports."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

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
    templates: dict[str, dict[str, str]] = {}
    for path, text in loaded.located.templates.items():
        templates.setdefault(str(path[1]), {})[str(path[3])] = text
    stack = Stack(
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
        env_templates=templates,
    )
    check_derived(stack, loaded.located)
    return stack


def check_derived(stack: Stack, located: Any) -> None:
    """Every `${NAME}` of a service's env names something (env/derived.py), no circle: one line per problem."""
    from stapel.env import derived

    problems = []
    for node in stack.services():
        if not stack.env_templates.get(node.name):
            continue
        given = stack.service_env(node)
        below = {**{key: "" for key in _env_file_keys(node, stack.root)}, **given}
        if node.port:
            below.update(HOST="", PORT="")
        try:
            given.own(below)
        except derived.DerivedError as exc:
            path = ("services", node.name, "env", exc.key)
            hint = f"; stapel gives {node.name} no such variable either (stapel env print --service {node.name})" if "is not set" in str(exc) else ""
            problems.append(f"{located.where(path)}: services.{node.name}.env.{exc.key}: {exc}{hint}")
    if problems:
        raise ConfigError(problems[0], problems=problems[1:])


def _env_file_keys(node: Node, root: Path) -> list[str]:
    from stapel.components import service

    try:
        return list(service.read_env_files(node, root))
    except ConfigError:  # a missing env file is reported where it is read
        return []


def _project_name(root: Path) -> str:
    import re

    name = re.sub(r"[^a-z0-9_-]+", "-", root.name.lower()).strip("-")
    return name or "stack"

