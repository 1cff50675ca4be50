"""Restart policies survive the supervisor: kill -9 it, let `status` re-adopt the processes, kill -9 a service
with `restart: on-failure`, and it comes back within its backoff, with its secrets (rebuilt from stapel.yaml
and the env files, never read from disk), in a numbered slot. When stapel.yaml changed since, the process is
left to `stapel up`. No secret is ever written under .local/."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import time
from pathlib import Path

import psutil
import pytest
from conftest import processes_under, stapel, traversable_dir, wait_until

pytestmark = pytest.mark.integration

PASSWORD = "drill-db-secret-5d1c9e2a7b"
SLOT = ("--slot", "2")
INSTANCE = "dev-slot2"


def yaml_text(offset: int, extra_env: str = "") -> str:
    return f"""
name: readopt
contours:
  dev: {{ports: {{offset: {offset}}}}}
components:
  db: {{kind: postgres, password: "${{DB_PASSWORD}}"}}
services:
  api:
    command: [sh, -c, "exec python3 -m http.server $$PORT --bind 127.0.0.1"]
    port: 8000
    probe: {{tcp: {{}}}}
    depends_on: [db]
    restart: {{policy: on-failure, backoff_seconds: 0.5}}
    env: {{MARK: one{extra_env}}}
"""


@pytest.fixture
def project():
    folder = traversable_dir("readopt")
    offset = random.randrange(2000, 9000)
    (folder / "stapel.yaml").write_text(yaml_text(offset))
    (folder / ".env").write_text(f"DB_PASSWORD={PASSWORD}\n")
    yield folder, offset
    stapel(folder, *SLOT, "down", timeout=120)
    leftovers = processes_under(folder)
    for proc in leftovers:
        proc.kill()
    shutil.rmtree(folder, ignore_errors=True)
    assert not leftovers, f"processes left running: {[p.info['cmdline'] for p in leftovers]}"


def api_state(folder: Path) -> dict:
    done = stapel(folder, *SLOT, "status", "--json", check=True)
    return {n["name"]: n for n in json.loads(done.stdout)["nodes"]}["api"]


def kill_supervisor(folder: Path) -> None:
    pid = int((folder / ".local" / "run" / INSTANCE / "supervisor.pid").read_text())
    os.kill(pid, signal.SIGKILL)
    assert wait_until(lambda: not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE, 5)


def secret_files(folder: Path) -> list[str]:
    return [str(p) for p in (folder / ".local").rglob("*") if p.is_file() and PASSWORD.encode() in p.read_bytes()]


def test_a_readopted_service_is_restarted_by_its_policy_with_its_secrets(project) -> None:
    folder, _ = project
    stapel(folder, *SLOT, "up", check=True, timeout=240)
    kill_supervisor(folder)
    before = api_state(folder)  # spawns a new supervisor, which re-adopts everything
    assert before["state"] == "running"
    os.kill(before["pid"], signal.SIGKILL)
    killed = time.monotonic()
    after = wait_until(lambda: (lambda s: s["state"] == "running" and s["pid"] != before["pid"] and s)(api_state(folder)), 10)
    took = time.monotonic() - killed
    assert after, f"not restarted: {api_state(folder)}\n{(folder / '.local/logs' / INSTANCE / 'supervisor.log').read_text()[-2000:]}"
    print(f"\napi: back {took:.2f}s after kill -9 (backoff 0.5 s, spec rebuilt meanwhile)")
    assert took < 5 and after["restarts"] == before["restarts"] + 1
    environ = Path(f"/proc/{after['pid']}/environ").read_bytes()
    assert PASSWORD.encode() in environ and b"******" not in environ  # its real DATABASE_URL, not the masked one
    assert json.loads(stapel(folder, *SLOT, "up", "--json", check=True).stdout)["changed"] is False  # up agrees: unchanged
    assert not secret_files(folder)


def test_a_changed_stapel_yaml_leaves_the_readopted_process_to_up(project) -> None:
    folder, offset = project
    stapel(folder, *SLOT, "up", check=True, timeout=240)
    kill_supervisor(folder)
    before = api_state(folder)
    (folder / "stapel.yaml").write_text(yaml_text(offset, extra_env="-changed"))
    os.kill(before["pid"], signal.SIGKILL)
    log = folder / ".local" / "logs" / INSTANCE / "supervisor.log"
    assert wait_until(lambda: "changed since it started" in log.read_text(), 10), log.read_text()[-2000:]
    time.sleep(0.5)
    assert api_state(folder)["state"] == "exited"
    assert not secret_files(folder)
