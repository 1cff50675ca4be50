"""The errors stapel shows to a user, and its exit codes (see DESIGN.md, house rules)."""

from __future__ import annotations

EXIT_OK = 0
EXIT_USER = 1
EXIT_BUG = 3
EXIT_INTERRUPTED = 130
MAX_LINES = 20  # problems shown for one error; the rest are counted


def capped(problems: list[str]) -> list[str]:
    """At most MAX_LINES lines with the first one: 75,000 unknown keys are 20 lines and a count, not 75,000 lines."""
    if len(problems) < MAX_LINES:
        return list(problems)
    hidden = len(problems) - (MAX_LINES - 2)
    return [*problems[:MAX_LINES - 2], f"... and {hidden:,} more"]


class StapelError(Exception):
    """A user-facing error: one clear line (or several, one per problem), exit code 1."""

    exit_code = EXIT_USER

    def __init__(self, message: str, *, hint: str | None = None, problems: list[str] | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.problems = capped(problems or [])

    def lines(self) -> list[str]:
        first = self.message + (f" ({self.hint})" if self.hint else "")
        return [first, *self.problems]


class ConfigError(StapelError):
    """stapel.yaml (or an env file) is wrong; the message names the file, line and config path."""


class PreflightError(StapelError):
    """Something on the machine stops the stack from starting: a binary, a port, a directory."""


class StartError(StapelError):
    """A component or service failed to start or become healthy."""
