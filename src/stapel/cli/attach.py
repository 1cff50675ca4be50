"""`up --attach`: live status in the foreground; Ctrl-C stops the whole stack."""

from __future__ import annotations

import argparse
import time
from typing import TYPE_CHECKING

from stapel.cli.common import runtime_at, say

if TYPE_CHECKING:
    from rich.table import Table


def _render(procs: dict) -> Table:
    from rich.table import Table

    table = Table(title="stapel (Ctrl-C stops everything)")
    for column in ("name", "kind", "state", "pid", "endpoint", "restarts"):
        table.add_column(column)
    for name, p in sorted(procs.items()):
        colour = "green" if p["state"] in ("running", "completed") else "red"
        table.add_row(name, p.get("kind", "?"), f"[{colour}]{p['state']}[/]", str(p.get("pid") or "-"),
                      p.get("endpoint", "-"), str(p.get("restarts", 0)))
    return table


def attach(args: argparse.Namespace, dashboard=None) -> int:
    """Until Ctrl-C, which stops the stack and exits 130. With --json, stdout holds the summary only: the
    live table and what stopping prints go to stderr. `dashboard`: a bound stapel.dashboard server to serve meanwhile."""
    import contextlib
    import sys

    from rich.console import Console
    from rich.live import Live

    from stapel.cli.lifecycle import cmd_down
    from stapel.errors import EXIT_INTERRUPTED

    runtime = runtime_at(args)
    json_mode = bool(getattr(args, "json", False))
    console = Console(stderr=json_mode)
    if dashboard is not None:
        dashboard.start_background()
        console.print(f"dashboard: {dashboard.url}", soft_wrap=True, markup=False, highlight=False)
    try:
        with Live(_render({}), refresh_per_second=2, console=console) as live:
            while True:
                live.update(_render(runtime.states()))
                time.sleep(1)
    except KeyboardInterrupt:
        if dashboard is not None:
            dashboard.shutdown()
        with contextlib.redirect_stdout(sys.stderr) if json_mode else contextlib.nullcontext():
            say("stopping the stack…")
            args.volumes, args.yes = False, False
            cmd_down(args)
        return EXIT_INTERRUPTED
