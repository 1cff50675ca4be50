"""Errors translated at every boundary, with real processes: a bug anywhere in `up` rolls back and is exit 3 with a
crash log under the project; PostgreSQL's refusals are one line naming the config path; a refused `up` touches
nothing; Ctrl-C is 130. Each asserts the exit code, the one line, and that nothing is left running."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import processes_under, stapel, stapel_env, wait_until

pytestmark = pytest.mark.integration

SERVICE = ("services:\n  api:\n    command: [python3, -m, http.server, '{port}', --bind, 127.0.0.1]\n    port: {port}\n"
           "    probe: {{tcp: {{}}}}\n    depends_on: [cache]\n")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write(project: Path, text: str) -> None:
    (project / "stapel.yaml").write_text(text)


def assert_nothing_left(project: Path) -> None:
    assert wait_until(lambda: processes_under(project) == [], timeout=10), [p.info["cmdline"] for p in processes_under(project)]
    assert not list((project / ".local/run/dev/pids").glob("*.json"))


def errors(done: subprocess.CompletedProcess) -> list[str]:
    return [line for line in done.stderr.splitlines() if line.startswith("stapel:")]


# --- a bug anywhere rolls back, exit 3, a crash log under the project ------------------------------------


def test_an_unexpected_error_in_the_services_step_rolls_back_and_is_a_bug_with_a_crash_log(project: Path) -> None:
    write(project, "components:\n  cache:\n    kind: redis\n" + SERVICE.format(port=free_port()))
    below = project / "deep" / "below"
    below.mkdir(parents=True)
    done = subprocess.run([sys.executable, "-m", "stapel", "up"], cwd=below, capture_output=True, text=True, timeout=240,
                          env={**stapel_env(), "STAPEL_TEST_FAULT": "services"})
    assert done.returncode == 3, done.stdout + done.stderr
    line = errors(done)
    assert len(line) == 1 and line[0].startswith("stapel: internal error (a bug in stapel). Details and versions: "), done.stderr
    crash = Path(line[0].rsplit(": ", 1)[1])
    assert crash.is_file() and crash.parent == project / ".local" / "logs"  # the project's, not the cwd's
    assert "fault injected at the start of step services" in crash.read_text()
    assert not (below / ".local").exists()
    assert "started cache" in done.stdout and "rolling back: stopping cache" in done.stdout
    summary = json.loads(max((project / ".local/logs/bootstrap").glob("run-*/summary.json")).read_text())
    assert summary["outcome"] == "failed" and summary["error"].startswith("a bug in stapel: RuntimeError: fault injected")
    assert_nothing_left(project)
    assert not (project / ".local/run/dev/supervisor.pid").exists()  # the supervisor went with what it ran


def test_an_exception_inside_the_supervisor_comes_back_as_a_bug(project: Path) -> None:
    from stapel.paths import Paths
    from stapel.runtimes.native.client import SupervisorBug, SupervisorClient

    client = SupervisorClient(Paths(project, "dev"))
    client.ensure()
    try:
        with pytest.raises(SupervisorBug) as info:
            client.request({"op": "run", "spec": {"name": "x"}})  # a spec the supervisor cannot read: its own failure
        assert "TypeError" in str(info.value) and "supervisor.log" in str(info.value)
        assert client.request({"op": "ping"})["ok"]  # and it keeps serving
    finally:
        client.shutdown()


# --- PostgreSQL's refusals: one line naming the config path and what to do ------------------------------


DB = "components:\n  db:\n    kind: postgres\n    password: {password}\n"


def test_a_password_the_data_folder_does_not_know_names_the_component_and_the_fix(project: Path) -> None:
    write(project, DB.format(password="first-pw-7c1e9a") + "    databases: {app: {}}\n")
    assert stapel(project, "up", timeout=300).returncode == 0
    assert stapel(project, "down", timeout=120).returncode == 0
    write(project, DB.format(password="second-pw-3f8b2d") + "    databases: {app: {}}\n")
    done = stapel(project, "up", timeout=300)
    assert done.returncode == 1, done.stdout + done.stderr
    assert errors(done) == ["stapel: error: components.db.password: PostgreSQL refuses it for user 'postgres' (its data folder "
                            "was created with another password: put that one back (.env or stapel.yaml), or delete the "
                            "contour's data with `stapel down --volumes`)"]
    assert "second-pw" not in done.stdout + done.stderr and "Traceback" not in done.stderr
    assert_nothing_left(project)
    # nothing to provision: the seed step meets the same refusal and names the same component
    (project / "seeds").mkdir()
    (project / "seeds" / "a.sql").write_text("SELECT 1;\n")
    write(project, DB.format(password="second-pw-3f8b2d") +
          "services:\n  api:\n    command: [python3, -c, 'import time; time.sleep(60)']\n    depends_on: [db]\n    seeds: [seeds/a.sql]\n")
    done = stapel(project, "up", timeout=300)
    assert done.returncode == 1, done.stdout + done.stderr
    [line] = errors(done)
    assert line.startswith("stapel: error: services.api.seeds: cannot connect to 127.0.0.1:")
    assert 'password authentication failed for user "postgres"' in line
    assert line.endswith("(components.db.password is not the one its data folder was created with: put the old one back "
                         "(.env or stapel.yaml), or delete the contour's data with `stapel down --volumes`)")
    assert_nothing_left(project)


def test_a_misspelled_extension_is_one_line_and_nothing_is_created(project: Path) -> None:
    write(project, DB.format(password="ext-pw-5d2a7c") + "    databases: {app: {extensions: [pgcrypt]}}\n")
    done = stapel(project, "up", timeout=300)
    assert done.returncode == 1, done.stdout + done.stderr
    assert errors(done) == ["stapel: error: components.db.databases.app.extensions: 'pgcrypt' is not available in this "
                            "PostgreSQL (did you mean 'pgcrypto'?)"]
    assert_nothing_left(project)
    write(project, DB.format(password="ext-pw-5d2a7c") + "    databases: {app: {extensions: [pgcrypto]}}\n")
    fixed = stapel(project, "up", "--json", timeout=300)
    assert fixed.returncode == 0, fixed.stderr
    changes = next(s for s in json.loads(fixed.stdout)["steps"] if s["name"] == "provision")["changes"]
    assert "db: created database app" in changes  # the refused run had created nothing


def test_a_broken_seed_names_its_file_and_line_and_rolls_back(project: Path) -> None:
    (project / "seeds").mkdir()
    (project / "seeds" / "users.sql").write_text("CREATE TABLE users (name text);\n\nINSERT INTO users VALUES ('a');\nSELEC 1;\n")
    write(project, DB.format(password="seed-pw-9e4b1f") +
          "services:\n  api:\n    command: [python3, -c, 'import time; time.sleep(60)']\n    depends_on: [db]\n"
          "    seeds: [seeds/users.sql]\n")
    done = stapel(project, "up", timeout=300)
    assert done.returncode == 1, done.stdout + done.stderr
    assert errors(done) == ['stapel: error: services.api.seeds: seeds/users.sql:4 failed: syntax error at or near "SELEC" '
                            "(fix it and run again; it ran in one transaction, nothing of it stays)"]
    assert_nothing_left(project)


# --- a refused concurrent up touches nothing --------------------------------------------------------------


class Listener:
    """Something else on a port (the machine's own Redis, say): records every byte sent to it."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.received: list[bytes] = []
        self.connections = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            conn.settimeout(1)
            try:
                self.received.append(conn.recv(4096))
            except OSError:
                pass
            conn.close()


def test_a_refused_concurrent_up_probes_nothing_and_writes_no_summary(project: Path) -> None:
    stranger = Listener()
    write(project, f"components:\n  cache:\n    kind: redis\n    port: {stranger.port}\n    password: cache-pw-2b7e91d4\n"
                   "services:\n  api:\n    command: [python3, -c, 'import time; time.sleep(120)']\n    port: 8000\n"
                   "    probe:\n      http: {path: /health}\n      period_seconds: 0.2\n    depends_on: [cache]\n")
    first = subprocess.Popen([sys.executable, "-m", "stapel", "up"], cwd=project, env=stapel_env(),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert wait_until(lambda: (project / ".local/run/dev/pids/api.json").exists(), timeout=60)
        time.sleep(0.5)
        before = (stranger.connections, sorted((project / ".local/logs/bootstrap").glob("run-*")))
        second = stapel(project, "up")
        assert second.returncode == 1
        assert errors(second)[0].startswith(f"stapel: error: {project}/.local/run/dev/stack.lock: the dev stack is busy: "
                                            "'stapel up' (pid")
        time.sleep(0.5)
        assert (stranger.connections, sorted((project / ".local/logs/bootstrap").glob("run-*"))) == before
        assert not any(b"AUTH" in data for data in stranger.received)
    finally:
        first.send_signal(signal.SIGINT)
        first.communicate(timeout=60)
        stranger.sock.close()
    assert first.returncode == 130
    assert_nothing_left(project)


# --- Ctrl-C of up --attach --json is 130, and stdout is the summary alone ---------------------------------


def test_ctrl_c_of_up_attach_json_is_130_and_stdout_holds_only_the_summary(project: Path) -> None:
    write(project, "components:\n  cache:\n    kind: redis\n")
    attached = subprocess.Popen([sys.executable, "-m", "stapel", "up", "--attach", "--json"], cwd=project, env=stapel_env(),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert wait_until(lambda: (project / ".local/run/dev/pids/cache.json").exists(), timeout=60)
    time.sleep(2)  # the summary is printed and the live table drew once
    attached.send_signal(signal.SIGINT)
    out, err = attached.communicate(timeout=60)
    assert attached.returncode == 130, out + err
    assert json.loads(out)["outcome"] == "ok"
    assert "cache: stopped" in err and "Traceback" not in err
    assert_nothing_left(project)



# --- fail before starting anything: every input file is read in preflight ---------------------------------


def test_a_yaml_error_in_an_asyncapi_file_is_reported_before_anything_starts(project: Path) -> None:
    (project / "asyncapi.yaml").write_text("asyncapi: 2.6.0\nchannels:\n  orders: {bindings: {amqp: {is: routingKey}\n")
    write(project, "components:\n  db:\n    kind: postgres\n  mq:\n    kind: rabbitmq\n    asyncapi: [asyncapi.yaml]\n")
    began = time.monotonic()
    done = stapel(project, "up")
    took = time.monotonic() - began
    assert done.returncode == 1, done.stdout + done.stderr
    [line] = errors(done)
    assert line == ("stapel: error: asyncapi.yaml:3: malformed YAML: the flow mapping that starts here is never closed "
                    "(fix the YAML syntax on that line)"), line
    assert "started" not in done.stdout
    assert took < 2.0, took  # the whole command, Python's start included (it took ~9 s, after RabbitMQ booted)
    assert_nothing_left(project)


def test_a_broken_migration_and_an_unclosed_quote_in_a_seed_are_reported_before_postgres_starts(project: Path) -> None:
    (project / "migrations").mkdir()
    (project / "migrations" / "00001_init.sql").write_text("-- +goose Up\nCREATE TABLE t (id int);\n-- +goose Upp\n")
    (project / "seeds").mkdir()
    (project / "seeds" / "a.sql").write_text("INSERT INTO t VALUES (1);\nINSERT INTO t VALUES ('oops);\nSELECT 1;\n")
    write(project, DB.format(password="early-pw-6a3c8e") +
          "services:\n  api:\n    command: [python3, -c, 'import time; time.sleep(60)']\n    depends_on: [db]\n"
          "    migrations: {dir: migrations}\n    seeds: [seeds/a.sql]\n")
    done = stapel(project, "up")
    assert done.returncode == 1, done.stdout + done.stderr
    assert errors(done)[0] == ("stapel: error: migrations/00001_init.sql:3: unknown goose annotation 'Upp' "
                               "(known: Up, Down, StatementBegin, StatementEnd, NO TRANSACTION, ENVSUB ON, ENVSUB OFF)")
    assert done.stderr.splitlines()[1].strip() == ("seeds/a.sql:2: the ' opened here is never closed "
                                                   "(close it; nothing was started)")
    assert "started" not in done.stdout
    assert_nothing_left(project)
