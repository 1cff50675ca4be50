"""The runtime contract: where the engine's nodes actually run. Small on purpose (like httpx's transports)."""

from __future__ import annotations

from typing import Any, Protocol

from stapel.components.base import LaunchSpec, Node
from stapel.probes import ProbeSpec


class Runtime(Protocol):
    name: str

    def port_holder(self, port: int) -> str | None:
        """None when the port is free on 127.0.0.1, else who holds it ("postgres (pid 2190)")."""

    def warm_up(self) -> None:
        """Begin starting the runtime's own helpers in the background (`up` calls it before preflight)."""

    def launch(self, node: Node) -> LaunchSpec:
        """How `node` would run here; raises PreflightError when it cannot (missing binary, ...)."""

    def states(self) -> dict[str, dict[str, Any]]:
        """What runs now, by name: state, pid, spec_hash, exit_code, restarts, log, kind, endpoint."""

    def state(self, name: str) -> dict[str, Any]:
        """One node's entry of states(), or {} when it does not run."""

    def prepare(self, node: Node) -> list[str] | None:
        """What must exist before a component starts (data directory, initdb, config files); notes for the run log."""

    def start_many(self, items: list[tuple[Node, LaunchSpec, dict[str, Any]]]) -> list[dict[str, Any]]:
        """Start (or keep, when the spec is unchanged) these nodes of one level; returns each one's state
        with `changed`, in the order given."""

    def stop(self, names: list[str]) -> dict[str, str]:
        """Stop these nodes (in parallel); returns what happened to each."""

    def shutdown(self) -> None:
        """Stop everything left and release the runtime's own helpers (the supervisor)."""

    def probe(self, node: Node, spec: ProbeSpec) -> tuple[bool, str]:
        """Run one readiness check once."""

    def log_tail(self, name: str, lines: int) -> list[str]:
        """The last lines of a node's log."""
