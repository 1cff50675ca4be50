"""The lexical structure of SQL text, as PostgreSQL reads it: where a literal or a comment starts and ends.

One lexer for everything that must tell SQL code from what is inside quotes and comments: preflight's check that
every quote and comment of a migration or seed is closed (stapel.migrate.sqlscan), and stapel.kit.sql's
placeholder rewriting (a `$1` or `@name` inside a literal is text, not a parameter). Standard library only: the
kit imports it without the CLI's dependencies.
"""

from __future__ import annotations

import re
from typing import NamedTuple

DOLLAR_TAG = re.compile(r"\$([A-Za-z_][A-Za-z_0-9]*)?\$")
_WORD = re.compile(r"[A-Za-z_0-9$]")


class Literal(NamedTuple):
    end: int  # just after it (the end of the text when it is never closed)
    closed: bool
    opener: str  # ', ", --, /* or the dollar tag ($$, $body$)


def literal_at(sql: str, i: int) -> Literal | None:
    """The quoted literal, quoted name, dollar quote or comment starting at `i`, or None when code starts there."""
    char, n = sql[i], len(sql)
    if char in "'\"":
        escapes = char == "'" and i > 0 and sql[i - 1] in "eE" and not (i > 1 and _WORD.match(sql[i - 2]))  # E'...'
        end = _quote_end(sql, i, escapes)
        return Literal(n, False, char) if end < 0 else Literal(end, True, char)
    if sql.startswith("--", i):
        newline = sql.find("\n", i)
        return Literal(n if newline < 0 else newline, True, "--")
    if sql.startswith("/*", i):
        end = _comment_end(sql, i)
        return Literal(n, False, "/*") if end < 0 else Literal(end, True, "/*")
    if char == "$" and not (i > 0 and _WORD.match(sql[i - 1])):
        tag = DOLLAR_TAG.match(sql, i)
        if tag:
            close = sql.find(tag.group(0), tag.end())
            return Literal(n, False, tag.group(0)) if close < 0 else Literal(close + len(tag.group(0)), True, tag.group(0))
    return None


def _quote_end(sql: str, start: int, escapes: bool) -> int:
    """Just after the quote closing the one at `start` (a doubled quote is part of the text), or -1."""
    quote, i = sql[start], start + 1
    while i < len(sql):
        if escapes and sql[i] == "\\":
            i += 2
            continue
        if sql[i] == quote:
            if sql.startswith(quote * 2, i):
                i += 2
                continue
            return i + 1
        i += 1
    return -1


def _comment_end(sql: str, start: int) -> int:
    """Just after the */ closing the comment at `start` (PostgreSQL's block comments nest), or -1."""
    depth, i = 0, start
    while i < len(sql):
        if sql.startswith("/*", i):
            depth, i = depth + 1, i + 2
        elif sql.startswith("*/", i):
            depth, i = depth - 1, i + 2
            if depth == 0:
                return i
        else:
            i += 1
    return -1
