"""Stopping a process group: a lost first signal (RabbitMQ early in boot) must not cost the whole timeout."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

from stapel.runtimes.native import process

# ignores the first SIGTERM (as a booting RabbitMQ does), exits on the second
DEAF_ONCE = 'trap \'[ -f "$0.seen" ] && exit 0; touch "$0.seen"\' TERM; touch "$0.ready"; while :; do sleep 0.05; done'


def _start(tmp_path: Path) -> subprocess.Popen:
    script = tmp_path / "deaf.sh"
    script.write_text(DEAF_ONCE)
    child = subprocess.Popen(["sh", str(script)], start_new_session=True)
    deadline = time.monotonic() + 5
    while not (tmp_path / "deaf.sh.ready").exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    return child


def test_a_repeated_stop_signal_reaches_a_process_that_missed_the_first(tmp_path: Path) -> None:
    child = _start(tmp_path)
    assert process.stop(child.pid, signal.SIGTERM, timeout=10, popen=child, repeat=0.3) == "stopped"
    assert child.returncode == 0


def test_without_repeating_it_is_killed_at_the_timeout(tmp_path: Path) -> None:
    child = _start(tmp_path)
    assert process.stop(child.pid, signal.SIGTERM, timeout=1, popen=child) == "killed"
    assert child.returncode == -signal.SIGKILL
    assert not process.group_alive(child.pid)


def test_a_pid_file_spec_holds_no_secret_and_cannot_be_restarted_from() -> None:
    from stapel.components.base import LaunchSpec

    spec = LaunchSpec(name="api", role="service", argv=["app", "--token=tok-3f9a8b7c6d"], cwd="/", log="/x.log",
                      env={"DATABASE_URL": "postgresql://u:p%40ss-9z8y7x@h:1/db", "PLAIN": "1"},
                      hash_basis={"env": {"X": "tok-3f9a8b7c6d"}}, secrets=["tok-3f9a8b7c6d", "p@ss-9z8y7x"])
    stored = spec.on_disk()
    text = str(stored)
    assert "tok-3f9a8b7c6d" not in text and "9z8y7x" not in text
    assert stored["argv"] == ["app", "--token=******"] and stored["env"]["PLAIN"] == "1"
    back = LaunchSpec.from_json(stored)
    assert back.redacted and back.spec_hash == spec.spec_hash
    assert LaunchSpec.from_json(spec.to_json()).redacted is False
