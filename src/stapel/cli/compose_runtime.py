"""up, down, status, check, logs, start, stop, restart under --runtime compose (runtimes/compose.py drives the CLI).

The contour is rendered by render/compose.py into .local/compose/<instance>/ (compose.yaml, .env.compose 0600).
Everything the render refuses (two parts on one host port, a secret on a command line) is refused before the
engine is even asked; when no engine answers, nothing is written there. up.json in that folder records what the
last successful up started (status, check and down read it without loading stapel.yaml).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from typing import Any

from stapel.cli.common import open_stack, print_json, print_up, quick_paths, say
from stapel.errors import StapelError
from stapel.paths import Paths
from stapel.runtimes.compose import RECORD, folder_of


def _project(paths: Paths):
    """The rendered project of this contour and its document, or (None, {}) when no --runtime compose up wrote one."""
    import yaml

    from stapel.runtimes.compose import Project, all_profiles, detect

    folder = folder_of(paths)
    try:
        lines = (folder / ".env.compose").read_text().splitlines()
        doc = yaml.safe_load((folder / "compose.yaml").read_text()) or {}
    except (OSError, yaml.YAMLError):
        return None, {}
    name = next((line.split("=", 1)[1] for line in lines if line.startswith("COMPOSE_PROJECT_NAME=")), None)
    if not name:
        return None, {}
    return Project(detect(), folder, name, all_profiles(doc)), doc


def _record(paths: Paths) -> dict[str, Any] | None:
    try:
        return json.loads((folder_of(paths) / RECORD).read_text())
    except (OSError, ValueError):
        return None


def _nothing(paths: Paths) -> str:
    return f"nothing was brought up with --runtime compose for contour '{paths.contour}'"


# --- up --------------------------------------------------------------------------------------


def cmd_up(args: argparse.Namespace) -> int:
    for flag in ("attach", "skip_migrations", "skip_seeds"):
        if getattr(args, flag, False):
            raise StapelError(f"--{flag.replace('_', '-')}: native only", hint="drop it, or drop --runtime compose")
    from stapel.cli.lifecycle import profiles
    from stapel.engine.compose_up import ComposeUp

    quiet = getattr(args, "json", False)
    speak = (lambda text: print(text, file=sys.stderr, flush=True)) if quiet else say
    args.profile = getattr(args, "profile", None)  # start has no --profile
    summary = ComposeUp(open_stack(args), services=getattr(args, "service", None), skip_backend=getattr(args, "skip_backend", False),
                        profiles=profiles(args), say=speak).run()
    if quiet:
        print_json(summary)
        return 0
    verb = "is up" if summary["changed"] else "is up and unchanged"
    print_up(summary, f"✓ stack '{summary['stack']}' ({summary['contour']}) {verb} in {summary['duration_seconds']:.1f}s (--runtime compose)")
    return 0


def cmd_start(args: argparse.Namespace) -> int:
    return cmd_up(args)


# --- down, stop, restart -----------------------------------------------------------------------


def cmd_down(args: argparse.Namespace) -> int:
    from stapel.engine.lock import stack_lock

    paths = quick_paths(args)
    project, doc = _project(paths)
    if project is None:
        say(f"✓ stack ({paths.contour}) is down: {_nothing(paths)}")
        return 0
    if args.volumes and not args.yes:
        volumes = ", ".join(v.get("name", k) for k, v in (doc.get("volumes") or {}).items()) or "none"
        if not sys.stdin.isatty():
            raise StapelError(f"down --volumes deletes the Docker volumes of contour '{paths.contour}' ({volumes})",
                              hint="pass --yes to confirm")
        if input(f"Delete the Docker volumes of contour '{paths.contour}' ({volumes})? [y/N] ").strip().lower() not in ("y", "yes"):
            say("kept everything")
            return 1
    with stack_lock(paths, "down"):
        project.down(args.volumes)
        (project.folder / RECORD).unlink(missing_ok=True)
        if args.volumes:
            shutil.rmtree(project.folder, ignore_errors=True)
            say(f"✓ deleted the volumes of contour '{paths.contour}'")
    say(f"✓ stack ({paths.contour}) is down ({project.engine.cli} down, project {project.name})")
    return 0


def _named(args: argparse.Namespace) -> Any:
    paths = quick_paths(args)
    if getattr(args, "backend", False):
        raise StapelError(f"stapel {args.command} --backend: native only for now", hint="name the services: --service a,b")
    project, doc = _project(paths)
    if project is None:
        raise StapelError(_nothing(paths), hint="stapel --runtime compose up")
    known = sorted(doc.get("services") or {})
    unknown = [n for n in args.service if n not in known]
    if unknown:
        raise StapelError(f"--service: no service '{unknown[0]}' in {project.folder / 'compose.yaml'}", hint=f"known: {', '.join(known)}")
    return paths, project, doc


def cmd_stop(args: argparse.Namespace) -> int:
    from stapel.engine.lock import stack_lock

    paths, project, _ = _named(args)
    with stack_lock(paths, "stop"):
        project.stop(args.service)
    for name in args.service:
        say(f"  {name}: stopped")
    return 0


def cmd_restart(args: argparse.Namespace) -> int:
    from stapel.engine.lock import stack_lock
    from stapel.runtimes.compose import budget

    paths, project, doc = _named(args)
    services = doc["services"]
    with stack_lock(paths, "restart"):
        project.run(project.argv("restart", *args.service), "compose restart")
        project.wait({n: "healthcheck" in services[n] for n in args.service},
                     max([30.0] + [budget(services[n].get("healthcheck")) for n in args.service]))
    for name in args.service:
        say(f"  {name}: restarted, ready")
    return 0


# --- status, check, logs -----------------------------------------------------------------------


def _rows(paths: Paths) -> tuple[Any, list[dict[str, Any]]]:
    project, doc = _project(paths)
    if project is None:
        return None, []
    services, record = doc.get("services") or {}, _record(paths) or {}
    states = project.states()
    rows = []
    for name in dict.fromkeys([*record.get("services", {}), *states]):
        container, body = states.get(name), services.get(name, {})
        has_check = "healthcheck" in body
        rows.append({"name": name, "image": body.get("image") or "build", "state": container.state if container else "not running",
                     "health": container.health or "-" if container else "-", "container": container.name if container else "-",
                     "ports": ", ".join(body.get("ports") or []) or "-",
                     "healthy": bool(container and container.ready(has_check) and not container.failed()),
                     "detail": container.describe() if container else "no container"})
    return project, rows


def cmd_status(args: argparse.Namespace) -> int:
    from stapel.cli.inspect import table

    paths = quick_paths(args)
    project, rows = _rows(paths)
    if args.json:
        print_json({"contour": paths.contour, "runtime": "compose", "project": project.name if project else None,
                    "nodes": [{k: v for k, v in r.items() if k != "healthy"} for r in rows]})
        return 0
    if not rows:
        say(f"{_nothing(paths) if project is None else 'no container runs for project ' + project.name} "
            "(stapel --runtime compose up starts it)")
        return 0
    lines = [["NAME", "IMAGE", "STATE", "HEALTH", "PORTS", "CONTAINER"]]
    lines += [[r["name"], r["image"], r["state"], r["health"], r["ports"], r["container"]] for r in rows]
    say(table(lines))
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    paths = quick_paths(args)
    if _record(paths) is None:
        raise StapelError(f"nothing to check: contour '{paths.contour}' is not up under --runtime compose",
                          hint="run stapel --runtime compose up")
    project, rows = _rows(paths)
    wanted = set(_record(paths)["services"])
    results = [{"name": r["name"], "healthy": r["healthy"], "detail": r["detail"]} for r in rows if r["name"] in wanted]
    healthy = all(r["healthy"] for r in results)
    if args.json:
        print_json({"contour": paths.contour, "runtime": "compose", "healthy": healthy, "nodes": results})
    else:
        for r in results:
            say(f"{'✓' if r['healthy'] else '✗'} {r['name']:<14} {r['detail']}")
    return 0 if healthy else 1


def cmd_logs(args: argparse.Namespace) -> int:
    paths = quick_paths(args)
    project, doc = _project(paths)
    if project is None:
        raise StapelError(f"logs: {_nothing(paths)}", hint="stapel --runtime compose up")
    known = sorted(doc.get("services") or {})
    if args.name not in known:
        raise StapelError(f"logs: no service '{args.name}' in {project.folder / 'compose.yaml'}", hint=f"known: {', '.join(known)}")
    argv = project.logs_argv(args.name, args.follow, max(args.lines, 0))
    # -f follows until Ctrl-C, like `stapel logs -f` natively: no timeout then
    return subprocess.run(argv, timeout=None if args.follow else 120, check=False).returncode
