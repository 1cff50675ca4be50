"""Bursts: the supervisor's socket takes a crowd of clients, and `up` never runs a thread per node."""

from __future__ import annotations

import os
import socket
import tempfile
import threading
import time
from pathlib import Path

import pytest

from stapel.runtimes.native import client as client_module


@pytest.fixture
def unix_path():
    folder = Path(tempfile.mkdtemp(prefix="stapel-sock-"))  # short: sun_path is 108 bytes
    yield str(folder / "s.sock")
    for name in os.listdir(folder):
        os.unlink(folder / name)
    folder.rmdir()


def test_a_full_listen_backlog_is_waited_out_not_a_crash(unix_path: str) -> None:
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(unix_path)
    server.listen(0)
    crowd = []
    while True:  # fill the backlog until the kernel says EAGAIN, as 50 parallel starts did
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            sock.connect(unix_path)
            crowd.append(sock)
        except BlockingIOError:
            sock.close()
            break
    accepted = []
    threading.Timer(0.3, lambda: accepted.extend(server.accept() for _ in range(len(crowd) + 1))).start()
    began = time.monotonic()
    late = client_module._connect(unix_path, timeout=5)
    assert 0.2 < time.monotonic() - began < 4
    late.close()
    for sock in crowd:
        sock.close()
    server.close()


def test_nobody_listening_fails_fast(unix_path: str) -> None:
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(unix_path)  # a socket file whose supervisor was killed -9: bound, never listening
    began = time.monotonic()
    with pytest.raises(ConnectionRefusedError):
        client_module._connect(unix_path, timeout=5)
    assert time.monotonic() - began < 0.5
    stale.close()


def test_the_supervisor_listens_with_a_real_backlog() -> None:
    from stapel.runtimes.native.supervisor import _Server

    assert _Server.request_queue_size >= 128


def test_parallel_jobs_never_exceed_their_bound() -> None:
    from stapel.engine.up_processes import ProcessSteps

    running, peak, lock = [0], [0], threading.Lock()

    def job() -> None:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.01)
        with lock:
            running[0] -= 1

    fake = type("FakeUp", (), {"cancel": threading.Event()})()
    ProcessSteps._parallel(fake, [job] * 100, 7)
    assert peak[0] == 7


def test_a_failing_parallel_job_cancels_the_queued_ones() -> None:
    from stapel.engine.up_processes import ProcessSteps

    ran = []

    def boom() -> None:
        raise ValueError("boom")

    def slow() -> None:
        ran.append(1)
        time.sleep(0.05)

    fake = type("FakeUp", (), {"cancel": threading.Event()})()
    with pytest.raises(ValueError):
        ProcessSteps._parallel(fake, [boom] + [slow] * 50, 2)
    assert len(ran) < 10 and fake.cancel.is_set()


def test_a_supervisor_from_before_run_many_gets_one_request_per_node() -> None:
    from types import SimpleNamespace

    from stapel.components.base import LaunchSpec
    from stapel.errors import StapelError
    from stapel.runtimes.native.runtime import NativeRuntime

    class OldSupervisor:
        def __init__(self) -> None:
            self.ops: list[str] = []

        def ensure(self) -> None:
            pass

        def request(self, payload: dict, timeout: float = 0) -> dict:
            self.ops.append(payload["op"])
            if payload["op"] != "run":
                raise StapelError(f"supervisor: unknown op {payload['op']!r}")
            return {"ok": True, "changed": True, "name": payload["spec"]["name"]}

    runtime = NativeRuntime.__new__(NativeRuntime)
    runtime.client = OldSupervisor()
    specs = [LaunchSpec(name=n, role="service", argv=["true"], env={}, cwd="/", log="/x.log") for n in ("a", "b")]
    service = SimpleNamespace(is_service=True)  # services carry no binary version
    states = runtime.start_many([(service, spec, {}) for spec in specs])
    assert [s["name"] for s in states] == ["a", "b"]
    assert runtime.client.ops == ["run_many", "run", "run"]
