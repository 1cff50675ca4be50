"""up, down, start, stop, restart."""

from __future__ import annotations

import argparse
import os
import shutil
import sys

from stapel.cli.common import open_stack, print_json, print_up, quick_paths, runtime_for, say, stack_file
from stapel.engine.options import UpOptions
from stapel.errors import StapelError


def _up(args: argparse.Namespace, options: UpOptions, quiet_json: bool = False, fast: bool = True) -> int:
    from stapel.cli.main import STARTED
    from stapel.engine.fastpath import try_noop
    from stapel.engine.lock import stack_lock

    paths = quick_paths(args)
    with stack_lock(paths, "up"):  # first: a refused up probes nothing, starts nothing, writes no summary
        summary = try_noop(stack_file(args), paths.contour, options.to_json(), started=STARTED) if fast else None
        if summary is None:
            summary = _full_up(args, options, quiet_json)
    if quiet_json:
        print_json(summary)
        return 0
    took = summary["duration_seconds"]
    if summary["changed"]:
        print_up(summary, f"✓ stack '{summary['stack']}' ({summary['contour']}) is up in {took:.1f}s")
    else:
        print_up(summary, f"✓ nothing to do: stack '{summary['stack']}' ({summary['contour']}) is up and unchanged ({took:.2f}s)")
    return 0


def _full_up(args: argparse.Namespace, options: UpOptions, quiet_json: bool) -> dict:
    from stapel.cli.main import STARTED
    from stapel.engine.up import Up
    from stapel.runtimes.native.client import SupervisorClient

    early = SupervisorClient(quick_paths(args))
    early.spawn_quietly()  # its start-up overlaps the validation of stapel.yaml
    try:
        stack = open_stack(args)
        if (early.paths.root, early.paths.contour) != (stack.paths.root, stack.paths.contour):
            early.release()
            early = None
        runtime = runtime_for(args, stack, early)
        speak = (lambda text: print(text, file=sys.stderr, flush=True)) if quiet_json else say
        up = Up(stack, runtime, options, speak, started=STARTED)
    except BaseException:
        if early is not None:
            early.release()  # nothing was started: do not leave a supervisor behind
        raise
    result = up.run()  # its own failures roll back what it started, and stop the supervisor when nothing runs
    return {**result.summary, "run_dir": result.run_dir}


def profiles(args: argparse.Namespace) -> list[str] | None:
    """--profile NAME (repeatable, or a,b), else $STAPEL_PROFILES=a,b (like COMPOSE_PROFILES); None: everything runs."""
    given = args.profile or [os.environ.get("STAPEL_PROFILES", "")]
    names = [name.strip() for value in given for name in value.split(",") if name.strip()]
    return names or None


def cmd_up(args: argparse.Namespace) -> int:
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
    from stapel.engine import expected
    from stapel.engine.lock import stack_lock
    from stapel.runtimes.native.client import SupervisorClient

    paths = quick_paths(args)
    if args.volumes and not args.yes:
        if not sys.stdin.isatty():
            raise StapelError(f"down --volumes deletes {paths.local / 'data' / paths.contour}", hint="pass --yes to confirm")
        answer = input(f"Delete all data of contour '{paths.contour}' under {paths.local / 'data' / paths.contour}? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            say("kept everything")
            return 1
    with stack_lock(paths, "down"):
        stopped = SupervisorClient(paths).shutdown()
        expected.forget(paths)
        for name, outcome in stopped.items():
            say(f"  {name}: {outcome}")
        if args.volumes:
            from stapel.runtimes.native.standin import remove_linked

            for folder in (paths.local / "data" / paths.contour, paths.run / "conf"):
                remove_linked(folder)  # data kept outside the project for a server user who cannot reach it
                shutil.rmtree(folder, ignore_errors=True)
            say(f"✓ deleted the data of contour '{paths.contour}'")
    say(f"✓ stack ({paths.contour}) is down" + ("" if stopped else ": nothing was running"))
    return 0


def cmd_start(args: argparse.Namespace) -> int:
    return _up(args, UpOptions(services=args.service))


def cmd_seed(args: argparse.Namespace) -> int:
    """A full up (never the fast path) whose seed step runs; --force runs every seed again."""
    return _up(args, UpOptions(services=args.service, force_seeds=args.force), quiet_json=args.json, fast=False)


def cmd_stop(args: argparse.Namespace) -> int:
    from stapel.engine import expected
    from stapel.engine.lock import stack_lock
    from stapel.runtimes.native.client import SupervisorClient

    paths = quick_paths(args)
    with stack_lock(paths, "stop"):
        client = SupervisorClient(paths)
        status = client.status()
        procs = status["procs"] if status else {}
        if args.backend:  # seed 000's stop-backend.sh: every service, the infrastructure keeps running
            args.service = sorted(n for n, p in procs.items() if p.get("role") == "service" and p.get("state") not in ("stopped", "completed"))
            if not args.service:
                say(f"no service runs in contour '{paths.contour}'; the components keep running")
                return 0
        unknown = [n for n in args.service if n not in procs]
        if unknown:
            raise StapelError(f"--service: '{unknown[0]}' is not running", hint=f"running: {', '.join(sorted(procs)) or 'nothing'}")
        stopped = client.request({"op": "stop", "names": args.service}, timeout=300)["stopped"]
        expected.forget(paths, args.service)
    for name, outcome in stopped.items():
        say(f"  {name}: {outcome}")
    return 0


def cmd_restart(args: argparse.Namespace) -> int:
    cmd_stop(args)  # with --backend, it sets args.service to the services it stopped
    return _up(args, UpOptions(services=list(args.service))) if args.service else 0
