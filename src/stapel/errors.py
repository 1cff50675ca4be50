"""The errors stapel shows to a user, and its exit codes (see DESIGN.md, house rules)."""

from __future__ import annotations

EXIT_OK = 0
EXIT_USER = 1
EXIT_BUG = 3
EXIT_INTERRUPTED = 130
MAX_LINES = 20  # problems shown for one error; the rest are counted


def capped(problems: list[str], limit: int = MAX_LINES) -> list[str]:
    """At most `limit` lines with the first one: 75,000 unknown keys are 20 lines and a count, not 75,000 lines."""
    if len(problems) < limit:
        return list(problems)
    hidden = len(problems) - (limit - 2)
    return [*problems[:limit - 2], f"... and {hidden:,} more"]


class StapelError(Exception):
    """A user-facing error: one clear line (or several, one per problem), exit code 1."""

    exit_code = EXIT_USER
    max_lines = MAX_LINES

    def __init__(self, message: str, *, hint: str | None = None, problems: list[str] | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.problems = capped(problems or [], self.max_lines)

    def lines(self) -> list[str]:
        first = self.message + (f" ({self.hint})" if self.hint else "")
        return [first, *self.problems]


class ConfigError(StapelError):
    """stapel.yaml (or an env file) is wrong; the message names the file, line and config path."""


class PreflightError(StapelError):
    """Something on the machine stops the stack from starting: a binary, a port, a directory."""


class StartError(StapelError):
    """A component or service failed to start or become healthy."""

    max_lines = 40  # room for the tail of its log (engine.wait.LOG_TAIL_LINES)
