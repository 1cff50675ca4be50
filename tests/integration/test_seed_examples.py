"""examples/seed-003-gprod end to end, natively: env sync, `up`, every service's /health, what the seed's stack is for
(the contour's volume and the env files that must agree), a second `up` with nothing to do, `down`. Seeds 001, 002 and
004 have their own files (test_seed_001_codelab.py, test_seed_002_schema.py, test_seed_004_platform.py)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

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


def check_gprod(root: Path) -> None:
    """Seed 003: dev's data is in the contour's volume pgdata_dev; the two repositories' .env agree; Prometheus runs."""
    assert (root / ".local/data/dev/pgdata_dev/PG_VERSION").is_file()
    assert status(root)["prometheus"]["state"] == "running"
    assert stapel(root, "env", "check").returncode == 0

    def read(path: Path) -> dict[str, str]:
        return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line and not line.startswith("#"))

    infra, backend = read(root / ".env"), read(root / "backend/.env")
    assert {k: infra[k] for k in ("POSTGRES_PASSWORD", "JWT_SECRET", "PORT")} == {k: backend[k] for k in ("POSTGRES_PASSWORD", "JWT_SECRET", "PORT")}
    assert read(root / ".env.stage")["JWT_SECRET"] != infra["JWT_SECRET"]  # generated per contour
    # stage beside dev, on its own fixed ports: dev's moved ports (5432 and 6379 are this machine's) avoided them
    dev_ports = {name: node["endpoint"].rsplit(":", 1)[1] for name, node in status(root).items()}
    assert not {"5433", "5434", "6380", "6381"} & set(dev_ports.values()), dev_ports
    try:
        done = stapel(root, "--contour", "stage", "up", timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
        stage = stapel(root, "--contour", "stage", "status", "--json", check=True)
        ports = {n["name"]: n["endpoint"].rsplit(":", 1)[1] for n in json.loads(stage.stdout)["nodes"]}
        assert ports == {"db": "5433", "redis": "6380", "api": "3100", "prometheus": "9190"}, ports
        assert http("GET", "http://127.0.0.1:3100/health")[0] == 200
        assert {n: v["state"] for n, v in status(root).items()} == dict.fromkeys(dev_ports, "running")  # dev untouched
    finally:
        stapel(root, "--contour", "stage", "down", timeout=120)


CHECKS = {"seed-003-gprod": check_gprod}  # seeds 001, 002, 004: their own files


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
