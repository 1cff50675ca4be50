"""Live reload's model and planning (engine/watch.py) and its Compose form (develop.watch), without processes."""

from __future__ import annotations

from pathlib import Path

import pytest

from stapel.engine.stack import open_stack
from stapel.engine.watch import Target, targets
from stapel.errors import ConfigError, StapelError

REPO = Path(__file__).resolve().parents[2]


def _stack(root: Path, services: str):
    (root / "api" / "migrations").mkdir(parents=True, exist_ok=True)
    (root / "lib").mkdir(exist_ok=True)
    (root / "stapel.yaml").write_text("name: w\nservices:\n" + services)
    return open_stack(root / "stapel.yaml", env={})


def test_defaults_watch_the_service_cwd_and_ignore_the_usual_folders(tmp_path: Path) -> None:
    stack = _stack(tmp_path, "  api:\n    command: python3 app.py\n    cwd: api\n    watch: true\n"
                             "    migrations: migrations\n  other:\n    command: sleep 1\n")
    [target] = targets(stack)
    api = (tmp_path / "api").resolve()
    assert target.roots == [api] and target.mode == "restart" and target.migrations == api / "migrations"
    assert target.wants(api / "app.py") and target.wants(api / "pkg" / "mod.py")
    for ignored in (".git/HEAD", ".local/logs/dev/api.log", "__pycache__/app.cpython-311.pyc", "node_modules/x/i.js",
                    ".venv/lib/x.py", "app.py.swp", "app.py~", ".local"):
        assert not target.wants(api / ignored), ignored
    assert not target.wants(tmp_path / "lib" / "x.py")  # not under its paths
    (api / "myenv").mkdir()
    (api / "myenv" / "pyvenv.cfg").write_text("home = /usr\n")
    assert not target.wants(api / "myenv" / "lib" / "site.py")  # a virtual env by any name


def test_paths_include_ignore_mode_and_dependents(tmp_path: Path) -> None:
    stack = _stack(tmp_path, "  api:\n    command: python3 app.py\n    cwd: api\n"
                             "    watch: {paths: [api, lib], include: ['*.py'], ignore: ['tests/*'], mode: sync, restart_dependents: true}\n"
                             "  worker:\n    command: sleep 1\n    depends_on: {api: {condition: started}}\n")
    [target] = targets(stack)
    assert target.roots == [(tmp_path / "api").resolve(), (tmp_path / "lib").resolve()]
    assert target.mode == "sync" and target.dependents == ["worker"]
    assert target.wants((tmp_path / "lib" / "x.py").resolve())
    assert not target.wants((tmp_path / "api" / "README.md").resolve())
    assert not target.wants((tmp_path / "api" / "tests" / "t.py").resolve())
    assert targets(stack, ["worker"]) == []


def test_a_list_is_its_paths_and_false_is_off(load_text) -> None:
    model = load_text("services:\n  a: {command: x, watch: [src]}\n  b: {command: x, watch: false}\n").model
    assert model.services["a"].watch.paths == ["src"] and model.services["b"].watch is None


def test_a_watch_path_that_does_not_exist_is_one_line_naming_it(tmp_path: Path) -> None:
    stack = _stack(tmp_path, "  api:\n    command: python3 app.py\n    watch:\n      paths: [api, srcx]\n")
    with pytest.raises(ConfigError) as info:
        targets(stack)
    assert info.value.lines() == [f"stapel.yaml:6: services.api.watch.paths[1]: {(tmp_path / 'srcx').resolve()} does not exist; "
                                  "create it or fix the path"]


def test_a_bad_watch_block_is_a_config_error(config_error) -> None:
    lines = config_error("services:\n  api:\n    command: x\n    watch: {mode: reload, pathz: [a]}\n")
    assert any("services.api.watch.mode" in line for line in lines)
    assert any("services.api.watch" in line and "pathz" in line for line in lines)


def test_watch_without_any_watched_service_is_one_line(tmp_path: Path) -> None:
    from stapel.cli.watch import checked_targets

    stack = _stack(tmp_path, "  api:\n    command: sleep 1\n")
    with pytest.raises(StapelError) as info:
        checked_targets(stack, None)
    assert info.value.lines() == ["watch: no service in stapel.yaml has watch: (add `watch: true` (or a list of paths) under services.NAME)"]
    with pytest.raises(StapelError) as info:
        checked_targets(stack, ["nope"])
    assert info.value.lines()[0].startswith("--service: 'nope' is not a service in stapel.yaml")


def test_target_wants_nothing_outside_its_roots(tmp_path: Path) -> None:
    target = Target(node=None, roots=[tmp_path / "a"], include=[], ignore=[], mode="restart", dependents=[], migrations=None)
    assert not target.wants(tmp_path / "ab" / "x.py") and target.wants(tmp_path / "a" / "x.py")


def _watcher(tmp_path: Path, api_watch: str, behaviour: dict | None = None):
    from stapel.engine.watch import Watcher
    from stapel.runtimes.fake import FakeRuntime

    stack = _stack(tmp_path, "  api:\n    command: python3 app.py\n    cwd: api\n    port: 18001\n"
                             "    migrations: {command: [sh, -c, 'exit 3']}\n"
                             f"    watch: {api_watch}\n"
                             "  worker:\n    command: sleep 1\n    depends_on: {api: {condition: started}}\n")
    runtime = FakeRuntime(stack, behaviour)
    for node in stack.services():
        runtime.start(node, runtime.launch(node), {})
    runtime.events.clear()
    said: list[str] = []
    return Watcher(stack, runtime, targets(stack), said.append), runtime, said


def test_a_change_restarts_the_service_and_only_asked_for_dependents(tmp_path: Path) -> None:
    watcher, runtime, said = _watcher(tmp_path, "true")
    app = (tmp_path / "api" / "app.py").resolve()
    app.write_text("x")
    watcher.on_batch({app})
    assert runtime.events == ["stop api", "start api"]
    assert said[-1].startswith("↻ api: restarted after api/app.py; healthy in ")
    watcher.on_batch({app})  # saved before that restart: already in what runs
    assert runtime.events == ["stop api", "start api"]

    watcher, runtime, said = _watcher(tmp_path, "{restart_dependents: true}")
    app.write_text("y")
    watcher.on_batch({app})
    assert runtime.events == ["stop api", "start api", "stop worker", "start worker"]


def test_a_failing_migration_is_said_and_the_service_is_not_restarted(tmp_path: Path) -> None:
    watcher, runtime, said = _watcher(tmp_path, "true")
    new = (tmp_path / "api" / "migrations" / "002.sql").resolve()
    new.write_text("-- x\n")
    watcher.on_batch({new})
    assert runtime.events == []
    assert said == ["✗ services.api.migrations.command: exited with code 3: no output (see the step log of this run)"]
