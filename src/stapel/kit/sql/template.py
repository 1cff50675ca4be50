"""The few dynamic parts of a named query (seed 004: "templating with explicit, safe parameters"): an ORDER BY
column or a sort direction, chosen at run time from values the .sql file itself allows.

    -- name: users__page :many
    -- {column}: id | email | created_at
    -- {direction}: ASC | DESC
    SELECT id, email FROM users ORDER BY {column} {direction} LIMIT $1;

    await db.many(queries.users__page.choose(column="email", direction="DESC"), 20)

A value is an identifier (quoted by psycopg.sql.Identifier, `a.b` as two parts) or a sort keyword; anything not
listed is refused before SQL is sent. Optional WHERE parts need no template: sqlc's idiom
`(sqlc.narg(email)::text IS NULL OR email = sqlc.narg(email))` keeps them parameters.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import TYPE_CHECKING

from stapel.kit.errors import QueryArgumentError, SqlFileError

if TYPE_CHECKING:
    from stapel.kit.sql.loader import Query

SLOT = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_ALLOW_LINE = re.compile(r"^\s*--\s*\{(?P<slot>[A-Za-z_][A-Za-z0-9_]*)\}\s*:\s*(?P<values>.*)$")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*)*\Z")
KEYWORDS = {"ASC", "DESC", "NULLS FIRST", "NULLS LAST", "ASC NULLS FIRST", "ASC NULLS LAST", "DESC NULLS FIRST",
            "DESC NULLS LAST"}


_MARK = re.compile("\x00([A-Za-z_][A-Za-z0-9_]*)\x00")


def mark(code: str) -> str:
    """{slot} in plain SQL (never in literals or comments) as a marker only choose() replaces."""
    return SLOT.sub(lambda m: f"\x00{m[1]}\x00", code)


def unmark(marked: str) -> str:
    return _MARK.sub(lambda m: "{" + m[1] + "}", marked)


def allowed(body: str, where: str) -> dict[str, tuple[str, ...]]:
    """slot -> its allowed values, from the query's `-- {slot}: a | b` lines."""
    found: dict[str, tuple[str, ...]] = {}
    for line in body.splitlines():
        match = _ALLOW_LINE.match(line)
        if not match:
            continue
        slot = match["slot"]
        values = tuple(" ".join(v.split()) for v in match["values"].split("|") if v.strip())
        if not values:
            raise SqlFileError(f"{where}: {{{slot}}} lists no values (-- {{{slot}}}: a | b)")
        bad = [v for v in values if not (_IDENTIFIER.match(v) or v.upper() in KEYWORDS)]
        if bad:
            raise SqlFileError(f"{where}: {{{slot}}} allows {bad[0]!r}, which is neither an identifier nor a sort "
                               "keyword (ASC, DESC, NULLS FIRST, NULLS LAST)")
        found[slot] = values
    return found


def check(used: list[str], choices: dict[str, tuple[str, ...]], where: str) -> None:
    for slot in used:
        if slot not in choices:
            raise SqlFileError(f"{where}: {{{slot}}} has no allowed values (add a line '-- {{{slot}}}: a | b' above it)")
    unused = [slot for slot in choices if slot not in used]
    if unused:
        raise SqlFileError(f"{where}: allowed values for {{{unused[0]}}}, which the query never uses")


def render(value: str) -> str:
    from psycopg import sql

    if value.upper() in KEYWORDS:
        return value.upper()
    return sql.Identifier(*value.split(".")).as_string(None)


def choose(query: Query, chosen: dict[str, str]) -> Query:
    """The query with every slot filled from its allowed values (cached per choice)."""
    ready = query.chosen.get(tuple(sorted(chosen.items())))
    if ready is not None:
        return ready
    missing = [slot for slot in query.choices if slot not in chosen]
    unknown = [slot for slot in chosen if slot not in query.choices]
    if unknown:
        raise QueryArgumentError(f"{query.name}: no {{{unknown[0]}}} to choose"
                                 + (f" (it has {', '.join('{' + s + '}' for s in query.choices)})" if query.choices else ""))
    if missing:
        raise QueryArgumentError(f"{query.name}: choose {{{missing[0]}}} too (one of {' | '.join(query.choices[missing[0]])})")
    rendered, picks = {}, {}
    for slot, value in chosen.items():
        allowed_values = {v.upper() if v.upper() in KEYWORDS else v: v for v in query.choices[slot]}
        picked = allowed_values.get(value.upper() if isinstance(value, str) and value.upper() in KEYWORDS else value)
        if picked is None:
            raise QueryArgumentError(f"{query.name}: {{{slot}}} must be one of {' | '.join(query.choices[slot])}, "
                                     f"got {str(value)[:40]!r}")
        rendered[slot], picks[slot] = render(picked).replace("%", "%%"), picked
    key = tuple(sorted(picks.items()))
    ready = query.chosen.get(key)
    if ready is None:
        text = _MARK.sub(lambda m: rendered[m[1]], query.marked)
        ready = query.chosen[key] = replace(query, text=text, choices={}, chosen={}, plans={}, marked="")
    query.chosen[tuple(sorted(chosen.items()))] = ready
    return ready
