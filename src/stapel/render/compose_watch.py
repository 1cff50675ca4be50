"""`logs:` as Compose's `logging` (the json-file driver rotates as the supervisor does natively), and
`watch:` of a service as Compose's `develop.watch` (`docker compose watch`, Compose 2.22 and later).

A watched folder inside the service's build context (build.context, default its cwd) is synced to where the context
lands in the image (/app in stapel's starter Dockerfile, its folders at the same paths below it): `sync+restart` for
mode restart, `sync` for mode sync (the command reloads itself). A watched path outside the build context cannot be
synced into the image: that one rebuilds it. Compose has no
counterpart of include globs or restart_dependents: those stay native-only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stapel.render.compose_vars import relative

WORKDIR = "/app"
IGNORED = [".git/", ".local/", "__pycache__/", "node_modules/", ".venv/", "venv/", "*.pyc"]


def develop(stack: Any, node: Any, out: Path) -> dict[str, Any] | None:
    from stapel.render.images import build_of

    watch = node.config.watch
    if watch is None:
        return None
    context = build_of(stack, node, must_exist=False).context
    roots = [(stack.root / p).resolve() for p in watch.paths] or [context]
    entries = []
    for root in roots:
        entry: dict[str, Any] = {"path": relative(root, out)}
        if root == context or context in root.parents:
            inside = root.relative_to(context).as_posix()
            entry["action"] = "sync" if watch.mode == "sync" else "sync+restart"
            entry["target"] = WORKDIR if inside == "." else f"{WORKDIR}/{inside}"
            entry["ignore"] = IGNORED + list(watch.ignore)
        else:
            entry["action"] = "rebuild"
        entries.append({"action": entry.pop("action"), **entry})
    return {"watch": entries}


def logging(stack: Any, node: Any) -> dict[str, Any] | None:
    """Only where stapel.yaml sets `logs:` (stack-wide or on the node): else Docker's own default stays."""
    from stapel.model.nodes import log_rotation

    if getattr(stack.model, "logs", None) is None and getattr(node.config, "logs", None) is None:
        return None
    rotation = log_rotation(stack.model.logs, node.config.logs)
    size = rotation["max_size"]
    text = f"{size // 1024 ** 2}m" if size % 1024 ** 2 == 0 else f"{size // 1024}k" if size % 1024 == 0 else str(size)
    return {"driver": "json-file", "options": {"max-size": text, "max-file": str(rotation["keep"] + 1)}}
