"""examples/minimal natively: the Prometheus stapel starts scrapes what stapel.yaml declares (itself, RabbitMQ's
rabbitmq_prometheus plugin, the api service) on the ports actually used."""

from __future__ import annotations

import json
import urllib.request

import pytest

from conftest import copy_example, stapel, status, stop_and_clean, traversable_dir, wait_until

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
    finally:
        assert not stop_and_clean(root, base)
