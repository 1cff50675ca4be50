"""A node's launch spec rebuilt, secrets included, for a supervisor that must restart a process it re-adopted.

Pid files hold launch specs with every secret masked, so a supervisor that re-adopted a process (the old one
was killed) cannot start it again from its pid file. When the policy wants a restart, the supervisor runs
`python -m stapel.engine.respec ROOT INSTANCE NAME`: this loads stapel.yaml and the env files the way the
last `up` did (its file, contour and slot are in .local/state/<instance>/source.json; its ports in ports.json),
builds the node's spec with the same code `up` uses, and writes it as JSON to stdout, a pipe to the
supervisor. Nothing with a secret touches the disk. The supervisor restarts the process only if the rebuilt
spec has the adopted one's spec_hash (see LaunchSpec.restored): when stapel.yaml or an env file changed since,
it leaves the process to the next `stapel up`.

A process of its own keeps the supervisor small (no pydantic, no model in a long-lived process) and a
broken stapel.yaml from ever reaching it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from stapel.components.base import LaunchSpec
from stapel.errors import StapelError
from stapel.paths import Paths
from stapel.private import write_private


def _source_file(paths: Paths) -> Path:
    return paths.state / "source.json"


def remember_source(stack: Any) -> None:
    """Which file, contour and slot this instance was brought up from (no secret in it)."""
    path = _source_file(stack.paths)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_private(path, json.dumps({"file": str(stack.file), "contour": stack.contour, "slot": stack.slot}) + "\n")


def rebuild(root: Path, instance: str, name: str) -> LaunchSpec:
    from stapel import runtimes
    from stapel.engine.ports import apply_remembered
    from stapel.engine.stack import open_stack

    try:
        source = json.loads(_source_file(Paths(root, instance)).read_text())
    except (OSError, ValueError) as exc:
        raise StapelError(f"no record of how contour '{instance}' was brought up ({exc})") from None
    stack = open_stack(Path(source["file"]), source["contour"], slot=source["slot"])
    if name not in stack.nodes:
        raise StapelError(f"'{name}' is no longer in {source['file']}")
    apply_remembered(stack)
    return runtimes.for_stack(stack).launch(stack.nodes[name])


def main(argv: list[str]) -> int:
    root, instance, name = argv
    try:
        spec = rebuild(Path(root), instance, name)
    except StapelError as exc:
        print(exc.lines()[0], file=sys.stderr)
        return 1
    json.dump(spec.to_json(), sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
