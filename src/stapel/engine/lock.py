"""One stapel command at a time changes a stack: an flock that names its holder."""

from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from collections.abc import Iterator

from stapel.errors import PreflightError
from stapel.paths import Paths


@contextmanager
def stack_lock(paths: Paths, command: str) -> Iterator[None]:
    paths.run.mkdir(parents=True, exist_ok=True)
    with open(paths.lock, "a+") as handle:
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
        try:
            yield
        finally:
            handle.truncate(0)
            fcntl.flock(handle, fcntl.LOCK_UN)
