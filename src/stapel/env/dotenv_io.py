""".env files as KEY -> value for ${VAR} interpolation, through the same parser `env sync` uses
(stapel.env.envfiles: python-dotenv's, with the right line numbers and no line text in errors)."""

from __future__ import annotations

from pathlib import Path

from stapel.errors import ConfigError


def read(path: Path) -> dict[str, str]:
    """KEY -> value in file order; a bare KEY without `=` is left out (as python-dotenv does).
    A missing file or a line that does not parse is a ConfigError naming the file and line."""
    from stapel.env.envfiles import read_doc

    doc, problems = read_doc(path, str(path))
    if doc is None:
        raise ConfigError(f"{path}: no such file")
    if problems:
        raise ConfigError(problems[0], problems=problems[1:])
    return {key: value for key, i in doc.last().items() if (value := doc.chunks[i].value) is not None}
