""".env files read with python-dotenv's parser, which keeps every line (comments, blanks) and marks
the ones it cannot parse, so a syntax error is reported with its file and line instead of skipped."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from stapel.errors import ConfigError


@dataclass(frozen=True)
class Line:
    number: int
    text: str  # as written, with its newline
    key: str | None  # None: a comment, a blank line, or an error
    value: str | None
    error: bool = False


def parse(path: Path) -> list[Line]:
    """Every line of the file; raises ConfigError at the first one that does not parse."""
    lines = parse_lenient(path)
    bad = next((line for line in lines if line.error), None)
    if bad is not None:
        raise ConfigError(f"{path}:{bad.number}: cannot parse '{bad.text.strip()[:60]}'",
                          hint="write KEY=value, quote values with spaces, close every quote")
    return lines


def parse_lenient(path: Path) -> list[Line]:
    from dotenv.parser import parse_stream

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    import io

    return [Line(b.original.line, b.original.string, b.key, b.value, b.error) for b in parse_stream(io.StringIO(text))]


def read(path: Path) -> dict[str, str]:
    """KEY -> value in file order; a bare KEY without `=` is left out (as python-dotenv does)."""
    return {line.key: line.value for line in parse(path) if line.key is not None and line.value is not None}
