"""Where a stack keeps what it leaves on disk: everything under <project>/.local (DESIGN.md)."""

from __future__ import annotations

import errno
import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from stapel.errors import ConfigError

DEFAULT_FILE = "stapel.yaml"
SOCKET_PATH_MAX = 100  # sun_path is 108 bytes on Linux; keep a margin


@dataclass(frozen=True)
class Paths:
    root: Path
    contour: str  # the instance: dev, stage, or stage-slot2
    volumes: tuple[tuple[str, str], ...] = ()  # component -> data folder name (contours.<c>.volumes)

    @property
    def local(self) -> Path:
        return self.root / ".local"

    @property
    def run(self) -> Path:
        return self.local / "run" / self.contour

    @property
    def pids(self) -> Path:
        return self.run / "pids"

    @property
    def state(self) -> Path:
        return self.local / "state" / self.contour

    @property
    def logs(self) -> Path:
        return self.local / "logs" / self.contour

    @property
    def bootstrap_logs(self) -> Path:
        return self.local / "logs" / "bootstrap"

    def data(self, name: str) -> Path:
        return self.local / "data" / self.contour / dict(self.volumes).get(name, name)

    def volume(self, service: str, name: str) -> Path:
        """A service's named volume: `api.data` in .local/data/<contour>/ and in contours.<c>.volumes."""
        return self.data(f"{service}.{name}")

    def log(self, name: str) -> Path:
        return self.logs / f"{name}.log"

    def conf(self, name: str) -> Path:
        """Generated configuration for one component (config files, cookies)."""
        return self.run / "conf" / name

    @property
    def lock(self) -> Path:
        return self.run / "stack.lock"

    @property
    def supervisor_log(self) -> Path:
        return self.logs / "supervisor.log"

    @property
    def supervisor_pid(self) -> Path:
        return self.run / "supervisor.pid"

    @property
    def socket(self) -> Path:
        path = self.run / "supervisor.sock"
        if len(str(path)) <= SOCKET_PATH_MAX:
            return path
        digest = hashlib.sha1(str(path).encode()).hexdigest()[:16]
        return Path(tempfile.gettempdir()) / f"stapel-{os.getuid()}" / f"{digest}.sock"


def find_stack_file(explicit: str | None, cwd: Path | None = None) -> Path:
    """`-f PATH`, or stapel.yaml in the current directory or the nearest parent. A stapel.yaml that is there
    but cannot be read (a dangling symlink, a loop, a directory) is an error about that file: looking further
    up would act on another project (`down --volumes` would delete its data)."""
    if explicit:
        return readable_stack_file(Path(explicit)).resolve()
    try:
        here = (cwd or Path.cwd()).resolve()
    except OSError as exc:
        raise ConfigError(f"the current directory: {exc.strerror}", hint="cd into the project, or pass -f PATH") from None
    for folder in (here, *here.parents):
        candidate = folder / DEFAULT_FILE
        if os.path.lexists(candidate):
            return readable_stack_file(candidate)
    raise ConfigError(f"no {DEFAULT_FILE} in {here} or any parent directory", hint="create one, or pass -f PATH")


def readable_stack_file(path: Path) -> Path:
    """`path` when it is a regular file stapel can open; else one line saying why not."""
    path = Path(os.path.abspath(path))
    hint = "make it a readable file, or pass -f PATH"
    try:
        target = path.resolve(strict=True)
    except RuntimeError:  # Python < 3.13 reports a symlink loop this way
        raise ConfigError(f"{path}: a symlink loop", hint=hint) from None
    except FileNotFoundError:
        if path.is_symlink():
            raise ConfigError(f"{path}: a symlink to {os.readlink(path)}, which does not exist", hint=hint) from None
        raise ConfigError(f"{path}: no such file", hint="create stapel.yaml at the project root or pass -f PATH") from None
    except OSError as exc:
        why = "a symlink loop" if exc.errno == errno.ELOOP else f"cannot read it: {exc.strerror}"
        raise ConfigError(f"{path}: {why}", hint=hint) from None
    if target.is_dir():
        raise ConfigError(f"{path}: a directory, not a file", hint=hint)
    if not target.is_file():
        raise ConfigError(f"{path}: not a regular file", hint=hint)
    try:
        with open(target, "rb"):
            pass
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read it: {exc.strerror}", hint=hint) from None
    return path
