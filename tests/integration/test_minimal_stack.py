"""examples/minimal end to end: up, idempotent re-up, supervision, re-adoption, control commands, down."""

from __future__ import annotations

import json
import os
import signal
import socket
import urllib.error
import urllib.request
from pathlib import Path

import pika
import psycopg
import pytest
from conftest import copy_example, processes_under, stapel, status, stop_and_clean, traversable_dir, wait_until

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def stack():
    base = traversable_dir("minimal")
    root = copy_example("minimal", base)
    done = stapel(root, "up", timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    yield root
    assert not stop_and_clean(root, base)


def endpoint(root: Path, name: str) -> tuple[str, int]:
    host, port = status(root)[name]["endpoint"].split(":")
    return host, int(port)


def test_everything_is_up_on_free_ports_never_the_system_ones(stack: Path) -> None:
    nodes = status(stack)
    assert {n: v["state"] for n, v in nodes.items()} == {n: "running" for n in ("db", "cache", "mq", "metrics", "api")}
    ports = {name: int(v["endpoint"].split(":")[1]) for name, v in nodes.items()}
    assert ports["db"] != 5432 and ports["cache"] != 6379 and ports["mq"] != 5672  # this machine's own servers hold those


def test_the_service_uses_postgres_redis_and_rabbitmq(stack: Path) -> None:
    host, port = endpoint(stack, "api")
    with urllib.request.urlopen(f"http://{host}:{port}/health", timeout=10) as response:
        body = json.load(response)
    assert response.status == 200
    assert body == {"ok": True, "checks": {"postgres": "ok", "redis": "ok", "rabbitmq": "ok"}}


def get_json(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def test_the_kit_service_answers_readyz_from_its_real_postgres_check_and_logs_json(stack: Path) -> None:
    """examples/minimal's api is written with stapel.kit: /readyz runs the pool's SELECT 1 on the stack's own
    PostgreSQL (503 while it is stopped, 200 again once it is back), /livez answers, every log line is JSON."""
    base = "http://{}:{}".format(*endpoint(stack, "api"))
    assert get_json(f"{base}/readyz") == (200, {"ok": True, "checks": {"postgres": "ok"}})
    assert get_json(f"{base}/livez") == (200, {"ok": True})
    assert stapel(stack, "stop", "--service", "db").returncode == 0
    try:
        status_code, body = wait_until(lambda: (lambda r: r[0] == 503 and r)(get_json(f"{base}/readyz")), timeout=15)
        assert body["ok"] is False and body["checks"]["postgres"].startswith("Unavailable: postgres ping"), body
        assert get_json(f"{base}/livez")[0] == 200
    finally:
        assert stapel(stack, "start", "--service", "db", timeout=120).returncode == 0
    assert wait_until(lambda: get_json(f"{base}/readyz")[0] == 200, timeout=30)
    assert stapel(stack, "up").returncode == 0  # `start --service db` recorded only db as what runs: the whole stack again
    with urllib.request.urlopen(f"{base}/health", timeout=10) as response:
        assert json.load(response)["ok"] is True
    lines = [line for line in (stack / ".local/logs/dev/api.log").read_text().splitlines()
             if line.strip() and not line.startswith("--- stapel:")]
    events = [json.loads(line) for line in lines]
    started = next(e for e in events if e["event"] == "listening")
    assert started["config"]["postgres"]["password"] == "******" and started["level"] == "INFO"
    assert any(e["event"] == "request" and e["path"] == "/health" and e["status"] == 200 for e in events)
    assert "dev-only-db-password" not in "\n".join(lines) and "dev-only-mq-password" not in "\n".join(lines)


def test_check_passes_and_says_so_per_part(stack: Path) -> None:
    done = stapel(stack, "check", "--json")
    assert done.returncode == 0, done.stdout
    report = json.loads(done.stdout)
    assert report["healthy"] is True
    assert {n["name"] for n in report["nodes"]} == {"db", "cache", "mq", "metrics", "api"}


def test_run_log_has_steps_and_summaries(stack: Path) -> None:
    latest = stack / ".local/logs/bootstrap/latest"
    summary = json.loads((latest / "summary.json").read_text())
    assert summary["outcome"] == "ok" and summary["contour"] == "dev"
    assert [s["name"] for s in summary["steps"]] == ["preflight", "start", "wait", "provision", "migrate", "seed", "services", "verify"]
    for step in summary["steps"]:
        assert (latest / step["log"]).is_file()
    assert summary["nodes"]["db"]["health"] == "healthy"
    assert "# stapel up" in (latest / "summary.md").read_text()


def test_second_up_changes_nothing_and_says_so(stack: Path) -> None:
    before = {n: v["pid"] for n, v in status(stack).items()}
    done = stapel(stack, "up", "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["changed"] is False
    assert all(step["status"] in ("ok", "skipped") and not step["changes"] for step in summary["steps"])
    assert {n: v["pid"] for n, v in status(stack).items()} == before
    assert "nothing to do" in stapel(stack, "up").stdout


def test_repeated_up_with_unchanged_inputs_takes_the_fast_path(stack: Path) -> None:
    summary = json.loads(stapel(stack, "up", "--json").stdout)
    assert summary["steps"][0]["message"] == "inputs unchanged since the last up"
    assert summary["duration_seconds"] < 2.0  # the goal is 0.5 s (benchmarks/bench.py measures it); this only guards


def test_a_changed_input_takes_the_full_pipeline_which_still_changes_nothing(stack: Path) -> None:
    (stack / ".env").write_text("UNRELATED_SETTING=1\n")
    try:
        summary = json.loads(stapel(stack, "up", "--json").stdout)
    finally:
        (stack / ".env").unlink()
    assert summary["steps"][0]["message"] != "inputs unchanged since the last up"
    assert summary["changed"] is False
    assert stapel(stack, "up", "--json").returncode == 0  # records the inputs as they are again


def test_no_secret_in_the_run_logs(stack: Path) -> None:
    for path in (stack / ".local/logs/bootstrap").rglob("*"):
        if path.is_file():
            text = path.read_text(errors="replace")
            assert "dev-only-db-password" not in text and "dev-only-mq-password" not in text, path


def test_a_killed_service_is_restarted_by_its_policy(stack: Path) -> None:
    old = status(stack)["api"]
    os.kill(old["pid"], signal.SIGKILL)
    restarted = wait_until(lambda: (lambda s: s["state"] == "running" and s["pid"] != old["pid"] and s)(status(stack)["api"]), 10)
    assert restarted and restarted["restarts"] == old["restarts"] + 1


def test_a_dead_component_is_noticed_within_two_seconds_and_its_default_policy_brings_it_back(stack: Path) -> None:
    cache = status(stack)["cache"]
    os.kill(cache["pid"], signal.SIGKILL)
    assert wait_until(lambda: status(stack)["cache"]["restarts"] == cache["restarts"] + 1, timeout=2.0)
    back = wait_until(lambda: (lambda s: s["state"] == "running" and s["pid"] != cache["pid"] and s)(status(stack)["cache"]), 5)
    assert back, status(stack)["cache"]
    assert wait_until(lambda: stapel(stack, "check").returncode == 0, timeout=5)
    assert "nothing to do" in stapel(stack, "up").stdout  # the same spec runs again: up has nothing to heal


def test_a_killed_supervisor_is_replaced_and_adopts_without_duplicates(stack: Path) -> None:
    pids = {n: v["pid"] for n, v in status(stack).items()}
    supervisor = int((stack / ".local/run/dev/supervisor.pid").read_text())
    os.kill(supervisor, signal.SIGKILL)
    assert {n: v["pid"] for n, v in status(stack).items()} == pids  # the next command re-adopts
    assert int((stack / ".local/run/dev/supervisor.pid").read_text()) != supervisor
    postmasters = [p for p in processes_under(stack) if p.info["cmdline"] and p.info["cmdline"][0].endswith("postgres")
                   and "-D" in p.info["cmdline"]]
    assert len(postmasters) == 1
    assert "nothing to do" in stapel(stack, "up").stdout


def test_logs_shows_the_tail(stack: Path) -> None:
    done = stapel(stack, "logs", "api", "-n", "3")
    assert done.returncode == 0
    assert 1 <= len(done.stdout.splitlines()) <= 3
    missing = stapel(stack, "logs", "nosuch")
    assert missing.returncode == 1 and "no log for 'nosuch'" in missing.stderr


def test_stop_and_start_one_service(stack: Path) -> None:
    assert stapel(stack, "stop", "--service", "api").returncode == 0
    assert "api" not in {n for n, v in status(stack).items() if v["state"] == "running"}
    started = stapel(stack, "start", "--service", "api")
    assert started.returncode == 0, started.stderr
    assert status(stack)["api"]["state"] == "running"


def test_stop_backend_stops_every_service_and_keeps_the_infrastructure(stack: Path) -> None:
    """seed 000's stop-backend.sh: `stop --backend`; the components stay healthy; `up` brings the services back."""
    before = status(stack)
    done = stapel(stack, "stop", "--backend")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["api:", "stopped"]
    after = status(stack)
    assert after.get("api", {}).get("state", "not running") != "running"
    components = ("db", "cache", "mq", "metrics")
    assert {n: (after[n]["state"], after[n]["pid"]) for n in components} == \
        {n: ("running", before[n]["pid"]) for n in components}  # untouched, not restarted
    assert stapel(stack, "check", "--json").returncode == 0  # the infrastructure is healthy (api no longer checked)
    again = stapel(stack, "stop", "--backend")
    assert again.returncode == 0 and "no service runs" in again.stdout + again.stderr
    up = stapel(stack, "up")
    assert up.returncode == 0, up.stdout + up.stderr
    back = status(stack)
    assert back["api"]["state"] == "running"
    assert {n: back[n]["pid"] for n in components} == {n: before[n]["pid"] for n in components}


def test_down_keeps_data_and_stops_everything_including_epmd(stack: Path) -> None:
    host, port = endpoint(stack, "db")
    url = f"postgresql://postgres:dev-only-db-password@{host}:{port}/app"
    with psycopg.connect(url) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS kept (v text)")
        conn.execute("INSERT INTO kept VALUES ('still here')")
    mq_url = f"amqp://app:dev-only-mq-password@{':'.join(map(str, endpoint(stack, 'mq')))}/%2F"
    with pika.BlockingConnection(pika.URLParameters(mq_url)) as mq:
        channel = mq.channel()
        channel.queue_declare("kept", durable=True)
        channel.basic_publish("", "kept", b"still queued", pika.BasicProperties(delivery_mode=2))
    epmd_port = json.loads((stack / ".local/state/dev/ports.json").read_text())["mq"]["epmd"]["chosen"]
    done = stapel(stack, "down", timeout=120)
    assert done.returncode == 0, done.stderr
    assert processes_under(stack) == []
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", epmd_port), timeout=1).close()
    assert stapel(stack, "up", "--skip-backend", timeout=300).returncode == 0
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT v FROM kept").fetchone() == ("still here",)
    with pika.BlockingConnection(pika.URLParameters(mq_url)) as mq:  # the fast RabbitMQ stop kept the message
        _, _, body = mq.channel().basic_get("kept", auto_ack=True)
        assert body == b"still queued"
    assert status(stack).get("api", {}).get("state") != "running"


def test_down_volumes_deletes_the_data(stack: Path) -> None:
    refused = stapel(stack, "down", "--volumes", input="")
    assert refused.returncode == 1 and "--yes" in refused.stderr
    done = stapel(stack, "down", "--volumes", "--yes", timeout=120)
    assert done.returncode == 0
    assert not (stack / ".local/data/dev").exists()
