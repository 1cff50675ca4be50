"""The native runtime: kinds' launch specs run as plain processes under the per-stack supervisor."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import stat
from pathlib import Path
from typing import Any

from stapel.components import kind_module, service
from stapel.components.base import BinaryVersion, LaunchSpec, Node
from stapel.components.probing import run as run_probe
from stapel.errors import PreflightError, StapelError
from stapel.model.nodes import log_rotation
from stapel.probes import ProbeSpec
from stapel.runtimes.native import standin, versions
from stapel.runtimes.native.client import SupervisorClient
from stapel.runtimes.native.contour import NativeContour, tail  # noqa: F401 - tail: re-exported (its old home)


class NativeContext:
    """What kind modules may ask of the machine while building and preparing a native launch."""

    def __init__(self, stack):
        self.stack = stack  # with its ports resolved: Prometheus and Grafana configs are built from the whole stack
        self.stack_name = stack.name
        self.paths = stack.paths
        self._bins: dict[tuple, versions.Choice] = {}
        self.probes = versions.ProbeCache(stack.paths.local / "state" / "binaries.json")

    def stack_files(self, node: Node, folder: str) -> dict[str, str]:
        """What a kind that reads the whole stack (SCRAPES_STACK, SHOWS_STACK: Prometheus, Grafana) is given here:
        {path relative to `folder`: text}, in the native view (127.0.0.1, the ports actually used), `folder` being
        where the kind writes them (monitoring/native.py). Passed in, so that no kind imports monitoring/."""
        from stapel.monitoring.native import files

        return files(self.stack, node, folder)

    def binaries(self, node: Node, programs: list[str]) -> dict[str, str]:
        """The programs' paths: the first found, or with `version:` the first of that version (versions.py)."""
        return self._choice(node, programs).paths

    def _choice(self, node: Node, programs: list[str]) -> versions.Choice:
        key = (node.name, node.kind, node.config.bin_dir, getattr(node.config, "version", None), tuple(programs))
        if key not in self._bins:
            self._bins[key] = versions.choose(node, programs, self.probes)
        return self._bins[key]

    def binary_version(self, node: Node, programs: list[str]) -> BinaryVersion | None:
        """What the binaries chosen for a component are (None when its kind cannot tell)."""
        return self._choice(node, programs).version

    def version_of(self, node: Node) -> str | None:
        """What runs for a component, e.g. 'PostgreSQL 18.6', for status."""
        programs = getattr(kind_module(node.kind), "PROGRAMS", None)
        found = None if node.is_service or programs is None else self.binary_version(node, programs)
        return str(found) if found else None

    @staticmethod
    def which(program: str, near: str) -> str | None:
        beside = Path(near).resolve().parent / program
        return str(beside) if beside.is_file() else shutil.which(program)

    @staticmethod
    def run_as(wanted: str | None, defaults: tuple[str, ...] = ("nobody",)) -> str | None:
        """The unprivileged user for servers that refuse root (`wanted`, else the first of `defaults` that exists);
        None when stapel is not root."""
        if os.geteuid() != 0:
            return None
        for name in ([wanted] if wanted else defaults):
            try:
                pwd.getpwnam(name)
                return name
            except KeyError:
                continue
        raise PreflightError(f"run_as: user '{wanted}' does not exist", hint="create it or pick an existing unprivileged user")

    @staticmethod
    def user_kwargs(user: str | None) -> dict[str, Any]:
        """subprocess arguments that run a program as `user` in its own primary group only, like the supervisor's
        spawn (process.py), not in root's (a program left in group root could not enter a root-owned folder that
        lets others in, e.g. 0701: the group's bits apply to it, not the others')."""
        if not user or os.geteuid() != 0:
            return {}
        entry = pwd.getpwnam(user)
        return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}

    def server_dir(self, path: Path, user: str | None, create: bool = False) -> Path:
        """Where a server running as `user` keeps `path`: `path` itself when the user can reach it, else a stand-in
        under stapel's shared folder that `path` links to (see standin.py); `create` makes both."""
        if not user or (standin.linked(path) is None and unreachable_parent(path, user) is None):
            return path
        target = standin.standin_for(path)
        if create:
            entry = pwd.getpwnam(user)
            try:
                return standin.make(path, entry.pw_uid, entry.pw_gid)
            except OSError as exc:
                raise PreflightError(f"{path}: cannot keep the data of user '{user}' in {target}: {exc.strerror}",
                                     hint="set STAPEL_SHARED_DIR to a folder that user can reach") from None
        return target

    @staticmethod
    def chown(path: Path, user: str | None) -> None:
        if user:
            entry = pwd.getpwnam(user)
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def make_private_dir(self, path: Path, user: str | None) -> None:
        self.check_reachable(path, user)
        try:
            path.mkdir(parents=True, exist_ok=True)
            os.chmod(path, 0o700)
            self.chown(path, user)
        except OSError as exc:
            raise PreflightError(f"{path}: cannot create or use this directory: {exc.strerror}",
                                 hint="make .local writable for you, or fix its owner") from None

    @staticmethod
    def check_reachable(path: Path, user: str | None) -> None:
        """Fail early when an unprivileged server user could not even reach its own data directory."""
        blocked = unreachable_parent(path, user) if user else None
        if blocked:
            raise PreflightError(
                f"{path}: user '{user}' (servers that refuse root run as it) cannot reach it: {blocked} is mode "
                f"{stat.S_IMODE(blocked.stat().st_mode):04o}",
                hint=f"move the project out of {blocked}, or allow traversal with: chmod o+x {blocked}",
            )


def check_writable_dir(path: Path, config_path: str) -> None:
    """The directory exists and is writable, or can be created: checked before anything starts."""
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    problem = None
    if not existing.is_dir():
        problem = f"{existing} is not a directory"
    elif not os.access(existing, os.W_OK | os.X_OK):
        problem = f"{existing} is not writable for you"
    if problem:
        raise PreflightError(f"{config_path}: cannot use data directory {path}: {problem}",
                             hint="stapel keeps data, logs and pids under .local/ in the project; make that writable")


def unreachable_parent(path: Path, user: str) -> Path | None:
    entry = pwd.getpwnam(user)
    groups = {entry.pw_gid}  # servers run in their user's primary group only (process.spawn, user_kwargs)
    for folder in reversed(path.parents):
        if not folder.exists():
            break
        st = folder.stat()
        if st.st_uid == entry.pw_uid:
            allowed = st.st_mode & stat.S_IXUSR
        elif st.st_gid in groups:
            allowed = st.st_mode & stat.S_IXGRP
        else:
            allowed = st.st_mode & stat.S_IXOTH
        if not allowed:
            return folder
    return None


class NativeRuntime(NativeContour):
    """The contour's processes for an `up`: launch specs built from the loaded stack."""

    def __init__(self, stack, client: SupervisorClient | None = None):
        super().__init__(stack.paths, client)
        self.stack = stack
        self.ctx = NativeContext(stack)

    def port_holder(self, port: int) -> str | None:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("127.0.0.1", port))
                return None
            except OSError:
                pass
        return _holder_name(port)

    def warm_up(self) -> None:
        self.client.spawn()  # its start-up overlaps preflight; the first request waits for it

    def launch(self, node: Node) -> LaunchSpec:
        if node.is_service:
            for name, folder in self._volumes(node).items():
                check_writable_dir(folder, f"services.{node.name}.volumes.{name}")
            spec = service.native(node, self.ctx, self.stack.service_env(node))
        else:
            check_writable_dir(self.stack.paths.data(node.name), f"components.{node.name}")
            spec = kind_module(node.kind).native(node, self.ctx)
        spec.secrets = self.stack.secrets()
        spec.logs = log_rotation(getattr(self.stack.model, "logs", None), getattr(node.config, "logs", None))
        return spec

    def state(self, name: str) -> dict[str, Any]:
        """One node's state: what a waiter polls (the whole stack's, 200 waiters at a time, is too much)."""
        status: dict[str, Any] | None
        try:  # straight to the supervisor: no ping first, waiters ask often
            status = self.client.request({"op": "status", "names": [name]}, timeout=10.0)
        except (OSError, ValueError):
            status = self.client.status(names=[name])  # gone: a new supervisor re-adopts, as for states()
        return (status["procs"] if status else {}).get(name, {})

    def prepare(self, node: Node) -> list[str] | None:
        notes = None if node.is_service else kind_module(node.kind).prepare(node, self.ctx)
        for folder in self._volumes(node).values():
            folder.mkdir(parents=True, exist_ok=True)  # the service's own user (stapel's) writes it
        return notes

    def _volumes(self, node: Node) -> dict[str, Path]:
        """A service's volumes, natively: folders under .local/data/<contour>/ (down --volumes deletes them)."""
        if not node.is_service:
            return {}
        return {name: self.stack.paths.volume(node.name, name) for name in node.config.volumes}

    def start_many(self, items: list[tuple[Node, LaunchSpec, dict[str, Any]]]) -> list[dict[str, Any]]:
        """One request for a whole level: 200 starts are one round trip, not 200 connections at once."""
        self.client.ensure()
        payload = [{"spec": spec.to_json(), "meta": meta if node.is_service else {**meta, "version": self.ctx.version_of(node)}}
                   for node, spec, meta in items]  # a component's version: what status shows
        try:
            return self.client.request({"op": "run_many", "items": payload}, timeout=600)["results"]
        except StapelError as exc:
            if "unknown op 'run_many'" not in exc.message:
                raise
        # a supervisor from before run_many (stapel upgraded while the stack ran): one request per node
        return [self.client.request({"op": "run", **item}, timeout=600) for item in payload]

    def shutdown(self) -> None:
        self.client.shutdown()

    def probe(self, node: Node, spec: ProbeSpec) -> tuple[bool, str]:
        return run_probe(spec)

    def foreign_listener(self, node: Node) -> str | None:
        pid, port = self.state(node.name).get("pid"), node.port
        return foreign_listener(pid, port) if pid and port else None


def foreign_listener(pid: int, port: int) -> str | None:
    """Who listens on `port` if none of the listeners is `pid` or one of its descendants; None when one is, when
    nobody listens, or when the listener cannot be told (another user's socket without root)."""
    import psutil

    try:
        ours = {pid, *(child.pid for child in psutil.Process(pid).children(recursive=True))}
        listeners = [c.pid for c in psutil.net_connections(kind="inet")
                     if c.laddr and c.laddr.port == port and c.status == psutil.CONN_LISTEN]
    except psutil.Error:
        return None
    if not listeners or None in listeners or ours & set(listeners):
        return None
    stranger = listeners[0]
    try:
        return f"{psutil.Process(stranger).name()} (pid {stranger})"
    except psutil.Error:
        return f"pid {stranger}"


def _holder_name(port: int) -> str:
    import psutil

    try:
        for conn in psutil.net_connections(kind="inet"):
            if conn.laddr and conn.laddr.port == port and conn.status == psutil.CONN_LISTEN:
                if conn.pid:
                    try:
                        return f"{psutil.Process(conn.pid).name()} (pid {conn.pid})"
                    except psutil.Error:
                        return f"pid {conn.pid}"
                return "another user's process"
    except psutil.AccessDenied:
        pass
    return "an unknown process"
