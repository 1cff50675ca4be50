"""examples/seed-004-platform end to end, natively, one stack at a time: env sync, `up`, every
service's /health, what the seed's stack is for (seed 004: a service's prefixed DATABASE_URL is its role, which sees its own schema only), a second `up` with nothing
to do, `down`. Seeds 001, 002 and 003 have their own files (test_seed_00*_*.py)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import pika
import psycopg
import pytest
from conftest import copy_example, processes_under, stapel, status, stop_and_clean, traversable_dir

pytestmark = pytest.mark.integration


def http(method: str, url: str, body: dict | None = None) -> tuple[int, dict]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # the stack's own services
            return response.status, json.load(response)
    except urllib.error.HTTPError as exc:
        return exc.code, {"error": exc.read().decode(errors="replace")}


def url_of(root: Path, name: str) -> str:
    return f"http://{status(root)[name]['endpoint']}"


def service_env(root: Path, service: str) -> dict[str, str]:
    done = stapel(root, "env", "print", "--service", service, "--format", "json", "--reveal", check=True)
    return json.loads(done.stdout)


def check_platform(root: Path) -> None:
    """Seed 004: USERS_DATABASE_URL is the role users, whose search_path is its schema and who cannot read orders'."""
    users, orders = service_env(root, "users"), service_env(root, "orders")
    assert users["USERS_REDIS_URL"].endswith("/1") and orders["ORDERS_REDIS_URL"].endswith("/2")
    assert not any(key.startswith("ORDERS_") for key in users) and "DATABASE_URL" not in users
    with psycopg.connect(users["USERS_DATABASE_URL"], connect_timeout=5) as conn:
        assert conn.execute("SELECT current_user, current_schema()").fetchone() == ("users", "users")
        tables = conn.execute("SELECT table_schema, table_name FROM information_schema.tables "
                              "WHERE table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2").fetchall()
        assert tables == [("users", "goose_db_version"), ("users", "users")]
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT * FROM orders.orders")
    with pika.BlockingConnection(pika.URLParameters(orders["ORDERS_RABBITMQ_URL"])) as connection:  # from the AsyncAPI document
        channel = connection.channel()
        for queue in ("orders.user-created", "orders.user-created.dlq", "users.order-placed", "users.order-placed.dlq"):
            channel.queue_declare(queue, passive=True)


CHECKS = {"seed-004-platform": check_platform}


@pytest.fixture(params=sorted(CHECKS))
def example(request: pytest.FixtureRequest):
    base = traversable_dir(request.param)
    root = copy_example(request.param, base)
    yield request.param, root
    assert not stop_and_clean(root, base)


def test_seed_example_comes_up_serves_changes_nothing_on_reup_and_goes_down(example: tuple[str, Path]) -> None:
    name, root = example
    if any(root.rglob("env*.example")):
        stapel(root, "env", "sync", "--non-interactive", check=True)
    done = stapel(root, "up", timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    services = [n for n, v in status(root).items() if v["kind"] == "service"]
    assert services
    for service in services:
        code, body = http("GET", f"{url_of(root, service)}/health")
        assert (code, body.get("ok")) == (200, True), f"{service}: {body}"
    CHECKS[name](root)
    again = stapel(root, "up")
    assert again.returncode == 0 and "nothing to do" in again.stdout, again.stdout + again.stderr
    down = stapel(root, "down", timeout=120)
    assert down.returncode == 0, down.stderr
    assert processes_under(root) == []
