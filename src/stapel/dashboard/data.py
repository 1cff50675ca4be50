"""What the dashboard shows, read through the same APIs as the CLI: the supervisor's status, the last up's record
(stapel status / check), the services' env (stapel env print), the run summaries under .local/logs/bootstrap/.

Everything that leaves here goes through the stack's masker: the page never receives a secret.
"""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from stapel import runtimes
from stapel.engine import expected
from stapel.errors import StapelError
from stapel.paths import Paths

PROBE_PERIOD_SECONDS = 2.0
SUMMARIES = 5


class StackView:
    """One stack (a stapel.yaml, a contour, a slot). The model is loaded lazily and again when the file changes,
    so a broken stapel.yaml leaves the dashboard running, showing the processes without env and links."""

    def __init__(self, file: Path, contour: str | None, slot: int | None, paths: Paths):
        self.file, self.contour, self.slot, self.paths = file, contour, slot, paths
        self.runtime = runtimes.at(paths)  # what runs natively: the dashboard shows processes, their logs and env
        self._stack: Any = None
        self._stack_key: tuple | None = None
        self._masker: Any = None
        self.config_error: str | None = None
        self._health: dict[str, dict[str, Any]] = {}
        self._probing = threading.Lock()
        self._probed_at = 0.0

    # the model: env, links, masker
    def stack(self) -> Any:
        try:
            stat = self.file.stat()
            key = (stat.st_mtime_ns, stat.st_size, (expected.load(self.paths) or {}).get("file_hash"))
        except OSError:
            key = None
        if self._stack is None or key != self._stack_key:
            from stapel.engine.ports import apply_remembered
            from stapel.engine.stack import open_stack

            try:
                stack = open_stack(self.file, self.contour, slot=self.slot)
                apply_remembered(stack)
                self._stack, self._masker, self.config_error = stack, stack.masker(), None
            except StapelError as exc:
                self.config_error = str(exc)
            self._stack_key = key
        return self._stack

    def mask(self, value: Any) -> Any:
        if self.stack() is None and self._masker is None:
            from stapel.env.masking import Masker

            self._masker = Masker([])  # no model (yet): passwords inside URLs are masked all the same
        return self._masker.data(value)

    # the processes
    def procs(self) -> dict[str, dict[str, Any]] | None:
        """The supervisor's view, or None when nothing of this stack runs."""
        if not self.runtime.active():
            return None
        return self.runtime.states()

    def nodes(self) -> dict[str, Any]:
        problem = None
        try:
            procs = self.procs()
        except (StapelError, OSError, ValueError) as exc:  # a supervisor that went away mid-request: say so, keep serving
            procs, problem = None, str(exc)
        record = expected.load(self.paths) or {}
        stack = self.stack()
        names = list(dict.fromkeys([*record.get("nodes", {}), *(procs or {})]))
        self._refresh_health(procs or {}, record.get("nodes", {}))
        rows = []
        now = time.time()
        for name in names:
            proc, meta = (procs or {}).get(name, {}), record.get("nodes", {}).get(name, {})
            state = proc.get("state", "not running")
            rows.append({
                "name": name, "kind": proc.get("kind") or meta.get("kind", "?"),
                "role": proc.get("role") or meta.get("role", "component"), "state": state,
                "pid": proc.get("pid"), "restarts": proc.get("restarts", 0), "exit_code": proc.get("exit_code"),
                "uptime_seconds": round(now - proc["started_at"], 1) if state == "running" and proc.get("started_at") else None,
                "version": proc.get("version"), "endpoint": proc.get("endpoint") or meta.get("endpoint", "-"),
                "health": self._health.get(name, {"healthy": None, "detail": "not probed yet"}),
                "links": self.links(stack, name),
            })
        return self.mask({"running": procs is not None, "contour": self.paths.contour, "nodes": rows,
                          "config_error": self.config_error, "problem": problem,
                          "stack": getattr(stack, "name", None), "file": str(self.file), "at": now})

    @staticmethod
    def links(stack: Any, name: str) -> dict[str, str]:
        """Every http(s) URL the node exports (RabbitMQ's management, Prometheus, Grafana, a service's own URL)."""
        node = stack.nodes.get(name) if stack is not None else None
        if node is None:
            return {}
        try:
            found = stack.exports(node)
        except Exception:  # a node that cannot say its URLs still shows its process
            return {}
        urls = {**found.kind_wide, **found.by_name}
        return {key.lower(): url for key, url in sorted(urls.items()) if url.startswith(("http://", "https://"))}

    def _refresh_health(self, procs: dict[str, Any], records: dict[str, Any]) -> None:
        """The probes of `stapel check`, at most every PROBE_PERIOD_SECONDS, in a background thread."""
        if time.monotonic() - self._probed_at < PROBE_PERIOD_SECONDS or not self._probing.acquire(blocking=False):
            return
        self._probed_at = time.monotonic()

        def probe_all() -> None:
            try:
                names = list(dict.fromkeys([*records, *procs]))
                with ThreadPoolExecutor(max_workers=max(1, min(len(names), 16))) as pool:
                    results = pool.map(lambda n: (n, probe(procs.get(n, {}), records.get(n, {}))), names)
                    self._health = {name: result for name, result in results}
            finally:
                self._probing.release()

        if not self._health:  # the first page shows answers, not "not probed yet"
            probe_all()
            return
        threading.Thread(target=probe_all, daemon=True, name="stapel-dashboard-probes").start()

    # env and runs
    def env(self) -> dict[str, Any]:
        """Each service's env as `stapel env print --service NAME` shows it (secrets masked)."""
        from stapel.engine.environment import service_environment

        stack = self.stack()
        if stack is None:
            return {"error": self.config_error, "services": {}}
        masker = stack.masker()
        return {"error": None, "services": {node.name: masker.data(service_environment(stack, node.name, "dashboard"))
                                            for node in stack.services()}}

    def summaries(self, count: int = SUMMARIES) -> list[dict[str, Any]]:
        """The last runs of this contour, newest first: command, outcome, duration, steps with their changes."""
        folder = self.paths.bootstrap_logs
        found = []
        for path in sorted(folder.glob("run-*/summary.json"), reverse=True) if folder.is_dir() else []:
            try:
                data = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
            if data.get("contour") != self.paths.contour:
                continue
            found.append({key: data.get(key) for key in ("command", "outcome", "started_at", "duration_seconds", "changed", "error")}
                         | {"run": path.parent.name, "steps": data.get("steps", [])})
            if len(found) == count:
                break
        return self.mask(found)


def probe(proc: dict[str, Any], meta: dict[str, Any]) -> dict[str, Any]:
    """One node's health as `stapel check` judges it, with the probe's own answer."""
    from stapel.components.probing import run
    from stapel.probes import ProbeSpec

    state = proc.get("state", "not running")
    if state == "completed":
        return {"healthy": True, "detail": "completed (exit 0)"}
    if state != "running":
        code = proc.get("exit_code")
        return {"healthy": False, "detail": state + (f" (exit {code})" if code is not None else "")}
    spec = meta.get("probe") or proc.get("probe")
    if not spec:
        return {"healthy": True, "detail": "running (no probe)"}
    try:
        ok, detail = run(ProbeSpec(**spec))
    except Exception as exc:  # a probe that cannot run is an unhealthy answer, not a dead page
        ok, detail = False, f"probe failed: {exc}"
    return {"healthy": ok, "detail": detail, "at": time.time()}
