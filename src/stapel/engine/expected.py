"""What the last successful `up` brought up: read by `check` and `status` without loading stapel.yaml."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from stapel.engine.stack import Stack
from stapel.paths import Paths


def _file(paths: Paths):  # noqa: ANN202
    return paths.state / "stack.json"


def save(stack: Stack, names: list[str]) -> None:
    nodes = {}
    for name in names:
        node = stack.nodes[name]
        probe = stack.probe(node)
        nodes[name] = {"kind": node.kind, "role": "service" if node.is_service else "component",
                       "endpoint": stack.endpoint(node), "probe": asdict(probe) if probe else None}
    data = {"stack": stack.name, "file_hash": stack.file_hash, "nodes": nodes}
    path = _file(stack.paths)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")
    path.chmod(0o600)  # probes carry credentials


def load(paths: Paths) -> dict[str, Any] | None:
    try:
        return json.loads(_file(paths).read_text())
    except (OSError, ValueError):
        return None


def forget(paths: Paths, names: list[str] | None = None) -> None:
    data = load(paths)
    if data is None:
        return
    if names is None:
        _file(paths).unlink(missing_ok=True)
        return
    for name in names:
        data["nodes"].pop(name, None)
    _file(paths).write_text(json.dumps(data, indent=2) + "\n")
