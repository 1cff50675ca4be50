"""Native logs rotate without losing a line: the supervisor reads each process's output from a pipe and rotates
its log by size at a line boundary; `stapel logs` reads across the rotated files. Killing the supervisor -9
while services write neither kills them (no SIGPIPE: the child holds its pipe's read end) nor loses their
output (a new supervisor opens the pipe again through /proc and drains what waited)."""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

import psutil
import pytest
from conftest import stapel, status, wait_until

pytestmark = pytest.mark.integration

WRITER = "import sys\\nfor i in range(100000): sys.stdout.write(f'line {i:06d}\\\\n')\\nsys.stdout.flush()"
TICKER = "import sys, time\\ni = 0\\nwhile True:\\n    print(f'tick {i}', flush=True); i += 1; time.sleep(0.001)"


def _lines(log: Path, prefix: str) -> list[str]:
    files = sorted(log.parent.glob(log.name + ".*"), key=lambda p: -int(p.suffix[1:])) + [log]
    return [line for f in files for line in f.read_text().splitlines() if line.startswith(prefix)]


def test_100k_lines_across_rotations_every_line_in_order(project: Path) -> None:
    (project / "stapel.yaml").write_text(f"""
name: rotate
logs: {{max_size: 64KiB, keep: 200}}
services:
  writer:
    command: [python3, -c, "{WRITER}"]
  small:
    command: [sh, -c, "echo hello; exec sleep 60"]
    logs: {{keep: 1}}
""")
    stapel(project, "up", check=True)
    log = project / ".local" / "logs" / "dev" / "writer.log"
    assert wait_until(lambda: status(project)["writer"]["state"] in ("completed", "exited"), 60)
    lines = wait_until(lambda: len(_lines(log, "line ")) == 100_000 and _lines(log, "line "), 10)
    assert lines == [f"line {i:06d}" for i in range(100_000)]
    files = list(log.parent.glob("writer.log.*"))
    assert len(files) >= 17  # 1.2 MB in 64 KiB files
    assert all(f.stat().st_size <= 64 * 1024 + 12 for f in files)  # past the size by at most the rest of a line
    assert not list(log.parent.glob("small.log.*"))  # its own keep applies, and it never reached the size
    # `stapel logs` reads across the files: 3000 lines reach back past the current file
    shown = stapel(project, "logs", "writer", "-n", "3000", check=True).stdout.splitlines()
    assert shown == [f"line {i:06d}" for i in range(97_000, 100_000)]


def test_supervisor_killed_while_services_write_loses_no_line(project: Path) -> None:
    (project / "stapel.yaml").write_text(f"""
name: relay
logs: {{max_size: 16KiB, keep: 1000}}
services:
  ticker:
    command: [python3, -c, "{TICKER}"]
""")
    stapel(project, "up", check=True)
    log = project / ".local" / "logs" / "dev" / "ticker.log"
    pid = status(project)["ticker"]["pid"]
    assert wait_until(lambda: len(_lines(log, "tick ")) > 200, 10)
    supervisor = int((project / ".local" / "run" / "dev" / "supervisor.pid").read_text()) if (
        project / ".local" / "run" / "dev" / "supervisor.pid").exists() else None
    if supervisor is None:
        supervisor = next(int(p.read_text()) for p in (project / ".local").rglob("supervisor.pid"))
    os.kill(supervisor, signal.SIGKILL)
    time.sleep(1.5)  # the ticker goes on writing into its pipe, which nobody reads now
    assert psutil.Process(pid).status() != psutil.STATUS_ZOMBIE  # no SIGPIPE
    after = status(project)["ticker"]  # a new supervisor adopts it and opens its pipe again
    assert after["pid"] == pid and after["state"] == "running"
    time.sleep(1.0)
    stapel(project, "down", check=True)
    numbers = [int(m.group(1)) for line in _lines(log, "tick ") if (m := re.fullmatch(r"tick (\d+)", line))]
    assert numbers == list(range(len(numbers))) and len(numbers) > 1000, "a line went missing or out of order"
