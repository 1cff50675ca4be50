"""Preflight's reading of every input file a run will use, before anything starts: the components' own
documents (AsyncAPI, through their provisioning plan), the migrations folders (each file parsed as goose
does) and the SQL seeds (readable UTF-8, every quote and comment closed). A problem is file:line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stapel.errors import StapelError


def problems(stack: Any, components: list[str], services: list[str], skip_migrations: bool, skip_seeds: bool) -> list[str]:
    found: list[str] = []
    for name in components:
        found += _caught(lambda n=name: _declared(stack, stack.nodes[n]))
    for name in services:
        node = stack.nodes[name]
        if node.config.migrations and node.config.migrations.dir and not skip_migrations:
            found += _caught(lambda n=node: _migrations(stack, n))
        if node.config.seeds and not skip_seeds:
            found += _caught(lambda n=node: _seeds(stack, n))
    return found


def _caught(check: Any) -> list[str]:
    try:
        check()
    except StapelError as exc:
        return exc.lines()
    return []


def _declared(stack: Any, node: Any) -> None:
    from stapel.provision.steps import declared

    declared(stack, node)  # builds what provisioning will apply: reads and checks the documents it comes from


def _migrations(stack: Any, node: Any) -> None:
    from stapel.components.service import cwd
    from stapel.migrate import runner

    for migration in runner.discover(_shown(cwd(node, stack.root) / node.config.migrations.dir)):
        migration.parsed  # noqa: B018 - parsing is the check; it raises ConfigError naming file:line
        _closed(migration.path, migration.path.read_text(encoding="utf-8"))


def _shown(folder: Path) -> Path:
    """A folder as errors name it: relative to where the command runs when it is below it, like its other paths."""
    try:
        return folder.resolve().relative_to(Path.cwd().resolve())
    except ValueError:
        return folder


def _seeds(stack: Any, node: Any) -> None:
    from stapel.components.service import cwd
    from stapel.migrate import seeds

    where = f"services.{node.name}"
    for seed in seeds.collect(node.config.seeds, _shown(cwd(node, stack.root)), where):
        if seed.kind == "sql":
            _closed(seed.source, seeds.sql_text(seed, where))


def _closed(path: Path, text: str) -> None:
    from stapel.errors import ConfigError
    from stapel.migrate.sqlscan import unclosed

    found = unclosed(text)
    if found:
        raise ConfigError(f"{path}:{found[0]}: {found[1]}", hint="close it; nothing was started")
