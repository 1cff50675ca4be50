"""Start, identify and stop one process group. No state: the supervisor keeps that."""

from __future__ import annotations

import os
import pwd
import signal
import subprocess
import time

import psutil

from stapel.components.base import LaunchSpec


def banner(name: str) -> bytes:
    return f"\n--- stapel: starting {name} at {time.strftime('%Y-%m-%d %H:%M:%S')} ---\n".encode()


def spawn(spec: LaunchSpec, out: int | None = None, hold: int | None = None) -> subprocess.Popen:
    """Start `spec` in its own session (so its whole group can be signalled). Its output goes to `out` (the write
    end of its log pipe; the child also keeps `hold`, the read end, see logpipe.py), or without `out` is appended
    to its log file directly."""
    extra: dict = {}
    if spec.user and os.geteuid() == 0:
        entry = pwd.getpwnam(spec.user)
        extra = {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}
    if out is not None:
        return subprocess.Popen(
            spec.argv, cwd=spec.cwd, env=spec.env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True, close_fds=True, pass_fds=(hold,) if hold is not None else (), **extra,
        )
    os.makedirs(os.path.dirname(spec.log), exist_ok=True)
    log = open(spec.log, "ab", buffering=0)  # noqa: SIM115 - handed to the child
    log.write(banner(spec.name))
    try:
        return subprocess.Popen(
            spec.argv, cwd=spec.cwd, env=spec.env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True, close_fds=True, **extra,
        )
    finally:
        log.close()


def create_time(pid: int) -> float | None:
    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return None


def is_alive(pid: int, created: float | None) -> bool:
    """The same process is still there: pid alive, not a zombie, and started when we recorded."""
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        return created is None or abs(proc.create_time() - created) < 0.5
    except psutil.Error:
        return False


def signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass
    except PermissionError:
        os.kill(pid, sig)


def group_alive(pgid: int) -> bool:
    """Some member of the process group still runs (zombies waiting for their reaper do not count)."""
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    for pid in psutil.pids():  # only pids and their pgid: scanning every process's status costs ~10 ms each time
        try:
            if os.getpgid(pid) == pgid and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                return True
        except (ProcessLookupError, psutil.Error):
            continue
    return False


def leader_alive(pid: int, popen: subprocess.Popen | None) -> bool:
    if popen is not None:
        return popen.poll() is None
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def leftovers(pgid: int | None, folder: str | None = None) -> list[int]:
    """Live processes of the group, and (with `folder`) processes working in that folder: PostgreSQL's backends
    each start their own session, so a killed postmaster's backends are in no group of ours, but in its data dir."""
    found, folder = [], os.path.realpath(folder) if folder is not None else None
    for pid in psutil.pids():
        try:
            ours = (pgid is not None and os.getpgid(pid) == pgid) or (folder is not None and psutil.Process(pid).cwd() == folder)
            if ours and pid != os.getpid() and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                found.append(pid)
        except (OSError, psutil.Error):
            continue
    return found


def kill_leftovers(pgid: int | None, folder: str | None = None) -> bool:
    """SIGKILL what is left of a process whose main process died (a PostgreSQL postmaster killed -9 leaves
    backends holding its shared memory, and a new postmaster refuses to start while they live). True if any.
    pgid None: the folder only (a pid from an old pid file may since name someone else's group)."""
    pids = leftovers(pgid, folder) if folder is not None or (pgid is not None and group_alive(pgid)) else []
    if not pids:
        return False
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    deadline = time.monotonic() + 5
    while leftovers(pgid, folder) and time.monotonic() < deadline:
        time.sleep(0.01)
    return True


def stop(pid: int, sig: int, timeout: float, popen: subprocess.Popen | None = None, repeat: float = 0.0,
         folder: str | None = None) -> str:
    """Signal the group (again every `repeat` seconds if > 0), wait for all of it, then SIGKILL what is left.
    The group is scanned only once its leader is gone: while the leader runs, nothing to look for."""
    signal_group(pid, sig)
    now = time.monotonic()
    deadline, again = now + timeout, (now + repeat if repeat > 0 else None)
    while (now := time.monotonic()) < deadline:
        if not leader_alive(pid, popen) and not group_alive(pid):
            return "stopped"
        if again is not None and now >= again:
            signal_group(pid, sig)
            again = now + repeat
        time.sleep(0.02)
    signal_group(pid, signal.SIGKILL)
    if popen is not None:
        try:
            popen.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
    kill_leftovers(pid, folder)
    return "killed"


def run_quietly(argv: list[str], env: dict[str, str] | None = None, timeout: float = 10) -> None:
    try:
        subprocess.run(argv, env=env, capture_output=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired):
        pass
