""".env files read line by line with python-dotenv's parser, which keeps every comment and blank line: the
documents `stapel env sync`/`check` edit (env/envfiles.py) and the values stapel.yaml's ${VAR} reads (model/loader.py).
A line that does not parse is a problem naming the file and line, never the line's text (it may hold a secret).
`read_expanded` gives the values with `${NAME}` expanded as python-dotenv and Docker Compose expand them (the
environment first, then the keys above; a single-quoted value stays literal): a secret can sit inside a URL.
It sits below the model and env layers, which both read .env files."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import Path

from stapel.errors import ConfigError

PARSE_HINT = "write KEY=value, quote a value with spaces or #, close every quote"
_BLANK_LINES = re.compile(r"(?:[^\S\r\n]*(?:\r\n|\r|\n))*")
_NEWLINE = re.compile(r"\r\n|\r|\n")
_ASSIGN = re.compile(r"[^\S\r\n]*(?:export[^\S\r\n]+)?(?P<key>'[^']+'|[^=#\s]+)[^\S\r\n]*=")
_PREFIX = re.compile(r"[^\S\r\n]*(?:export[^\S\r\n]+)?")
_SPACE = re.compile(r"[^\S\r\n]*")
_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_QUOTED = re.compile(r"""'(?:\\.|[^'\\])*'|"(?:\\.|[^"\\])*\"""", re.DOTALL)
_COMMENT_AFTER_QUOTE = re.compile(r"[^\S\r\n]*(#[^\r\n]*)")
_COMMENT_AFTER_VALUE = re.compile(r"[^\S\r\n]+(#[^\r\n]*)")
_PLAIN_VALUE = re.compile(r"[A-Za-z0-9_./:@%+,-]*")
_PLAIN_KEY = re.compile(r"[^=#\s'\"]+")


@dataclass(frozen=True)
class Chunk:
    """One binding of a .env file: the blank lines before it (head), then its own text (body)."""

    head: str
    body: str
    line: int  # the body's first line
    key: str | None  # None: a comment, blank lines, or a line that does not parse
    value: str | None  # None: a bare KEY without `=`
    error: bool = False

    @property
    def is_comment(self) -> bool:
        return self.key is None and not self.error and self.body.lstrip().startswith("#")


@dataclass
class Doc:
    """A parsed .env file or example."""

    path: Path
    shown: str
    text: str
    chunks: list[Chunk]

    @property
    def broken(self) -> bool:
        return any(chunk.error for chunk in self.chunks)

    def last(self) -> dict[str, int]:
        """Key -> index of its last chunk (the one python-dotenv uses), in file order."""
        indexes = {c.key: i for i, c in enumerate(self.chunks) if c.key is not None}
        return dict(sorted(indexes.items(), key=lambda item: item[1]))

    def values(self) -> dict[str, str]:
        return {key: self.chunks[i].value or "" for key, i in self.last().items()}

    def duplicates(self) -> list[tuple[str, int, int]]:
        """(key, line of its first occurrence, line of a later one) for every key set twice."""
        first: dict[str, int] = {}
        found = []
        for chunk in self.chunks:
            if chunk.key is not None and chunk.key in first:
                found.append((chunk.key, first[chunk.key], chunk.line))
            elif chunk.key is not None:
                first[chunk.key] = chunk.line
        return found


def read_doc(path: Path, shown: str) -> tuple[Doc | None, list[str]]:
    """The parsed file (None if it does not exist) and a problem for each line that does not parse."""
    from dotenv.parser import parse_stream

    if not path.exists():
        return None, []
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return Doc(path, shown, "", []), [f"{shown}: cannot read: {getattr(exc, 'strerror', None) or exc.__class__.__name__}"]
    chunks = [_chunk(binding) for binding in parse_stream(io.StringIO(text))]
    problems = [f"{shown}:{c.line}: cannot parse {_what(c)} ({PARSE_HINT})" for c in chunks if c.error]
    return Doc(path, shown, text, chunks), problems


def _chunk(binding) -> Chunk:  # dotenv.parser.Binding
    text = binding.original.string
    head = _empty_or_more(_BLANK_LINES, text).group()
    line = binding.original.line + len(_NEWLINE.findall(head))
    return Chunk(head, text[len(head):], line, binding.key, binding.value, binding.error)


def _what(chunk: Chunk) -> str:
    assign = _ASSIGN.match(chunk.body)
    if assign is None:
        return "this line"
    return f"the value of {assign.group('key')}"


def trailing_comment(body: str) -> str:
    """The `# ...` after a key's value on its line, or ''."""
    assign = _ASSIGN.match(body)
    if assign is None:
        return ""
    quoted = _QUOTED.match(body, _empty_or_more(_SPACE, body, assign.end()).end())
    if quoted:
        comment = _COMMENT_AFTER_QUOTE.match(body, quoted.end())
    else:
        comment = _COMMENT_AFTER_VALUE.search(_NEWLINE.split(body[assign.end():])[0])
    return comment.group(1) if comment else ""


def comments_above(chunks: list[Chunk], index: int) -> list[Chunk]:
    """The comment lines right above chunks[index], with no blank line between, top first."""
    above: list[Chunk] = []
    while index > 0 and not chunks[index].head and chunks[index - 1].is_comment:
        index -= 1
        above.insert(0, chunks[index])
    return above


def quote(value: str) -> str:
    """The value as python-dotenv reads it back exactly: plain when safe, else single-quoted."""
    if _PLAIN_VALUE.fullmatch(value):
        return value
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def key_line(template: Chunk, key: str, value: str) -> str:
    """`KEY=value` in the template line's place: its indentation, `export` and trailing comment kept."""
    name = key if _PLAIN_KEY.fullmatch(key) else f"'{key}'"
    comment = trailing_comment(template.body)
    return f"{_empty_or_more(_PREFIX, template.body).group()}{name}={quote(value)}{' ' + comment if comment else ''}\n"


def _empty_or_more(pattern: re.Pattern[str], text: str, pos: int = 0) -> re.Match[str]:
    """pattern.match for a pattern that matches the empty string too, so it always matches."""
    found = pattern.match(text, pos)
    assert found is not None, pattern.pattern
    return found


def read(path: Path) -> dict[str, str]:
    """KEY -> value in file order; a bare KEY without `=` is left out (as python-dotenv does).
    A missing file or a line that does not parse is a ConfigError naming the file and line."""
    doc = _parsed(path)
    return {key: value for key, i in doc.last().items() if (value := doc.chunks[i].value) is not None}


def _parsed(path: Path) -> Doc:
    doc, problems = read_doc(path, str(path))
    if doc is None:
        raise ConfigError(f"{path}: no such file")
    if problems:
        raise ConfigError(problems[0], problems=problems[1:])
    return doc


def read_expanded(path: Path, above: dict[str, str], environ: dict[str, str]) -> dict[str, str]:
    """read(), each `${NAME}` of a value expanded from `environ`, then this file's keys above it, then `above` (the
    files read before). A name set nowhere is a ConfigError naming the file, line and key (never the value)."""
    doc = _parsed(path)
    values: dict[str, str] = {}
    for key, i in doc.last().items():
        chunk = doc.chunks[i]
        if chunk.value is None:
            continue
        literal = chunk.body.partition("=")[2].lstrip().startswith("'")

        def lookup(found: re.Match[str], key: str = key, line: int = chunk.line) -> str:
            name = found.group(1)
            for source in (environ, values, above):
                if name in source:
                    return source[name]
            raise ConfigError(f"{path}:{line}: {key}: ${{{name}}} is not set",
                              hint=f"set {name} above it or in the environment (`stapel env sync` generates the secrets)")
        values[key] = chunk.value if literal else _REFERENCE.sub(lookup, chunk.value)
    return values
