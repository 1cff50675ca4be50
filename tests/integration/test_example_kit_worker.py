"""examples/kit-worker end to end: `stapel up` brings PostgreSQL, Redis, RabbitMQ (the queue and its DLQ provisioned
from the AsyncAPI file) and the worker up; the worker's demo orders are all recorded once (a duplicate absorbed by
the inbox), the flaky ones after a retry through `at`, the poison one dead-lettered with its reason."""

from __future__ import annotations

import json
import time
import urllib.request

import pika
import psycopg
import pytest
from conftest import copy_example, stapel, status, stop_and_clean, traversable_dir

pytestmark = pytest.mark.integration


def test_the_kit_worker_consumes_retries_through_at_and_dead_letters() -> None:
    base = traversable_dir("kit-worker")
    root = copy_example("kit-worker", base)
    try:
        up = stapel(root, "up", timeout=300)
        assert up.returncode == 0, up.stdout + up.stderr
        env = json.loads(stapel(root, "env", "print", "--service", "worker", "--format", "json", "--reveal",
                                check=True).stdout)
        deadline, rows = time.monotonic() + 60, []
        while time.monotonic() < deadline:
            with psycopg.connect(env["WORKER_DATABASE_URL"]) as conn:
                rows = conn.execute("SELECT order_id, attempt FROM orders_done ORDER BY order_id").fetchall()
            if len(rows) == 19:
                break
            time.sleep(0.3)
        assert [r[0] for r in rows] == [n for n in range(1, 21) if n != 7]  # once each, #1's duplicate absorbed
        assert {r[0]: r[1] for r in rows if r[0] % 4 == 0} == {4: 2, 8: 2, 12: 2, 16: 2, 20: 2}  # retried via at
        with pika.BlockingConnection(pika.URLParameters(env["WORKER_RABBITMQ_URL"])) as conn:
            method, props, _body = conn.channel().basic_get("shop.orders.dlq", auto_ack=True)
        assert method is not None and props.message_id == "order-7"
        assert props.headers["x-stapel-reason"] == "orders: order 7 has a negative amount"
        assert props.headers["x-stapel-error"] == "Permanent"
        port = status(root)["worker"]["endpoint"].rsplit(":", 1)[1]
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
        assert 'stapel_kit_bus_consumed_total{handler="handle",queue="shop.orders",result="duplicate"} 1.0' in metrics
        assert (root / ".local" / "data" / "dev" / "worker.at" / "worker.sqlite3").exists()  # its volume (AT_DIR)
    finally:
        assert not stop_and_clean(root, base)
