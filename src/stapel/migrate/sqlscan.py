"""A lexical check of SQL text, before anything starts: a quote, a dollar quote or a block comment that is
never closed is reported at the line where it opened (the server would only say "at end of input")."""

from __future__ import annotations

from stapel.sqltext import literal_at


def unclosed(text: str) -> tuple[int, str] | None:
    """(line, what) of the first quote or comment that is never closed, or None."""
    i = 0
    while i < len(text):
        found = literal_at(text, i)
        if found is None:
            i += 1
            continue
        if not found.closed:
            return text.count("\n", 0, i) + 1, _never_closed(found.opener)
        i = found.end
    return None


def _never_closed(opener: str) -> str:
    if opener == "/*":
        return "this /* comment is never closed by */"
    if opener in "'\"":
        return f"the {opener} opened here is never closed"
    return f"the dollar quote {opener} opened here is never closed"
