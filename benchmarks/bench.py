#!/usr/bin/env python3
"""Benchmark stapel against what a team would do by hand, side by side in one run.

Measurements (medians over --reps repetitions; --quick means one):

1. cold `stapel up` of examples/minimal (fresh copy, no .local; `stapel down --volumes --yes` between
   reps) vs the slowest component alone: RabbitMQ + management started as in
   shared/research/native-binaries.md, timed from spawn until /api/overview answers 200 (guest:guest).
   Goal: stapel/baseline <= 1.15.
2. warm no-op `stapel up` on the up stack: absolute, goal <= 0.5 s; its JSON summary must say
   "changed": false.
3. `stapel check` vs a bash check script (pg_isready, redis-cli ping, rabbitmq-diagnostics
   check_running, curl /-/ready). Goal: baseline/stapel >= 3 (the speed-up).
4. `stapel down` of the whole stack vs `rabbitmqctl -n NODE stop` alone against stapel's own node.
   Goal: stapel/baseline <= 0.5.
5. `stapel --help` start-up: absolute, goal <= 0.2 s; `python3 -c pass` alongside for reference.

Usage:  .venv/bin/python benchmarks/bench.py [--reps 3 | --quick] [--json-out results.json] [--keep]

Progress goes to stderr, the table to stdout. Every stack lives in its own temp dir with its own free
ports; everything started here is stopped in a `finally` (stapel down --volumes, the baseline node by
its process group, its epmd with `epmd -port P -kill`).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = REPO / ".venv" / "bin"
RABBIT_BIN = Path("/usr/lib/rabbitmq/bin")  # not /usr/sbin: those wrappers su to `rabbitmq` and swap HOME
POLL = 0.02

T_UP, T_DOWN, T_CHECK, T_CTL, T_SHORT = 300, 300, 60, 120, 30


# --- small helpers -------------------------------------------------------------------------------
_T0 = time.monotonic()


def log(text: str) -> None:
    print(f"[{time.monotonic() - _T0:7.1f}s] {text}", file=sys.stderr, flush=True)


class BenchError(RuntimeError):
    pass


def as_installed() -> None:
    """src/ compiled to bytecode, as a pip-installed stapel is: with PYTHONDONTWRITEBYTECODE set (CI machines) an
    editable checkout would otherwise compile every module in every stapel process and the figures would measure that."""
    import compileall

    compileall.compile_dir(str(REPO / "src"), quiet=1, workers=0)


def tail(text: str, lines: int = 15) -> str:
    return "\n".join("    | " + line for line in (text or "").rstrip().splitlines()[-lines:])


def run(argv: list[str], *, env: dict[str, str], cwd: Path | None = None, timeout: float,
        check: bool = True, what: str | None = None) -> tuple[float, subprocess.CompletedProcess]:
    """Run argv, return (wall seconds, completed). With check, a non-zero exit raises BenchError."""
    start = time.perf_counter()
    try:
        done = subprocess.run(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise BenchError(f"{what or argv[0]}: timed out after {timeout}s") from exc
    took = time.perf_counter() - start
    if check and done.returncode != 0:
        raise BenchError(f"{what or ' '.join(argv)}: exit {done.returncode}\n"
                         f"  stdout:\n{tail(done.stdout)}\n  stderr:\n{tail(done.stderr)}")
    return took, done


def free_ports(count: int) -> list[int]:
    """Distinct free TCP ports on 127.0.0.1 (held open together so they differ)."""
    socks, ports = [], []
    try:
        while len(ports) < count:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
            port = s.getsockname()[1]
            if port not in ports and port != 4369:
                ports.append(port)
    finally:
        for s in socks:
            s.close()
    return ports


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def fmt_s(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f} s"


def proc_pids() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def proc_read(pid: int, name: str) -> bytes:
    try:
        with open(f"/proc/{pid}/{name}", "rb") as f:
            return f.read()
    except OSError:
        return b""


def proc_state(pid: int) -> str:
    stat = proc_read(pid, "stat").decode(errors="replace")
    return stat.rsplit(")", 1)[-1].split()[0] if ")" in stat else ""


def processes_under(root: Path) -> list[tuple[int, str]]:
    """Live (non-zombie) processes whose command line, cwd or environment mentions `root` (ours only)."""
    needle = str(root).encode()
    found = []
    for pid in proc_pids():
        if pid == os.getpid() or proc_state(pid) in ("Z", "X", ""):
            continue
        try:
            cwd = os.readlink(f"/proc/{pid}/cwd").encode()
        except OSError:
            cwd = b""
        cmdline = proc_read(pid, "cmdline")
        if needle in cmdline or cwd.startswith(needle) or needle in proc_read(pid, "environ"):
            found.append((pid, cmdline.replace(b"\0", b" ").decode(errors="replace").strip()[:160]))
    return found


def kill_epmd(port: int, env: dict[str, str], owner_root: Path) -> None:
    """`epmd -port P -kill` (it refuses while a node is still registered, so retry), then, as a last resort,
    SIGKILL by pid an epmd on that port whose environment shows it was started under owner_root."""
    epmd = shutil.which("epmd", path=env.get("PATH")) or "epmd"
    for _ in range(25):
        try:
            done = subprocess.run([epmd, "-port", str(port), "-kill"], env=env, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            break
        out = (done.stdout + done.stderr).lower()
        if done.returncode == 0 or "cannot connect" in out or "no epmd" in out:
            break
        time.sleep(0.2)
    needle = str(owner_root).encode()
    for pid in proc_pids():
        cmd = proc_read(pid, "cmdline")
        if b"epmd" not in cmd or proc_state(pid) in ("Z", "X", ""):
            continue
        environ = proc_read(pid, "environ").split(b"\0")
        if f"ERL_EPMD_PORT={port}".encode() in environ and needle in b"\0".join(environ):
            log(f"  epmd {pid} on port {port} survived `epmd -kill`; sending SIGKILL")
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


# --- the stapel side -----------------------------------------------------------------------------
class Stack:
    def __init__(self, stapel: str, root: Path, env: dict[str, str]):
        self.stapel, self.root, self.env = stapel, root, env

    def cmd(self, *args: str, timeout: float, check: bool = True) -> tuple[float, subprocess.CompletedProcess]:
        return run([self.stapel, *args], env=self.env, cwd=self.root, timeout=timeout, check=check,
                   what=f"stapel {' '.join(args)}")

    def up_json(self) -> tuple[float, dict[str, Any]]:
        took, done = self.cmd("up", "--json", timeout=T_UP)
        try:
            return took, json.loads(done.stdout)
        except ValueError as exc:
            raise BenchError(f"stapel up --json printed no JSON:\n{tail(done.stdout)}") from exc

    def status(self) -> dict[str, Any]:
        _, done = self.cmd("status", "--json", timeout=T_SHORT)
        return json.loads(done.stdout)

    def node_of_kind(self, kind: str) -> dict[str, Any]:
        for node in self.status()["nodes"]:
            if node["kind"] == kind:
                return node
        raise BenchError(f"stapel status --json lists no {kind} node")

    def rabbit_cli_env(self) -> tuple[str, dict[str, str]]:
        """Node name and the env a CLI needs to reach stapel's RabbitMQ (its HOME cookie, its epmd port)."""
        name = self.node_of_kind("rabbitmq")["name"]
        pidfile = self.root / ".local" / "run" / self.status()["contour"] / "pids" / f"{name}.json"
        spec_env = json.loads(pidfile.read_text())["spec"]["env"]
        env = {**self.env, "HOME": spec_env["HOME"], "ERL_EPMD_PORT": spec_env["ERL_EPMD_PORT"]}
        return spec_env["RABBITMQ_NODENAME"], env

    def ensure_up(self) -> None:
        self.up_json()


# --- the RabbitMQ baseline -----------------------------------------------------------------------
class BaselineRabbit:
    """RabbitMQ + management alone, as shared/research/native-binaries.md section "RabbitMQ" does it."""

    def __init__(self, workdir: Path, env: dict[str, str], tag: str):
        self.dir = workdir
        self.base_env = env
        self.node_port, self.dist_port, self.mgmt_port, self.epmd_port = free_ports(4)
        self.nodename = f"stapelbench{os.getpid()}{tag}@localhost"
        self.popen: subprocess.Popen | None = None
        self.log_path = self.dir / "stdout.log"

    def env(self) -> dict[str, str]:
        d = self.dir
        return {
            **self.base_env,
            "HOME": str(d / "home"),
            "RABBITMQ_NODENAME": self.nodename,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.node_port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(d / "mnesia"),
            "RABBITMQ_LOG_BASE": str(d / "log"),
            "RABBITMQ_CONFIG_FILE": str(d / "rabbitmq.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(d / "enabled_plugins"),
            "RABBITMQ_CONF_ENV_FILE": str(d / "rabbitmq-env.conf"),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "ERL_EPMD_PORT": str(self.epmd_port),
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
        }

    def prepare(self) -> None:
        for sub in ("home", "mnesia", "log"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        (self.dir / "rabbitmq-env.conf").write_text("")
        (self.dir / "rabbitmq.conf").write_text(f"management.tcp.port = {self.mgmt_port}\nmanagement.tcp.ip = 127.0.0.1\n")
        (self.dir / "enabled_plugins").write_text("[rabbitmq_management].\n")

    def _overview_ok(self) -> bool:
        request = urllib.request.Request(f"http://127.0.0.1:{self.mgmt_port}/api/overview")
        request.add_header("Authorization", "Basic " + base64.b64encode(b"guest:guest").decode())
        try:
            with urllib.request.urlopen(request, timeout=1.0) as response:
                return response.status == 200
        except (urllib.error.URLError, OSError, ValueError):
            return False

    def start_and_time(self, timeout: float = 180.0) -> float:
        self.prepare()
        out = open(self.log_path, "wb")  # noqa: SIM115 - handed to the child
        try:
            start = time.perf_counter()
            self.popen = subprocess.Popen([str(RABBIT_BIN / "rabbitmq-server")], env=self.env(), cwd=self.dir,
                                          stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                          start_new_session=True, close_fds=True)
        finally:
            out.close()
        deadline = start + timeout
        while time.perf_counter() < deadline:
            if self._overview_ok():
                return time.perf_counter() - start
            if self.popen.poll() is not None:  # a failed boot exits 0: readiness decides, not the code
                raise BenchError(f"baseline RabbitMQ exited ({self.popen.returncode}) before becoming ready:\n"
                                 f"{tail(self.log_path.read_text(errors='replace'))}")
            time.sleep(POLL)
        raise BenchError(f"baseline RabbitMQ not ready after {timeout}s:\n{tail(self.log_path.read_text(errors='replace'))}")

    def stop(self) -> None:
        """SIGTERM its process group (waiting up to 30 s, then SIGKILL), then kill its own epmd."""
        if self.popen is not None:
            pgid = self.popen.pid
            for sig, wait in ((signal.SIGTERM, 30.0), (signal.SIGKILL, 10.0)):
                if _group_gone(pgid, self.popen):
                    break
                try:
                    os.killpg(pgid, sig)
                except ProcessLookupError:
                    break
                deadline = time.monotonic() + wait
                while time.monotonic() < deadline and not _group_gone(pgid, self.popen):
                    time.sleep(0.05)
            try:
                self.popen.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
            self.popen = None
        kill_epmd(self.epmd_port, self.env(), self.dir)


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except OSError:
        return None


def _group_gone(pgid: int, popen: subprocess.Popen) -> bool:
    popen.poll()  # reap the leader, so it does not linger as a zombie
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return all(proc_state(p) in ("Z", "X", "") for p in proc_pids() if _pgid(p) == pgid)


# --- the measurements ----------------------------------------------------------------------------
class Bench:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.reps = 1 if args.quick else args.reps
        self.env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
        self.tmp = Path(tempfile.mkdtemp(prefix="stapel-bench-"))
        os.chmod(self.tmp, 0o755)  # servers that refuse root run as `postgres` and must traverse it
        self.copy = self.tmp / "minimal"
        shutil.copytree(Path(args.example), self.copy,
                        ignore=shutil.ignore_patterns(".local", "__pycache__", "*.pyc"))
        self.stack = Stack(args.stapel, self.copy, self.env)
        self.baselines: list[BaselineRabbit] = []
        self.rows: list[dict[str, Any]] = []
        self.stack_up = False

    # 1 ------------------------------------------------------------------------------------------
    def cold_up(self) -> dict[str, Any]:
        stapel_t, base_t, internal = [], [], []
        for rep in range(self.reps):
            baseline = BaselineRabbit(self.tmp / f"baseline-rmq-{rep}", self.env, f"r{rep}")
            self.baselines.append(baseline)
            log(f"[1] rep {rep + 1}/{self.reps}: baseline RabbitMQ alone (AMQP {baseline.node_port}, "
                f"mgmt {baseline.mgmt_port}, epmd {baseline.epmd_port})")
            try:
                t = baseline.start_and_time()
                base_t.append(t)
                log(f"    ready (/api/overview 200) in {t:.3f} s; stopping it")
            finally:
                baseline.stop()
            log(f"[1] rep {rep + 1}/{self.reps}: cold stapel up")
            if any((self.copy / ".local" / "data").glob("*/*")):
                raise BenchError("the copy still has .local/data: not a cold start")
            self.stack_up = True  # from here on, cleanup must bring it down
            t, summary = self.stack.up_json()
            stapel_t.append(t)
            internal.append(summary.get("duration_seconds"))
            log(f"    up in {t:.3f} s (stapel's own duration_seconds {summary.get('duration_seconds')}, "
                f"changed={summary.get('changed')})")
            if rep < self.reps - 1:
                log("    stapel down --volumes --yes")
                self.stack.cmd("down", "--volumes", "--yes", timeout=T_DOWN)
                self.stack_up = False
        s, b = median(stapel_t), median(base_t)
        ratio = s / b
        return self._row("cold stapel up vs RabbitMQ alone", stapel_t, base_t, ratio, f"{ratio:.2f}",
                         "ratio <= 1.15", ratio <= 1.15,
                         {"baseline": "rabbitmq-server + management alone, spawn -> /api/overview 200",
                          "stapel_internal_duration_seconds": internal})

    # 2 ------------------------------------------------------------------------------------------
    def warm_up(self) -> dict[str, Any]:
        times, changed, internal = [], [], []
        for rep in range(self.reps):
            t, summary = self.stack.up_json()
            times.append(t)
            changed.append(summary.get("changed"))
            internal.append(summary.get("duration_seconds"))
            log(f"[2] rep {rep + 1}/{self.reps}: warm stapel up {t:.3f} s, changed={summary.get('changed')}, "
                f"stapel's own duration_seconds {summary.get('duration_seconds')}")
        s = median(times)
        unchanged = all(c is False for c in changed)
        met = s <= 0.5 and unchanged
        return self._row("warm no-op stapel up", times, [], None, "-", "<= 0.5 s, changed=false", met,
                         {"changed": changed, "all_unchanged": unchanged, "stapel_internal_duration_seconds": internal})

    # 3 ------------------------------------------------------------------------------------------
    def check(self) -> dict[str, Any]:
        status = self.stack.status()
        ports = {}
        for node in status["nodes"]:
            if node["state"] != "running":
                raise BenchError(f"{node['name']} is {node['state']}, not running; cannot compare checks")
            ports[node["kind"]] = node["endpoint"].rsplit(":", 1)[1]
        nodename, rabbit_env = self.stack.rabbit_cli_env()
        script = self.tmp / "team-check.sh"
        script.write_text("\n".join([
            "#!/usr/bin/env bash",
            "# what a team's check script does: one client per server, one after the other",
            "set -euo pipefail",
            f"pg_isready -h 127.0.0.1 -p {ports['postgres']}",
            f"REDISCLI_AUTH=\"${{CACHE_PASSWORD:-dev-only-cache-password}}\" redis-cli -p {ports['redis']} ping",
            f"HOME='{rabbit_env['HOME']}' ERL_EPMD_PORT={rabbit_env['ERL_EPMD_PORT']} "
            f"{RABBIT_BIN / 'rabbitmq-diagnostics'} -q -n {nodename} check_running",
            f"curl -fsS http://127.0.0.1:{ports['prometheus']}/-/ready",
            "",
        ]))
        script.chmod(0o755)
        stapel_t, base_t = [], []
        for rep in range(self.reps):
            t, _ = self.stack.cmd("check", timeout=T_CHECK)
            stapel_t.append(t)
            b, done = run(["bash", str(script)], env=self.env, timeout=T_CHECK, what="team check script")
            if "PONG" not in done.stdout:
                raise BenchError(f"team check script: redis-cli did not answer PONG:\n{tail(done.stdout)}")
            base_t.append(b)
            log(f"[3] rep {rep + 1}/{self.reps}: stapel check {t:.3f} s, team script {b:.3f} s")
        speedup = median(base_t) / median(stapel_t)
        return self._row("stapel check vs bash check script", stapel_t, base_t, speedup, f"{speedup:.2f}x faster",
                         "speed-up >= 3x", speedup >= 3.0,
                         {"ratio_is": "baseline/stapel (speed-up)", "script": script.read_text()})

    # 4 ------------------------------------------------------------------------------------------
    def _wait_mq_gone(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.stack.node_of_kind("rabbitmq")["state"] != "running":
                return
            time.sleep(0.1)
        log("    note: stapel's supervisor still reports mq running after rabbitmqctl stop")

    def down(self) -> dict[str, Any]:
        stapel_t, base_t = [], []
        for rep in range(self.reps):
            log(f"[4] rep {rep + 1}/{self.reps}: make sure the stack is up (untimed)")
            self.stack.ensure_up()
            self.stack_up = True
            nodename, rabbit_env = self.stack.rabbit_cli_env()
            b, _ = run([str(RABBIT_BIN / "rabbitmqctl"), "-n", nodename, "stop"], env=rabbit_env, timeout=T_CTL,
                       what="rabbitmqctl stop")
            base_t.append(b)
            log(f"    rabbitmqctl -n {nodename} stop: {b:.3f} s")
            self._wait_mq_gone()
            log("    bring the stack back up (untimed)")
            self.stack.ensure_up()
            t, _ = self.stack.cmd("down", timeout=T_DOWN)
            self.stack_up = False
            stapel_t.append(t)
            log(f"    stapel down: {t:.3f} s")
        ratio = median(stapel_t) / median(base_t)
        return self._row("stapel down vs rabbitmqctl stop", stapel_t, base_t, ratio, f"{ratio:.2f}",
                         "ratio <= 0.5", ratio <= 0.5,
                         {"baseline": "rabbitmqctl -n NODE stop against stapel's own node (with its HOME and ERL_EPMD_PORT)"})

    # 5 ------------------------------------------------------------------------------------------
    def help(self) -> dict[str, Any]:
        python = str(VENV_BIN / "python3")
        reps = self.reps * 5  # a fraction of a second each: more reps, less noise
        run([self.stack.stapel, "--help"], env=self.env, timeout=T_SHORT)  # one untimed warm-up each
        run([python, "-c", "pass"], env=self.env, timeout=T_SHORT)
        stapel_t, base_t = [], []
        for _ in range(reps):
            stapel_t.append(run([self.stack.stapel, "--help"], env=self.env, timeout=T_SHORT)[0])
            base_t.append(run([python, "-c", "pass"], env=self.env, timeout=T_SHORT)[0])
        s = median(stapel_t)
        log(f"[5] stapel --help median {s:.3f} s, python3 -c pass median {median(base_t):.3f} s ({reps} reps)")
        return self._row("stapel --help start-up", stapel_t, base_t, s / median(base_t),
                         f"{s / median(base_t):.2f} (ref.)", "<= 0.2 s", s <= 0.2,
                         {"baseline": f"{python} -c pass (reference only; the goal is absolute)"})

    # --------------------------------------------------------------------------------------------
    def _row(self, name: str, stapel_t: list[float], base_t: list[float], ratio: float | None, ratio_text: str,
             goal: str, met: bool, notes: dict[str, Any]) -> dict[str, Any]:
        return {"measurement": name, "reps": len(stapel_t), "stapel_median_s": median(stapel_t),
                "stapel_samples_s": stapel_t, "baseline_median_s": median(base_t), "baseline_samples_s": base_t,
                "ratio": ratio, "ratio_text": ratio_text, "goal": goal, "met": met, "notes": notes}

    def _error_row(self, name: str, goal: str, exc: BaseException) -> dict[str, Any]:
        return {"measurement": name, "reps": 0, "stapel_median_s": None, "stapel_samples_s": [],
                "baseline_median_s": None, "baseline_samples_s": [], "ratio": None, "ratio_text": "error",
                "goal": goal, "met": False, "error": str(exc), "notes": {}}

    def run_all(self) -> None:
        plan = [
            ("cold stapel up vs RabbitMQ alone", "ratio <= 1.15", self.cold_up),
            ("warm no-op stapel up", "<= 0.5 s, changed=false", self.warm_up),
            ("stapel check vs bash check script", "speed-up >= 3x", self.check),
            ("stapel down vs rabbitmqctl stop", "ratio <= 0.5", self.down),
            ("stapel --help start-up", "<= 0.2 s", self.help),
        ]
        for name, goal, measure in plan:
            log(f"=== {name}")
            try:
                if measure in (self.warm_up, self.check) and not self.stack_up:
                    log("    the stack is not up; bringing it up (untimed)")
                    self.stack_up = True
                    self.stack.ensure_up()
                self.rows.append(measure())
            except BenchError as exc:
                log(f"    FAILED: {exc}")
                self.rows.append(self._error_row(name, goal, exc))

    def cleanup(self) -> list[str]:
        problems = []
        for baseline in self.baselines:
            try:
                baseline.stop()
            except Exception as exc:  # cleanup goes on
                problems.append(f"baseline stop: {exc}")
        if (self.copy / ".local").exists():
            log("cleanup: stapel down --volumes --yes")
            try:
                self.stack.cmd("down", "--volumes", "--yes", timeout=T_DOWN)
            except BenchError as exc:
                problems.append(f"stapel down --volumes failed: {exc}")
        # Anything still running that mentions our temp dir is ours: report it (a stapel bug) and stop it.
        deadline = time.monotonic() + 10
        left = processes_under(self.tmp)
        while left and time.monotonic() < deadline:
            time.sleep(0.25)
            left = processes_under(self.tmp)
        for pid, cmd in left:
            problems.append(f"left running after cleanup: pid {pid}: {cmd}")
            log(f"cleanup: pid {pid} still runs ({cmd}); sending SIGKILL")
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self.args.keep:
            log(f"kept {self.tmp}")
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)
        return problems


# --- output --------------------------------------------------------------------------------------
def table(rows: list[dict[str, Any]]) -> str:
    lines = [["measurement", "reps", "stapel", "baseline", "ratio", "goal", "met"]]
    for r in rows:
        lines.append([r["measurement"], str(r["reps"]), fmt_s(r["stapel_median_s"]), fmt_s(r["baseline_median_s"]),
                      r["ratio_text"], r["goal"], "yes" if r["met"] else "no"])
    widths = [max(len(row[i]) for row in lines) for i in range(len(lines[0]))]
    out = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in lines]
    out.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(out)


def meta(args: argparse.Namespace, reps: int) -> dict[str, Any]:
    def quiet(argv: list[str]) -> str:
        try:
            return subprocess.run(argv, capture_output=True, text=True, timeout=10, cwd=REPO).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            return ""

    return {"date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "host": platform.node(),
            "cpus": os.cpu_count(), "loadavg": os.getloadavg(), "python": platform.python_version(),
            "stapel": quiet([args.stapel, "--version"]), "git_commit": quiet(["git", "rev-parse", "HEAD"]),
            "git_dirty": bool(quiet(["git", "status", "--porcelain", "--", "src"])), "reps": reps,
            "statistic": "median"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=3, help="repetitions per measurement (default 3)")
    parser.add_argument("--quick", action="store_true", help="one repetition")
    parser.add_argument("--json-out", help="also write the results as JSON here")
    parser.add_argument("--stapel", default=str(VENV_BIN / "stapel"), help="stapel executable")
    parser.add_argument("--example", default=str(REPO / "examples" / "minimal"), help="stack to copy")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs) afterwards")
    args = parser.parse_args(argv)
    as_installed()
    if args.reps < 1:
        parser.error("--reps must be >= 1")

    def on_term(signum, frame):  # turn SIGTERM into a normal unwind, so finally runs
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_term)
    bench = Bench(args)
    log(f"working in {bench.tmp} ({bench.reps} rep(s); stapel {args.stapel})")
    info = meta(args, bench.reps)
    problems: list[str] = []
    try:
        bench.run_all()
    finally:
        problems = bench.cleanup()
    print(table(bench.rows))
    for r in bench.rows:
        if r.get("error"):
            print(f"\n{r['measurement']}: ERROR\n{r['error']}")
    warm = next((r for r in bench.rows if r["measurement"] == "warm no-op stapel up" and not r.get("error")), None)
    if warm:
        print(f"\nwarm up summaries: changed = {warm['notes']['changed']}")
    for p in problems:
        print(f"cleanup problem: {p}")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps({"meta": info, "results": bench.rows, "cleanup_problems": problems},
                                                  indent=2) + "\n")
        log(f"wrote {args.json_out}")
    return 0 if all(not r.get("error") for r in bench.rows) and not problems else 1


if __name__ == "__main__":
    sys.exit(main())
