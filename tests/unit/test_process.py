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
    assert process.stop(child.pid, signal.SIGTERM, timeout=0.2, popen=child) == "killed"  # it never stops by itself
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


def _adopted(secret: str = "tok-3f9a8b7c6d"):
    from stapel.components.base import LaunchSpec

    spec = LaunchSpec(name="api", role="service", argv=["app", f"--token={secret}"], cwd="/", log="/x.log",
                      env={"DATABASE_URL": f"postgresql://u:{secret}@h:1/db", "SHELL_THING": "kept", "TOKEN": secret},
                      hash_basis={"argv": ["app"], "env": {"TOKEN": secret}}, secrets=[secret])
    return spec, LaunchSpec.from_json(spec.on_disk())


def test_an_adopted_spec_gets_its_secrets_back_from_a_rebuilt_one() -> None:
    original, adopted = _adopted()
    rebuilt = type(original)(**{**original.__dict__, "env": {**original.env, "SHELL_THING": "the caller's own"}})
    restored = adopted.restored(rebuilt)
    assert restored.argv == original.argv and not restored.redacted
    assert restored.env == original.env  # masked values from the rebuilt spec; the rest as `up` ran it
    assert restored.spec_hash == original.spec_hash


def test_a_rebuilt_spec_from_changed_inputs_restores_nothing() -> None:
    import pytest

    _original, adopted = _adopted()
    other, _ = _adopted("tok-0000000000")
    with pytest.raises(ValueError, match="changed since it started"):
        adopted.restored(other)


def test_a_masked_value_the_rebuilt_spec_cannot_explain_is_refused() -> None:
    import pytest

    original, adopted = _adopted()
    rebuilt = type(original)(**{**original.__dict__, "env": {k: v for k, v in original.env.items() if k != "TOKEN"}})
    with pytest.raises(ValueError, match="env TOKEN"):
        adopted.restored(rebuilt)


def test_backoff_doubles_up_to_its_maximum() -> None:
    from stapel.runtimes.native.restarts import backoff

    policy = {"policy": "on-failure", "backoff_seconds": 0.5, "max_backoff_seconds": 3.0}
    assert [backoff(policy, n) for n in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_leftovers_outside_the_group_are_found_by_their_folder(tmp_path: Path) -> None:
    # like a PostgreSQL backend: its own session (so not in the leader's group), working in the data dir
    stray = subprocess.Popen(["sleep", "30"], cwd=tmp_path, start_new_session=True)
    try:
        assert process.leftovers(None, str(tmp_path)) == [stray.pid]
        assert process.kill_leftovers(None, str(tmp_path))
        assert stray.wait(timeout=5) == -signal.SIGKILL
        assert not process.kill_leftovers(None, str(tmp_path))
    finally:
        stray.kill()


def _supervisor(tmp_path: Path):
    from stapel.paths import Paths
    from stapel.runtimes.native.supervisor import Supervisor

    return Supervisor(Paths(tmp_path, "dev"))


def _tick_until(supervisor, predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        supervisor.tick()
        time.sleep(0.02)


def test_a_crashing_component_is_restarted_with_a_growing_backoff_then_given_up(tmp_path: Path) -> None:
    from stapel.components.base import LaunchSpec

    spec = LaunchSpec(name="db", role="component", argv=["sh", "-c", "exit 0"], env={}, cwd=str(tmp_path),
                      log=str(tmp_path / ".local/logs/dev/db.log"),
                      restart={"policy": "on-failure", "backoff_seconds": 0.1, "max_backoff_seconds": 0.2, "max_restarts": 3})
    supervisor = _supervisor(tmp_path)
    supervisor.run(spec, {})
    proc = supervisor.procs["db"]
    _tick_until(supervisor, lambda: proc.history)
    # a component's exit 0 is a failure too: a server is meant to run until stapel stops it
    assert proc.restarts == 3 and proc.state == "exited"
    assert proc.history == ["gave up after 3 restarts in a row"]


def test_a_service_that_completes_is_not_restarted_on_failure(tmp_path: Path) -> None:
    from stapel.components.base import LaunchSpec

    spec = LaunchSpec(name="job", role="service", argv=["sh", "-c", "exit 0"], env={}, cwd=str(tmp_path),
                      log=str(tmp_path / ".local/logs/dev/job.log"),
                      restart={"policy": "on-failure", "backoff_seconds": 0.1, "max_restarts": None})
    supervisor = _supervisor(tmp_path)
    supervisor.run(spec, {})
    proc = supervisor.procs["job"]
    _tick_until(supervisor, lambda: proc.state == "completed", 5)
    assert proc.state == "completed" and proc.restarts == 0


def test_a_spec_rebuild_without_a_record_of_the_last_up_is_one_line(tmp_path: Path, capsys) -> None:
    from stapel.engine import respec

    assert respec.main([str(tmp_path), "dev", "api"]) == 1
    err = capsys.readouterr()
    assert err.out == "" and err.err.startswith("no record of how contour 'dev' was brought up")


def test_a_spec_rebuild_writes_the_node_spec_with_its_secrets_to_stdout_only(tmp_path: Path, capsys) -> None:
    import json

    from stapel.engine import respec
    from stapel.engine.stack import open_stack

    (tmp_path / "stapel.yaml").write_text("services:\n  api:\n    command: [sh, -c, 'sleep 1']\n"
                                          "    env: {API_TOKEN: tok-77aa88bb99}\n")
    stack = open_stack(tmp_path / "stapel.yaml")
    respec.remember_source(stack)
    assert respec.main([str(tmp_path), "dev", "api"]) == 0
    spec = json.loads(capsys.readouterr().out)
    assert spec["env"]["API_TOKEN"] == "tok-77aa88bb99" and spec["name"] == "api"
    assert b"tok-77aa88bb99" not in (tmp_path / ".local" / "state" / "dev" / "source.json").read_bytes()
