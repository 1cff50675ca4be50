"""Bad input never crashes and never acts on the wrong project: one line, exit 1, nothing started or deleted.
And what is a bug is reported as one: exit 3 with a crash log of its own, under the project."""

from __future__ import annotations

import os
import re
import threading
import time
from pathlib import Path

import psutil
import pytest

from stapel.cli.main import main
from stapel.engine.options import UpOptions
from stapel.engine.stack import open_stack
from stapel.engine.up import Up
from stapel.probes import ProbeBug, ProbeSpec
from stapel.runtimes.fake import FakeRuntime

STACK = "components:\n  db:\n    kind: postgres\n    password: s3cr3t-value-x\nservices:\n  api:\n    command: python3 app.py\n" \
        "    port: 8000\n    depends_on: [db]\n"


@pytest.fixture
def parent(tmp_path, monkeypatch):
    """A project with data, and a folder below it that is the current directory."""
    (tmp_path / "stapel.yaml").write_text(STACK)
    data = tmp_path / ".local" / "data" / "dev" / "db"
    data.mkdir(parents=True)
    (data / "PG_VERSION").write_text("15\n")
    child = tmp_path / "child"
    child.mkdir()
    monkeypatch.chdir(child)
    return tmp_path


def error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.strip()]


def nothing_runs_under(folder: Path) -> bool:
    return not [p for p in psutil.process_iter(["cmdline"]) if str(folder) in " ".join(p.info["cmdline"] or [])]


# --- data safety: a stapel.yaml that is there but broken is an error about it, never a reason to look up ---

BROKEN = {
    "a dangling symlink": (lambda f: f.symlink_to("nowhere.yaml"), "a symlink to nowhere.yaml, which does not exist"),
    "a symlink loop": (lambda f: (f.symlink_to(f.parent / "other"), (f.parent / "other").symlink_to(f)), "a symlink loop"),
    "a directory": (lambda f: f.mkdir(), "a directory, not a file"),
    "a fifo": (lambda f: os.mkfifo(f), "not a regular file"),
}


@pytest.mark.parametrize("command", [["down", "--volumes", "--yes"], ["status"], ["check"], ["up"], ["config"], ["logs", "db"]])
@pytest.mark.parametrize("broken", sorted(BROKEN))
def test_a_broken_stapel_yaml_here_is_an_error_and_the_parents_project_is_untouched(parent, capsys, broken, command):
    make, why = BROKEN[broken]
    here = parent / "child" / "stapel.yaml"
    make(here)
    assert main(command) == 1
    assert error_lines(capsys.readouterr().err) == [f"stapel: error: {here}: {why} (make it a readable file, or pass -f PATH)"]
    assert (parent / ".local/data/dev/db/PG_VERSION").read_text() == "15\n"  # down --volumes did not reach the parent
    assert not (parent / "child" / ".local").exists()
    assert nothing_runs_under(parent)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a mode-000 file")
def test_an_unreadable_stapel_yaml_is_an_error_about_it(parent, capsys):
    here = parent / "child" / "stapel.yaml"
    here.write_text(STACK)
    here.chmod(0)
    assert main(["down", "--volumes", "--yes"]) == 1
    assert error_lines(capsys.readouterr().err) == [f"stapel: error: {here}: cannot read it: Permission denied "
                                                    "(make it a readable file, or pass -f PATH)"]
    assert (parent / ".local/data/dev/db/PG_VERSION").exists()


def test_file_option_at_a_symlink_loop(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.yaml").symlink_to(tmp_path / "b.yaml")
    (tmp_path / "b.yaml").symlink_to(tmp_path / "a.yaml")
    assert main(["-f", "a.yaml", "up"]) == 1
    assert error_lines(capsys.readouterr().err) == [f"stapel: error: {tmp_path}/a.yaml: a symlink loop (make it a readable file, or pass -f PATH)"]
    assert not (tmp_path / ".local").exists()


# --- user input that used to crash (exit 3): one line, exit 1, no supervisor left -------------------------

CRASHERS = {
    "an empty command": ("services:\n  api:\n    command: []\n", [], "stapel.yaml:3: services.api.command: the command is empty"),
    "a port past 65535": ("components:\n  cache:\n    kind: redis\n    port: 65500\n", ["--slot", "99"],
                          "components.cache.port: 65500 shifted by 990 (the contour's offset, --slot 99 x slot_stride 10) is "
                          "66490, past 65535 (use a lower --slot, or a smaller ports.offset / slot_stride)"),
    "a NUL byte": ("components:\n  cache:\n    kind: redis\n  \x00x: 1\n", [],
                   "stapel.yaml:4: malformed YAML: the character U+0000 is not allowed in YAML text (remove it; is this the right file?)"),
    "binary garbage": (b"components:\n\x7fELF\x02\x01\x01\x00\xd0\xff\xfe\n", [],
                       "stapel.yaml:2: not UTF-8 text (byte 0xd0) (save it as UTF-8; is this the right file?)"),
}


@pytest.mark.parametrize("command", [["up"], ["config"], ["check"]])
@pytest.mark.parametrize("case", sorted(CRASHERS))
def test_input_that_crashed_is_one_line_and_leaves_nothing(tmp_path, monkeypatch, capsys, case, command):
    text, options, line = CRASHERS[case]
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "stapel.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    code = main([*options, *command])
    err = capsys.readouterr().err
    if command == ["check"] and code == 1 and "not up" in err:
        return  # check answers from the last up's record: nothing ran, and it says so without loading the file
    assert code == 1, err
    assert error_lines(err) == [f"stapel: error: {line}"]
    assert not (tmp_path / ".local").exists()  # no crash log, no supervisor's folders
    assert nothing_runs_under(tmp_path)


# --- bugs: exit 3, a crash log of its own under the project --------------------------------------------


def _crash(tmp_path: Path, capsys, args: list[str]) -> Path:
    assert main(args) == 3
    line = capsys.readouterr().err.strip()
    assert line.startswith("stapel: internal error (a bug in stapel). Details and versions: ")
    return Path(line.rsplit(": ", 1)[1])


@pytest.fixture
def crashing(monkeypatch):
    """`stapel status` raises an unexpected error."""
    from stapel.cli import inspect

    def boom(_args):
        raise ValueError("an unexpected error")

    monkeypatch.setattr(inspect, "cmd_status", boom)


def test_a_crash_log_goes_under_the_projects_local_and_two_in_one_second_are_two_files(parent, capsys, crashing):
    logs = [_crash(parent, capsys, ["status"]) for _ in range(3)]
    assert len(set(logs)) == 3
    for log in logs:
        assert log.parent == parent / ".local" / "logs" and log.is_file()
        assert re.fullmatch(rf"crash-\d{{8}}-\d{{6}}-{os.getpid()}(-\d)?\.log", log.name)
        assert "ValueError: an unexpected error" in log.read_text()
    assert not (parent / "child" / ".local").exists()


def test_a_crash_log_holds_the_versions_the_command_line_and_the_traceback(parent, capsys, crashing, monkeypatch):
    import platform

    from stapel import __version__

    monkeypatch.setattr("sys.argv", ["stapel", "status"])
    lines = _crash(parent, capsys, ["status"]).read_text().splitlines()
    assert lines[0] == f"stapel {__version__}, Python {platform.python_version()}, {platform.platform()}"
    assert lines[1] == "argv: ['stapel', 'status']"
    trace = lines[lines.index("Traceback (most recent call last):"):]
    assert any("in boom" in line for line in trace)  # the frame that raised
    assert trace[-1] == "ValueError: an unexpected error"


def test_a_crash_log_holds_no_secret(parent, capsys, monkeypatch):
    """Secrets of the environment, the project's .env and URL passwords on the command line never reach the file."""
    from stapel.cli import inspect

    (parent / ".env").write_text("STRIPE_SECRET_KEY=sk-from-dotenv-4f8a2c\n")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "aws-from-environ-9b1d7e")

    def boom(_args):
        raise ValueError("failed with sk-from-dotenv-4f8a2c and aws-from-environ-9b1d7e")

    monkeypatch.setattr(inspect, "cmd_status", boom)
    monkeypatch.setattr("sys.argv", ["stapel", "status", "--x", "postgresql://bob:argv-pass-3c5e@h/db"])
    text = _crash(parent, capsys, ["status"]).read_text()
    assert "ValueError: failed with ******" in text
    for secret in ("sk-from-dotenv-4f8a2c", "aws-from-environ-9b1d7e", "argv-pass-3c5e"):
        assert secret not in text


def test_a_crash_log_without_a_project_goes_to_the_users_state_folder(tmp_path, monkeypatch, capsys, crashing):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    log = _crash(tmp_path, capsys, ["status"])
    assert log.parent == tmp_path / "state" / "stapel" and log.is_file()
    assert not (tmp_path / ".local").exists()


def test_a_probe_that_raises_is_a_bug_at_once_not_a_timeout():
    from stapel import probes

    with pytest.raises(ProbeBug, match="the tcp probe raised KeyError: 'port'"):
        probes.run(ProbeSpec("tcp", {}))
    assert probes.run(ProbeSpec("tcp", {"port": 1}))[0] is False  # a refusing target is an answer, not a bug


def test_a_probe_bug_during_wait_fails_the_wait_at_once(tmp_path):
    from stapel import probes
    from stapel.engine.wait import wait_for

    (tmp_path / "stapel.yaml").write_text(STACK)
    stack = open_stack(tmp_path / "stapel.yaml", env={})
    runtime = FakeRuntime(stack)
    runtime.probe = lambda node, spec: probes.run(spec)  # the real probe runner
    node = stack.nodes["db"]
    runtime.start(node, runtime.launch(node), {})
    began = time.monotonic()
    with pytest.raises(ProbeBug):
        wait_for(runtime, node, ProbeSpec("tcp", {}, failure_threshold=1000), "healthy", threading.Event(), lambda text: None)
    assert time.monotonic() - began < 1


class _ServicesRaise(FakeRuntime):
    """A runtime whose start of a service raises something that is no StapelError (a bug)."""

    def start(self, node, spec, meta):
        if node.is_service:
            raise ValueError("unexpected in the services step")
        return super().start(node, spec, meta)


def test_any_exception_rolls_back_what_the_run_started_and_surfaces(tmp_path):
    (tmp_path / "stapel.yaml").write_text(STACK)
    stack = open_stack(tmp_path / "stapel.yaml", env={})
    runtime = _ServicesRaise(stack)
    with pytest.raises(ValueError, match="unexpected in the services step"):
        Up(stack, runtime, UpOptions(), lambda text: None).run()
    assert runtime.events == ["start db", "stop db", "shutdown"]
    import json

    summary = json.loads(max((tmp_path / ".local/logs/bootstrap").glob("run-*/summary.json")).read_text())
    assert summary["outcome"] == "failed"
    assert summary["error"] == "a bug in stapel: ValueError: unexpected in the services step"
    assert [s["status"] for s in summary["steps"] if s["name"] == "services"] == ["failed"]


def test_a_supervisor_bug_is_exit_3(tmp_path, monkeypatch, capsys):
    from stapel.cli import inspect
    from stapel.runtimes.native.client import SupervisorBug

    def boom(_args):
        raise SupervisorBug("the supervisor failed on 'run': TypeError: x")

    monkeypatch.chdir(tmp_path)
    (tmp_path / "stapel.yaml").write_text(STACK)
    monkeypatch.setattr(inspect, "cmd_status", boom)
    log = _crash(tmp_path, capsys, ["status"])
    assert "SupervisorBug: the supervisor failed on 'run'" in log.read_text()


# --- messages: capped, at the right line, with the path as written ----------------------------------------


def test_thousands_of_unknown_keys_are_twenty_lines_and_a_count(config_error):
    keys = "".join(f"    k{i}: 1\n" for i in range(30000))
    lines = config_error("components:\n  db:\n    kind: postgres\n" + keys)
    assert len(lines) == 20
    assert lines[0].startswith("stapel.yaml:4: components.db.k0: unknown key 'k0'")
    assert lines[18].startswith("stapel.yaml:22: components.db.k18: unknown key 'k18'")
    assert lines[19] == "... and 29,981 more"


def test_an_unknown_key_with_a_block_mapping_value_is_reported_at_its_own_line(config_error):
    lines = config_error("components:\n  db:\n    kind: postgres\n    foo:\n      a: 1\n      b: 2\n")
    assert lines[0].startswith("stapel.yaml:4: components.db.foo: unknown key 'foo'")


def test_an_unterminated_quote_is_reported_where_it_opens(config_error):
    lines = config_error('components:\n  db:\n    kind: postgres\n    password: "abc\n    port: 5\nservices: {}\n\n\n')
    assert lines == ["stapel.yaml:4: malformed YAML: the quoted string that starts here is never closed "
                     "(fix the YAML syntax on that line)"]


def test_a_typo_in_a_contour_override_names_the_path_as_written(write_yaml):
    from stapel.components import load
    from stapel.errors import ConfigError

    path = write_yaml("contours:\n  stage:\n    components:\n      db:\n        prot: 5\ncomponents:\n  db:\n    kind: postgres\n")
    with pytest.raises(ConfigError) as info:
        load(path, env={}, contour="stage")
    assert info.value.lines() == ["stapel.yaml:5: contours.stage.components.db.prot: unknown key 'prot'; did you mean 'port'?"]


def test_sql_scan_finds_what_is_never_closed_at_the_line_it_opens():
    from stapel.migrate.sqlscan import unclosed

    assert unclosed("SELECT 'it''s';\nSELECT $$ a; $$;\nSELECT $fn$ x\ny $fn$;\n-- it's a comment\nSELECT E'\\'';\n") is None
    assert unclosed("SELECT 1;\nINSERT INTO t VALUES ('a);\nSELECT 2;\n") == (2, "the ' opened here is never closed")
    assert unclosed("SELECT 1;\n/* a /* nested */ still open\n") == (2, "this /* comment is never closed by */")
    assert unclosed("DO $body$\nBEGIN\n") == (1, "the dollar quote $body$ opened here is never closed")
    assert unclosed('SELECT "col\n') == (1, 'the " opened here is never closed')
    assert unclosed("SELECT $1, a$b FROM t;\n") is None
