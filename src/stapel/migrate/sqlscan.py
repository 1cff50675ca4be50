"""A lexical check of SQL text, before anything starts: a quote, a dollar quote or a block comment that is
never closed is reported at the line where it opened (the server would only say "at end of input")."""

from __future__ import annotations

import re

_DOLLAR = re.compile(r"\$([A-Za-z_][A-Za-z_0-9]*)?\$")
_WORD = re.compile(r"[A-Za-z_0-9$]")


def unclosed(text: str) -> tuple[int, str] | None:
    """(line, what) of the first quote or comment that is never closed, or None."""
    i, line, end = 0, 1, len(text)
    while i < end:
        char = text[i]
        if char == "\n":
            line += 1
        elif text.startswith("--", i):
            newline = text.find("\n", i)
            i = end if newline < 0 else newline
            continue
        elif text.startswith("/*", i):
            close = _comment_end(text, i)
            if close < 0:
                return line, "this /* comment is never closed by */"
            line += text.count("\n", i, close)
            i = close
            continue
        elif char in "'\"":
            close = _quote_end(text, i, escapes=char == "'" and _escape_string(text, i))
            if close < 0:
                return line, f"the {char} opened here is never closed"
            line += text.count("\n", i, close)
            i = close
            continue
        elif char == "$" and (i == 0 or not _WORD.match(text[i - 1])):
            tag = _DOLLAR.match(text, i)
            if tag:
                close = text.find(tag.group(0), tag.end())
                if close < 0:
                    return line, f"the dollar quote {tag.group(0)} opened here is never closed"
                line += text.count("\n", i, close)
                i = close + len(tag.group(0))
                continue
        i += 1
    return None


def _comment_end(text: str, start: int) -> int:
    """Just after the */ closing the comment at `start` (PostgreSQL's block comments nest), or -1."""
    depth, i = 0, start
    while i < len(text):
        if text.startswith("/*", i):
            depth, i = depth + 1, i + 2
        elif text.startswith("*/", i):
            depth, i = depth - 1, i + 2
            if depth == 0:
                return i
        else:
            i += 1
    return -1


def _escape_string(text: str, quote: int) -> bool:
    """E'...': backslash escapes apply."""
    return quote > 0 and text[quote - 1] in "eE" and (quote == 1 or not _WORD.match(text[quote - 2]))


def _quote_end(text: str, start: int, escapes: bool) -> int:
    """Just after the quote closing the one at `start` (a doubled quote is part of the text), or -1."""
    char, i = text[start], start + 1
    while i < len(text):
        if escapes and text[i] == "\\":
            i += 2
            continue
        if text[i] == char:
            if text.startswith(char * 2, i):
                i += 2
                continue
            return i + 1
        i += 1
    return -1
