"""examples/seed-002-schema natively, checked against seed 002: `up` migrates the tables and indexes of section 4 and
declares the RabbitMQ topology of section 5 from backend/api/asyncapi.yaml; backend-api stores an execution and
publishes it with confirms; backend-worker runs the schema's nodes step by step into execution_state and
execution_steps, retries a temporarily failing node through `at` (its SQLite file in the worker's volume) and
dead-letters what can never succeed with the reason; both log the JSON lines of section 7; the React frontend
(section 3.1) is Vite's dev server with REACT_APP_API_URL (section 10.2) derived from the api's address, serving the
app whose module reads it, reloading a saved source itself (hot reload, section 2.1), and the API answers its
cross-origin requests. Without Node.js 20.19+ or frontend/node_modules (./dev setup runs npm ci there), `up` leaves
the frontend out and its tests are skipped with the reason."""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pika
import psycopg
import pytest
from conftest import REPO, copy_example, processes_under, stapel, status, stop_and_clean, traversable_dir, wait_until

pytestmark = pytest.mark.integration

EXAMPLE = "seed-002-schema"


def frontend_missing() -> str | None:
    """Why Vite cannot run here (then `up` leaves the frontend out and its tests skip), else None."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        return "seed 002's frontend needs node and npm (Node.js 20.19+ for Vite 8): not found on PATH"
    version = subprocess.run(["node", "--version"], capture_output=True, text=True, timeout=10).stdout.strip()
    found = re.match(r"v(\d+)\.(\d+)", version)
    if not found or (int(found[1]), int(found[2])) < (20, 19):
        return f"seed 002's frontend runs Vite 8, which needs Node.js 20.19+; node here is {version or 'unknown'}"
    if not (REPO / "examples" / EXAMPLE / "frontend/node_modules/vite/bin/vite.js").is_file():
        return f"examples/{EXAMPLE}/frontend/node_modules is missing: ./dev setup (or npm ci there) installs it"
    return None


NO_FRONTEND = frontend_missing()


def test_ci_installed_the_frontend():
    """Under CI (./dev setup runs npm ci where npm and a new enough node exist) a missing node_modules is a failure,
    not a skip: a silent `npm ci` failure must not turn the frontend's tests into skips."""
    if not os.environ.get("CI") or NO_FRONTEND is None or "node_modules" not in NO_FRONTEND:
        return
    pytest.fail(NO_FRONTEND)
UP = ("up",) if NO_FRONTEND is None else ("up", "--service", "api,worker")  # everything but the frontend
needs_frontend = pytest.mark.skipif(NO_FRONTEND is not None, reason=NO_FRONTEND or "")
GREETING = {"nodes": [{"id": "start", "type": "start"},
                      {"id": "greet", "type": "template", "config": {"var": "greeting", "template": "Hello, {name}"}},
                      {"id": "vip", "type": "condition", "config": {"var": "vip"}},
                      {"id": "upgrade", "type": "set", "config": {"var": "tier", "value": "gold"}},
                      {"id": "end", "type": "end"}],
            "edges": [{"from": "start", "to": "greet"}, {"from": "greet", "to": "vip"},
                      {"from": "vip", "to": "upgrade", "when": True}, {"from": "vip", "to": "end", "when": False},
                      {"from": "upgrade", "to": "end"}]}


def with_call(config: dict) -> dict:
    return {"nodes": [{"id": "start", "type": "start"}, {"id": "notify", "type": "call", "config": {"service": "mailer", **config}},
                      {"id": "end", "type": "end"}],
            "edges": [{"from": "start", "to": "notify"}, {"from": "notify", "to": "end"}]}


@pytest.fixture(scope="module")
def root():
    base = traversable_dir("schema")
    project = copy_example(EXAMPLE, base)
    try:
        stapel(project, "env", "sync", "--non-interactive", check=True)
        started = time.monotonic()
        done = stapel(project, *UP, timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
        print(f"up: {time.monotonic() - started:.1f}s")
        yield project
    finally:  # a failed `up` too: nothing of it stays running
        assert not stop_and_clean(project, base)


def http(method: str, url: str, body: dict | None = None) -> tuple[int, dict]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # the stack's own services
            return response.status, json.load(response)
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


@functools.cache  # the stack's env does not change while the module runs
def env_of(root: Path, service: str) -> dict[str, str]:
    return json.loads(stapel(root, "env", "print", "--service", service, "--format", "json", "--reveal", check=True).stdout)


def api(root: Path) -> str:
    return f"http://{status(root)['api']['endpoint']}"


def run(root: Path, definition: dict, payload: dict | None = None) -> dict:
    """Create the schema, start an execution, wait until it is completed or failed; its GET answer."""
    code, schema = http("POST", f"{api(root)}/api/schemas", {"name": "test", "definition": definition})
    assert code == 201, schema
    code, execution = http("POST", f"{api(root)}/api/schemas/{schema['id']}/executions", {"payload": payload or {}})
    assert code == 202 and execution["status"] == "pending", execution

    def finished() -> dict | None:
        answer = http("GET", f"{api(root)}/api/executions/{execution['id']}")[1]
        return answer if answer["status"] in ("completed", "failed") else None

    found = wait_until(finished, 20)
    assert found, http("GET", f"{api(root)}/api/executions/{execution['id']}")[1]
    return found


def steps(execution: dict) -> list[tuple[str, str]]:
    return [(s["node_id"], s["status"]) for s in execution["steps"]]


def test_up_migrates_section_4_and_declares_section_5(root: Path) -> None:
    with psycopg.connect(env_of(root, "api")["DATABASE_URL"], connect_timeout=5) as conn:
        tables = {t for (t,) in conn.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")}
        indexes = {i for (i,) in conn.execute("SELECT indexname FROM pg_indexes WHERE schemaname = 'public'")}
    assert {"schemas", "executions", "execution_state", "execution_steps", "users"} <= tables
    assert {"idx_schemas_status", "idx_executions_schema_id", "idx_executions_status", "idx_execution_steps_execution_id"} <= indexes
    with pika.BlockingConnection(pika.URLParameters(env_of(root, "worker")["RABBITMQ_URL"])) as connection:
        channel = connection.channel()
        assert channel.queue_declare("schema_execution_queue", passive=True).method.consumer_count == 1  # the worker
        channel.queue_declare("schema_execution_dlq", passive=True)
        channel.exchange_declare("schema.execution", passive=True)


def test_an_execution_runs_its_nodes_step_by_step(root: Path) -> None:
    execution = run(root, GREETING, {"name": "Ann", "vip": True})
    assert execution["status"] == "completed" and execution["error"] is None, execution
    assert steps(execution) == [("start", "success"), ("greet", "success"), ("vip", "success"), ("upgrade", "success"), ("end", "success")]
    assert execution["state"] == {"current_node_id": None, "context": {"name": "Ann", "vip": True, "greeting": "Hello, Ann", "tier": "gold"}}
    assert execution["steps"][1]["input"] == {"name": "Ann", "vip": True} and execution["steps"][1]["output"] == {"greeting": "Hello, Ann"}
    other = run(root, GREETING, {"name": "Bob", "vip": False})
    assert steps(other) == [("start", "success"), ("greet", "success"), ("vip", "success"), ("end", "success")]


def test_a_temporarily_failing_node_is_retried_through_at(root: Path) -> None:
    started = time.monotonic()
    execution = run(root, with_call({"unavailable_attempts": 2}))
    assert execution["status"] == "completed", execution
    assert steps(execution) == [("start", "success"), ("notify", "failed"), ("notify", "failed"), ("notify", "success"), ("end", "success")]
    assert execution["steps"][1]["error"] == "temporary: mailer: node notify: mailer is unavailable (attempt 1)"
    assert execution["state"]["context"]["notify_result"] == {"service": "mailer", "ok": True, "attempt": 3}
    print(f"two retries through at: {time.monotonic() - started:.1f}s")
    assert (root / ".local/data/dev/worker.at/at.sqlite3").is_file()  # the worker's volume `at` (AT_DIR)
    log = (root / ".local/logs/dev/worker.log").read_text()
    assert log.count('"event": "handler failed, retried later"') >= 2


def test_what_can_never_succeed_is_dead_lettered_with_its_reason(root: Path) -> None:
    execution = run(root, with_call({"reject": "card declined"}))
    assert execution["status"] == "failed" and execution["error"] == "mailer: node notify: card declined", execution
    assert steps(execution) == [("start", "success"), ("notify", "failed")]
    with pika.BlockingConnection(pika.URLParameters(env_of(root, "worker")["RABBITMQ_URL"])) as connection:
        channel = connection.channel()
        channel.confirm_delivery()
        channel.basic_publish("schema.execution", "execute", b'{"execution_id": "not-a-uuid"}',
                              pika.BasicProperties(message_id="bad-1", delivery_mode=2), mandatory=True)
        dead: dict[str, dict] = {}

        def both() -> bool:
            method, props, _body = channel.basic_get("schema_execution_dlq", auto_ack=True)
            if method is not None:
                dead[props.message_id] = props.headers
            return {f"execution-{execution['id']}", "bad-1"} <= set(dead)

        assert wait_until(both, 10), dead
    rejected = dead[f"execution-{execution['id']}"]
    assert rejected["x-stapel-reason"] == "mailer: node notify: card declined" and rejected["x-stapel-error"] == "Permanent"
    assert rejected["x-stapel-queue"] == "schema_execution_queue"
    assert "does not validate" in dead["bad-1"]["x-stapel-reason"] and dead["bad-1"]["x-stapel-error"] == "ValidationError"


def test_a_definition_the_engine_cannot_run_is_refused(root: Path) -> None:
    code, answer = http("POST", f"{api(root)}/api/schemas", {"name": "x", "definition": {"nodes": [{"id": "a", "type": "teleport"}]}})
    assert code == 422 and answer["error"].startswith("nodes[0]: needs a string id and a type of start, set,"), answer
    assert http("GET", f"{api(root)}/api/executions/00000000-0000-0000-0000-000000000000")[0] == 404


def lines(root: Path, service: str) -> list[dict]:
    text = (root / f".local/logs/dev/{service}.log").read_text()
    return [json.loads(line) for line in text.splitlines() if line.strip() and not line.startswith("--- stapel:")]


def test_logs_are_the_json_lines_of_section_7(root: Path) -> None:
    worker, api_lines = lines(root, "worker"), lines(root, "api")  # every line parses as JSON
    events = {(e["event"], e["step"] if e["event"].startswith("step") else e.get("job")) for e in worker if "execution_id" in e}
    assert {("job started", "execution"), ("job finished", "execution"), ("job failed", "execution"),
            ("step started", "greet"), ("step finished", "greet"), ("step failed", "notify")} <= events
    failed = next(e for e in worker if e["event"] == "step failed")
    assert failed["level"] == "ERROR" and "Traceback (most recent call last)" in failed["exception"]
    assert all(e["level"] in ("DEBUG", "INFO", "WARN", "ERROR") for e in worker + api_lines)
    requests = [e for e in api_lines if e["event"] == "request" and e["method"] == "POST"]
    assert {(e["path"], e["status"]) for e in requests} >= {("/api/schemas", 201), ("/api/schemas", 422)}
    assert any(e["event"] == "execution queued" and e["message_id"].startswith("execution-") for e in api_lines)


def get(url: str, headers: dict | None = None, method: str = "GET") -> tuple[int, dict, str]:
    request = urllib.request.Request(url, headers=headers or {}, method=method)
    with urllib.request.urlopen(request, timeout=10) as response:  # the stack's own services
        return response.status, dict(response.headers), response.read().decode()


@needs_frontend
def test_the_frontend_is_vite_serving_the_app_with_the_apis_address(root: Path) -> None:
    env = env_of(root, "frontend")
    assert env["REACT_APP_API_URL"] == f"{api(root)}/api" == f"{env['API_URL']}/api", env
    frontend = f"http://{status(root)['frontend']['endpoint']}"
    code, _, page = get(f"{frontend}/")
    assert code == 200 and '<div id="root"></div>' in page and "/@vite/client" in page, page  # Vite's, not a static copy
    code, headers, main = get(f"{frontend}/src/main.jsx")
    assert code == 200 and "javascript" in headers["Content-Type"] and "createRoot" in main and "<App" not in main, main  # JSX compiled
    code, headers, module = get(f"{frontend}/src/api.js")  # reads import.meta.env.REACT_APP_API_URL: Vite fills it in
    assert code == 200 and "javascript" in headers["Content-Type"] and f'"REACT_APP_API_URL": "{api(root)}/api"' in module, module


@needs_frontend
def test_the_frontend_reloads_a_saved_source_itself(root: Path) -> None:
    """watch mode sync: no restart by stapel; Vite sees the save and serves the new module (and tells the page)."""
    pid = status(root)["frontend"]["pid"]
    app = root / "frontend/src/App.jsx"
    app.write_text(app.read_text().replace("<h1>Схема: executions</h1>", "<h1>Схема: executions (saved)</h1>"))
    frontend = f"http://{status(root)['frontend']['endpoint']}"
    assert wait_until(lambda: "executions (saved)" in get(f"{frontend}/src/App.jsx")[2], 10)
    assert status(root)["frontend"]["pid"] == pid


def test_the_api_answers_the_frontends_cross_origin_requests(root: Path) -> None:
    origin = "http://127.0.0.1:5173"  # the page's origin differs from REACT_APP_API_URL's: the browser asks first
    code, headers, _ = get(f"{api(root)}/api/executions", {"Origin": origin, "Access-Control-Request-Method": "POST",
                                                           "Access-Control-Request-Headers": "content-type"}, "OPTIONS")
    assert code == 200 and headers["access-control-allow-origin"] == origin and "POST" in headers["access-control-allow-methods"]
    with pytest.raises(urllib.error.HTTPError) as refused:  # a page elsewhere is not answered
        get(f"{api(root)}/api/executions", {"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"}, "OPTIONS")
    assert refused.value.code == 400


def test_a_second_up_changes_nothing_and_down_stops_everything(root: Path) -> None:
    again = stapel(root, *UP)
    assert again.returncode == 0 and "nothing to do" in again.stdout, again.stdout + again.stderr
    assert stapel(root, "down", timeout=120).returncode == 0
    assert processes_under(root) == []
