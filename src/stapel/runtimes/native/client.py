"""Talk to a stack's supervisor, starting it (and so re-adopting its processes) when needed."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from typing import Any

from stapel.errors import StapelError
from stapel.paths import Paths

BUSY_RETRY_SECONDS = 10.0  # EAGAIN: the supervisor lives but its accept backlog is full for now (a burst)
GONE_RETRY_SECONDS = 0.1  # ECONNREFUSED: nobody listens (a supervisor killed -9 leaves its socket file)


class SupervisorBug(RuntimeError):
    """An exception inside the supervisor: a bug in stapel (exit 3 with a crash log), never a user error."""


class SupervisorClient:
    def __init__(self, paths: Paths):
        self.paths = paths
        self._spawned: subprocess.Popen | None = None  # a supervisor this process started: reap it, too
        self._fresh: list = []  # folders spawn_quietly() created
        self._lock = threading.Lock()  # the start step asks from several threads at once: spawn one supervisor

    def request(self, payload: dict[str, Any], timeout: float = 120.0) -> dict[str, Any]:
        with _connect(str(self.paths.socket), timeout) as sock:
            sock.sendall(json.dumps(payload).encode() + b"\n")
            data = b""
            while not data.endswith(b"\n"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
        reply = json.loads(data)
        if reply.get("bug"):
            raise SupervisorBug(f"the supervisor failed on {payload.get('op')!r}: {reply.get('error')} "
                                f"(its traceback is in {self.paths.supervisor_log})")
        if not reply.get("ok"):
            raise StapelError(f"supervisor: {reply.get('error', 'request failed')}", hint=f"see {self.paths.supervisor_log}")
        return reply

    def reachable(self) -> bool:
        try:
            self.request({"op": "ping"}, timeout=2.0)
            return True
        except (OSError, ValueError):
            return False

    def has_processes(self) -> bool:
        return self.paths.pids.is_dir() and any(self.paths.pids.glob("*.json"))

    def spawn(self) -> None:
        """Start a supervisor in the background unless one serves or is on its way (ensure() waits for it)."""
        with self._lock:
            if (self._spawned is not None and self._spawned.poll() is None) or self.reachable():
                return
            self.paths.run.mkdir(parents=True, exist_ok=True)
            self.paths.logs.mkdir(parents=True, exist_ok=True)
            with open(self.paths.supervisor_log, "ab") as out:
                self._spawned = subprocess.Popen(
                    [sys.executable, "-m", "stapel.runtimes.native.supervisor", str(self.paths.root), self.paths.contour],
                    stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, close_fds=True,
                    cwd=str(self.paths.root), env={**os.environ, "PYTHONUNBUFFERED": "1"},
                )

    def spawn_quietly(self) -> None:
        """spawn() as a head start only: a problem here (say, an unwritable .local) is preflight's to report."""
        local = self.paths.local
        made = {local, *(p for d in (self.paths.run, self.paths.logs) for p in (d, *d.parents) if local in p.parents)}
        self._fresh = sorted((p for p in made if not p.exists()), key=lambda p: len(p.parts))
        try:
            self.spawn()
        except OSError:
            pass

    def release(self) -> None:
        """Undo spawn_quietly() when nothing was started: stop that supervisor unless it adopted live
        processes, and remove the folders it created."""
        if self._spawned is None or self._spawned.poll() is not None:
            return
        try:
            self.ensure()
            if self.request({"op": "status"}, timeout=10.0)["procs"]:
                return
            self.shutdown()
        except (StapelError, OSError, ValueError):
            return
        for folder in self._fresh:
            shutil.rmtree(folder, ignore_errors=True)

    def ensure(self, timeout: float = 10.0) -> None:
        """Make sure a supervisor serves this stack; a new one re-adopts live processes from pid files."""
        if self.reachable():
            return
        self.spawn()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.reachable():
                return
            time.sleep(0.02)
        raise StapelError("the stack's supervisor did not start", hint=f"see {self.paths.supervisor_log}")

    def status(self, names: list[str] | None = None) -> dict[str, Any] | None:
        """The supervisor's view (of `names` only, if given), or None when nothing of this stack runs."""
        if not self.reachable():
            if not self.has_processes():
                return None
            self.ensure()
        return self.request({"op": "status", **({"names": names} if names is not None else {})}, timeout=10.0)

    def shutdown(self) -> dict[str, str]:
        """Stop everything the supervisor owns, then wait for the supervisor itself to be gone."""
        spawned = self._spawned is not None and self._spawned.poll() is None
        if not (spawned or self.reachable() or self.has_processes()):
            return {}
        self.ensure()
        pid = self.request({"op": "ping"})["pid"]
        stopped = self.request({"op": "shutdown"}, timeout=300)["stopped"]
        if self._spawned is not None and self._spawned.pid == pid:
            self._spawned.wait(timeout=10)
            return stopped
        _wait_gone(pid, 10)
        return stopped


def _connect(path: str, timeout: float) -> socket.socket:
    """A connected socket, retried briefly: a burst of clients can fill the listen backlog (EAGAIN on a socket
    with a timeout), and a supervisor that is just starting or just died refuses (ECONNREFUSED)."""
    began, delay = time.monotonic(), 0.002
    while True:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(path)
            return sock
        except (BlockingIOError, ConnectionRefusedError) as exc:
            sock.close()
            budget = min(timeout, BUSY_RETRY_SECONDS if isinstance(exc, BlockingIOError) else GONE_RETRY_SECONDS)
            if time.monotonic() - began + delay > budget:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.05)
        except BaseException:
            sock.close()
            raise


def _wait_gone(pid: int, timeout: float) -> None:
    """Until the process has exited. An exited process whose parent is gone stays a zombie until init
    reaps it, which some inits (containers, VMs) do only every second or so: a zombie counts as gone."""
    import psutil

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return
        except psutil.NoSuchProcess:
            return
        time.sleep(0.01)
