"""up, down, start, stop, restart, seed: on the runtime --runtime (or $STAPEL_RUNTIME) names."""

from __future__ import annotations

import argparse
import os
import sys

from stapel.cli.common import open_stack, print_json, print_up, quick_paths, runtime_at, runtime_for, say, stack_file
from stapel.engine.options import UpOptions
from stapel.errors import StapelError


def _up(args: argparse.Namespace, options: UpOptions, quiet_json: bool = False, fast: bool = True) -> int:
    from stapel.cli.main import STARTED
    from stapel.engine import lifecycle

    speak = (lambda text: print(text, file=sys.stderr, flush=True)) if quiet_json else say
    summary = lifecycle.up(quick_paths(args), stack_file(args), lambda: open_stack(args), args.runtime, options, speak,
                           started=STARTED, fast=fast)
    if quiet_json:
        print_json(summary)
        return 0
    took, where = summary["duration_seconds"], f"'{summary['stack']}' ({summary['contour']})"
    if args.runtime == "compose":  # every compose up asks the compose CLI: no "nothing to do" fast path
        verb = "is up" if summary["changed"] else "is up and unchanged"
        print_up(summary, f"✓ stack {where} {verb} in {took:.1f}s (--runtime compose)")
    elif summary["changed"]:
        print_up(summary, f"✓ stack {where} is up in {took:.1f}s")
    else:
        print_up(summary, f"✓ nothing to do: stack {where} is up and unchanged ({took:.2f}s)")
    return 0


def profiles(args: argparse.Namespace) -> list[str] | None:
    """--profile NAME (repeatable, or a,b), else $STAPEL_PROFILES=a,b (like COMPOSE_PROFILES); None: everything runs."""
    given = getattr(args, "profile", None) or [os.environ.get("STAPEL_PROFILES", "")]
    names = [name.strip() for value in given for name in value.split(",") if name.strip()]
    return names or None


def _native_only(args: argparse.Namespace, *flags: str) -> None:
    if args.runtime == "native":
        return
    for flag in flags:
        if getattr(args, flag, False):
            raise StapelError(f"--{flag.replace('_', '-')}: native only", hint=f"drop it, or drop --runtime {args.runtime}")


def cmd_up(args: argparse.Namespace) -> int:
    _native_only(args, "attach", "skip_migrations", "skip_seeds", "watch", "dashboard")
    options = UpOptions(services=args.service, skip_backend=args.skip_backend, skip_migrations=args.skip_migrations,
                        skip_seeds=args.skip_seeds, profiles=profiles(args))
    if getattr(args, "watch", False):
        if args.dashboard:
            raise StapelError("up: --watch and --dashboard do not go together yet",
                              hint="run `stapel dashboard` in another terminal next to `stapel up --watch`")
        return _up_and_watch(args, options)
    dashboard = None
    if args.dashboard:  # bound before the up: a port in use is one line, and nothing was started
        from stapel.cli.dashboard import open_dashboard

        dashboard = open_dashboard(args, args.dashboard_port)
    code = _up(args, options, quiet_json=args.json)
    if code == 0 and (args.attach or dashboard is not None):
        from stapel.cli.attach import attach

        return attach(args, dashboard)
    return code


def _up_and_watch(args: argparse.Namespace, options: UpOptions) -> int:
    """`up --watch`: the watched paths checked first (nothing starts when one is wrong), then up, then watching
    in the foreground until Ctrl-C, which stops the stack (as --attach does)."""
    from stapel.cli.watch import checked_targets, watch
    from stapel.errors import EXIT_INTERRUPTED

    stack = open_stack(args)
    items = checked_targets(stack, args.service)
    _up(args, options, quiet_json=args.json)
    try:
        watch(stack, runtime_for(args, stack), items)
    except KeyboardInterrupt:
        say("stopping the stack…")
        args.volumes, args.yes = False, False
        cmd_down(args)
        return EXIT_INTERRUPTED
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    from stapel.engine import lifecycle

    paths, runtime = quick_paths(args), runtime_at(args)
    if runtime.name == "compose" and runtime.project()[0] is None:
        say(f"✓ stack ({paths.contour}) is down: {runtime.nothing()}")
        return 0
    if args.volumes and not args.yes:
        deletes = runtime.volumes()
        if not sys.stdin.isatty():
            raise StapelError(f"down --volumes deletes {deletes}", hint="pass --yes to confirm")
        if input(f"Delete {deletes}? [y/N] ").strip().lower() not in ("y", "yes"):
            say("kept everything")
            return 1
    stopped = lifecycle.down(paths, runtime, args.volumes)
    for name, outcome in stopped.items():
        say(f"  {name}: {outcome}")
    if args.volumes:
        say(f"✓ deleted {'the volumes' if runtime.name == 'compose' else 'the data'} of contour '{paths.contour}'")
    if runtime.name == "compose":
        project = runtime.project()[0]
        say(f"✓ stack ({paths.contour}) is down ({project.engine.cli} down, project {project.name})")
    else:
        say(f"✓ stack ({paths.contour}) is down" + ("" if stopped else ": nothing was running"))
    return 0


def cmd_start(args: argparse.Namespace) -> int:
    return _up(args, UpOptions(services=args.service))


def cmd_seed(args: argparse.Namespace) -> int:
    """A full up (never the fast path) whose seed step runs; --force runs every seed again."""
    return _up(args, UpOptions(services=args.service, force_seeds=args.force), quiet_json=args.json, fast=False)


def cmd_stop(args: argparse.Namespace) -> int:
    from stapel.engine import lifecycle

    paths, runtime = quick_paths(args), runtime_at(args)
    stopped = lifecycle.stop(paths, runtime, None if args.backend else args.service, args.command)
    if args.backend:  # seed 000's stop-backend.sh: every service, the infrastructure keeps running
        args.service = list(stopped)
        if not stopped:
            say(f"no service runs in contour '{paths.contour}'; the components keep running")
            return 0
    for name, outcome in stopped.items():
        say(f"  {name}: {outcome}")
    return 0


def cmd_restart(args: argparse.Namespace) -> int:
    from stapel.engine import lifecycle

    runtime = runtime_at(args)
    if runtime.restarts_in_place:
        if args.backend:
            runtime.running_services(args.command)  # says which runtime cannot do that yet
        for name, outcome in lifecycle.restart_in_place(quick_paths(args), runtime, args.service).items():
            say(f"  {name}: {outcome}")
        return 0
    cmd_stop(args)  # with --backend, it sets args.service to the services it stopped
    return _up(args, UpOptions(services=list(args.service))) if args.service else 0
