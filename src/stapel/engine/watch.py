"""Live reload (`stapel up --watch`, `stapel watch`): services with `watch:` in stapel.yaml are restarted when
files under their watched paths change, one restart per burst of saves, and stapel waits for the probe and
says how long the loop took (the first changed file's save -> healthy). A change under the service's
migrations folder runs its migrations first. In `mode: sync` the command reloads itself; stapel only waits
for its health. Built on watchfiles (inotify, or polling where inotify is unavailable)."""

from __future__ import annotations

import fnmatch
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stapel.components.base import Node
from stapel.errors import ConfigError, StapelError

IGNORED_DIRS = {".git", ".hg", ".svn", ".local", "__pycache__", "node_modules", ".venv", "venv", ".tox", ".nox",
                ".mypy_cache", ".pytest_cache", ".ruff_cache", ".idea", ".vscode", "dist", "build", ".eggs"}
IGNORED_FILES = ("*.swp", "*.swx", "*.swo", "*~", ".#*", "#*#", "*.pyc", "*.pyo", ".DS_Store", "4913")  # 4913: vim's probe file
STEP_MS = 200  # a burst of saves: changes less than this apart are one restart (watchfiles' step: the quiet time)
DEBOUNCE_MS = 1600  # but a burst never holds the restart back longer than this
COMMAND_FOLDERS = ("migrations", "alembic", "db/migrations")  # where a migrations.command tool keeps its files
POLLING_VARIABLE = "STAPEL_WATCH_POLLING"  # 1: poll instead of inotify (network drives, containers without inotify)


@dataclass
class Target:
    node: Node
    roots: list[Path]
    include: list[str]
    ignore: list[str]
    mode: str
    dependents: list[str]
    migrations: Path | None
    started: float = 0.0  # when stapel last (re)started it: saves before that are in what it runs already

    @property
    def name(self) -> str:
        return self.node.name

    def wants(self, path: Path) -> bool:
        root = next((r for r in self.roots if path == r or r in path.parents), None)
        if root is None:
            return False
        rel = path.relative_to(root) if path != root else Path(path.name)
        if any(part in IGNORED_DIRS or _is_venv(root, rel, i) for i, part in enumerate(rel.parts)):
            return False
        text = rel.as_posix()
        if any(fnmatch.fnmatch(path.name, g) for g in IGNORED_FILES):
            return False
        if any(fnmatch.fnmatch(text, g) or fnmatch.fnmatch(path.name, g) for g in self.ignore):
            return False
        return not self.include or any(fnmatch.fnmatch(text, g) or fnmatch.fnmatch(path.name, g) for g in self.include)


def _is_venv(root: Path, rel: Path, i: int) -> bool:
    """A virtual env under another name (env/, .env311/): it has a pyvenv.cfg."""
    folder = root.joinpath(*rel.parts[:i + 1])
    return i < len(rel.parts) - 1 and (folder / "pyvenv.cfg").is_file()


def targets(stack: Any, names: list[str] | None = None) -> list[Target]:
    """The watched services (of `names`, if given), their paths checked: a missing one is one line naming it."""
    from stapel.components.service import cwd
    from stapel.model.yamlfile import load_yaml

    found, problems, located = [], [], None
    for node in stack.services():
        watch = node.config.watch
        if watch is None or (names is not None and node.name not in names):
            continue
        home = cwd(node, stack.root)
        roots = [(stack.root / p).resolve() for p in watch.paths] or [home.resolve()]
        for i, root in enumerate(roots):
            if not root.exists():
                located = located or load_yaml(stack.file)
                where = ("services", node.name, "watch", "paths", i) if watch.paths else ("services", node.name, "watch")
                key = f"services.{node.name}.watch" + (f".paths[{i}]" if watch.paths else "")
                problems.append(f"{located.where(where)}: {key}: {root} does not exist; create it or fix the path")
        folder = _migrations_folder(node, home)
        dependents = [n.name for n in stack.services() if node.name in n.depends_on] if watch.restart_dependents else []
        found.append(Target(node, roots, watch.include, watch.ignore, watch.mode, dependents, folder))
    if problems:
        raise ConfigError(problems[0], problems=problems[1:])
    return found


def _migrations_folder(node: Node, home: Path) -> Path | None:
    """migrations.dir; with migrations.command, the tool's usual folder under the cwd (migrations/, alembic/)."""
    config = node.config.migrations
    if config is None:
        return None
    if config.dir:
        return (home / config.dir).resolve()
    return next(((home / name).resolve() for name in COMMAND_FOLDERS if (home / name).is_dir()), None)


class Watcher:
    """Watches every target's paths with one watchfiles watcher and reloads the services a change concerns."""

    def __init__(self, stack: Any, runtime: Any, items: list[Target], say: Callable[[str], None],
                 stop: threading.Event | None = None):
        self.stack, self.runtime, self.items, self.say = stack, runtime, items, say
        self.stop = stop or threading.Event()
        self.specs: dict[str, Any] = {}

    def accept(self, change: Any, path: str) -> bool:
        import watchfiles

        if change == watchfiles.Change.modified and os.path.isdir(path):
            return False  # a folder's entries changed (polling reports it): the files' own events say which
        return any(t.wants(Path(path)) for t in self.items)

    def run(self) -> None:
        import watchfiles

        roots = sorted({str(r) for t in self.items for r in t.roots})
        polling = os.environ.get(POLLING_VARIABLE) in ("1", "true", "yes") or None
        self.say(f"watching {', '.join(t.name for t in self.items)} ({len(roots)} path{'s' * (len(roots) != 1)}"
                 f"{', polling' if polling else ''}); Ctrl-C stops watching")
        try:
            batches = watchfiles.watch(*roots, watch_filter=self.accept, step=STEP_MS, debounce=DEBOUNCE_MS,
                                       stop_event=self.stop, force_polling=polling, raise_interrupt=True, ignore_permission_denied=True)
            for batch in batches:
                self.on_batch({Path(p) for _c, p in batch})
        except OSError as exc:  # inotify unavailable or out of watches: poll instead
            if polling:
                raise
            self.say(f"  inotify failed ({exc}); polling instead (set {POLLING_VARIABLE}=1 to start so)")
            os.environ[POLLING_VARIABLE] = "1"
            self.run()

    def on_batch(self, paths: set[Path]) -> None:
        event = _event_time(paths)
        done: set[str] = set()
        for target in self.items:
            changed = sorted(p for p in paths if target.wants(p) and _since(p, target.started))
            if not changed or target.name in done:
                continue
            try:
                self.reload(target, changed, event)
            except StapelError as exc:  # say it and keep watching: the next save may fix it
                for line in exc.lines():
                    self.say(f"✗ {line}")
            done.add(target.name)
            for name in target.dependents:
                if name not in done:
                    self._restart_and_wait(self.stack.nodes[name], event, "restarted (depends on " + target.name + ")")
                    done.add(name)

    def reload(self, target: Target, changed: list[Path], event: float) -> None:
        what = _describe(changed, self.stack.root)
        target.started = time.time()
        if target.migrations and any(p == target.migrations or target.migrations in p.parents for p in changed):
            from stapel.migrate import steps

            changes = steps.migrate(self.stack, target.node, lambda _line: None)  # a failure: said, and no restart
            command = target.node.config.migrations.command
            for change in changes or [f"{target.name}: migrations {'command ran' if command else 'up to date'}"]:
                self.say(f"  {change}")
        if target.mode == "sync":
            self._wait_healthy(target.node, event, f"reloaded itself after {what}", settle=0.3)
        else:
            self._restart_and_wait(target.node, event, f"restarted after {what}")

    def _restart_and_wait(self, node: Node, event: float, why: str) -> None:
        from stapel import probes

        spec = self.specs.get(node.name) or self.runtime.launch(node)
        self.specs[node.name] = spec
        self.runtime.stop([node.name])
        meta = {"kind": node.kind, "endpoint": self.stack.endpoint(node), "probe": probes.record(self.stack.probe(node))}
        self.runtime.start_many([(node, spec, meta)])
        self._wait_healthy(node, event, why)

    def _wait_healthy(self, node: Node, event: float, why: str, settle: float = 0.0) -> None:
        from stapel.engine.wait import wait_for

        if settle:
            self.stop.wait(settle)
        detail = wait_for(self.runtime, node, self.stack.probe(node), "healthy", self.stop, lambda _t: None)
        took = time.time() - event
        self.say(f"↻ {node.name}: {why}; healthy in {took:.2f}s (file saved -> healthy): {detail}")


def _since(path: Path, started: float) -> bool:
    """Saved after the service last (re)started (a removed file always counts): the rest of a burst that came
    in while it restarted is in the new process already."""
    try:
        return path.stat().st_mtime > started
    except OSError:
        return True


def _event_time(paths: set[Path]) -> float:
    """When the burst began: the oldest save among the changed files still there (else now)."""
    times = []
    for path in paths:
        try:
            times.append(path.stat().st_mtime)
        except OSError:
            continue
    now = time.time()
    return min([t for t in times if now - t < 60] or [now])


def _describe(changed: list[Path], root: Path) -> str:
    first = changed[0]
    shown = first.relative_to(root) if root in first.parents else first
    return f"{shown}" + (f" and {len(changed) - 1} more" if len(changed) > 1 else "")
