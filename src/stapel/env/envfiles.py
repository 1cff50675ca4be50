"""Which .env files `stapel env sync` and `env check` handle (each read as a document by stapel.envdoc).

Only the `env:` block of stapel.yaml is read: the rest may reference ${VAR}s that exist only after a sync.
Files are parsed with python-dotenv's parser, which keeps every comment and blank line; a line it cannot
parse is a problem naming the file and line (never the line's text: it may hold a secret).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from stapel.envdoc import Doc, read_doc
from stapel.errors import ConfigError
from stapel.model.yamlfile import Located, load_yaml
from stapel.paths import find_stack_file

if TYPE_CHECKING:
    from stapel.env.secrets import Secrets
    from stapel.model.schema import Agreement, EnvBlock

EXAMPLE_NAMES = ("env.example", ".env.example")
SKIP_DIRS = frozenset({"node_modules", "__pycache__", "venv", "dist", "build"})  # and every dot-dir (.git, .local, .venv)


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


def _normal(path: Path) -> Path:
    return Path(os.path.normpath(path))
