"""A project's stack brought up for one test session, in its own slot (its own ports, data and processes), through
the stapel CLI itself; what the services get (`env`) and where the nodes listen (`endpoint`) read in-process."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from stapel.errors import StapelError

HOST = "127.0.0.1"
SLOT_BASE = 80  # test slots 80..99 (`--slot` takes 0..99): far from the slots people use by hand
UP_TIMEOUT = 600
TMPFS = Path("/dev/shm")  # the tests-only mode's RAM-backed folder (Linux: a tmpfs on every distribution)
TMPFS_PREFIX = "stapel-tests-only-"  # what a person finds there: a test session's database, never anything to keep


class StackError(Exception):
    """A user error of the fixture (an unknown node, a stack that does not come up): one line, no traceback."""


def worker_slot(base: int = SLOT_BASE, worker: str | None = None) -> int:
    """pytest-xdist's gw0, gw1, ... -> base, base + 1, ...; no xdist -> base."""
    worker = worker if worker is not None else os.environ.get("PYTEST_XDIST_WORKER", "")
    digits = worker.removeprefix("gw")
    return base + (int(digits) if digits.isdigit() else 0)


class StapelStack:
    """`stapel_stack`: `.env(service)` -> the dict that service gets (what `stapel env print --service X --format json
    --reveal` prints), `.endpoint(node)` -> (host, port); `.file`, `.slot`, `.contour`, `.summary` (the up's summary)."""

    def __init__(self, file: Path, slot: int, contour: str | None = None, services: list[str] | None = None, keep: bool = False,
                 tmpfs_db: str | bool = False):
        """`tmpfs_db` (tests only, not durable): the data of that database component (True: the one stapel_db
        clones) lives in RAM under /dev/shm, see `tmpfs_root`."""
        self.file, self.slot, self.contour, self.services, self.keep = file, slot, contour, services, keep
        self.tmpfs_db = tmpfs_db
        self.summary: dict[str, Any] = {}
        self.up_seconds: float | None = None
        self._stack: Any = None

    # the CLI, as a user runs it
    def _cli(self, *args: str, timeout: float = UP_TIMEOUT) -> subprocess.CompletedProcess:
        argv = [sys.executable, "-m", "stapel", "--file", str(self.file), "--slot", str(self.slot),
                *(["--contour", self.contour] if self.contour else []), *args]
        env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
        if self.tmpfs_db:
            env["STAPEL_SHARED_DIR"] = str(self.tmpfs_root())  # where stand-ins live: `up` keeps, `down --volumes` deletes
        env.pop("STAPEL_CONTOUR", None) if self.contour is None else None
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=str(self.file.parent), env=env,
                              stdin=subprocess.DEVNULL, check=False)

    def check_names(self) -> None:
        """Every name in `services` is a node of stapel.yaml (before anything starts)."""
        stack = self.model()
        for name in self.services or []:
            if name not in stack.nodes:
                raise StackError(f"stapel_services: '{name}' is not a node of {self.file} ({_known(stack)})")

    def up(self) -> StapelStack:
        self.check_names()
        if not self.keep and self._left_behind():
            self.down()  # a session killed earlier left this slot running, or its data
        if self.tmpfs_db:
            self._data_in_ram()
        began = time.monotonic()
        done = self._cli("up", *(["--service", ",".join(self.services)] if self.services else []), "--json")
        if done.returncode != 0:
            lines = [line for line in (done.stderr or done.stdout).strip().splitlines() if line.strip()]
            self.down()
            raise StackError(f"stapel --slot {self.slot} up failed (exit {done.returncode}): {lines[-1] if lines else 'no output'}")
        self.up_seconds = time.monotonic() - began
        self.summary = json.loads(done.stdout)
        self._stack = None  # the ports of this up
        return self

    def _left_behind(self) -> bool:
        from stapel import runtimes

        return runtimes.at(self.model().paths).leftovers()

    def down(self) -> None:
        """Stop the slot's processes and delete its data (`keep`: leave both for the next session)."""
        done = self._cli("down", "--volumes", "--yes", timeout=300)
        if done.returncode != 0:
            raise StackError(f"stapel --slot {self.slot} down failed: {(done.stderr or done.stdout).strip()[-300:]}")
        if self.tmpfs_db:
            shutil.rmtree(self.tmpfs_root(), ignore_errors=True)

    # the tests-only mode: a database in RAM
    def tmpfs_root(self) -> Path:
        """/dev/shm/stapel-tests-only-<digest of the stack file and slot>: RAM, gone at reboot; each slot its own."""
        digest = hashlib.sha256(f"{self.file.resolve()}:{self.slot}".encode()).hexdigest()[:12]
        return TMPFS / f"{TMPFS_PREFIX}{digest}"

    def _data_in_ram(self) -> None:
        """The database component's data folder becomes a link into tmpfs_root() (before `up` makes the cluster): a
        stand-in, as stapel keeps one for a server user who cannot reach the project (runtimes/native/standin.py),
        so `up` uses it (also where the project is out of that user's reach) and `down --volumes` deletes it."""
        if not TMPFS.is_dir() or not os.access(TMPFS, os.W_OK | os.X_OK):
            raise StackError(f"stapel_db_tmpfs: {TMPFS} is not a writable folder here (a tmpfs on Linux); "
                             "unset stapel_db_tmpfs to keep the test database on disk")
        name = self.tmpfs_db if isinstance(self.tmpfs_db, str) else self.database_url()[0]
        data = self.model().paths.data(name)
        root = self.tmpfs_root()
        shutil.rmtree(root, ignore_errors=True)  # a killed session's; its slot was taken down before this
        target = root / name
        target.mkdir(mode=0o700, parents=True)
        os.chmod(root, 0o711)  # stapel's shared-folder rule: the server's user may enter, not list
        data.parent.mkdir(parents=True, exist_ok=True)
        if data.is_symlink() or data.exists():
            raise StackError(f"stapel_db_tmpfs: {data} already exists (data of an earlier session?); "
                             f"delete it or run stapel --slot {self.slot} down --volumes --yes")
        data.symlink_to(target, target_is_directory=True)

    # what the services get
    def model(self) -> Any:
        if self._stack is None:
            from stapel.engine.ports import apply_remembered
            from stapel.engine.stack import open_stack

            try:
                stack = open_stack(self.file, self.contour, slot=self.slot)
            except StapelError as exc:
                raise StackError(str(exc)) from None
            apply_remembered(stack)
            self._stack = stack
        return self._stack

    def env(self, service: str) -> dict[str, str]:
        """The env `up` gives `service` (secrets in clear: it is your own test stack)."""
        from stapel.engine.environment import service_environment

        try:
            return service_environment(self.model(), service, "stapel_stack.env")
        except StapelError as exc:
            raise StackError(str(exc)) from None

    def node(self, name: str) -> Any:
        stack = self.model()
        node = stack.nodes.get(name)
        if node is None:
            raise StackError(f"stapel_stack: '{name}' is not a node of {self.file} ({_known(stack)})")
        ran = self.summary.get("nodes", {}).get(name, {}).get("state")
        if self.summary and ran in (None, "not running"):
            raise StackError(f"stapel_stack: '{name}' does not run in this session (stapel_services = {','.join(self.services or [])})")
        return node

    def endpoint(self, node: str) -> tuple[str, int]:
        found = self.node(node)
        if not found.port:
            raise StackError(f"stapel_stack.endpoint: '{node}' listens on no port")
        return HOST, found.port

    def database_url(self, node: str | None = None) -> tuple[str, str]:
        """(component name, its DATABASE_URL as it exports it): `node`, else the first component that exports one."""
        stack = self.model()
        names = [node] if node else [n.name for n in stack.components()]
        for name in names:
            url = stack.exports(self.node(name)).kind_wide.get("DATABASE_URL")
            if url:
                return name, url
            if node:
                raise StackError(f"stapel_db_node: '{node}' ({stack.nodes[node].kind}) exports no DATABASE_URL")
        raise StackError(f"stapel_db: {self.file} has no component that exports a DATABASE_URL (a PostgreSQL component)")


def _known(stack: Any) -> str:
    services = ", ".join(n.name for n in stack.services()) or "none"
    components = ", ".join(n.name for n in stack.components()) or "none"
    return f"components: {components}; services: {services}"
