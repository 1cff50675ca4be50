"""Native process logs through the supervisor: each child writes to a pipe, one relay thread reads every pipe
(selectors) and appends to the log file, rotating it by size (log -> log.1 -> ... -> log.KEEP) at a line boundary,
so no line is lost or split across files.

A child also keeps a copy of its pipe's read end (never read by it). While the supervisor is away (killed -9),
the pipe therefore still has a reader: the child's writes fill the pipe buffer and at worst wait, instead of
failing with EPIPE/SIGPIPE. A new supervisor opens the same pipe again through /proc/PID/fd/N (the fd number and
the pipe's inode are in the pid file) and drains what waited.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import selectors
import stat
import threading
import time
from pathlib import Path
from typing import Any

DEFAULT_MAX_SIZE = 10 * 1024 * 1024
DEFAULT_KEEP = 5
PIPE_SIZE = 1024 * 1024  # room for output while no supervisor reads (F_SETPIPE_SZ; the system may allow less)
CHUNK = 65536
log = logging.getLogger("stapel.supervisor")


def rotation(config: dict[str, Any] | None) -> dict[str, int]:
    config = config or {}
    return {"max_size": int(config.get("max_size") or DEFAULT_MAX_SIZE), "keep": int(config.get("keep", DEFAULT_KEEP))}


def rotated(path: Path | str, keep: int | None = None) -> list[Path]:
    """The log's files, oldest first: log.N ... log.1, log (those that exist)."""
    path = Path(path)
    numbered = []
    for other in path.parent.glob(path.name + ".*"):
        suffix = other.name[len(path.name) + 1:]
        if suffix.isdigit() and (keep is None or int(suffix) <= keep):
            numbered.append((int(suffix), other))
    files = [p for _n, p in sorted(numbered, reverse=True)]
    return files + ([path] if path.exists() else [])


class LogFile:
    """One log file, appended to and rotated by size. Only the relay thread writes to it."""

    def __init__(self, path: str, max_size: int, keep: int):
        self.path, self.max_size, self.keep = path, max_size, keep
        self.users = 0
        self.fd = -1
        self._open()

    def _open(self) -> None:
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        self.fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        self.size = os.fstat(self.fd).st_size

    def same_file(self) -> bool:
        try:
            return os.stat(self.path).st_ino == os.fstat(self.fd).st_ino
        except OSError:
            return False

    def reopen(self) -> None:
        os.close(self.fd)
        self._open()

    def write(self, data: bytes) -> None:
        """Append; past max_size, rotate after the last whole line that fits (a line longer than that: after it)."""
        while self.size + len(data) > self.max_size:
            room = self.max_size - self.size
            cut = (data.rfind(b"\n", 0, room) + 1 if room > 0 else 0) or data.find(b"\n") + 1
            if not cut:
                break  # no line ends in this chunk: rotate after the next one
            self._write(data[:cut])
            self.rotate()
            data = data[cut:]
        self._write(data)

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                done = os.write(self.fd, view)
            except OSError as exc:  # a full disk: drop the chunk, keep relaying (the child must not block on us)
                log.error("%s: cannot write the log: %s", self.path, exc.strerror)
                return
            view, self.size = view[done:], self.size + done

    def rotate(self) -> None:
        os.close(self.fd)
        if self.keep <= 0:
            os.unlink(self.path)
        else:
            for n in range(self.keep - 1, 0, -1):
                try:
                    os.replace(f"{self.path}.{n}", f"{self.path}.{n + 1}")
                except FileNotFoundError:
                    pass
            os.replace(self.path, f"{self.path}.1")
        self._open()

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def make_pipe() -> tuple[int, int]:
    """(read end, write end), the read end non-blocking, neither inherited unless passed on purpose."""
    r, w = os.pipe2(os.O_CLOEXEC)
    try:
        fcntl.fcntl(w, fcntl.F_SETPIPE_SZ, PIPE_SIZE)
    except OSError:
        pass
    os.set_blocking(r, False)
    return r, w


def pipe_id(fd: int) -> int:
    return os.fstat(fd).st_ino


def reopen(pid: int, fd: int, ino: int) -> int | None:
    """The read side of a running process's log pipe, opened again through /proc (None when that is not the
    recorded pipe any more, or /proc does not let us)."""
    for number in (fd, 1):
        try:
            if os.stat(f"/proc/{pid}/fd/{number}").st_ino != ino:
                continue
            new = os.open(f"/proc/{pid}/fd/{number}", os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError:
            continue
        if stat.S_ISFIFO(os.fstat(new).st_mode) and os.fstat(new).st_ino == ino:
            return new
        os.close(new)
    return None


class Relay:
    """One thread for every pipe: reads what the children write and appends it to their log files."""

    def __init__(self) -> None:
        self.selector = selectors.DefaultSelector()
        self.files: dict[str, LogFile] = {}  # by path: a restarted process's old pipe and its new one share the file
        self.lock = threading.Lock()
        self._wake_r, self._wake_w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
        self.selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._pending: list[tuple[int, str, dict[str, int], bytes]] = []
        self._done = False
        self.thread = threading.Thread(target=self._loop, name="log-relay", daemon=True)
        self.thread.start()

    def add(self, read_fd: int, path: str, config: dict[str, Any] | None = None, header: bytes = b"") -> None:
        """Relay `read_fd` into `path` (the relay owns the fd from now on); `header` goes first."""
        with self.lock:
            self._pending.append((read_fd, path, rotation(config), header))
        os.write(self._wake_w, b"x")

    def close(self) -> None:
        self._done = True
        os.write(self._wake_w, b"x")
        self.thread.join(timeout=5)

    def _take_pending(self) -> None:
        with self.lock:
            pending, self._pending = self._pending, []
        for read_fd, path, config, header in pending:
            file = self.files.get(path)
            if file is not None and not file.same_file():  # removed or moved away by hand (stapel down --clean)
                file.reopen()
            if file is None:
                try:
                    file = self.files[path] = LogFile(path, config["max_size"], config["keep"])
                except OSError as exc:
                    log.error("%s: cannot open the log: %s", path, exc.strerror)
                    if read_fd >= 0:
                        os.close(read_fd)
                    continue
            file.max_size, file.keep = config["max_size"], config["keep"]
            if header:
                file.write(header)
            if read_fd >= 0:
                file.users += 1
                self.selector.register(read_fd, selectors.EVENT_READ, file)

    def _loop(self) -> None:
        while not self._done:
            try:
                events = self.selector.select(timeout=1.0)
            except InterruptedError:
                continue
            for key, _mask in events:
                if key.data is None:
                    try:
                        while os.read(self._wake_r, 4096):
                            pass
                    except BlockingIOError:
                        pass
                    self._take_pending()
                else:
                    self._drain(key.fd, key.data)
        self._drain_all()

    def _drain(self, fd: int, file: LogFile) -> None:
        try:
            data = os.read(fd, CHUNK)
        except BlockingIOError:
            return
        except OSError as exc:
            if exc.errno != errno.EIO:
                log.error("%s: reading its pipe failed: %s", file.path, exc.strerror)
            data = b""
        if data:
            file.write(data)
            return
        self.selector.unregister(fd)  # every writer closed it: the process and its children are gone
        os.close(fd)
        file.users -= 1
        if file.users <= 0:
            file.close()
            self.files.pop(file.path, None)

    def _drain_all(self) -> None:
        deadline = time.monotonic() + 2
        for key in list(self.selector.get_map().values()):
            if key.data is None:
                continue
            while time.monotonic() < deadline:
                try:
                    data = os.read(key.fd, CHUNK)
                except OSError:
                    break
                if not data:
                    break
                key.data.write(data)
