"""The runtime contract: where the engine's nodes actually run. Small on purpose (like httpx's transports).

Two levels. `Runtime` is what every command asks of where a contour runs (status, check, logs, stop, down, and
the report of an up); it is built from the contour's paths alone, because those commands must not load stapel.yaml.
`ProcessRuntime` adds what the `up` pipeline needs to run each node itself (native, fake); a runtime that hands
the whole project to another program (compose) brings its own steps to the same pipeline (engine/up_compose.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # `stapel status` imports this module: no kinds, no model at run time
    from stapel.components.base import LaunchSpec, Node
    from stapel.probes import ProbeSpec


class Runtime(Protocol):
    name: str
    restarts_in_place: bool  # True: restart(names) restarts and waits; False: a restart is a stop, then an up

    def active(self) -> bool:
        """Something of this contour runs here, or is on record as brought up here."""

    def states(self) -> dict[str, dict[str, Any]]:
        """What runs now, by name: state, pid, spec_hash, exit_code, restarts, log, kind, endpoint."""

    def check_names(self, names: list[str]) -> None:
        """Every name is a node this runtime can stop or restart, else a StapelError naming the first that is not."""

    def running_services(self, command: str) -> list[str]:
        """The project's own services that run now (`stop --backend`)."""

    def stop(self, names: list[str]) -> dict[str, str]:
        """Stop these nodes (in parallel); returns what happened to each."""

    def down(self, volumes: bool) -> dict[str, str]:
        """Stop everything of the contour (and with `volumes`, delete its data); what happened to each node."""

    def volumes(self) -> str:
        """What `down --volumes` deletes, in words ("the data of contour 'dev' under ...")."""

    def log_tail(self, name: str, lines: int) -> list[str]:
        """The last lines of a node's log."""


class ProcessRuntime(Runtime, Protocol):
    """A runtime that starts, probes and stops each node itself: the pipeline drives it level by level."""

    def port_holder(self, port: int) -> str | None:
        """None when the port is free on 127.0.0.1, else who holds it ("postgres (pid 2190)")."""

    def warm_up(self) -> None:
        """Begin starting the runtime's own helpers in the background (`up` calls it before preflight)."""

    def launch(self, node: Node) -> LaunchSpec:
        """How `node` would run here; raises PreflightError when it cannot (missing binary, ...)."""

    def state(self, name: str) -> dict[str, Any]:
        """One node's entry of states(), or {} when it does not run."""

    def prepare(self, node: Node) -> list[str] | None:
        """What must exist before a component starts (data directory, initdb, config files); notes for the run log."""

    def start_many(self, items: list[tuple[Node, LaunchSpec, dict[str, Any]]]) -> list[dict[str, Any]]:
        """Start (or keep, when the spec is unchanged) these nodes of one level; returns each one's state
        with `changed`, in the order given."""

    def shutdown(self) -> None:
        """Stop everything left and release the runtime's own helpers (the supervisor)."""

    def foreign_listener(self, node: Node) -> str | None:
        """After its probe answered: None when the process listening on the node's main port is the one started for
        it (or who listens cannot be told), else who it is ("postgres (pid 2190)"): another stack took the port
        between the preflight's choice and the bind, and the probe reached a stranger."""

    def probe(self, node: Node, spec: ProbeSpec) -> tuple[bool, str]:
        """Run one readiness check once."""


def log_file(paths: Any, name: str) -> Path:
    """Where a node's own log is kept (`supervisor`: the native supervisor's)."""
    return paths.supervisor_log if name == "supervisor" else paths.log(name)
