"""The per-stack supervisor: owns the stack's processes, restarts processes by policy (components by default), notices deaths
within a poll period, and answers over a Unix socket (one JSON request and one JSON reply per line).

Every process it starts has a pid file (pid, start time, launch spec, probe). A new supervisor
re-adopts the processes whose pid files still match a live process, so killing the supervisor
never orphans or duplicates anything.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import signal
import socketserver
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stapel.components.base import LaunchSpec
from stapel.paths import Paths
from stapel.runtimes.native import logpipe, process
from stapel.runtimes.native.restarts import STABLE_SECONDS, backoff, rebuild_spec

POLL_SECONDS = 0.25
STOP_WORKERS = 32
log = logging.getLogger("stapel.supervisor")


@dataclass
class Proc:
    spec: LaunchSpec
    meta: dict[str, Any]  # kind, probe, endpoint: what status and check report
    pid: int | None = None
    created: float | None = None
    popen: Any = None
    state: str = "starting"  # running | exited | completed | backoff | stopped | failed
    exit_code: int | None = None
    restarts: int = 0
    failures: int = 0  # restarts in a row: the backoff doubles with each, a run of STABLE_SECONDS resets them
    started_at: float = 0.0
    ended_at: float | None = None
    restart_at: float | None = None
    pipe: dict[str, int] | None = None  # its log pipe: the read end's fd number in the child, and the pipe's inode
    history: list[str] = field(default_factory=list)

    def view(self) -> dict[str, Any]:
        return {
            "name": self.spec.name, "role": self.spec.role, "state": self.state, "pid": self.pid,
            "exit_code": self.exit_code, "restarts": self.restarts, "started_at": self.started_at,
            "ended_at": self.ended_at, "spec_hash": self.spec.spec_hash, "log": self.spec.log, **self.meta,
        }


class Supervisor:
    def __init__(self, paths: Paths):
        self.paths = paths
        self.procs: dict[str, Proc] = {}
        self.lock = threading.RLock()
        self.done = threading.Event()
        self.relay = logpipe.Relay()

    # --- pid files -------------------------------------------------------------------------
    def _pidfile(self, name: str) -> Path:
        return self.paths.pids / f"{name}.json"

    def _write_pidfile(self, proc: Proc) -> None:
        self.paths.pids.mkdir(parents=True, exist_ok=True)
        data = {"pid": proc.pid, "created": proc.created, "started_at": proc.started_at, "restarts": proc.restarts,
                "failures": proc.failures, "spec": proc.spec.on_disk(), "meta": proc.meta, "pipe": proc.pipe}
        tmp = self._pidfile(proc.spec.name).with_suffix(".tmp")
        tmp.write_text(json.dumps(data))
        os.chmod(tmp, 0o600)
        tmp.replace(self._pidfile(proc.spec.name))

    def adopt(self) -> None:
        for pidfile in sorted(self.paths.pids.glob("*.json")):
            try:
                data = json.loads(pidfile.read_text())
                spec = LaunchSpec.from_json(data["spec"])
            except (OSError, ValueError, KeyError, TypeError):
                pidfile.unlink(missing_ok=True)
                continue
            if not spec.log.startswith(str(self.paths.local) + os.sep):
                log.warning("%s: pid file belongs to another project (%s), e.g. a copied .local; ignoring it", spec.name, spec.log)
                pidfile.unlink(missing_ok=True)
                continue
            if process.is_alive(data["pid"], data.get("created")):
                self.procs[spec.name] = Proc(spec, data.get("meta", {}), pid=data["pid"], created=data.get("created"),
                                             state="running", restarts=data.get("restarts", 0), started_at=data.get("started_at", 0),
                                             failures=data.get("failures", 0), pipe=data.get("pipe"))
                self._relay_adopted(self.procs[spec.name])
                log.info("adopted %s (pid %s)", spec.name, data["pid"])
            else:
                log.info("%s (pid %s) is gone; forgetting its pid file", spec.name, data["pid"])
                pidfile.unlink(missing_ok=True)
                if spec.leftovers_in and process.kill_leftovers(None, spec.leftovers_in):
                    log.warning("%s: killed what was left of it", spec.name)
                for argv in spec.after_stop:
                    process.run_quietly(argv, env=spec.env)

    def _relay_adopted(self, proc: Proc) -> None:
        """Read an adopted process's log pipe again (its output waited in the pipe while no supervisor read it)."""
        if not proc.pipe or proc.pid is None:
            return  # started by a supervisor from before log pipes: it writes to its log file itself
        fd = logpipe.reopen(proc.pid, proc.pipe["fd"], proc.pipe["ino"])
        if fd is None:
            log.warning("%s: cannot open its log pipe again (/proc/%s/fd); its output is lost until it restarts", proc.spec.name, proc.pid)
            return
        self.relay.add(fd, proc.spec.log, proc.spec.logs)

    # --- lifecycle -------------------------------------------------------------------------
    def _spawn(self, proc: Proc) -> None:
        read_end = write_end = -1
        try:
            os.makedirs(os.path.dirname(proc.spec.log), exist_ok=True)
            read_end, write_end = logpipe.make_pipe()
            proc.popen = process.spawn(proc.spec, out=write_end, hold=read_end)
        except OSError as exc:
            for fd in (read_end, write_end):
                if fd >= 0:
                    os.close(fd)
            proc.state, proc.exit_code, proc.pid = "failed", None, None
            proc.history.append(f"cannot start: {exc}")
            log.error("%s: cannot start: %s", proc.spec.name, exc)
            return
        os.close(write_end)  # the child's now: the pipe ends when the child and all it started are gone
        proc.pipe = {"fd": read_end, "ino": logpipe.pipe_id(read_end)}
        self.relay.add(read_end, proc.spec.log, proc.spec.logs, process.banner(proc.spec.name))
        proc.pid = proc.popen.pid
        proc.created = process.create_time(proc.pid)
        proc.state, proc.exit_code, proc.started_at, proc.ended_at, proc.restart_at = "running", None, time.time(), None, None
        self._write_pidfile(proc)
        log.info("started %s (pid %s)", proc.spec.name, proc.pid)

    def run(self, spec: LaunchSpec, meta: dict[str, Any]) -> dict[str, Any]:
        return self.run_many([(spec, meta)])[0]

    def run_many(self, items: list[tuple[LaunchSpec, dict[str, Any]]]) -> list[dict[str, Any]]:
        """Start (or keep, when unchanged) a whole level in one request: what runs from another spec is
        stopped first (in parallel), then the new processes are spawned one after the other."""
        replies: dict[str, dict[str, Any]] = {}
        outdated: list[Proc] = []
        with self.lock:
            for spec, _meta in items:
                current = self.procs.get(spec.name)
                if current and current.state == "running" and current.spec.spec_hash == spec.spec_hash:
                    current.spec = spec  # an adopted process gets back the secrets its pid file lacks
                    replies[spec.name] = {"changed": False, **current.view()}
                elif current:
                    outdated.append(current)
        self._in_parallel(self._stop, outdated)
        for spec, meta in items:
            if spec.name in replies:
                continue
            proc = Proc(spec, meta)
            with self.lock:
                self.procs[spec.name] = proc
                self._spawn(proc)
                replies[spec.name] = {"changed": True, **proc.view()}
        return [replies[spec.name] for spec, _meta in items]

    @staticmethod
    def _in_parallel(job, procs: list[Proc]) -> list[Any]:
        """Stops mostly wait: a bounded pool, so 200 of them do not mean 200 threads."""
        if len(procs) <= 1:
            return [job(p) for p in procs]
        with ThreadPoolExecutor(max_workers=min(len(procs), STOP_WORKERS)) as pool:
            return list(pool.map(job, procs))

    def _stop(self, proc: Proc) -> str:
        with self.lock:
            proc.restart_at = None
            was_running = proc.state == "running"
            proc.state = "stopping"
        outcome = "not running"
        if was_running and proc.pid:
            for argv in proc.spec.before_stop:
                process.run_quietly(argv, env=proc.spec.env, timeout=3)
            outcome = process.stop(proc.pid, proc.spec.stop_signal, proc.spec.stop_timeout, proc.popen, proc.spec.stop_repeat_seconds,
                                   proc.spec.leftovers_in)
            for argv in proc.spec.after_stop:
                process.run_quietly(argv, env=proc.spec.env)
        with self.lock:
            proc.state, proc.ended_at = "stopped", time.time()
            self._pidfile(proc.spec.name).unlink(missing_ok=True)
        log.info("%s: %s", proc.spec.name, outcome)
        return outcome

    def stop(self, names: list[str]) -> dict[str, str]:
        with self.lock:
            procs = [self.procs[n] for n in names if n in self.procs]
        outcomes = dict(zip([p.spec.name for p in procs], self._in_parallel(self._stop, procs)))
        with self.lock:
            for name in outcomes:
                self.procs.pop(name, None)
        return outcomes

    def shutdown(self) -> dict[str, str]:
        with self.lock:
            names = sorted(self.procs, key=lambda n: self.procs[n].started_at, reverse=True)
        outcomes = {}
        for role in ("service", "component"):
            outcomes.update(self.stop([n for n in names if self.procs.get(n) and self.procs[n].spec.role == role]))
        self.done.set()
        return outcomes

    # --- watching --------------------------------------------------------------------------
    def _exit_code(self, proc: Proc) -> tuple[bool, int | None]:
        if proc.popen is not None:
            code = proc.popen.poll()
            return code is not None, code
        # adopted (always with a pid): not our child, its code unknown
        return proc.pid is None or not process.is_alive(proc.pid, proc.created), None

    def tick(self) -> None:
        now = time.time()
        with self.lock:
            for proc in list(self.procs.values()):
                if proc.state == "running":
                    ended, code = self._exit_code(proc)
                    if ended:
                        self._on_exit(proc, code, now)
                elif proc.state == "backoff" and proc.restart_at and now >= proc.restart_at and not proc.spec.redacted:
                    proc.restarts += 1
                    self._spawn(proc)

    def _on_exit(self, proc: Proc, code: int | None, now: float) -> None:
        proc.exit_code, proc.ended_at = code, now
        proc.state = "completed" if code == 0 and proc.spec.role == "service" else "exited"
        self._pidfile(proc.spec.name).unlink(missing_ok=True)
        log.warning("%s exited (code %s)", proc.spec.name, "unknown" if code is None else code)
        if proc.pid and process.kill_leftovers(proc.pid, proc.spec.leftovers_in):
            log.warning("%s: killed what was left of its process group", proc.spec.name)
        for argv in proc.spec.after_stop:
            process.run_quietly(argv, env=proc.spec.env)
        self._plan_restart(proc, code, now)

    def _plan_restart(self, proc: Proc, code: int | None, now: float) -> None:
        policy = proc.spec.restart
        # A server is meant to run until stapel stops it: any exit of a component is a failure (RabbitMQ's start
        # script even exits 0 when its Erlang VM was killed -9). Only a service can complete.
        failed = code != 0 or proc.spec.role == "component"
        if policy["policy"] == "always" or (policy["policy"] == "on-failure" and failed):
            if now - (proc.started_at or now) >= STABLE_SECONDS:
                proc.failures = 0
            limit = policy.get("max_restarts")
            if limit is not None and proc.failures >= limit:
                proc.history.append(f"gave up after {proc.failures} restarts in a row")
                log.warning("%s: gave up after %s restarts in a row; `stapel up` starts it again", proc.spec.name, proc.failures)
                return
            delay = backoff(policy, proc.failures)
            proc.failures += 1
            proc.state, proc.restart_at = "backoff", now + delay
            log.info("%s: restarting in %.2fs (restart %s in a row)", proc.spec.name, delay, proc.failures)
            if proc.spec.redacted:  # adopted from its pid file: get its secrets back while the backoff runs
                threading.Thread(target=self._respec, args=(proc,), daemon=True).start()

    def _respec(self, proc: Proc) -> None:
        """Give an adopted process its secrets back from a rebuilt spec (engine/respec.py), or leave it to `up`."""
        adopted, name = proc.spec, proc.spec.name
        try:
            spec = adopted.restored(rebuild_spec(self.paths, name))
        except ValueError as exc:
            with self.lock:
                if proc.spec is adopted and proc.state == "backoff":
                    proc.state, proc.restart_at = "exited", None
                    proc.history.append(f"not restarted: {exc}; run stapel up")
            log.warning("%s: not restarted: %s; `stapel up` starts it again", name, exc)
            return
        with self.lock:
            if proc.spec is adopted:
                proc.spec = spec
        log.info("%s: launch spec rebuilt from stapel.yaml and the env files (same spec hash)", name)

    def status(self, names: list[str] | None = None) -> dict[str, Any]:
        with self.lock:
            wanted = self.procs if names is None else [n for n in names if n in self.procs]
            return {"pid": os.getpid(), "procs": {n: self.procs[n].view() for n in wanted}}

    def watch(self) -> None:
        while not self.done.is_set():
            try:
                self.tick()
            except Exception:  # the watcher must outlive any single failure
                log.exception("tick failed")
            self.done.wait(POLL_SECONDS)

    # --- requests --------------------------------------------------------------------------
    def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        op = request.get("op")
        if op == "ping":
            return {"ok": True, "pid": os.getpid()}
        if op == "status":
            return {"ok": True, **self.status(request.get("names"))}
        if op == "run":
            return {"ok": True, **self.run(LaunchSpec.from_json(request["spec"]), request.get("meta", {}))}
        if op == "run_many":
            items = [(LaunchSpec.from_json(item["spec"]), item.get("meta", {})) for item in request["items"]]
            return {"ok": True, "results": self.run_many(items)}
        if op == "stop":
            return {"ok": True, "stopped": self.stop(list(request["names"]))}
        if op == "shutdown":
            return {"ok": True, "stopped": self.shutdown()}
        return {"ok": False, "bug": True, "error": f"unknown op {op!r}"}


class _Handler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        line = self.rfile.readline()
        try:
            reply = self.server.supervisor.handle(json.loads(line))  # type: ignore[attr-defined]
        except Exception as exc:  # report to the client, keep serving
            log.exception("request failed")
            reply = {"ok": False, "bug": True, "error": f"{type(exc).__name__}: {exc}"}  # the client reports a bug (exit 3)
        self.wfile.write(json.dumps(reply).encode() + b"\n")


class _Server(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True
    request_queue_size = 1024  # listen() backlog (socketserver's default is 5): a burst of clients must queue, not fail


def _more_files() -> None:
    """Each process costs the supervisor a pipe and a log file: 200 of them pass the usual soft limit of 1024 fds."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 65536 if hard == resource.RLIM_INFINITY else min(hard, 65536)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        except (ValueError, OSError):
            pass


def serve(paths: Paths) -> int:
    paths.run.mkdir(parents=True, exist_ok=True)
    paths.logs.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(filename=paths.supervisor_log, level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    guard = open(paths.run / "supervisor.lock", "w")  # noqa: SIM115 - held for the process's life
    try:
        fcntl.flock(guard, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        log.info("another supervisor owns this stack; exiting")
        return 0
    sock = paths.socket
    sock.parent.mkdir(parents=True, exist_ok=True)
    sock.unlink(missing_ok=True)
    _more_files()
    supervisor = Supervisor(paths)
    supervisor.adopt()
    server = _Server(str(sock), _Handler)
    os.chmod(sock, 0o600)
    server.supervisor = supervisor  # type: ignore[attr-defined]
    paths.supervisor_pid.write_text(str(os.getpid()))
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=supervisor.shutdown, daemon=True).start())
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True).start()
    log.info("supervisor %s serving %s", os.getpid(), sock)
    supervisor.watch()
    supervisor.relay.close()
    server.shutdown()
    sock.unlink(missing_ok=True)
    paths.supervisor_pid.unlink(missing_ok=True)
    log.info("supervisor exits")
    return 0


if __name__ == "__main__":
    sys.exit(serve(Paths(Path(sys.argv[1]), sys.argv[2])))
