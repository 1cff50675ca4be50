"""Live reload against a real stack: a burst of saves restarts the watched service once, it is healthy again
with a new pid; a change in an ignored path does nothing; a change under its migrations folder runs its
migrations first; a bad watch path is one line (exit 1) and nothing starts."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import stapel, stapel_env, status, wait_until

pytestmark = pytest.mark.integration

APP = """import http.server, os
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers(); self.wfile.write(b"ok")
    def log_message(self, *args): pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
"""


def _project(root: Path, watch: str) -> int:
    port = random.randrange(20000, 30000)
    (root / "api" / "migrations").mkdir(parents=True)
    (root / "api" / "app.py").write_text(APP)
    (root / "stapel.yaml").write_text(f"""
name: watched
services:
  api:
    command: python3 app.py
    cwd: api
    port: {port}
    probe: {{http: {{path: /}}, period_seconds: 0.05}}
    migrations: {{command: [sh, -c, "echo ran >> ../migrated.txt"]}}
    watch: {watch}
""")
    return port


class Output:
    def __init__(self, path: Path):
        self.path = path

    def lines(self) -> list[str]:
        return self.path.read_text().splitlines() if self.path.exists() else []

    def restarts(self) -> list[str]:
        return [line for line in self.lines() if line.startswith("↻ api:")]


@pytest.mark.parametrize("polling", [False, True], ids=["inotify", "polling"])
def test_a_burst_of_saves_is_one_restart_and_ignored_paths_do_nothing(project: Path, polling: bool) -> None:
    _project(project, "{ignore: ['*.tmp']}")
    stapel(project, "up", check=True)
    assert (project / "migrated.txt").read_text() == "ran\n"
    out = Output(project / "watch.out")
    env = {**stapel_env(), **({"STAPEL_WATCH_POLLING": "1"} if polling else {})}
    with open(out.path, "w") as sink:
        watcher = subprocess.Popen([sys.executable, "-m", "stapel", "watch"], cwd=project, env=env,
                                   stdout=sink, stderr=subprocess.STDOUT)
    try:
        assert wait_until(lambda: any(line.startswith("watching api") for line in out.lines()), 20), out.lines()
        assert ("polling" in out.lines()[0]) == polling
        time.sleep(0.3)
        before = status(project)["api"]["pid"]
        for i in range(10):  # a burst: one restart
            with open(project / "api" / "app.py", "a") as f:
                f.write(f"# save {i}\n")
            time.sleep(0.01)
        assert wait_until(lambda: out.restarts(), 20), out.lines()
        time.sleep(2.5)  # longer than the longest debounce: a second restart would show by now
        assert len(out.restarts()) == 1, out.lines()
        assert "restarted after api/app.py" in out.restarts()[0] and "healthy in" in out.restarts()[0]
        after = status(project)["api"]
        assert after["state"] == "running" and after["pid"] != before
        assert stapel(project, "check").returncode == 0

        (project / "api" / "notes.tmp").write_text("x")  # ignored by its glob
        (project / "api" / "__pycache__").mkdir()
        (project / "api" / "__pycache__" / "app.cpython-311.pyc").write_bytes(b"x")  # ignored by default
        (project / ".local" / "scratch.txt").write_text("x")
        time.sleep(2.5)
        assert len(out.restarts()) == 1, out.lines()
        assert status(project)["api"]["pid"] == after["pid"]

        (project / "api" / "migrations" / "002_more.sql").write_text("-- new\n")  # migrations first, then the restart
        assert wait_until(lambda: len(out.restarts()) == 2, 20), out.lines()
        assert (project / "migrated.txt").read_text() == "ran\nran\n"
        lines = out.lines()
        assert "  api: migrations command ran" in lines[:lines.index(out.restarts()[1])], lines
    finally:
        watcher.send_signal(signal.SIGINT)
        code = watcher.wait(timeout=20)
    assert code == 130
    assert status(project)["api"]["state"] == "running"  # `stapel watch` leaves the stack up


def test_a_watch_path_that_does_not_exist_is_one_line_and_nothing_starts(project: Path) -> None:
    _project(project, "{paths: [api, nope]}")
    done = stapel(project, "up", "--watch")
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert lines[0].startswith("stapel: error: stapel.yaml:") and "services.api.watch.paths[1]" in lines[0], done.stderr
    assert f"{project / 'nope'} does not exist" in lines[0]
    assert not list((project / ".local").rglob("*.json")) if (project / ".local").exists() else True
    done = stapel(project, "watch")
    assert done.returncode == 1 and "services.api.watch.paths[1]" in done.stderr


SELF_RELOADING = APP.replace("http.server.ThreadingHTTPServer(", """import sys, threading, time
def reload_on_change():
    seen = os.stat(__file__).st_mtime
    while os.stat(__file__).st_mtime == seen:
        time.sleep(0.05)
    os.execv(sys.executable, [sys.executable, *sys.argv])  # like uvicorn --reload: the same service, reloaded
threading.Thread(target=reload_on_change, daemon=True).start()
http.server.ThreadingHTTPServer(""")


def test_sync_mode_leaves_the_reload_to_the_command_and_waits_for_its_health(project: Path) -> None:
    _project(project, "{mode: sync}")
    (project / "api" / "app.py").write_text(SELF_RELOADING)
    stapel(project, "up", check=True)
    before = status(project)["api"]
    out = Output(project / "watch.out")
    with open(out.path, "w") as sink:
        watcher = subprocess.Popen([sys.executable, "-m", "stapel", "watch"], cwd=project, env=stapel_env(),
                                   stdout=sink, stderr=subprocess.STDOUT)
    try:
        assert wait_until(lambda: any(line.startswith("watching api") for line in out.lines()), 20), out.lines()
        time.sleep(0.3)
        with open(project / "api" / "app.py", "a") as f:
            f.write("# edited\n")
        assert wait_until(lambda: out.restarts(), 20), out.lines()
        assert "reloaded itself after api/app.py" in out.restarts()[0]
        after = status(project)["api"]
        assert after["pid"] == before["pid"] and after["restarts"] == before["restarts"]  # stapel did not restart it
        assert stapel(project, "check").returncode == 0
    finally:
        watcher.send_signal(signal.SIGINT)
        assert watcher.wait(timeout=20) == 130
