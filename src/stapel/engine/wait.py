"""Wait for nodes the way mirakuru does: probe, and watch the process; a death fails the wait at once."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from stapel.components.base import Node
from stapel.errors import StartError
from stapel.probes import ProbeSpec

LOG_TAIL_LINES = 20
PROGRESS_EVERY_SECONDS = 5.0


def _section(node: Node) -> str:
    return f"{'services' if node.is_service else 'components'}.{node.name}"


def wait_for(runtime: Any, node: Node, probe: ProbeSpec | None, condition: str, cancel: threading.Event,
             say: Callable[[str], None]) -> str:
    """Block until `node` meets `condition` (started | healthy | completed). Returns what the probe said."""
    started = time.monotonic()
    if condition == "started" or (condition == "healthy" and probe is None):
        _alive_or_fail(runtime, node, allow_completed=True)
        return "started"
    if condition == "healthy" and probe is not None and probe.initial_delay_seconds:
        cancel.wait(probe.initial_delay_seconds)
    budget = probe.budget_seconds if probe else 600.0
    period = probe.period_seconds if probe else 0.1
    next_note = started + PROGRESS_EVERY_SECONDS
    detail = ""
    while not cancel.is_set():
        if condition == "completed":
            state = runtime.state(node.name)
            if state.get("state") == "completed":
                return "completed (exit 0)"
            _alive_or_fail(runtime, node, allow_completed=False, state=state)
        else:
            ok, detail = runtime.probe(node, probe)
            if ok:
                _answered_by_it_or_fail(runtime, node)
                return detail
            _alive_or_fail(runtime, node, allow_completed=False)
        now = time.monotonic()
        if now - started > budget:
            raise StartError(
                f"{_section(node)}: not {condition} after {budget:g}s: {detail or 'no answer'}",
                hint=f"see {runtime.stack.paths.log(node.name)}; raise probe.failure_threshold if it is just slow",
                problems=_tail(runtime, node),
            )
        if now >= next_note:
            say(f"  … still waiting for {node.name} ({now - started:.0f}s): {detail or condition}")
            next_note = now + PROGRESS_EVERY_SECONDS
        cancel.wait(period)
    raise StartError(f"{_section(node)}: wait cancelled")


def _alive_or_fail(runtime: Any, node: Node, allow_completed: bool, state: dict | None = None) -> None:
    if not node.runs:  # an external component has no process here: only its probe says anything
        return
    state = state if state is not None else runtime.state(node.name)
    current = state.get("state")
    # "backoff": it died and its policy will restart it; while `up` waits for it, a death fails at once (with its log)
    if current in ("running", "starting") or (allow_completed and current == "completed"):
        return
    code = state.get("exit_code")
    how = f"exited with code {code}" if code is not None else ("could not start" if current == "failed" else "is not running")
    raise StartError(
        f"{_section(node)}: {how} while starting",
        hint=f"last lines of {runtime.stack.paths.log(node.name)} follow",
        problems=_tail(runtime, node),
    )


def _answered_by_it_or_fail(runtime: Any, node: Node) -> None:
    """A component's probe may have reached a stranger: another stack bound the port between the preflight's choice
    and this one's start (its own server then fails to bind). Fail at once, naming who answered."""
    if node.is_service or not node.runs:
        return
    stranger = runtime.foreign_listener(node)
    if stranger:
        raise StartError(
            f"{_section(node)}: port {node.port} is answered by {stranger}, not by the {node.name} stapel started "
            f"(something took the port after the preflight chose it)",
            hint="run stapel up again: a moved port is chosen afresh",
            problems=_tail(runtime, node),
        )


def _tail(runtime: Any, node: Node) -> list[str]:
    return ["  | " + line for line in runtime.log_tail(node.name, LOG_TAIL_LINES)]
