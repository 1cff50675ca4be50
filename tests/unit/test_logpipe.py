"""Log rotation (runtimes/native/logpipe.py) and its `logs:` settings: by size, at a line boundary, nothing lost."""

from __future__ import annotations

import os
import time
from pathlib import Path

from stapel.model.nodes import LogRotation, log_rotation
from stapel.runtimes.native import logpipe
from stapel.runtimes.native.runtime import tail


def _all_lines(log: Path) -> list[bytes]:
    return [line for f in logpipe.rotated(log) for line in f.read_bytes().splitlines()]


def test_rotation_keeps_every_line_in_order_and_whole(tmp_path: Path) -> None:
    log = tmp_path / "x.log"
    file = logpipe.LogFile(str(log), 4096, 100)
    data = b"".join(b"line %06d\n" % i for i in range(5000))
    for start in range(0, len(data), 777):  # chunks that end mid-line
        file.write(data[start:start + 777])
    file.close()
    assert _all_lines(log) == [b"line %06d" % i for i in range(5000)]
    files = logpipe.rotated(log)
    assert len(files) > 10 and all(f.read_bytes().endswith(b"\n") for f in files[:-1])  # no line split across files
    assert all(f.stat().st_size <= 4096 + 11 for f in files)


def test_keep_drops_the_oldest_files(tmp_path: Path) -> None:
    log = tmp_path / "x.log"
    file = logpipe.LogFile(str(log), 1024, 2)
    for i in range(1000):
        file.write(b"line %06d\n" % i)
    file.close()
    assert [p.name for p in logpipe.rotated(log)] == ["x.log.2", "x.log.1", "x.log"]
    assert _all_lines(log)[-1] == b"line 000999"


def test_a_line_longer_than_max_size_is_kept_whole(tmp_path: Path) -> None:
    log = tmp_path / "x.log"
    file = logpipe.LogFile(str(log), 1024, 5)
    file.write(b"a" * 3000 + b"\nb\n")
    file.close()
    assert _all_lines(log) == [b"a" * 3000, b"b"]


def test_tail_reads_back_across_rotated_files(tmp_path: Path) -> None:
    log = tmp_path / "x.log"
    file = logpipe.LogFile(str(log), 1024, 50)
    for i in range(1000):
        file.write(b"line %06d\n" % i)
    file.close()
    assert tail(log, 300) == [f"line {i:06d}" for i in range(700, 1000)]
    assert tail(log, 0) == []


def test_the_relay_copies_a_pipe_into_the_file_with_the_banner_first(tmp_path: Path) -> None:
    relay = logpipe.Relay()
    r, w = logpipe.make_pipe()
    relay.add(r, str(tmp_path / "a.log"), {"max_size": 1024, "keep": 10}, b"--- banner ---\n")
    for i in range(500):
        os.write(w, b"n %d\n" % i)
    os.close(w)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and relay.files:
        time.sleep(0.01)  # the file is closed once its pipe ends
    relay.close()
    lines = _all_lines(tmp_path / "a.log")
    assert lines == [b"--- banner ---"] + [b"n %d" % i for i in range(500)]


def test_reopen_finds_a_process_pipe_through_proc(tmp_path: Path) -> None:
    import subprocess

    r, w = logpipe.make_pipe()
    child = subprocess.Popen(["sleep", "5"], stdout=w, pass_fds=(r,))
    try:
        again = logpipe.reopen(child.pid, r, logpipe.pipe_id(r))
        assert again is not None and os.fstat(again).st_ino == logpipe.pipe_id(r)
        os.write(w, b"hi\n")
        assert os.read(again, 10) == b"hi\n"
        assert logpipe.reopen(child.pid, r, 12345) is None  # another pipe now: not ours
        os.close(again)
    finally:
        child.kill()
        child.wait()
        os.close(r)
        os.close(w)


def test_logs_settings_node_over_stack_over_defaults() -> None:
    assert log_rotation(None, None) == {"max_size": 10 * 1024 * 1024, "keep": 5}
    stack = LogRotation.model_validate({"max_size": "1MiB"})
    node = LogRotation.model_validate({"keep": 2})
    assert log_rotation(stack, node) == {"max_size": 1024 * 1024, "keep": 2}
    assert LogRotation.model_validate({"max_size": 2048}).max_size == 2048
    assert LogRotation.model_validate({"max_size": "1.5 MB"}).max_size == 1_500_000


def test_bad_logs_settings_are_one_line_each(config_error) -> None:
    lines = config_error(
        """
        logs: {max_size: lots}
        services:
          api:
            command: [sleep, "1"]
            logs: {keep: -1, max_size: 10}
        """
    )
    assert sorted(lines[:2]) == [
        "stapel.yaml:5: services.api.logs.keep: expected a value at least 0, got -1",
        "stapel.yaml:5: services.api.logs.max_size: expected a value at least 1024, got 10",
    ]
    assert lines[2:] == [
        "stapel.yaml:1: logs.max_size: 'lots' is not a size: give bytes or e.g. 10MiB, 512KiB, 1GB",
    ]


def test_logs_follow_goes_on_through_a_rotation(tmp_path: Path, capsys) -> None:
    import threading

    from stapel.cli.inspect import follow

    log = tmp_path / "x.log"
    file = logpipe.LogFile(str(log), 1024, 10)
    file.write(b"before\n")
    stop = threading.Event()
    reader = threading.Thread(target=follow, args=(log, 0.01, stop.is_set))
    reader.start()
    time.sleep(0.1)
    for i in range(300):  # about 3 rotations
        file.write(b"line %06d\n" % i)
        if i % 50 == 0:
            time.sleep(0.03)
    time.sleep(0.3)
    stop.set()
    reader.join(timeout=5)
    file.close()
    assert capsys.readouterr().out.splitlines() == [f"line {i:06d}" for i in range(300)]
