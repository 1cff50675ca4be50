"""`stapel watch` and `stapel up --watch`: live reload of the services with `watch:` (engine/watch.py)."""

from __future__ import annotations

import argparse
from typing import Any

from stapel.cli.common import open_stack, runtime_for, say
from stapel.errors import EXIT_INTERRUPTED, StapelError


def cmd_watch(args: argparse.Namespace) -> int:
    """Watch an already-up stack until Ctrl-C (which leaves the stack running)."""
    stack = open_stack(args)
    items = checked_targets(stack, args.service)
    try:
        watch(stack, runtime_for(args, stack), items)
    except KeyboardInterrupt:
        say("stopped watching; the stack keeps running (stapel down stops it)")
        return EXIT_INTERRUPTED
    return 0


def checked_targets(stack: Any, names: list[str] | None) -> list[Any]:
    """The watched services, checked before anything starts (a bad path: one line, exit 1)."""
    from stapel.engine.watch import targets

    unknown = [n for n in names or [] if n not in {s.name for s in stack.services()}]
    if unknown:
        raise StapelError(f"--service: '{unknown[0]}' is not a service in {stack.file.name}",
                          hint=f"services: {', '.join(sorted(s.name for s in stack.services())) or 'none'}")
    items = targets(stack, names)
    if not items:
        raise StapelError(f"watch: no {'selected ' if names else ''}service in {stack.file.name} has watch:",
                          hint="add `watch: true` (or a list of paths) under services.NAME")
    return items


def watch(stack: Any, runtime: Any, items: list[Any]) -> None:
    from stapel.engine import ports
    from stapel.engine.watch import Watcher

    states = runtime.states()
    stopped = [t.name for t in items if states.get(t.name, {}).get("state") != "running"]
    if stopped:
        raise StapelError(f"watch: service '{stopped[0]}' is not running", hint="stapel up first, or stapel up --watch")
    ports.resolve(stack, runtime, {n: s for n, s in states.items() if s.get("state") == "running"})
    Watcher(stack, runtime, items, say).run()
