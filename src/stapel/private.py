"""Files that may hold secrets (configs with passwords, .env.compose, definitions, records): created with their
mode from the first byte, never world-readable for a moment, and the mode set again on a file that existed."""

from __future__ import annotations

import os
from pathlib import Path


def write_private(path: Path | str, text: str, mode: int = 0o600) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.chmod(path, mode)  # os.open keeps the mode of an existing file
