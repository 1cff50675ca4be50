"""examples/minimal natively: the Prometheus stapel starts scrapes what stapel.yaml declares (itself, RabbitMQ's
rabbitmq_prometheus plugin, the api service) on the ports actually used."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request

import pytest
from conftest import copy_example, stapel, status, stop_and_clean, traversable_dir, wait_until

from stapel.monitoring.dashboards import all_dashboards

pytestmark = pytest.mark.integration


def test_prometheus_scrapes_the_stack() -> None:
    base = traversable_dir("monitoring")
    root = copy_example("minimal", base)
    try:
        done = stapel(root, "up", timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
        endpoints = {name: node["endpoint"] for name, node in status(root).items()}

        def targets() -> dict[str, dict]:
            with urllib.request.urlopen(f"http://{endpoints['metrics']}/api/v1/targets", timeout=5) as response:
                found = {t["labels"]["job"]: t for t in json.load(response)["data"]["activeTargets"]}
            return found if all(t["health"] != "unknown" for t in found.values()) else {}

        found = wait_until(targets, timeout=30, period=0.5)
        assert set(found) == {"metrics", "mq", "api"}, found
        assert found["api"]["scrapeUrl"] == f"http://{endpoints['api']}/metrics"
        assert found["metrics"]["scrapeUrl"] == f"http://{endpoints['metrics']}/metrics"
        assert {job: t["health"] for job, t in found.items()} == {"metrics": "up", "mq": "up", "api": "up"}, found
        assert found["mq"]["labels"]["kind"] == "rabbitmq"
        with urllib.request.urlopen(f"http://{endpoints['api']}/metrics", timeout=5) as response:
            assert 'minimal_api_health_checks_total{result="ok"}' in response.read().decode()

        # every dashboard query runs on the real Prometheus; those this stack can feed natively have data
        def query(expr: str) -> list[dict]:
            url = f"http://{endpoints['metrics']}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
            with urllib.request.urlopen(url, timeout=5) as response:
                answer = json.load(response)
            assert answer["status"] == "success", (expr, answer)
            return answer["data"]["result"]

        exprs = [t["expr"] for board in all_dashboards().values() for panel in board["panels"] for t in panel["targets"]]
        assert len(exprs) >= 15 and all(isinstance(query(expr), list) for expr in exprs)
        queues = wait_until(lambda: query('sum by (vhost, queue) (rabbitmq_queue_messages_ready{kind="rabbitmq"})'), timeout=20)
        assert {(q["metric"]["vhost"], q["metric"]["queue"]) for q in queues} >= {("/", "minimal.health")}, queues
        assert [r["metric"]["job"] for r in query('up{kind="service"}')] == ["api"]
    finally:
        assert not stop_and_clean(root, base)
