"""Files that may hold secrets (configs with passwords, .env.compose, definitions, records): created with their
mode from the first byte, never world-readable for a moment, and the mode set again on a file that existed."""

from __future__ import annotations

import os
from pathlib import Path

SECRETS_DIR = "secrets"  # beside a rendered compose.yaml, and in each Kubernetes overlay: never committed


def write_private(path: Path | str, text: str, mode: int = 0o600) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.chmod(path, mode)  # os.open keeps the mode of an existing file


def write_secrets(out: Path, files: dict[str, str], mode: int = 0o600) -> list[str]:
    """{name: text} into out/secrets/ (nothing when empty): a 0700 folder whose .gitignore keeps it all out of git;
    each file written with `mode` (a single file mounted into a container whose user is not the file's owner needs
    0644 there: the folder still keeps other host users out). Returns the paths written, relative to out."""
    if not files:
        return []
    folder = out / SECRETS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    (folder / ".gitignore").write_text("# written by stapel: secrets (RabbitMQ definitions, API keys), never committed\n*\n")
    os.chmod(folder / ".gitignore", 0o644)
    for name, body in files.items():
        write_private(folder / name, body, mode)
    return [f"{SECRETS_DIR}/{name}" for name in files]
