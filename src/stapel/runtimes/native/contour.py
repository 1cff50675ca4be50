"""A contour's native processes from its paths alone: what status, check, logs, stop and down need. Light on
purpose (no model, no kinds): `stapel status` must feel instant. runtime.py adds the launching for `up`."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from stapel.errors import StapelError
from stapel.runtimes.base import log_file
from stapel.runtimes.native import standin
from stapel.runtimes.native.client import SupervisorClient


class NativeContour:
    """A contour's processes as its supervisor sees them, from the paths alone (status, stop, down, logs)."""

    name = "native"
    restarts_in_place = False  # a restart is a stop and an up: the process starts from the current spec

    def __init__(self, paths, client: SupervisorClient | None = None):
        self.paths = paths
        self.client = client or SupervisorClient(paths)

    def active(self) -> bool:
        return self.client.reachable() or self.client.has_processes()

    def serving(self) -> bool:
        """A supervisor answers now (asking it starts none)."""
        return self.client.reachable()

    def leftovers(self) -> bool:
        """Processes, a socket or data of this contour on disk: what a killed session may have left."""
        return self.client.has_processes() or self.paths.socket.exists() or (self.paths.local / "data" / self.paths.contour).exists()

    def states(self) -> dict[str, dict[str, Any]]:
        status = self.client.status()
        return status["procs"] if status else {}

    def check_names(self, names: list[str]) -> None:
        """Every name runs here (stop, restart), or one line naming the first that does not."""
        procs = self.states()
        unknown = [n for n in names if n not in procs]
        if unknown:
            raise StapelError(f"--service: '{unknown[0]}' is not running", hint=f"running: {', '.join(sorted(procs)) or 'nothing'}")

    def running_services(self, command: str) -> list[str]:
        """The services (the project's own processes) that run, for `stop --backend`."""
        return sorted(n for n, p in self.states().items() if p.get("role") == "service" and p.get("state") not in ("stopped", "completed"))

    def stop(self, names: list[str]) -> dict[str, str]:
        if not self.client.reachable() and not self.client.has_processes():
            return {}
        self.client.ensure()
        return self.client.request({"op": "stop", "names": names}, timeout=300)["stopped"]

    def down(self, volumes: bool) -> dict[str, str]:
        stopped = self.client.shutdown()
        if volumes:
            for folder in (self.paths.local / "data" / self.paths.contour, self.paths.run / "conf"):
                standin.remove_linked(folder)  # data kept outside the project for a server user who cannot reach it
                shutil.rmtree(folder, ignore_errors=True)
        return stopped

    def volumes(self) -> str:
        return f"all data of contour '{self.paths.contour}' under {self.paths.local / 'data' / self.paths.contour}"

    def log_tail(self, name: str, lines: int) -> list[str]:
        return tail(log_file(self.paths, name), lines)

    def release(self) -> None:
        """Undo a head start (runtimes.head_start) when no up followed: its supervisor and the folders it made."""
        self.client.release()



def tail(path: Path, lines: int) -> list[str]:
    """The last `lines` lines of a log, across its rotated files (log.1, log.2 ... before it)."""
    from stapel.runtimes.native.logpipe import rotated

    found: list[str] = []
    for file in reversed(rotated(path)):
        part = _tail_of(file, lines - len(found))
        found = part + found
        if len(found) >= lines:
            break
    return found[-lines:] if lines > 0 else []


def _tail_of(path: Path, lines: int) -> list[str]:
    try:
        with open(path, "rb") as f:
            size = f.seek(0, os.SEEK_END)
            window = 64 * 1024
            while True:
                f.seek(max(0, size - window))
                text = f.read().decode(errors="replace").splitlines()
                if len(text) > lines or window >= size:
                    return text[-lines:] if lines > 0 else []
                window *= 4
    except OSError:
        return []
