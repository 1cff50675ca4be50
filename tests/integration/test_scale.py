"""Many services at once: one PostgreSQL and 60 tiny HTTP services come up, re-up to nothing, check and go
down with nothing left (50 used to crash `up` with EAGAIN on the supervisor's socket, backlog 5)."""

from __future__ import annotations

import json
import socket
import time

import psutil
import pytest
from conftest import processes_under, stapel, stop_and_clean, traversable_dir

COUNT = 60


def free_ports(count: int) -> list[int]:
    socks = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


@pytest.fixture
def big_stack():
    folder = traversable_dir("scale")
    ports = free_ports(COUNT + 1)
    lines = ["name: scale", "components:", "  db:", "    kind: postgres", f"    port: {ports[0]}",
             "    password: dev-only-scale-password", "services:"]
    for i, port in enumerate(ports[1:]):
        lines += [f"  s{i:03d}:", '    command: [sh, -c, "exec python3 -m http.server $$PORT --bind 127.0.0.1"]',
                  f"    port: {port}", "    probe: {tcp: {}}", "    depends_on: [db]"]
    (folder / "stapel.yaml").write_text("\n".join(lines) + "\n")
    yield folder
    leftovers = stop_and_clean(folder)
    assert not leftovers, f"processes left running: {leftovers}"


def test_sixty_services_up_noop_check_down(big_stack):
    began = time.monotonic()
    up = stapel(big_stack, "up", "--json", timeout=300)
    assert up.returncode == 0, up.stdout[-2000:] + up.stderr[-3000:]
    summary = json.loads(up.stdout)
    assert summary["changed"] is True
    healthy = [n for n, node in summary["nodes"].items() if node["health"] == "healthy"]
    assert len(healthy) == COUNT + 1

    again = stapel(big_stack, "up", "--json", timeout=120)
    assert again.returncode == 0, again.stderr[-2000:]
    assert json.loads(again.stdout)["changed"] is False

    check = stapel(big_stack, "check", timeout=60)
    assert check.returncode == 0, check.stdout[-2000:]
    assert check.stdout.count("✓") == COUNT + 1

    supervisor = int((big_stack / ".local" / "run" / "dev" / "supervisor.pid").read_text())
    assert psutil.Process(supervisor).num_threads() < 40  # bounded pools, not a thread per service

    down = stapel(big_stack, "down", timeout=120)
    assert down.returncode == 0, down.stderr
    assert down.stdout.count(": stopped") == COUNT + 1
    assert not processes_under(big_stack)
    assert time.monotonic() - began < 60
