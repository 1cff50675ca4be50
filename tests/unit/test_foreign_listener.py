"""runtimes.native.runtime.foreign_listener on real sockets and processes: who answers a port is told apart from the
process stapel started (and its children), so a probe that reached a stranger fails the wait."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from stapel.runtimes.native.runtime import foreign_listener


@pytest.fixture
def listening():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


@pytest.fixture
def other_process():
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield proc.pid
    proc.kill()
    proc.wait()


def test_a_port_held_by_another_process_names_it(listening, other_process):
    found = foreign_listener(other_process, listening)
    assert found is not None and found.endswith(f"(pid {os.getpid()})")


def test_a_port_held_by_the_process_itself_is_its_own(listening):
    assert foreign_listener(os.getpid(), listening) is None


def test_a_port_held_by_a_child_of_the_process_is_its_own(listening, other_process):
    # the listener is this test process, a child of its parent: it counts as the parent's own
    assert foreign_listener(os.getppid(), listening) is None


def test_nobody_listening_is_not_a_stranger(other_process):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        free = sock.getsockname()[1]
    assert foreign_listener(other_process, free) is None


def test_a_process_that_is_gone_is_not_judged(listening):
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    assert foreign_listener(proc.pid, listening) is None
