"""One stapel command at a time changes a stack: an flock that names its holder."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from stapel.errors import PreflightError
from stapel.paths import Paths

_HELD: set[str] = set()  # locks this process holds: taking one again (the CLI, then the engine) is a no-op


@contextmanager
def stack_lock(paths: Paths, command: str) -> Iterator[None]:
    key = str(paths.lock)
    if key in _HELD:
        yield
        return
    created = [p for p in (paths.run, *paths.run.parents) if paths.local in (p, *p.parents) and not p.exists()]
    try:
        paths.run.mkdir(parents=True, exist_ok=True)
        handle = open(paths.lock, "a+")  # noqa: SIM115 - closed below, after the unlock
    except OSError as exc:
        raise PreflightError(f"{paths.run}: cannot create: {exc.strerror}",
                             hint="stapel keeps data, logs and pids under .local/ in the project; make it a writable directory") from None
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another stapel command"
            raise PreflightError(
                f"{paths.lock}: the {paths.contour} stack is busy: {holder} is changing it",
                hint="wait for it to finish, then run again",
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"'stapel {command}' (pid {os.getpid()})")
        handle.flush()
        _HELD.add(key)
        failed = True
        try:
            yield
            failed = False
        finally:
            _HELD.discard(key)
            handle.truncate(0)
            if failed and created:  # a first run that failed leaves no .local behind (unless it wrote more there)
                _remove_empty(paths.lock, created)
            fcntl.flock(handle, fcntl.LOCK_UN)


def _remove_empty(lock: Path, created: list[Path]) -> None:
    """Folders this lock created, when nothing but unheld lock files (this one, a stopped supervisor's) is in them."""
    lock.unlink(missing_ok=True)
    for folder in sorted(created, key=lambda p: len(p.parts), reverse=True):
        for stale in folder.glob("*.lock"):
            _unlink_unheld(stale)
        try:
            folder.rmdir()
        except OSError:
            return


def _unlink_unheld(path: Path) -> None:
    try:
        with open(path, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            path.unlink()
    except OSError:  # held (BlockingIOError) or gone: leave it
        pass
