"""Which .env files `stapel env sync` and `env check` handle, and reading them line by line.

Only the `env:` block of stapel.yaml is read: the rest may reference ${VAR}s that exist only after a sync.
Files are parsed with python-dotenv's parser, which keeps every comment and blank line; a line it cannot
parse is a problem naming the file and line (never the line's text: it may hold a secret).
"""

from __future__ import annotations

import io
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from stapel.errors import ConfigError
from stapel.model.yamlfile import Located, load_yaml
from stapel.paths import find_stack_file

if TYPE_CHECKING:
    from stapel.env.secrets import Secrets
    from stapel.model.schema import Agreement, EnvBlock

EXAMPLE_NAMES = ("env.example", ".env.example")
SKIP_DIRS = frozenset({"node_modules", "__pycache__", "venv", "dist", "build"})  # and every dot-dir (.git, .local, .venv)
PARSE_HINT = "write KEY=value, quote a value with spaces or #, close every quote"

_BLANK_LINES = re.compile(r"(?:[^\S\r\n]*(?:\r\n|\r|\n))*")
_NEWLINE = re.compile(r"\r\n|\r|\n")
_ASSIGN = re.compile(r"[^\S\r\n]*(?:export[^\S\r\n]+)?(?P<key>'[^']+'|[^=#\s]+)[^\S\r\n]*=")
_PREFIX = re.compile(r"[^\S\r\n]*(?:export[^\S\r\n]+)?")
_SPACE = re.compile(r"[^\S\r\n]*")
_QUOTED = re.compile(r"""'(?:\\.|[^'\\])*'|"(?:\\.|[^"\\])*\"""", re.DOTALL)
_COMMENT_AFTER_QUOTE = re.compile(r"[^\S\r\n]*(#[^\r\n]*)")
_COMMENT_AFTER_VALUE = re.compile(r"[^\S\r\n]+(#[^\r\n]*)")
_PLAIN_VALUE = re.compile(r"[A-Za-z0-9_./:@%+,-]*")
_PLAIN_KEY = re.compile(r"[^=#\s'\"]+")


@dataclass(frozen=True)
class Project:
    file: Path
    located: Located
    block: EnvBlock

    @property
    def root(self) -> Path:
        return self.file.parent

    def shown(self, path: Path) -> str:
        return Path(os.path.relpath(path, self.root)).as_posix()


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


@dataclass(frozen=True)
class Pair:
    example: Path
    env: Path
    index: int | None  # in env.files; None when discovered


@dataclass
class EnvPair:
    pair: Pair
    example: Doc
    env: Doc | None  # None: it does not exist yet


@dataclass
class Loaded:
    project: Project
    pairs: list[EnvPair]
    secrets: Secrets
    problems: list[str]


def load_project(explicit: str | None) -> Project:
    """stapel.yaml's `env:` block, validated; errors name the file, line and config path."""
    from pydantic import ValidationError

    from stapel.model.errors import format_errors
    from stapel.model.schema import EnvBlock

    file = find_stack_file(explicit)
    located = load_yaml(file)
    if not isinstance(located.data, dict):
        raise ConfigError(f"{file.name}:1: the top level must be a mapping (components:, services:, ...)")
    try:
        block = EnvBlock.model_validate(located.data.get("env") or {})
    except ValidationError as exc:
        errors = [{**error, "loc": ("env", *error["loc"])} for error in exc.errors(include_url=False)]
        lines = format_errors(located, errors)
        raise ConfigError(lines[0], problems=lines[1:]) from None
    return Project(file, located, block)


def load(project: Project) -> Loaded:
    """Every pair with its example and .env parsed, the project's secrets, and every problem found."""
    from stapel.env.secrets import collect

    pairs, problems = _checked_pairs(project)
    loaded = []
    for pair in pairs:
        example, example_problems = read_doc(pair.example, project.shown(pair.example))
        env, env_problems = read_doc(pair.env, project.shown(pair.env))
        problems += example_problems + env_problems
        if example is None:  # _checked_pairs saw it, but it was deleted since
            problems.append(f"{project.shown(pair.example)} does not exist")
            continue
        problems += [f"{example.shown}:{line}: {key} is set twice (also on line {first})"
                     for key, first, line in example.duplicates()]
        loaded.append(EnvPair(pair, example, env))
    secrets, secret_problems = collect(project.block, [p.example for p in loaded], project.located)
    return Loaded(project, loaded, secrets, problems + secret_problems)


def pairs(root: Path, block: EnvBlock) -> list[Pair]:
    """env.files (examples that do not exist included), or every example found under the root."""
    if not block.files:
        return [Pair(example, example.parent / ".env", None) for example in discover(root)]
    found = []
    for i, entry in enumerate(block.files):
        example = _normal(root / entry.example)
        env = _normal(root / entry.path) if entry.path else example.parent / ".env"
        found.append(Pair(example, env, i))
    return found


def discover(root: Path) -> list[Path]:
    """Every env.example and .env.example under root, skipping dot-dirs, virtualenvs and build output."""
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".") and d not in SKIP_DIRS]
        found += [Path(folder) / name for name in files if name in EXAMPLE_NAMES]
    return sorted(found, key=lambda path: path.relative_to(root).as_posix())


def _checked_pairs(project: Project) -> tuple[list[Pair], list[str]]:
    """The pairs whose example exists; a problem for each missing example, missing folder or shared .env."""
    good: list[Pair] = []
    problems: list[str] = []
    targets: dict[Path, Pair] = {}
    for pair in pairs(project.root, project.block):
        if not pair.example.is_file():  # a discovered one exists, unless deleted since discover() saw it
            written = project.block.files[pair.index].example if pair.index is not None else project.shown(pair.example)
            problems.append(f"{_where(project, pair, 'example')}{written} does not exist (create it or remove it from env.files)")
        elif not pair.env.parent.is_dir():  # a discovered one's is the example's
            problems.append(f"{_where(project, pair, 'path')}{project.shown(pair.env.parent)} does not exist "
                            f"(create the folder or change the path)")
        elif pair.env == pair.example:
            problems.append(f"{_where(project, pair, 'path')}{project.shown(pair.env)} is the example itself "
                            f"(give the .env its own path)")
        elif pair.env in targets:
            problems.append(f"{_where(project, pair)}{project.shown(pair.env)} would be synced from both "
                            f"{project.shown(targets[pair.env].example)} and {project.shown(pair.example)} "
                            f"(give one of them its own path in env.files)")
        else:
            targets[pair.env] = pair
            good.append(pair)
    return good, problems


def _where(project: Project, pair: Pair, *field_path: str) -> str:
    """`stapel.yaml:LINE: env.files[i].field: ` for a declared pair, '' for a discovered one."""
    if pair.index is None:
        return ""
    config_path: tuple[str | int, ...] = ("env", "files", pair.index, *field_path)
    return f"{project.located.where(config_path)}: env.files[{pair.index}]{''.join('.' + p for p in field_path)}: "


def agree_files(project: Project, group: Agreement, synced: list[EnvPair]) -> list[Path]:
    """The files of an `agree:` group: as listed (relative to the root), else every synced .env."""
    if group.files:
        return [_normal(project.root / name) for name in group.files]
    return [p.pair.env for p in synced]


def example_name(pair: EnvPair) -> str:
    """The example as seen from its .env's folder (usually just its name)."""
    return Path(os.path.relpath(pair.example.path, pair.pair.env.parent)).as_posix()


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


def _normal(path: Path) -> Path:
    return Path(os.path.normpath(path))
