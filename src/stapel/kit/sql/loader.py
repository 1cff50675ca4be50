"""Named queries from .sql files, in sqlc's annotation syntax (seed 004: SQL never as a string in code).

    -- name: users__get :one
    SELECT id, email FROM users WHERE id = $1;

    -- name: users__rename :execrows
    UPDATE users SET name = @name WHERE id = sqlc.arg(id);

Kinds: :one, :many, :exec, :execrows, :execresult (sqlc's :batch* and :copyfrom are refused). Parameters: $1..$N,
or sqlc's named forms @name, sqlc.arg(name), sqlc.narg(name) (not both styles in one query, as in sqlc); each
becomes a psycopg placeholder, and every literal % is doubled, so `Query.text` is the SQL as psycopg runs it.
A scanner skips string literals, quoted identifiers, dollar-quoted bodies and comments, so a '$1' or '@x' inside
them stays text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from stapel.kit.errors import QueryArgumentError, SqlFileError
from stapel.kit.sql import template
from stapel.sqltext import literal_at

KINDS = ("one", "many", "exec", "execrows", "execresult")
UNSUPPORTED = ("batchexec", "batchmany", "batchone", "copyfrom")
_NAME_LINE = re.compile(r"^\s*--\s*name:\s*(?P<rest>.*)$")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_POSITIONAL = re.compile(r"\$(\d+)")
_AT_NAME = re.compile(r"@([A-Za-z_][A-Za-z0-9_]*)")
_MACRO = re.compile(r"sqlc\.(?P<func>[A-Za-z_]+)\s*\(\s*(?P<arg>'[^']*'|\"[^\"]*\"|[A-Za-z_][A-Za-z0-9_]*)?\s*\)",
                    re.IGNORECASE)
_OPERATOR_CHARS = set("+-*/<>=~!@#%^&|`?")


class Kind(str):
    """A query's kind without its colon ("one"); compares equal to sqlc's spelling too (":one")."""

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str) and other.startswith(":"):
            other = other[1:]
        return str.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    __hash__ = str.__hash__


@dataclass(frozen=True)
class Query:
    """One named query: `text` is what psycopg runs (%s placeholders); `positional` how many $N; `named` the
    names in first-use order; `slots` what fills each placeholder (an int index into the positional arguments
    or a name)."""

    name: str
    kind: str
    text: str
    positional: int
    named: tuple[str, ...]
    source: str = ""
    line: int = 0
    slots: tuple[int | str, ...] = field(default=(), repr=False)
    direct: bool = field(default=False, repr=False)  # $1..$N each once, in order: the arguments as they are
    plans: dict = field(default_factory=dict, repr=False, compare=False)  # row type -> what a call needs (sql.db)
    choices: dict = field(default_factory=dict, repr=False, compare=False)  # {slot} -> allowed values (template)
    chosen: dict = field(default_factory=dict, repr=False, compare=False)  # choices made -> the ready Query
    marked: str = field(default="", repr=False, compare=False)  # the text with its slots marked (template)

    def choose(self, **values: str) -> Query:
        """The query with its {slots} filled, each from the values its .sql file allows (see sql.template)."""
        from stapel.kit.sql.template import choose

        return choose(self, values)

    method: str = field(default="", repr=False, compare=False)  # the Database method that runs it: one, many, exec

    def __post_init__(self) -> None:
        object.__setattr__(self, "method", "exec" if self.kind.startswith("exec") else str(self.kind))

    def params(self, args: tuple, kwargs: dict) -> tuple:
        """The values for the placeholders, in order; a wrong call is one QueryArgumentError naming the query."""
        if self.named:
            if args:
                raise QueryArgumentError(f"{self.name}: takes named parameters only ({', '.join(self.named)}), "
                                         f"got {len(args)} positional")
            unknown = [k for k in kwargs if k not in self.named]
            if unknown:
                raise QueryArgumentError(f"{self.name}: unknown named parameter {unknown[0]!r} "
                                         f"(expects {', '.join(self.named)})")
            missing = [n for n in self.named if n not in kwargs]
            if missing:
                raise QueryArgumentError(f"{self.name}: missing named parameter {missing[0]!r} "
                                         f"(expects {', '.join(self.named)})")
            return tuple(kwargs[s] for s in self.slots)
        if self.direct and not kwargs and len(args) == self.positional:
            return args
        if kwargs:
            raise QueryArgumentError(f"{self.name}: unknown named parameter {next(iter(kwargs))!r} "
                                     f"(the query takes {self.positional} positional: $1..${self.positional})"
                                     if self.positional else f"{self.name}: unknown named parameter "
                                     f"{next(iter(kwargs))!r} (the query takes no parameters)")
        if len(args) != self.positional:
            raise QueryArgumentError(f"{self.name}: expects {self.positional} positional argument"
                                     f"{'' if self.positional == 1 else 's'}, got {len(args)}")
        # a positional query's slots are ints (only named queries, returned above, have str slots)
        return tuple(args[s] for s in self.slots) if self.slots else tuple(args)  # type: ignore[index]


class Queries(Mapping[str, Query]):
    """name -> Query, in file order; also `queries.users__get`."""

    def __init__(self, queries: dict[str, Query]) -> None:
        self._queries = queries

    def __getitem__(self, name: str) -> Query:
        try:
            return self._queries[name]
        except KeyError:
            raise KeyError(f"no query named {name!r} (known: {', '.join(self._queries) or 'none'})") from None

    def __getattr__(self, name: str) -> Query:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self._queries[name]
        except KeyError:
            raise AttributeError(f"no query named {name!r}") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._queries)

    def __len__(self) -> int:
        return len(self._queries)

    def __repr__(self) -> str:
        return f"Queries({', '.join(self._queries)})"


def load(path: str | Path) -> Queries:
    """Every named query in a .sql file, or in every .sql file under a folder (sorted, recursively)."""
    root = Path(path)
    if root.is_dir():
        files = sorted(p for p in root.rglob("*.sql") if p.is_file())
        if not files:
            raise SqlFileError(f"{root}: no .sql files")
    elif root.is_file():
        files = [root]
    else:
        raise SqlFileError(f"{root}: no such file or folder")
    found: dict[str, Query] = {}
    for file in files:
        for query in parse(file.read_text(encoding="utf-8"), str(file)):
            if query.name in found:
                first = found[query.name]
                raise SqlFileError(f"{query.source}:{query.line}: duplicate query name {query.name!r} "
                                   f"(first at {first.source}:{first.line})")
            found[query.name] = query
    return Queries(found)


def parse(text: str, source: str = "<string>") -> list[Query]:
    """The named queries of one file's text."""
    blocks: list[tuple[int, str, str, list[str]]] = []  # (line, name, kind, body lines)
    for number, line in enumerate(text.splitlines(), start=1):
        match = _NAME_LINE.match(line)
        if match:
            name, kind = _annotation(match["rest"], source, number)
            blocks.append((number, name, kind, []))
        elif blocks:
            blocks[-1][3].append(line)
        elif _code(line):
            raise SqlFileError(f"{source}:{number}: SQL before the first '-- name: <model>__<operation> :kind' comment")
    if not blocks:
        raise SqlFileError(f"{source}: no named query (expected '-- name: <model>__<operation> :one|:many|:exec')")
    return [_query(name, kind, "\n".join(body), source, number) for number, name, kind, body in blocks]


def _code(line: str) -> bool:
    stripped = line.strip()
    return bool(stripped) and not stripped.startswith("--")


def _annotation(rest: str, source: str, number: int) -> tuple[str, str]:
    words = rest.split()
    where = f"{source}:{number}"
    if not words:
        raise SqlFileError(f"{where}: '-- name:' without a query name")
    name = words[0]
    if not _IDENT.match(name):
        raise SqlFileError(f"{where}: query name {name!r} is not an identifier (letters, digits, _)")
    if len(words) < 2:
        raise SqlFileError(f"{where}: query {name!r} has no kind (add :one, :many or :exec)")
    kind = words[1]
    if len(words) > 2:
        raise SqlFileError(f"{where}: unexpected {' '.join(words[2:])!r} after the kind of {name!r}")
    bare = kind[1:] if kind.startswith(":") else ""
    if bare in UNSUPPORTED:
        raise SqlFileError(f"{where}: query {name!r}: kind {kind} is not supported by stapel.kit "
                           "(use :one, :many, :exec, :execrows or :execresult)")
    if bare not in KINDS:
        raise SqlFileError(f"{where}: query {name!r}: unknown kind {kind!r} (expected :one, :many, :exec, :execrows "
                           "or :execresult)")
    return name, Kind(bare)


def _query(name: str, kind: str, body: str, source: str, number: int) -> Query:
    where = f"{source}:{number}: query {name!r}"
    pieces = list(_scan(body))
    if not any(is_code and chunk.strip().strip(";").strip() for is_code, chunk in pieces):
        raise SqlFileError(f"{where} is empty")
    out: list[str] = []
    slots: list[int | str] = []
    positions: set[int] = set()
    names: dict[str, None] = {}
    used: list[str] = []
    for is_code, chunk in pieces:
        if not is_code:
            out.append(chunk.replace("%", "%%"))
            continue
        used += [m[1] for m in template.SLOT.finditer(chunk)]
        out.append(template.mark(_placeholders(chunk, where, slots, positions, names)))
    choices = template.allowed(body, where)
    template.check(used, choices, where)
    if positions and names:
        raise SqlFileError(f"{where} mixes positional ($1) and named (@name, sqlc.arg) parameters; use one style")
    positional = max(positions, default=0)
    gaps = sorted(set(range(1, positional + 1)) - positions)
    if gaps:
        raise SqlFileError(f"{where} uses ${positional} but never ${gaps[0]}")
    marked = "".join(out).strip()
    marked = marked[:-1].rstrip() if marked.endswith(";") else marked
    indexes = tuple(s - 1 if isinstance(s, int) else s for s in slots)
    return Query(name, kind, template.unmark(marked), positional, tuple(names), source, number, indexes,
                 direct=not names and indexes == tuple(range(positional)), choices=choices,
                 marked=marked if choices else "")


def _placeholders(chunk: str, where: str, slots: list, positions: set[int], names: dict[str, None]) -> str:
    """One stretch of plain SQL (no literals or comments): parameters to %s, % to %%."""
    result: list[str] = []
    i = 0
    while i < len(chunk):
        char = chunk[i]
        if char == "%":
            result.append("%%")
            i += 1
            continue
        if char == "$":
            match = _POSITIONAL.match(chunk, i)
            if match and not _word_before(chunk, i):
                n = int(match[1])
                if n == 0:
                    raise SqlFileError(f"{where}: parameters start at $1, found $0")
                positions.add(n)
                slots.append(n)
                result.append("%s")
                i = match.end()
                continue
        if char == "@":
            match = _AT_NAME.match(chunk, i)
            previous = chunk[i - 1] if i else " "
            if match and previous not in _OPERATOR_CHARS and not (previous.isalnum() or previous == "_"):
                names.setdefault(match[1])
                slots.append(match[1])
                result.append("%s")
                i = match.end()
                continue
        if char in "sS" and chunk[i:i + 5].lower() == "sqlc." and not _word_before(chunk, i):
            match = _MACRO.match(chunk, i)
            if match is None:
                raise SqlFileError(f"{where}: malformed sqlc macro near {chunk[i:i + 30]!r} (expected sqlc.arg(name))")
            func = match["func"].lower()
            if func not in ("arg", "narg"):
                raise SqlFileError(f"{where}: sqlc.{match['func']}() is not supported (use sqlc.arg or sqlc.narg)")
            arg = (match["arg"] or "").strip("'\"")
            if not _IDENT.match(arg):
                raise SqlFileError(f"{where}: sqlc.{func}() needs a parameter name")
            names.setdefault(arg)
            slots.append(arg)
            result.append("%s")
            i = match.end()
            continue
        result.append(char)
        i += 1
    return "".join(result)


def _word_before(chunk: str, i: int) -> bool:
    return i > 0 and (chunk[i - 1].isalnum() or chunk[i - 1] in "_$.")


def _scan(sql: str) -> Iterator[tuple[bool, str]]:
    """(is_code, chunk): plain SQL, or a literal/comment to leave as it is (its % still doubled by the caller)."""
    i, start, n = 0, 0, len(sql)
    while i < n:
        if sql[i] in "sS" and not _word_before(sql, i):
            macro = _MACRO.match(sql, i)  # sqlc.arg('name'): its quoted name stays in the code
            if macro:
                i = macro.end()
                continue
        found = literal_at(sql, i)
        if found is None:
            i += 1
            continue
        if start < i:
            yield True, sql[start:i]
        yield False, sql[i:found.end]
        i = start = found.end
    if start < n:
        yield True, sql[start:]
