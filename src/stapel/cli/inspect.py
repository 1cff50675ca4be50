"""status, check, logs: answered by the contour's runtime and the last up's record, without loading stapel.yaml.

Native: the supervisor's processes and the record of the last up (state/stack.json). Compose: the project's
containers and its up.json. The columns differ because what there is to show differs (pids and versions; images,
containers and published ports)."""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from stapel.cli.common import print_json, quick_paths, runtime_at, say, stack_file
from stapel.engine import expected
from stapel.errors import StapelError


def _since(started: float | None) -> str:
    if not started:
        return "-"
    seconds = int(time.time() - started)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def table(rows: list[list[str]]) -> str:
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(str(cell).ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows)


def _view(args: argparse.Namespace) -> tuple[Any, dict[str, Any], dict[str, Any] | None]:
    paths = quick_paths(args)
    return paths, runtime_at(args).states(), expected.load(paths)


def _stale(args: argparse.Namespace, record: dict[str, Any] | None) -> bool:
    if not record:
        return False
    return hashlib.sha256(stack_file(args).read_bytes()).hexdigest()[:16] != record.get("file_hash")


def cmd_status(args: argparse.Namespace) -> int:
    if args.runtime == "compose":
        return _compose_status(args)
    paths, procs, record = _view(args)
    names = list(dict.fromkeys([*(record or {}).get("nodes", {}), *procs]))
    rows = []
    for name in names:
        proc, meta = procs.get(name, {}), (record or {}).get("nodes", {}).get(name, {})
        rows.append({
            "name": name, "kind": proc.get("kind") or meta.get("kind", "?"), "state": proc.get("state", "not running"),
            "pid": proc.get("pid"), "endpoint": proc.get("endpoint") or meta.get("endpoint", "-"),
            "version": proc.get("version"),  # of a component, as started (its binary's own answer)
            "restarts": proc.get("restarts", 0), "exit_code": proc.get("exit_code"), "started_at": proc.get("started_at"),
            "log": str(paths.log(name)),
        })
    if args.json:
        print_json({"contour": paths.contour, "config_changed_since_up": _stale(args, record), "nodes": rows})
        return 0
    if not rows:
        from stapel import runtimes

        compose = runtimes.at(paths, "compose").active()  # its up.json: written by a --runtime compose up
        say(f"nothing runs natively for contour '{paths.contour}'; the last up used --runtime compose "
            "(stapel --runtime compose status)" if compose else f"nothing runs for contour '{paths.contour}' (stapel up starts it)")
        return 0
    lines = [["NAME", "KIND", "VERSION", "STATE", "PID", "ENDPOINT", "RESTARTS", "UP"]]
    for r in rows:
        state = r["state"] + (f" ({r['exit_code']})" if r["exit_code"] not in (None, 0) else "")
        lines.append([r["name"], r["kind"], r["version"] or "-", state, str(r["pid"] or "-"), r["endpoint"], str(r["restarts"]),
                      _since(r["started_at"]) if r["state"] == "running" else "-"])
    say(table(lines))
    if _stale(args, record):
        say("note: stapel.yaml changed since the last up; run stapel up to apply it")
    return 0


def _probe(name: str, proc: dict[str, Any], meta: dict[str, Any]) -> dict[str, Any]:
    from stapel.components.probing import run
    from stapel.probes import ProbeSpec

    state = proc.get("state", "not running")
    if state == "completed":
        return {"name": name, "healthy": True, "detail": "completed (exit 0)"}
    if state != "running":
        code = proc.get("exit_code")
        return {"name": name, "healthy": False, "detail": state + (f" (exit {code})" if code is not None else "")}
    probe = meta.get("probe") or proc.get("probe")
    if not probe:
        return {"name": name, "healthy": True, "detail": "running (no probe)"}
    ok, detail = run(ProbeSpec(**probe))
    return {"name": name, "healthy": ok, "detail": detail}


def cmd_check(args: argparse.Namespace) -> int:
    if args.runtime == "compose":
        return _compose_check(args)
    paths, procs, record = _view(args)
    nodes = (record or {}).get("nodes", {}) or {n: {} for n in procs}
    if not nodes:
        raise StapelError(f"nothing to check: contour '{paths.contour}' is not up", hint="run stapel up")
    with ThreadPoolExecutor(max_workers=min(len(nodes), 32)) as pool:  # 200 nodes are not 200 threads
        results = list(pool.map(lambda n: _probe(n, procs.get(n, {}), nodes[n]), nodes))
    healthy = all(r["healthy"] for r in results)
    if args.json:
        print_json({"contour": paths.contour, "healthy": healthy, "config_changed_since_up": _stale(args, record), "nodes": results})
    else:
        for r in results:
            mark = "✓" if r["healthy"] else "✗"
            say(f"{mark} {r['name']:<14} {r['detail']}")
        if _stale(args, record):
            say("note: stapel.yaml changed since the last up; run stapel up to apply it")
    return 0 if healthy else 1


def cmd_logs(args: argparse.Namespace) -> int:
    if args.runtime == "compose":
        argv = runtime_at(args).logs_argv(args.name, args.follow, max(args.lines, 0))
        # -f follows until Ctrl-C, like `stapel logs -f` natively: no timeout then
        return subprocess.run(argv, timeout=None if args.follow else 120, check=False).returncode
    from stapel.runtimes.base import log_file

    paths = quick_paths(args)
    path = log_file(paths, args.name)
    if not path.is_file():
        known = sorted(p.stem for p in paths.logs.glob("*.log")) if paths.logs.is_dir() else []
        raise StapelError(f"logs: no log for '{args.name}' in contour '{paths.contour}'",
                          hint=f"known: {', '.join(known)}" if known else "nothing has run yet")
    for line in runtime_at(args).log_tail(args.name, max(args.lines, 0)) if args.lines else []:
        print(line)
    if not args.follow:
        return 0
    follow(path)
    return 0


def follow(path, sleep: float = 0.2, until=lambda: False) -> None:
    """Print what is appended to a log, on through its rotations: once the name points to a new file, the rest
    of the old one is printed, then the new one from its start."""
    f = open(path, "rb")  # noqa: SIM115 - swapped at each rotation
    f.seek(0, 2)
    try:
        while not until():
            chunk = f.read()
            if chunk:
                sys.stdout.write(chunk.decode(errors="replace"))
                sys.stdout.flush()
                continue
            try:
                moved = os.stat(path).st_ino != os.fstat(f.fileno()).st_ino
            except FileNotFoundError:
                moved = False  # between the rename and the new file: look again
            if moved:
                sys.stdout.write(f.read().decode(errors="replace"))  # written just before the rename
                f.close()
                f = open(path, "rb")  # noqa: SIM115
                continue
            time.sleep(sleep)
    finally:
        f.close()


def _compose_status(args: argparse.Namespace) -> int:
    paths, runtime = quick_paths(args), runtime_at(args)
    project, _ = runtime.project()
    rows = [{"name": name, **row} for name, row in runtime.states().items()]
    if args.json:
        print_json({"contour": paths.contour, "runtime": "compose", "project": project.name if project else None,
                    "nodes": [{k: v for k, v in r.items() if k != "healthy"} for r in rows]})
        return 0
    if not rows:
        say(f"{runtime.nothing() if project is None else 'no container runs for project ' + project.name} "
            "(stapel --runtime compose up starts it)")
        return 0
    lines = [["NAME", "IMAGE", "STATE", "HEALTH", "PORTS", "CONTAINER"]]
    lines += [[r["name"], r["image"], r["state"], r["health"], r["ports"], r["container"]] for r in rows]
    say(table(lines))
    return 0


def _compose_check(args: argparse.Namespace) -> int:
    paths, runtime = quick_paths(args), runtime_at(args)
    record = runtime.record()
    if record is None:
        raise StapelError(f"nothing to check: contour '{paths.contour}' is not up under --runtime compose",
                          hint="run stapel --runtime compose up")
    results = [{"name": name, "healthy": row["healthy"], "detail": row["detail"]}
               for name, row in runtime.states().items() if name in record["services"]]
    healthy = all(r["healthy"] for r in results)
    if args.json:
        print_json({"contour": paths.contour, "runtime": "compose", "healthy": healthy, "nodes": results})
    else:
        for r in results:
            say(f"{'✓' if r['healthy'] else '✗'} {r['name']:<14} {r['detail']}")
    return 0 if healthy else 1
