"""What the last successful `up` brought up, and from which inputs.

`check` and `status` read it instead of loading stapel.yaml, and a repeated `up` whose inputs are
unchanged (stapel.yaml, .env, the services' env files, the variables stapel.yaml refers to, PATH)
verifies the running stack against it without building the model again (see fastpath.py).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

from stapel import __version__, probes
from stapel.paths import Paths
from stapel.private import write_private

_VARIABLE = re.compile(rb"\$\{([A-Za-z_][A-Za-z0-9_]*)")


def _file(paths: Paths) -> Path:
    return paths.state / "stack.json"


def _digest(data: bytes | None) -> str | None:
    return None if data is None else hashlib.sha256(data).hexdigest()[:16]


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def _read_tree(path: Path) -> bytes | None:
    """A file's bytes, or a folder's (migrations): every file's name and bytes, in name order."""
    if not path.is_dir():
        return _read(path)
    parts = [f.relative_to(path).as_posix().encode() + b"\0" + (_read(f) or b"") for f in sorted(path.rglob("*")) if f.is_file()]
    return b"\0".join(parts)


def fingerprint(file: Path, extra_files: list[str], options: dict[str, Any]) -> dict[str, Any]:
    """Everything that decides what `up` would do, as digests (never the values themselves)."""
    text = _read(file) or b""
    names = sorted({m.decode() for m in _VARIABLE.findall(text)} | {"PATH"})
    files = [str(file), str(file.parent / ".env"), *extra_files]
    return {
        "stapel": __version__,
        "files": {path: _digest(_read_tree(Path(path))) for path in files},
        "env": {name: _digest(os.environ[name].encode()) if name in os.environ else None for name in names},
        "options": options,
    }


def save(stack: Any, names: list[str], spec_hashes: dict[str, str], extra_files: list[str], options: dict[str, Any]) -> None:
    """What this up brought up, plus what an earlier up did that this one left alone (`up --service api` after a
    full up: Prometheus still runs, and `check` still checks it); `stop` and `down` forget nodes."""
    earlier = (load(stack.paths) or {}).get("nodes", {})
    nodes = {name: node for name, node in earlier.items() if name in stack.nodes and name not in names}
    for name in names:
        node = stack.nodes[name]
        probe = stack.probe(node)
        nodes[name] = {"kind": node.kind, "role": "service" if node.is_service else "component",
                       "endpoint": stack.endpoint(node), "probe": probes.record(probe),
                       "spec_hash": spec_hashes.get(name)}
    data = {"stack": stack.name, "file_hash": stack.file_hash, "extra_files": extra_files,
            "inputs": fingerprint(stack.file, extra_files, options), "nodes": nodes}
    path = _file(stack.paths)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_private(path, json.dumps(data, indent=2) + "\n")


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
    data.pop("inputs", None)  # the stack no longer is what those inputs brought up
    _file(paths).write_text(json.dumps(data, indent=2) + "\n")
