"""Bad input and bad luck with real processes: one clear error, exit 1 (130 for Ctrl-C), nothing left running."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import processes_under, stapel, stapel_env, wait_until

pytestmark = pytest.mark.integration


def write(project: Path, text: str) -> None:
    (project / "stapel.yaml").write_text(text)


def assert_nothing_left(project: Path) -> None:
    assert wait_until(lambda: processes_under(project) == [], timeout=5), [p.info["cmdline"] for p in processes_under(project)]
    assert not list((project / ".local/run/dev/pids").glob("*.json"))


def test_a_component_that_crashes_at_start_fails_at_once_with_its_log(project: Path) -> None:
    write(project, "components:\n  cache:\n    kind: redis\n  db:\n    kind: postgres\n    args: [-c, no_such_setting=1]\n")
    began = time.monotonic()
    done = stapel(project, "up")
    assert done.returncode == 1
    first = done.stderr.splitlines()[0]
    assert first.startswith("stapel: error: components.db: exited with code 1 while starting")
    assert "no_such_setting" in done.stderr  # the tail of its log follows
    assert "Traceback" not in done.stderr
    assert time.monotonic() - began < 30  # not after a probe timeout
    assert_nothing_left(project)


def test_a_service_command_that_does_not_exist_stops_before_anything_starts(project: Path) -> None:
    write(project, "components:\n  cache:\n    kind: redis\nservices:\n  api:\n    command: no-such-program --serve\n    depends_on: [cache]\n")
    done = stapel(project, "up")
    assert done.returncode == 1
    assert done.stderr.splitlines()[0] == "stapel: error: services.api.command: 'no-such-program' not found on PATH (install it, or give its full path)"
    assert "started" not in done.stdout
    assert_nothing_left(project)


def test_a_service_that_crashes_rolls_back_the_components_this_run_started(project: Path) -> None:
    write(project, "components:\n  cache:\n    kind: redis\nservices:\n  api:\n"
                   "    command: [python3, -c, \"import sys; print('boom at start'); sys.exit(3)\"]\n    port: 8000\n    depends_on: [cache]\n")
    done = stapel(project, "up")
    assert done.returncode == 1
    assert done.stderr.splitlines()[0].startswith("stapel: error: services.api: exited with code 3 while starting")
    assert "boom at start" in done.stderr
    assert "rolling back" in done.stdout
    assert_nothing_left(project)


def test_a_busy_port_in_a_fixed_contour_names_the_holder_and_the_fix(project: Path) -> None:
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    port = holder.getsockname()[1]
    try:
        write(project, f"contours:\n  dev:\n    ports: fixed\ncomponents:\n  cache:\n    kind: redis\n    port: {port}\n")
        done = stapel(project, "up")
    finally:
        holder.close()
    assert done.returncode == 1
    import psutil

    name = psutil.Process().name()
    assert done.stderr.splitlines()[0] == (
        f"stapel: error: components.cache.port: port {port} is busy (held by {name} (pid {os.getpid()})); "
        "choose a free port there, or set contours.dev.ports: auto"
    )
    assert_nothing_left(project)


def test_a_busy_port_in_an_auto_contour_moves_and_stays_moved(project: Path) -> None:
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    port = holder.getsockname()[1]
    try:
        write(project, f"components:\n  cache:\n    kind: redis\n    port: {port}\n")
        first = stapel(project, "up")
        assert first.returncode == 0, first.stderr
        assert f"port {port} is held by" in first.stdout
        moved = stapel(project, "status", "--json").stdout
        assert stapel(project, "down").returncode == 0
        again = stapel(project, "up")
        assert again.returncode == 0
        assert stapel(project, "status", "--json").stdout.split('"endpoint"')[1][:30] == moved.split('"endpoint"')[1][:30]
    finally:
        holder.close()


def test_a_missing_binary_names_the_install_command(project: Path) -> None:
    write(project, "components:\n  db:\n    kind: postgres\n    bin_dir: /nonexistent/bin\n")
    done = stapel(project, "up")
    assert done.returncode == 1
    first = done.stderr.splitlines()[0]
    assert first.startswith("stapel: error: components.db: postgres needs postgres, initdb, not found in /nonexistent/bin (install with: ")
    assert "apt-get install -y --no-install-recommends postgresql" in first
    assert_nothing_left(project)


def test_an_unwritable_data_dir_is_refused_before_anything_starts(project: Path) -> None:
    write(project, "components:\n  cache:\n    kind: redis\n  db:\n    kind: postgres\n")
    (project / ".local/data/dev").mkdir(parents=True)
    (project / ".local/data/dev/db").write_text("not a directory")
    done = stapel(project, "up")
    assert done.returncode == 1
    assert done.stderr.splitlines()[0].startswith(f"stapel: error: components.db: cannot use data directory {project}/.local/data/dev/db")
    assert "started" not in done.stdout
    assert_nothing_left(project)


SLOW = ("components:\n  cache:\n    kind: redis\nservices:\n  api:\n"
        "    command: [python3, -c, 'import time; time.sleep(120)']\n    port: 8000\n"
        "    probe:\n      http: {path: /health}\n      period_seconds: 0.2\n    depends_on: [cache]\n")


def _up_in_background(project: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "stapel", "up"], cwd=project, env=stapel_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_ctrl_c_in_the_middle_of_up_stops_what_it_started(project: Path) -> None:
    write(project, SLOW)
    up = _up_in_background(project)
    assert wait_until(lambda: (project / ".local/run/dev/pids/api.json").exists(), timeout=30)
    up.send_signal(signal.SIGINT)
    out, err = up.communicate(timeout=60)
    assert up.returncode == 130, out + err
    assert "interrupted" in err and "Traceback" not in err
    assert_nothing_left(project)


def test_two_ups_cannot_race(project: Path) -> None:
    write(project, SLOW)
    first = _up_in_background(project)
    try:
        assert wait_until(lambda: (project / ".local/run/dev/pids/cache.json").exists(), timeout=30)
        second = stapel(project, "up")
        assert second.returncode == 1
        assert "the dev stack is busy: 'stapel up' (pid" in second.stderr.splitlines()[0]
    finally:
        first.send_signal(signal.SIGINT)
        first.communicate(timeout=60)


def test_up_attach_shows_status_and_ctrl_c_stops_everything(project: Path) -> None:
    write(project, "components:\n  cache:\n    kind: redis\n")
    attached = subprocess.Popen([sys.executable, "-m", "stapel", "up", "--attach"], cwd=project, env=stapel_env(),
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert wait_until(lambda: (project / ".local/run/dev/pids/cache.json").exists(), timeout=30)
    time.sleep(1.5)  # let the live table draw once
    attached.send_signal(signal.SIGINT)
    out, _ = attached.communicate(timeout=60)
    assert attached.returncode == 130, out  # Ctrl-C is 130, as for every command
    assert "Ctrl-C stops everything" in out and "cache: stopped" in out
    assert_nothing_left(project)
