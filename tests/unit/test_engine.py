"""`stapel up` on the fake runtime: order, idempotence, run logs, failures and rollback, ports, selection, lock."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from stapel.engine.lock import stack_lock
from stapel.engine.options import UpOptions
from stapel.engine.stack import open_stack
from stapel.engine.up import Up, UpResult
from stapel.errors import PreflightError, StapelError, StartError
from stapel.runtimes.fake import FakeRuntime

STACK = """
components:
  db:
    kind: postgres
    password: s3cr3t-value-x
  cache:
    kind: redis
  mq:
    kind: rabbitmq
    depends_on: [db]
services:
  api:
    command: python3 app.py
    port: 8000
    depends_on: [db, cache, mq]
  worker:
    command: python3 worker.py
    depends_on: [api]
  other:
    command: other --flag
"""

EDGES = {"db": [], "cache": [], "mq": ["db"], "api": ["db", "cache", "mq"], "worker": ["api"], "other": []}
STEP_NAMES = ["preflight", "start", "wait", "provision", "migrate", "seed", "services", "verify"]


class Run:
    """One `up`: its stack, runtime, what it said, and its result or error."""

    def __init__(self, file: Path, *, runtime: FakeRuntime | None = None, options: UpOptions | None = None,
                 contour: str | None = None, **fake):
        self.stack = open_stack(file, contour, env={})
        self.runtime = runtime or FakeRuntime(self.stack, **fake)
        self.said: list[str] = []
        self.events_before = list(self.runtime.events)
        self.result: UpResult | None = None
        self.error: StapelError | None = None
        try:
            self.result = Up(self.stack, self.runtime, options or UpOptions(), self.said.append).run()
        except StapelError as exc:
            self.error = exc

    @property
    def events(self) -> list[str]:
        """The runtime's events during this run."""
        return self.runtime.events[len(self.events_before):]

    @property
    def started(self) -> list[str]:
        return [e.split()[1] for e in self.events if e.startswith("start ")]

    @property
    def run_dir(self) -> Path:
        return self.stack.paths.bootstrap_logs / "latest"

    @property
    def summary(self) -> dict:
        return json.loads((self.run_dir / "summary.json").read_text())

    def steps(self) -> list[tuple[str, str]]:
        return [(s["name"], s["status"]) for s in self.summary["steps"]]


@pytest.fixture
def stack_file(write_yaml) -> Path:
    return write_yaml(STACK)


def ok(run: Run) -> UpResult:
    assert run.error is None, run.error.lines()
    assert run.result is not None
    return run.result


def failed(run: Run, kind: type[StapelError]) -> StapelError:
    assert run.result is None
    assert isinstance(run.error, kind), run.error
    return run.error


# --- a first and a second up ----------------------------------------------------------------


def test_start_order_follows_depends_on_levels(stack_file):
    run = Run(stack_file)
    ok(run)
    started = run.started
    assert sorted(started) == sorted(EDGES)
    assert all(e.startswith("start ") for e in run.events)
    # components level by level, then services level by level
    assert set(started[:2]) == {"db", "cache"}
    assert started[2] == "mq"
    assert set(started[3:5]) == {"api", "other"}
    assert started[5] == "worker"
    for name, deps in EDGES.items():
        for dep in deps:
            assert started.index(dep) < started.index(name), f"{name} started before {dep}"


def test_first_up_changes_and_reports_every_step(stack_file):
    run = Run(stack_file)
    result = ok(run)
    assert result.changed is True
    assert run.steps() == [("preflight", "ok"), ("start", "changed"), ("wait", "ok"), ("provision", "skipped"), ("migrate", "skipped"),
                           ("seed", "skipped"), ("services", "changed"), ("verify", "ok")]
    assert sorted(run.summary["steps"][1]["changes"]) == ["started cache", "started db", "started mq"]
    assert sorted(run.summary["steps"][6]["changes"]) == ["started api", "started other", "started worker"]
    assert "  started db (postgres) on 127.0.0.1:5432" in run.said
    assert [line for line in run.said if line.startswith("»")] == [f"» {name}" for name in STEP_NAMES]


def test_second_up_changes_nothing(stack_file):
    first = Run(stack_file)
    ok(first)
    second = Run(stack_file, runtime=first.runtime)
    result = ok(second)
    assert result.changed is False
    assert second.events == []
    assert {status for _, status in second.steps()} <= {"ok", "skipped"}
    assert [name for name, _ in second.steps()] == STEP_NAMES
    assert second.summary["changed"] is False
    assert all(s["changes"] == [] for s in second.summary["steps"])
    assert not any("started" in line for line in second.said)
    assert result.run_dir != first.result.run_dir


def test_run_dir_has_summaries_and_numbered_step_logs(stack_file, tmp_path):
    run = Run(stack_file)
    result = ok(run)
    run_dir = Path(result.run_dir)
    assert run_dir.parent == tmp_path / ".local" / "logs" / "bootstrap"
    assert run_dir.name.startswith("run-")
    assert (run_dir / "summary.json").is_file() and (run_dir / "summary.md").is_file()
    assert sorted(p.name for p in (run_dir / "steps").iterdir()) == [
        "01_preflight.log", "02_start.log", "03_wait.log", "04_provision.log", "05_migrate.log", "06_seed.log",
        "07_services.log", "08_verify.log"]
    assert run.run_dir.resolve() == run_dir.resolve()  # the `latest` link


def test_summary_json_fields(stack_file):
    run = Run(stack_file)
    result = ok(run)
    summary = run.summary
    assert summary == result.summary
    assert set(summary) == {"schema", "command", "stack", "contour", "runtime", "file", "started_at", "duration_seconds",
                            "outcome", "changed", "error", "steps", "nodes"}
    assert (summary["schema"], summary["command"], summary["contour"], summary["runtime"]) == (1, "up", "dev", "fake")
    assert summary["stack"] == run.stack.name
    assert summary["file"] == str(stack_file)
    assert (summary["outcome"], summary["changed"], summary["error"]) == ("ok", True, None)
    assert summary["started_at"].endswith("+00:00")
    assert isinstance(summary["duration_seconds"], float)
    for index, (step, name) in enumerate(zip(summary["steps"], STEP_NAMES), start=1):
        assert set(step) == {"index", "name", "status", "duration_seconds", "message", "changes", "log"}
        assert (step["index"], step["name"], step["log"]) == (index, name, f"steps/{index:02d}_{name}.log")
        assert step["status"] in ("ok", "changed", "skipped", "failed")
    assert summary["nodes"]["db"] == {"role": "component", "kind": "postgres", "endpoint": "127.0.0.1:5432",
                                      "state": "running", "health": "healthy", "pid": summary["nodes"]["db"]["pid"],
                                      "detail": "ok"}
    assert summary["nodes"]["api"]["role"] == "service"
    assert summary["nodes"]["api"]["endpoint"] == "127.0.0.1:8000"
    assert summary["nodes"]["worker"]["endpoint"] == "-"
    assert set(summary["nodes"]) == set(EDGES)
    assert {n["health"] for n in summary["nodes"].values()} == {"healthy"}


def test_summary_md(stack_file):
    run = Run(stack_file)
    ok(run)
    md = (run.run_dir / "summary.md").read_text().splitlines()
    assert md[0] == "# stapel up: ok"
    assert f"- stack: `{run.stack.name}`, contour `dev`, runtime `fake`" in md
    assert "- changed anything: yes" in md
    assert "| # | step | status | seconds | changes |" in md
    assert any(line.startswith("| 1 | preflight | ok | ") for line in md)
    assert "| db | postgres | 127.0.0.1:5432 | running | healthy |" in md


def test_step_logs_record_what_happened(stack_file):
    run = Run(stack_file)
    ok(run)
    steps = run.run_dir / "steps"
    assert "db: postgres --main=5432" in (steps / "01_preflight.log").read_text()
    assert "changed: started db" in (steps / "02_start.log").read_text()
    second = Run(stack_file, runtime=run.runtime)
    ok(second)
    assert "db: already running, unchanged" in (second.run_dir / "steps" / "02_start.log").read_text()


def test_secrets_never_reach_the_run_log(stack_file, tmp_path):
    run = Run(stack_file, behaviour={"api": "crash"})
    failed(run, StartError)
    for path in (tmp_path / ".local").rglob("*"):
        if path.is_file():
            assert "s3cr3t-value-x" not in path.read_text(), path
    assert not any("s3cr3t-value-x" in line for line in run.said)


def test_a_secret_in_a_command_line_or_a_url_is_still_masked(write_yaml, tmp_path):
    path = write_yaml("""
        components:
          db:
            kind: postgres
            password: s3cr3t-value-x
        services:
          api:
            command: [app, --db-password, s3cr3t-value-x, --upstream, "https://bot:not-a-stack-secret@example.org/hook"]
            depends_on: [db]
        """)
    run = Run(path)
    ok(run)
    text = "\n".join(p.read_text() for p in (tmp_path / ".local").rglob("*") if p.is_file())
    assert "s3cr3t-value-x" not in text and "not-a-stack-secret" not in text
    assert "app --db-password ****** --upstream https://bot:******@example.org/hook" in text


# --- failures and rollback ------------------------------------------------------------------


def test_crashing_component_fails_and_rolls_back(stack_file, tmp_path):
    run = Run(stack_file, behaviour={"db": "crash"})
    error = failed(run, StartError)
    log = tmp_path / ".local" / "logs" / "dev" / "db.log"
    assert error.lines() == [
        f"components.db: exited with code 1 while starting (last lines of {log} follow)",
        "  | db: fake log line 1",
        "  | db: fake log line 2",
        "  | db: fake log line 3",
    ]
    assert set(run.events[:2]) == {"start db", "start cache"}
    assert run.events[2:] == ["stop cache", "stop db", "shutdown"]
    assert run.runtime.procs == {}
    assert "  rolling back: stopping " in run.said[-1]


def test_crash_summary_says_failed(stack_file, tmp_path):
    run = Run(stack_file, behaviour={"db": "crash"})
    failed(run, StartError)
    summary = run.summary
    log = tmp_path / ".local" / "logs" / "dev" / "db.log"
    assert summary["outcome"] == "failed"
    assert summary["error"] == f"components.db: exited with code 1 while starting (last lines of {log} follow)"
    assert run.steps() == [("preflight", "ok"), ("start", "failed")]
    assert summary["steps"][1]["message"] == "components.db: exited with code 1 while starting"
    assert {n["state"] for n in summary["nodes"].values()} == {"not running"}
    assert "fake log line 3" in (run.run_dir / "steps" / "02_start.log").read_text()
    assert (run.run_dir / "summary.md").read_text().startswith("# stapel up: failed\n")


def test_crashing_service_rolls_back_dependants_first(stack_file):
    run = Run(stack_file, behaviour={"api": "crash"})
    error = failed(run, StartError)
    assert error.message == "services.api: exited with code 1 while starting"
    starts = [e for e in run.events if e.startswith("start ")]
    stops = [e.split()[1] for e in run.events if e.startswith("stop ")]
    assert sorted(e.split()[1] for e in starts) == ["api", "cache", "db", "mq", "other"]
    assert sorted(stops) == ["api", "cache", "db", "mq", "other"]
    for name, deps in EDGES.items():
        for dep in deps:
            if name in stops:
                assert stops.index(name) < stops.index(dep), f"{dep} stopped before its dependant {name}"
    assert run.events[-1] == "shutdown"
    assert run.runtime.procs == {}


PROBE_NOW_BUG = ("BUG: Up._probe_now is defined inside ensure_local (mis-indented), so node_report raises AttributeError "
                 "for any running node that verify did not probe")


def test_failure_keeps_what_an_earlier_run_started(stack_file):
    first = Run(stack_file, options=UpOptions(skip_backend=True))
    ok(first)
    first.runtime.behaviour["api"] = "crash"
    second = Run(stack_file, runtime=first.runtime)
    failed(second, StartError)
    assert sorted(second.runtime.procs) == ["cache", "db", "mq"]
    assert "shutdown" not in second.events
    assert sorted(e for e in second.events if e.startswith("stop ")) == ["stop api", "stop other"]


def test_missing_binary_fails_preflight_and_starts_nothing(stack_file):
    run = Run(stack_file, behaviour={"mq": "missing"})
    error = failed(run, PreflightError)
    assert error.lines() == ["components.mq: rabbitmq needs its binary, not found"]
    assert run.started == []
    assert run.events == ["shutdown"]
    assert run.steps() == [("preflight", "failed")]


def test_every_missing_binary_is_reported(stack_file):
    run = Run(stack_file, behaviour={"mq": "missing", "db": "missing"})
    error = failed(run, PreflightError)
    assert error.lines() == ["components.db: postgres needs its binary, not found",
                             "components.mq: rabbitmq needs its binary, not found"]
    assert run.started == []


def test_unhealthy_component_fails_after_its_probe_budget(write_yaml, tmp_path):
    path = write_yaml(STACK.replace(
        "    password: s3cr3t-value-x\n",
        "    password: s3cr3t-value-x\n    probe:\n      period_seconds: 0.05\n      failure_threshold: 20\n"))
    run = Run(path, behaviour={"db": "unhealthy"})
    error = failed(run, StartError)
    log = tmp_path / ".local" / "logs" / "dev" / "db.log"
    assert error.lines()[0] == (
        f"components.db: not healthy after 1s: not ready (see {log}; raise probe.failure_threshold if it is just slow)")
    assert error.lines()[1:] == ["  | db: fake log line 1", "  | db: fake log line 2", "  | db: fake log line 3"]
    assert run.runtime.procs == {}
    assert run.events[-1] == "shutdown"


def test_a_component_answered_by_a_stranger_fails_at_once_and_rolls_back(write_yaml):
    """Another stack took the port between preflight and start: the probe answers, but not from the process stapel
    started. The wait fails at once (not after the budget), names who answered, and nothing is left running."""
    run = Run(write_yaml(STACK), behaviour={"db": "stranger"})
    started = time.monotonic()
    error = failed(run, StartError)
    assert time.monotonic() - started < 5
    assert error.message == ("components.db: port 5432 is answered by a stranger (pid 4242), not by the db stapel "
                             "started (something took the port after the preflight chose it)")
    assert error.lines()[1:] == ["  | db: fake log line 1", "  | db: fake log line 2", "  | db: fake log line 3"]
    assert run.runtime.procs == {}


def test_unhealthy_service_with_an_exec_probe_override(write_yaml):
    path = write_yaml(STACK.replace(
        "    command: other --flag\n",
        "    command: other --flag\n    probe:\n      exec: {command: 'true'}\n      period_seconds: 0.01\n      failure_threshold: 20\n"))
    run = Run(path, behaviour={"other": "unhealthy"})
    error = failed(run, StartError)
    assert error.message == "services.other: not healthy after 0.2s: not ready"
    assert run.runtime.procs == {}


def test_sub_second_probe_budget_is_shown_as_it_is(write_yaml):
    path = write_yaml(STACK.replace(
        "    password: s3cr3t-value-x\n",
        "    password: s3cr3t-value-x\n    probe:\n      period_seconds: 0.01\n      failure_threshold: 5\n"))
    run = Run(path, behaviour={"db": "unhealthy"})
    error = failed(run, StartError)
    assert error.message.startswith("components.db: not healthy after 0.05s: not ready")


# --- ports ----------------------------------------------------------------------------------


def test_busy_port_in_dev_moves_and_is_remembered(stack_file, tmp_path):
    run = Run(stack_file, busy_ports={5432: "postgres (pid 4242)"})
    ok(run)
    assert "  db: port 5432 is held by postgres (pid 4242); using 5433" in run.said
    assert "db: port 5432 is held by postgres (pid 4242); using 5433" in (run.run_dir / "steps" / "01_preflight.log").read_text()
    assert run.stack.nodes["db"].port == 5433
    assert run.summary["nodes"]["db"]["endpoint"] == "127.0.0.1:5433"
    remembered = json.loads((tmp_path / ".local" / "state" / "dev" / "ports.json").read_text())
    assert remembered["db"] == {"main": {"configured": 5432, "chosen": 5433}}
    assert remembered["cache"] == {"main": {"configured": 6379, "chosen": 6379}}
    # the service gets the moved port
    api_env = run.runtime.launch(run.stack.nodes["api"]).env
    assert api_env["DB_PORT"] == "5433"
    assert api_env["DATABASE_URL"] == "postgresql://postgres:s3cr3t-value-x@127.0.0.1:5433/postgres"


def test_moved_port_stays_on_the_next_run(stack_file, tmp_path):
    ok(Run(stack_file, busy_ports={5432: "postgres (pid 4242)"}))
    # a new runtime (nothing running), the port still busy: the same choice, no new note
    again = Run(stack_file, busy_ports={5432: "postgres (pid 4242)"})
    ok(again)
    assert again.stack.nodes["db"].port == 5433
    assert not any("using" in line for line in again.said)
    # even once the configured port is free again
    freed = Run(stack_file)
    ok(freed)
    assert freed.stack.nodes["db"].port == 5433
    remembered = json.loads((tmp_path / ".local" / "state" / "dev" / "ports.json").read_text())
    assert remembered["db"] == {"main": {"configured": 5432, "chosen": 5433}}


def test_moved_port_on_the_same_runtime_changes_nothing(stack_file):
    first = Run(stack_file, busy_ports={5432: "postgres (pid 4242)"})
    ok(first)
    second = Run(stack_file, runtime=first.runtime)
    assert ok(second).changed is False
    assert second.events == []
    assert second.stack.nodes["db"].port == 5433


def test_next_free_port_skips_every_busy_one(stack_file):
    run = Run(stack_file, busy_ports={5432: "a", 5433: "b", 5434: "c"})
    ok(run)
    assert run.stack.nodes["db"].port == 5435


def test_a_moved_dev_port_skips_the_ports_of_fixed_contours(write_yaml, tmp_path):
    """seed 003: stage takes 5433 and 6380; dev (auto) must not move onto them, or stage could not run beside it."""
    path = write_yaml("""
        contours:
          dev: {}
          stage:
            ports: {set: {db: 5433, cache: 6380}}
            weak_credentials: allow
        components:
          db: {kind: postgres}
          cache: {kind: redis}
        """)
    run = Run(path, busy_ports={5432: "postgres (pid 4242)", 6379: "redis-server (pid 77)"})
    ok(run)
    assert (run.stack.nodes["db"].port, run.stack.nodes["cache"].port) == (5434, 6381)
    assert "  db: port 5432 is held by postgres (pid 4242); using 5434" in run.said
    # a dev port remembered from before stage declared it moves off it too
    state = tmp_path / ".local" / "state" / "dev" / "ports.json"
    state.write_text(state.read_text().replace("5434", "5433"))
    again = Run(path, busy_ports={5432: "postgres (pid 4242)", 6379: "redis-server (pid 77)"})
    ok(again)
    assert again.stack.nodes["db"].port == 5434


def test_two_nodes_fixed_on_one_port_are_an_error_even_in_dev(config_error):
    """dev used to move the second one silently (to 7001), so it never ran where stapel.yaml said."""
    text = """
        components:
          db:
            kind: postgres
            port: 7000
          cache:
            kind: redis
            port: 7000
        """
    assert config_error(text) == ["stapel.yaml:7: components.cache.port: port 7000 is also components.db.port's; "
                                  "two parts cannot share a port (change one of them)"]
    table = "contours:\n  dev: {ports: {set: {api: 7000}}}\ncomponents:\n  db: {kind: postgres, port: 7000}\nservices:\n  api: {command: x, port: 8000}\n"
    assert config_error(table) == ["stapel.yaml:2: contours.dev.ports.set.api: port 7000 is also components.db.port's; "
                                   "two parts cannot share a port (change one of them)"]


FIXED = """
contour: stage
contours:
  dev:
    ports: 1000
  stage:
    ports: fixed
    weak_credentials: allow
""" + STACK


def test_busy_port_in_a_fixed_contour_fails_with_the_fix(write_yaml, tmp_path):
    path = write_yaml(FIXED)
    run = Run(path, busy_ports={5432: "postgres (pid 4242)"})
    error = failed(run, PreflightError)
    assert error.lines() == [
        "components.db.port: port 5432 is busy (held by postgres (pid 4242)); "
        "choose a free port there, or set contours.stage.ports: auto"
    ]
    assert run.started == []
    assert not (tmp_path / ".local" / "state" / "stage" / "ports.json").exists()


def test_every_busy_port_in_a_fixed_contour_is_reported(write_yaml):
    path = write_yaml(FIXED)
    run = Run(path, busy_ports={5432: "pg", 8000: "uvicorn (pid 7)"})
    error = failed(run, PreflightError)
    assert error.lines() == [  # in name order
        "services.api.port: port 8000 is busy (held by uvicorn (pid 7)); choose a free port there, or set contours.stage.ports: auto",
        "components.db.port: port 5432 is busy (held by pg); choose a free port there, or set contours.stage.ports: auto",
    ]


def test_a_contour_other_than_dev_is_fixed_by_default(write_yaml):
    path = write_yaml("contours:\n  dev: {ports: 1000}\n  prod: {weak_credentials: allow}\n" + STACK)
    run = Run(path, contour="prod", busy_ports={5672: "beam.smp (pid 9)"})
    error = failed(run, PreflightError)
    assert error.message == (
        "components.mq.port: port 5672 is busy (held by beam.smp (pid 9)); choose a free port there, or set contours.prod.ports: auto")


def test_internal_ports_move_even_in_a_fixed_contour(write_yaml):
    run = Run(write_yaml(FIXED), busy_ports={4369: "epmd (pid 1)"})
    ok(run)
    assert run.stack.nodes["mq"].ports["epmd"] == 4370
    assert not any("4369" in line for line in run.said)


def test_auto_ports_in_a_contour_that_asks_for_them(write_yaml):
    path = write_yaml("contour: stage\ncontours:\n  stage:\n    ports: auto\n    weak_credentials: allow\n" + STACK)
    run = Run(path, busy_ports={5432: "pg"})
    ok(run)
    assert run.stack.nodes["db"].port == 5433


# --- what runs: --skip-backend, --service -----------------------------------------------------


def test_skip_backend_skips_the_services_step(stack_file):
    run = Run(stack_file, options=UpOptions(skip_backend=True))
    ok(run)
    assert sorted(run.started) == ["cache", "db", "mq"]
    assert run.steps() == [("preflight", "ok"), ("start", "changed"), ("wait", "ok"), ("provision", "skipped"), ("migrate", "skipped"),
                           ("seed", "skipped"), ("services", "skipped"), ("verify", "ok")]
    assert run.summary["steps"][6]["message"] == "--skip-backend"
    assert run.summary["nodes"]["api"]["state"] == "not running"


def test_skip_backend_after_a_full_up_keeps_the_services(stack_file):
    first = Run(stack_file)
    ok(first)
    second = Run(stack_file, runtime=first.runtime, options=UpOptions(skip_backend=True))
    assert ok(second).changed is False
    assert second.events == []
    assert second.summary["nodes"]["api"]["state"] == "running"


def test_no_services_in_stapel_yaml(write_yaml):
    run = Run(write_yaml("components:\n  db:\n    kind: postgres\n"))
    ok(run)
    assert run.summary["steps"][3]["message"] == "nothing declared to provision"
    assert run.summary["steps"][6]["status"] == "skipped"
    assert run.summary["steps"][6]["message"] == "no services in stapel.yaml"


def test_chosen_services_start_with_their_dependencies(stack_file):
    run = Run(stack_file, options=UpOptions(services=["worker"]))
    ok(run)
    assert sorted(run.started) == ["api", "cache", "db", "mq", "worker"]
    assert run.started.index("api") < run.started.index("worker")
    assert run.summary["nodes"]["other"]["state"] == "not running"


def test_chosen_service_without_dependencies(stack_file):
    run = Run(stack_file, options=UpOptions(services=["other"]))
    ok(run)
    assert run.started == ["other"]  # no component: it needs none
    assert {n for n, v in run.summary["nodes"].items() if v["state"] == "running"} == {"other"}


def test_chosen_service_starts_nothing_it_does_not_need(write_yaml):
    """`up --service api` in a stack with Prometheus (issue 10: it started Prometheus too)."""
    path = write_yaml("components:\n  db: {kind: postgres}\n  cache: {kind: redis}\n  metrics: {kind: prometheus}\n"
                      "  spare: {kind: redis}\n"
                      "services:\n  api: {command: ./api, port: 8000, depends_on: [db], uses: [cache]}\n"
                      "  other: {command: ./other, depends_on: [spare]}\n")
    run = Run(path, options=UpOptions(services=["api"]))
    ok(run)
    assert sorted(run.started) == ["api", "cache", "db"]  # uses: is needed too (its details are in api's env)
    assert run.summary["nodes"]["metrics"]["state"] == "not running"
    assert run.summary["nodes"]["spare"]["state"] == "not running"
    both = Run(path, runtime=run.runtime, options=UpOptions(services=["api", "other"]))
    ok(both)
    assert sorted(both.started) == ["other", "spare"]
    assert both.summary["nodes"]["metrics"]["state"] == "not running"


def test_a_partial_up_keeps_what_an_earlier_up_started_in_the_record(write_yaml):
    """`check` and `status` read the record: after `up --service api` Prometheus still runs and is still checked."""
    from stapel.engine import expected

    path = write_yaml("components:\n  db: {kind: postgres}\n  metrics: {kind: prometheus}\n"
                      "services:\n  api: {command: ./api, port: 8000, depends_on: [db]}\n")
    first = Run(path)
    ok(first)
    again = Run(path, runtime=first.runtime, options=UpOptions(services=["api"]))
    ok(again)
    assert sorted(expected.load(again.stack.paths)["nodes"]) == ["api", "db", "metrics"]
    expected.forget(again.stack.paths, ["metrics"])  # what `stop --service metrics` does
    ok(Run(path, runtime=first.runtime, options=UpOptions(services=["api"])))
    assert sorted(expected.load(again.stack.paths)["nodes"]) == ["api", "db"]


def test_chosen_component_starts_only_it(stack_file):
    run = Run(stack_file, options=UpOptions(services=["mq"]))
    ok(run)
    assert sorted(run.started) == ["db", "mq"]


def test_unknown_service_suggests_the_close_one(stack_file):
    run = Run(stack_file, options=UpOptions(services=["workr"]))
    error = failed(run, PreflightError)
    assert error.lines() == ["--service: unknown name 'workr'; did you mean 'worker'?"]
    assert run.started == []


def test_unknown_service_without_a_close_one(stack_file):
    run = Run(stack_file, options=UpOptions(services=["zzz"]))
    error = failed(run, PreflightError)
    assert error.message == "--service: unknown name 'zzz' (allowed: api, cache, db, mq, other, worker)"


def test_service_option_naming_a_component_starts_it_and_says_why_no_service_ran(stack_file):
    run = Run(stack_file, options=UpOptions(services=["db"]))
    ok(run)
    assert run.started == ["db"]
    services = next(step for step in run.summary["steps"] if step["name"] == "services")
    assert (services["status"], services["message"]) == ("skipped", "--service names no service")


# --- the lock -------------------------------------------------------------------------------


def test_a_held_lock_makes_up_fail_as_busy(stack_file):
    """Held by another process (within one process the lock is re-entrant: the CLI takes it, then the engine)."""
    import subprocess
    import sys

    stack = open_stack(stack_file, env={})
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(stack.paths.lock)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        run = Run(stack_file)
        error = failed(run, PreflightError)
    finally:
        holder.kill()
        holder.wait()
    assert error.lines() == [
        f"{stack.paths.lock}: the dev stack is busy: 'stapel down' (pid {holder.pid}) is changing it "
        "(wait for it to finish, then run again)"
    ]
    assert run.events == []
    assert not list(stack.paths.bootstrap_logs.glob("run-*"))  # a refused run writes no summary
    ok(Run(stack_file, runtime=run.runtime))  # free again once released


HOLD_LOCK = """
import fcntl, os, pathlib, sys, time
lock = pathlib.Path(sys.argv[1]); lock.parent.mkdir(parents=True, exist_ok=True)
handle = open(lock, "a+"); fcntl.flock(handle, fcntl.LOCK_EX)
handle.write(f"'stapel down' (pid {os.getpid()})"); handle.flush()
print("held", flush=True); time.sleep(60)
"""


def test_lock_is_per_contour(write_yaml):
    path = write_yaml("contours:\n  dev: {}\n  stage:\n    ports: auto\n    weak_credentials: allow\n" + STACK)
    stack = open_stack(path, "stage", env={})
    with stack_lock(stack.paths, "up"):
        ok(Run(path))  # dev is free


def test_lock_is_released_after_a_failed_up(stack_file):
    failed(Run(stack_file, behaviour={"db": "crash"}), StartError)
    ok(Run(stack_file))
