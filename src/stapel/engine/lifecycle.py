"""What up, down, stop and restart do to a contour, on whichever runtime runs it; the CLI parses and prints.

Every change happens under the stack's lock, taken first: a refused command probes nothing, starts nothing and
writes no summary.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from stapel import runtimes
from stapel.engine import expected
from stapel.engine.lock import stack_lock
from stapel.engine.options import UpOptions
from stapel.paths import Paths


def up(paths: Paths, file: Path, load: Callable[[], Any], runtime: str, options: UpOptions, say: Callable[[str], None],
       started: float | None = None, fast: bool = True) -> dict[str, Any]:
    """The summary of one up: the fast path's when nothing changed since the last one, else the pipeline's.
    `load` opens the stack (the fast path never does)."""
    from stapel.engine.fastpath import try_noop

    with stack_lock(paths, "up"):
        summary = try_noop(file, paths.contour, options.to_json(), started=started, runtime=runtime) if fast else None
        if summary is None:
            summary = _full_up(paths, load, runtime, options, say, started)
    return summary


def _full_up(paths: Paths, load: Callable[[], Any], runtime: str, options: UpOptions, say: Callable[[str], None],
             started: float | None) -> dict[str, Any]:
    from stapel.engine.up import Up

    early = runtimes.head_start(paths, runtime)  # its start-up overlaps the validation of stapel.yaml
    try:
        stack = load()
        if early is not None and (early.paths.root, early.paths.contour) != (stack.paths.root, stack.paths.contour):
            early.release()
            early = None
        pipeline = Up(stack, runtimes.for_stack(stack, runtime, early), options, say, started=started)
    except BaseException:
        if early is not None:
            early.release()  # nothing was started: do not leave a supervisor behind
        raise
    result = pipeline.run()  # its own failures roll back what it started, and stop the supervisor when nothing runs
    return {**result.summary, "run_dir": result.run_dir}


def down(paths: Paths, runtime: Any, volumes: bool) -> dict[str, str]:
    """Everything of the contour stopped (with `volumes`, its data deleted); what happened to each node."""
    with stack_lock(paths, "down"):
        stopped = runtime.down(volumes)
        expected.forget(paths)
    return stopped


def stop(paths: Paths, runtime: Any, names: list[str] | None, command: str = "stop") -> dict[str, str]:
    """Stop these nodes; None: every service that runs (seed 000's stop-backend.sh; the components keep running)."""
    with stack_lock(paths, "stop"):
        if names is None:
            names = runtime.running_services(command)
            if not names:
                return {}
        runtime.check_names(names)
        stopped = runtime.stop(names)
        expected.forget(paths, names)
    return stopped


def restart_in_place(paths: Paths, runtime: Any, names: list[str]) -> dict[str, str]:
    """A runtime that restarts by itself (compose): restarted and waited for, under the lock."""
    with stack_lock(paths, "restart"):
        return runtime.restart(names)
