"""A runtime that runs nothing: for fast, exact tests of the engine (like httpx's MockTransport).

Behaviour per node name: "healthy" (default), "crash" (exits 1 right after start), "unhealthy"
(runs, never passes its probe), "missing" (launch fails like a missing binary).
"""

from __future__ import annotations

import time
from typing import Any

from stapel.components.base import LaunchSpec, Node
from stapel.errors import PreflightError
from stapel.probes import ProbeSpec


class FakeRuntime:
    name = "fake"
    restarts_in_place = False
    runs_servers = False  # nothing listens: the provision step has no server to talk to

    def __init__(self, stack, behaviour: dict[str, str] | None = None, busy_ports: dict[int, str] | None = None):
        self.stack = stack
        self.behaviour = behaviour or {}
        self.busy_ports = busy_ports or {}
        self.procs: dict[str, dict[str, Any]] = {}
        self.events: list[str] = []  # "start db", "stop db", ... in order
        self._pid = 1000

    def port_holder(self, port: int) -> str | None:
        return self.busy_ports.get(port)

    def warm_up(self) -> None:
        """The fake runtime has no helper process to start."""

    def launch(self, node: Node) -> LaunchSpec:
        if self.behaviour.get(node.name) == "missing":
            raise PreflightError(f"components.{node.name}: {node.kind} needs its binary, not found")
        argv = list(node.config.command) if node.is_service else [node.kind, *(f"--{k}={v}" for k, v in sorted(node.ports.items()))]
        env = self.stack.service_env(node) if node.is_service else {}
        return LaunchSpec(name=node.name, role="service" if node.is_service else "component", argv=argv, env=env,
                          cwd=str(self.stack.root), log=str(self.stack.paths.log(node.name)))

    def states(self) -> dict[str, dict[str, Any]]:
        return {name: dict(proc) for name, proc in self.procs.items()}

    def state(self, name: str) -> dict[str, Any]:
        return dict(self.procs.get(name, {}))

    def prepare(self, node: Node) -> None:
        """Nothing to prepare for processes that do not exist."""

    def start_many(self, items: list[tuple[Node, LaunchSpec, dict[str, Any]]]) -> list[dict[str, Any]]:
        return [self.start(node, spec, meta) for node, spec, meta in items]

    def start(self, node: Node, spec: LaunchSpec, meta: dict[str, Any]) -> dict[str, Any]:
        current = self.procs.get(node.name)
        if current and current["state"] == "running" and current["spec_hash"] == spec.spec_hash:
            return {"changed": False, **current}
        self._pid += 1
        crashed = self.behaviour.get(node.name) == "crash"
        self.procs[node.name] = {"name": node.name, "state": "exited" if crashed else "running", "pid": self._pid,
                                 "exit_code": 1 if crashed else None, "spec_hash": spec.spec_hash, "restarts": 0,
                                 "started_at": time.time(), **meta}
        self.events.append(f"start {node.name}")
        return {"changed": True, **self.procs[node.name]}

    def stop(self, names: list[str]) -> dict[str, str]:
        out = {}
        for name in names:
            if self.procs.pop(name, None) is not None:
                self.events.append(f"stop {name}")
                out[name] = "stopped"
        return out

    def shutdown(self) -> None:
        self.stop(list(self.procs))
        self.events.append("shutdown")

    def active(self) -> bool:
        return bool(self.procs)

    def check_names(self, names: list[str]) -> None:
        unknown = [n for n in names if n not in self.procs]
        if unknown:
            raise PreflightError(f"--service: '{unknown[0]}' is not running")

    def running_services(self, command: str) -> list[str]:
        return sorted(n for n, p in self.procs.items() if p.get("role") == "service")

    def down(self, volumes: bool) -> dict[str, str]:
        stopped = self.stop(list(self.procs))
        self.events.append("shutdown")
        return stopped

    def volumes(self) -> str:
        return "nothing (the fake runtime keeps no data)"

    def foreign_listener(self, node: Node) -> str | None:
        return "a stranger (pid 4242)" if self.behaviour.get(node.name) == "stranger" else None

    def probe(self, node: Node, spec: ProbeSpec) -> tuple[bool, str]:
        proc = self.procs.get(node.name)
        if not proc or proc["state"] != "running":
            return False, "connection refused"
        if self.behaviour.get(node.name) == "unhealthy":
            return False, "not ready"
        return True, "ok"

    def log_tail(self, name: str, lines: int) -> list[str]:
        return [f"{name}: fake log line {i}" for i in range(1, 4)][-lines:]
