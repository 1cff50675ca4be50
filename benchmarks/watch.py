#!/usr/bin/env python3
"""Live reload's loop for examples/minimal's api: a file save -> the api healthy again, under `stapel watch`,
next to a hand `stapel restart --service api` in the same run.

examples/minimal (PostgreSQL, Redis, RabbitMQ, Prometheus, the api) is copied to a temp dir, `watch: true` is
added to its api, and the stack is brought up. Then, --rounds times each (medians reported):

  save -> healthy   a line appended to api/app.py, until `stapel watch` reports the api restarted and healthy
                    (measured here, from just before the write to the report; the watcher's own figure, from
                    the file's mtime, is given too), and a GET /health of our own answers 200 from a new pid
  hand restart      `stapel restart --service api`, start to exit (it waits for the probe too)

Goal: save -> healthy <= 1.0 s median.

Usage:  python benchmarks/watch.py [--rounds 7] [--json-out results.json] [--keep]

Progress goes to stderr, the table to stdout. Everything started here is stopped in a `finally`.
"""

from __future__ import annotations

import argparse
import json
import queue
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scale import BenchError, environment, log, processes_under

REPO = Path(__file__).resolve().parents[1]
GOAL = 1.0


def stapel(root: Path, env: dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "stapel", *args], cwd=root, env=env, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise BenchError(f"stapel {' '.join(args)}: exit {done.returncode}\n{done.stdout}{done.stderr}")
    return done


def api_state(root: Path, env: dict[str, str]) -> dict:
    nodes = json.loads(stapel(root, env, "status", "--json").stdout)["nodes"]
    return next(n for n in nodes if n["name"] == "api")


def healthy(endpoint: str) -> bool:
    try:
        with urllib.request.urlopen(f"http://{endpoint}/health", timeout=2) as answer:
            return answer.status == 200
    except OSError:
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7, help="saves and hand restarts each (default 7)")
    parser.add_argument("--json-out", help="also write the results as JSON here")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs) afterwards")
    args = parser.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="stapel-watch-", dir="/tmp"))
    tmp.chmod(0o755)
    root = tmp / "minimal"
    shutil.copytree(REPO / "examples" / "minimal", root, ignore=shutil.ignore_patterns(".env", ".env.*", ".local", "__pycache__"))
    text = (root / "stapel.yaml").read_text()
    (root / "stapel.yaml").write_text(text.replace("    cwd: api\n", "    cwd: api\n    watch: true\n", 1))
    env, watcher, failed = environment(), None, None
    saves, reported, hands = [], [], []
    try:
        log(f"working in {root}: stapel up (PostgreSQL, Redis, RabbitMQ, Prometheus, api)")
        stapel(root, env, "env", "sync", "--non-interactive")
        stapel(root, env, "up", timeout=600)
        endpoint = api_state(root, env)["endpoint"]
        lines: queue.Queue[str] = queue.Queue()
        watcher = subprocess.Popen([sys.executable, "-m", "stapel", "watch"], cwd=root, env=env, stdin=subprocess.DEVNULL,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
        threading.Thread(target=lambda: [lines.put(line.rstrip("\n")) for line in watcher.stdout], daemon=True).start()
        first = lines.get(timeout=30)
        if not first.startswith("watching"):
            raise BenchError(f"stapel watch said: {first}")
        time.sleep(0.5)
        for i in range(args.rounds):
            before = api_state(root, env)["pid"]
            began = time.perf_counter()
            with open(root / "api" / "app.py", "a") as f:
                f.write(f"# benchmark save {i}\n")
            line = lines.get(timeout=60)
            took = time.perf_counter() - began
            if not line.startswith("↻ api:"):
                raise BenchError(f"stapel watch said: {line}")
            after = api_state(root, env)
            if after["pid"] == before or not healthy(endpoint):
                raise BenchError(f"round {i}: the api did not come back new and healthy ({after})")
            saves.append(took)
            reported.append(float(re.search(r"healthy in ([0-9.]+)s", line).group(1)))
            log(f"save {i + 1}: {took:.3f} s (stapel watch says {reported[-1]:.2f} s)")
            time.sleep(0.5)
        for i in range(args.rounds):
            began = time.perf_counter()
            stapel(root, env, "restart", "--service", "api")
            hands.append(time.perf_counter() - began)
            if not healthy(endpoint):
                raise BenchError("the api is not healthy after stapel restart")
            log(f"hand restart {i + 1}: {hands[-1]:.3f} s")
    except (BenchError, queue.Empty, subprocess.TimeoutExpired) as exc:
        failed = str(exc) or type(exc).__name__
        log(f"FAILED: {failed}")
    finally:
        if watcher is not None:
            watcher.send_signal(signal.SIGINT)
            try:
                watcher.wait(timeout=20)
            except subprocess.TimeoutExpired:
                watcher.kill()
        try:
            stapel(root, env, "down", timeout=300)
        except (BenchError, subprocess.TimeoutExpired) as exc:
            log(f"cleanup: {exc}")
        for proc in processes_under(root):
            log(f"cleanup: pid {proc.pid} still runs after stapel down; SIGKILL")
            proc.kill()
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    if failed:
        return 1
    result = {"save_to_healthy": statistics.median(saves), "reported_by_watch": statistics.median(reported),
              "hand_restart": statistics.median(hands), "samples": {"save": saves, "reported": reported, "hand": hands},
              "goal": {"save_to_healthy <= s": GOAL, "met": statistics.median(saves) <= GOAL}}
    print(f"save -> healthy (stapel watch)      median {result['save_to_healthy']:.3f} s  (watch's own figure {result['reported_by_watch']:.2f} s)")
    print(f"stapel restart --service api (hand) median {result['hand_restart']:.3f} s")
    print(f"goal save -> healthy <= {GOAL} s: {'met' if result['goal']['met'] else 'NOT met'}")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(result, indent=2))
    return 0 if result["goal"]["met"] else 2


if __name__ == "__main__":
    sys.exit(main())
