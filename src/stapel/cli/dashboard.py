"""`stapel dashboard`: the stack's web page on 127.0.0.1 (a token in the URL), until Ctrl-C."""

from __future__ import annotations

import argparse

from stapel.cli.common import quick_paths, say, stack_file


def open_dashboard(args: argparse.Namespace, port: int | None):
    """The server for this stack, bound (a port in use is one line, exit 1), not serving yet."""
    from stapel.dashboard.data import StackView
    from stapel.dashboard.server import Dashboard

    view = StackView(stack_file(args), args.contour, getattr(args, "slot", None), quick_paths(args))
    return Dashboard(view, port or 0)


def cmd_dashboard(args: argparse.Namespace) -> int:
    dashboard = open_dashboard(args, args.port)
    say(f"dashboard of contour '{dashboard.view.paths.contour}': {dashboard.url}")
    if dashboard.view.procs() is None:
        say(f"  nothing runs for contour '{dashboard.view.paths.contour}' yet (stapel up starts it); the page follows along")
    say("  Ctrl-C stops the dashboard (the stack keeps running)")
    if args.open:
        import webbrowser

        webbrowser.open(dashboard.url)
    dashboard.serve_forever()
    return 0
