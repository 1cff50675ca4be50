"""The dashboard without a browser: log lines, following rotated files, the token and the CSRF rules, a project
with nothing running. (tests/integration/test_dashboard.py drives it in headless Chromium against a real stack.)"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from stapel.dashboard.data import StackView
from stapel.dashboard.logs import Follower, parse
from stapel.dashboard.server import Dashboard
from stapel.paths import Paths


def test_kit_json_lines_give_level_time_and_event() -> None:
    line = json.dumps({"event": "user created", "user_id": 7, "level": "WARN", "logger": "users", "timestamp": "2026-01-01T00:00:00Z"})
    parsed = parse(line)
    assert (parsed["level"], parsed["msg"], parsed["ts"], parsed["json"]) == ("WARN", "user created", "2026-01-01T00:00:00Z", True)
    assert parse(json.dumps({"message": "m", "level": "warning"}))["level"] == "WARN"
    assert parse(json.dumps({"msg": "m", "level": "critical"}))["level"] == "ERROR"
    assert parse(json.dumps({"event": "no level"}))["level"] == "INFO"


def test_plain_lines_take_their_first_level_word() -> None:
    assert parse("2026-01-01 00:00:00.000 UTC [12] ERROR:  relation \"x\" does not exist")["level"] == "ERROR"
    assert parse("2026-01-01 00:00:00.000 UTC [12] LOG:  database system is ready")["level"] == "INFO"
    assert parse("WARNING: something")["level"] == "WARN"
    assert parse("no level word here; INFORMATION is not one")["level"] == "INFO"
    assert parse("{not json")["json"] is False


def test_follower_reads_new_lines_and_survives_rotation(tmp_path: Path) -> None:
    log = tmp_path / "api.log"
    log.write_text("".join(f"old {i}\n" for i in range(300)))
    follower = Follower(log)
    assert follower.read(first_lines=2) == ["old 298", "old 299"]
    with open(log, "a") as f:
        f.write("one\ntw")
    assert follower.read() == ["one"]
    with open(log, "a") as f:
        f.write("o\nlast before rotation\n")
    log.rename(tmp_path / "api.log.1")  # rotated: renamed, a new file begins
    log.write_text("after 1\n")
    assert follower.read() == ["two", "last before rotation", "after 1"]
    log.write_text("")  # truncated
    with open(log, "a") as f:
        f.write("fresh\n")
    assert follower.read() == ["fresh"]
    follower.close()


@pytest.fixture
def dashboard(tmp_path: Path):
    (tmp_path / "stapel.yaml").write_text("components:\n  db: {kind: postgres, password: s3cret-value-99}\n"
                                          "services:\n  api: {command: python3 -c pass, port: 18000, depends_on: [db]}\n")
    view = StackView(tmp_path / "stapel.yaml", None, None, Paths(tmp_path, "dev"))
    board = Dashboard(view)
    board.start_background()
    yield board
    board.shutdown()


def _get(url: str, headers: dict | None = None, data: bytes | None = None) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=data, headers=headers or {}), timeout=5) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_every_request_needs_the_token(dashboard: Dashboard) -> None:
    base = f"http://127.0.0.1:{dashboard.port}"
    for path in ("/", "/api/state", "/api/env", "/events", "/api/state?token=wrong"):
        assert _get(base + path)[0] == 403, path
    code, body = _get(dashboard.url)
    assert code == 200 and b"<title>stapel dashboard</title>" in body
    assert _get(f"{base}/api/state?token={dashboard.token}", headers={"Host": "evil.example:80"})[0] == 403  # DNS rebinding


def test_actions_want_a_post_with_the_token_header(dashboard: Dashboard) -> None:
    base, token = f"http://127.0.0.1:{dashboard.port}", dashboard.token
    body = b'{"node": "db"}'
    assert _get(f"{base}/api/restart?token={token}", data=body)[0] == 403  # a form post cannot set the header
    assert _get(f"{base}/api/restart", headers={"X-Stapel-Token": "nope"}, data=body)[0] == 403
    assert _get(f"{base}/api/restart?token={token}")[0] == 404  # GET changes nothing
    assert _get(f"{base}/api/reboot", headers={"X-Stapel-Token": token}, data=body)[0] == 400
    code, answer = _get(f"{base}/api/restart", headers={"X-Stapel-Token": token}, data=body)
    assert code == 404 and b"unknown node 'db'" in answer  # nothing runs: nothing to restart


def test_nothing_running_is_said_and_env_is_masked(dashboard: Dashboard) -> None:
    base, token = f"http://127.0.0.1:{dashboard.port}", dashboard.token
    state = json.loads(_get(f"{base}/api/state?token={token}")[1])
    assert state["running"] is False and state["nodes"] == [] and state["contour"] == "dev"
    env = json.loads(_get(f"{base}/api/env?token={token}")[1])
    assert env["services"]["api"]["DB_PASSWORD"] == "******"
    assert "s3cret-value-99" not in json.dumps(env)
    assert json.loads(_get(f"{base}/api/runs?token={token}")[1]) == []


def test_runs_are_this_contours_newest_first(tmp_path: Path) -> None:
    paths = Paths(tmp_path, "dev")
    for name, contour in (("run-20260101-000001", "dev"), ("run-20260101-000002", "stage"), ("run-20260101-000003", "dev")):
        folder = paths.bootstrap_logs / name
        folder.mkdir(parents=True)
        (folder / "summary.json").write_text(json.dumps({"command": "up", "contour": contour, "outcome": "ok", "steps": [
            {"name": "start", "status": "changed", "duration_seconds": 0.5, "changes": ["started db"]}]}))
    (tmp_path / "stapel.yaml").write_text("components: {}\n")
    runs = StackView(tmp_path / "stapel.yaml", None, None, paths).summaries()
    assert [r["run"] for r in runs] == ["run-20260101-000003", "run-20260101-000001"]
    assert runs[0]["steps"][0]["changes"] == ["started db"]


def test_help_does_not_import_the_dashboard() -> None:
    code = "import sys; from stapel.cli.main import main\ntry:\n main(['--help'])\nexcept SystemExit: pass\n" \
           "assert not [m for m in sys.modules if m.startswith('stapel.dashboard') or m == 'http.server'], 'imported'"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
