#!/usr/bin/env python3
"""How stapel scales with the number of services, side by side for N = 1, 10, 50, 200 in one run.

Each stack is one PostgreSQL and N tiny services (`python3 -m http.server $PORT`, a TCP probe each, all
`depends_on: [db]`), in a fresh temp dir the postgres user can traverse. Per N (medians over --reps):

  cold up      `stapel up` with no .local (initdb included)
  own start    the services' own start, by hand: N `python3 -m http.server` spawned at once, until all
               accept TCP (no stapel, no PostgreSQL): what no supervisor can make faster
  no-op up     `stapel up` again; its JSON summary must say "changed": false
  check        `stapel check`
  down         `stapel down`
  RSS          the supervisor's resident memory after the no-op up (psutil)

Goals at the largest N (200): no-op up <= 0.5 s, check <= 1 s, cold up <= 3 x cold up at N = 1 plus the
services' own start at N, supervisor RSS <= 60 MB.

Usage:  python benchmarks/scale.py [--sizes 1,10,50,200] [--reps 1] [--json-out results.json] [--keep]

Progress goes to stderr, the table to stdout. Everything started here is stopped in a `finally`
(`stapel down`, then SIGKILL for any process still mentioning the temp dir, which is reported).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

REPO = Path(__file__).resolve().parents[1]
T_UP, T_CMD = 600, 120
MB = 1024 * 1024
_T0 = time.monotonic()


def log(text: str) -> None:
    print(f"[{time.monotonic() - _T0:7.1f}s] {text}", file=sys.stderr, flush=True)


class BenchError(RuntimeError):
    pass


def environment() -> dict[str, str]:
    """This checkout's stapel first on the path; the services' python3 is this interpreter (not a pyenv shim)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO / "src"), env.get("PYTHONPATH")) if p)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.pop("STAPEL_CONTOUR", None)
    return env


def free_ports(count: int) -> list[int]:
    socks, ports = [], []
    try:
        while len(ports) < count:
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
            if s.getsockname()[1] not in ports:
                ports.append(s.getsockname()[1])
    finally:
        for s in socks:
            s.close()
    return ports


def stack_yaml(ports: list[int], db_port: int) -> str:
    lines = ["name: scale", "components:", "  db:", "    kind: postgres", f"    port: {db_port}",
             "    password: dev-only-scale-password", "services:"]
    for i, port in enumerate(ports):
        lines += [f"  s{i:03d}:", '    command: [sh, -c, "exec python3 -m http.server $$PORT --bind 127.0.0.1"]',
                  f"    port: {port}", "    probe: {tcp: {}}", "    depends_on: [db]"]
    return "\n".join(lines) + "\n"


def processes_under(root: Path) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline", "cwd", "status"]):
        try:
            text = " ".join(proc.info["cmdline"] or []) + " " + (proc.info["cwd"] or "")
            if proc.pid != os.getpid() and proc.info["status"] != psutil.STATUS_ZOMBIE and str(root) in text:
                found.append(proc)
        except psutil.Error:
            continue
    return found


def all_accept(ports: list[int], timeout: float) -> None:
    pending, deadline = set(ports), time.monotonic() + timeout
    while pending:
        if time.monotonic() > deadline:
            raise BenchError(f"{len(pending)} of {len(ports)} servers never accepted within {timeout}s")
        for port in list(pending):
            with socket.socket() as s:
                s.settimeout(0.2)
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    pending.discard(port)
        time.sleep(0.01)


def own_start(count: int, env: dict[str, str], cwd: Path) -> float:
    """N http.servers spawned at once by hand, until every one accepts: the services' own start."""
    ports, procs = free_ports(count), []
    began = time.perf_counter()
    try:
        for port in ports:
            procs.append(subprocess.Popen(["sh", "-c", f"exec python3 -m http.server {port} --bind 127.0.0.1"], env=env,
                                          cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL, start_new_session=True))
        all_accept(ports, T_UP)
        return time.perf_counter() - began
    finally:
        for proc in procs:
            proc.kill()
        for proc in procs:
            proc.wait()


class Stack:
    def __init__(self, root: Path, count: int, env: dict[str, str]):
        self.root, self.count, self.env = root, count, env
        ports = free_ports(count + 1)
        root.mkdir()
        (root / "stapel.yaml").write_text(stack_yaml(ports[1:], ports[0]))

    def cmd(self, *args: str, timeout: float = T_CMD) -> tuple[float, subprocess.CompletedProcess]:
        began = time.perf_counter()
        try:
            done = subprocess.run([sys.executable, "-m", "stapel", *args], cwd=self.root, env=self.env,
                                  stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            raise BenchError(f"stapel {' '.join(args)}: timed out after {timeout}s") from exc
        took = time.perf_counter() - began
        if done.returncode != 0:
            tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
            raise BenchError(f"stapel {' '.join(args)} (N={self.count}): exit {done.returncode}\n{tail}")
        return took, done

    def up(self) -> tuple[float, bool]:
        took, done = self.cmd("up", "--json", timeout=T_UP)
        return took, json.loads(done.stdout)["changed"]

    def supervisor_rss(self) -> float:
        pid = int((self.root / ".local" / "run" / "dev" / "supervisor.pid").read_text())
        return psutil.Process(pid).memory_info().rss / MB


def measure(count: int, reps: int, tmp: Path, env: dict[str, str]) -> dict[str, Any]:
    samples: dict[str, list[float]] = {k: [] for k in ("cold_up", "own_start", "noop_up", "check", "down", "rss_mb")}
    for rep in range(reps):
        stack = Stack(tmp / f"n{count}-r{rep}", count, env)
        try:
            took, changed = stack.up()
            samples["cold_up"].append(took)
            log(f"N={count} rep {rep + 1}: cold up {took:.2f} s (changed={changed})")
            took, changed = stack.up()
            if changed:
                raise BenchError(f"N={count}: the second up changed something")
            samples["noop_up"].append(took)
            samples["rss_mb"].append(stack.supervisor_rss())
            samples["check"].append(stack.cmd("check")[0])
            samples["down"].append(stack.cmd("down", timeout=T_UP)[0])
            log(f"    no-op up {samples['noop_up'][-1]:.3f} s, check {samples['check'][-1]:.3f} s, "
                f"down {samples['down'][-1]:.2f} s, supervisor RSS {samples['rss_mb'][-1]:.1f} MB")
        finally:
            stop(stack)
        samples["own_start"].append(own_start(count, env, tmp))
        log(f"    services' own start (by hand) {samples['own_start'][-1]:.2f} s")
    return {"n": count, **{k: statistics.median(v) for k, v in samples.items()}, "samples": samples}


def stop(stack: Stack) -> None:
    """`stapel down`, then SIGKILL whatever still mentions the stack's folder (a stapel bug: reported)."""
    if (stack.root / ".local").exists():
        try:
            stack.cmd("down", timeout=T_UP)
        except BenchError as exc:
            log(f"cleanup: {exc}")
    left = processes_under(stack.root)
    deadline = time.monotonic() + 10
    while left and time.monotonic() < deadline:
        time.sleep(0.2)
        left = processes_under(stack.root)
    for proc in left:
        log(f"cleanup: pid {proc.pid} still runs after stapel down: {' '.join(proc.info['cmdline'] or [])[:120]}; SIGKILL")
        try:
            proc.send_signal(signal.SIGKILL)
        except psutil.Error:
            pass


def table(rows: list[dict[str, Any]]) -> str:
    lines = [["", *(f"N={r['n']}" for r in rows)]]
    for key, label, fmt in (("cold_up", "cold up", "{:.2f} s"), ("own_start", "services' own start", "{:.2f} s"),
                            ("noop_up", "no-op up", "{:.3f} s"), ("check", "check", "{:.3f} s"),
                            ("down", "down", "{:.2f} s"), ("rss_mb", "supervisor RSS", "{:.1f} MB")):
        lines.append([label, *(fmt.format(r[key]) for r in rows)])
    widths = [max(len(row[i]) for row in lines) for i in range(len(lines[0]))]
    return "\n".join("  ".join(cell.rjust(w) if i else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths)))
                     for row in lines)


def goals(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    big, one = rows[-1], next((r for r in rows if r["n"] == 1), rows[0])
    allowed_up = 3 * one["cold_up"] + big["own_start"]
    return [
        {"goal": f"no-op up at N={big['n']} <= 0.5 s", "value": big["noop_up"], "limit": 0.5},
        {"goal": f"check at N={big['n']} <= 1 s", "value": big["check"], "limit": 1.0},
        {"goal": f"cold up at N={big['n']} <= 3 x cold up at N={one['n']} + own start at N={big['n']}",
         "value": big["cold_up"], "limit": allowed_up},
        {"goal": f"supervisor RSS at N={big['n']} <= 60 MB", "value": big["rss_mb"], "limit": 60.0},
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1,10,50,200", help="numbers of services (default 1,10,50,200)")
    parser.add_argument("--reps", type=int, default=1, help="repetitions per size (default 1)")
    parser.add_argument("--json-out", help="also write the results as JSON here")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs) afterwards")
    args = parser.parse_args(argv)
    sizes = sorted({int(s) for s in args.sizes.split(",") if s.strip()})
    if not sizes or min(sizes) < 1 or args.reps < 1:
        parser.error("--sizes are numbers >= 1, --reps >= 1")
    signal.signal(signal.SIGTERM, lambda signum, frame: (_ for _ in ()).throw(SystemExit(128 + signum)))
    tmp = Path(tempfile.mkdtemp(prefix="stapel-scale-", dir="/tmp"))
    tmp.chmod(0o755)  # PostgreSQL runs as its own user and must traverse it
    env, rows, failed = environment(), [], None
    log(f"working in {tmp}; sizes {sizes}, {args.reps} rep(s), {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}")
    try:
        for count in sizes:
            rows.append(measure(count, args.reps, tmp, env))
    except BenchError as exc:
        failed = str(exc)
        log(f"FAILED: {exc}")
    finally:
        if args.keep:
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    results = goals(rows) if rows else []
    if rows:
        print(table(rows))
        print()
        for g in results:
            g["ratio"], g["met"] = g["value"] / g["limit"], g["value"] <= g["limit"]
            print(f"{'met ' if g['met'] else 'MISS'}  {g['goal']}: {g['value']:.3f} vs {g['limit']:.3f} "
                  f"(ratio {g['ratio']:.2f})")
    if failed:
        print(f"\nERROR: {failed}")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps({"rows": rows, "goals": results, "error": failed}, indent=2) + "\n")
    return 0 if rows and not failed and all(g["met"] for g in results) else 1


if __name__ == "__main__":
    sys.exit(main())
