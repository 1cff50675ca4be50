"""Failures as domain meaning, shared by every kit module (seed 004: "not found / conflict / temporary
unavailable"). Callers catch these, never a driver's exception classes; anything else passes through unchanged.

Each carries `query`: the name of the named query (or the operation) that failed; the driver's exception is the
`__cause__`."""

from __future__ import annotations


class KitError(Exception):
    """Base of the domain errors: `query` names what failed, `reason` says why in words (never a value)."""

    def __init__(self, query: str, reason: str = "") -> None:
        self.query = query
        self.reason = reason
        super().__init__(f"{query}: {reason}" if reason else query)

    @property
    def query_name(self) -> str:
        return self.query


class NotFound(KitError):
    """A `:one` query found no row."""


class Conflict(KitError):
    """A unique or exclusion constraint refused the change (SQLSTATE 23505, 23P01)."""

    def __init__(self, query: str, reason: str = "", constraint: str | None = None) -> None:
        self.constraint = constraint
        super().__init__(query, reason)


class Unavailable(KitError):
    """Temporary: the connection failed or was terminated, no pooled connection came in time, a serialization
    failure or a deadlock, a statement timeout. Retrying later may succeed."""


Temporary = Unavailable  # DESIGN.md's word for the same meaning


class SqlFileError(ValueError):
    """A malformed .sql file of named queries: the message names file and line."""


class QueryArgumentError(TypeError):
    """A named query called with the wrong arguments (count, unknown or missing names): the message names the query."""


class Permanent(KitError):
    """Retrying cannot help: a bad request, a message that does not validate, a refusal by an external API (4xx
    but 408/429). A bus handler raising it sends the message to the queue's DLQ at once."""
