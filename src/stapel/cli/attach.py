"""`up --attach`: live status in the foreground; Ctrl-C stops the whole stack."""

from __future__ import annotations

import argparse
import time

from stapel.cli.common import quick_paths, say
from stapel.runtimes.native.client import SupervisorClient


def _render(procs: dict) -> "object":  # noqa: ANN001
    from rich.table import Table

    table = Table(title="stapel (Ctrl-C stops everything)")
    for column in ("name", "kind", "state", "pid", "endpoint", "restarts"):
        table.add_column(column)
    for name, p in sorted(procs.items()):
        colour = "green" if p["state"] in ("running", "completed") else "red"
        table.add_row(name, p.get("kind", "?"), f"[{colour}]{p['state']}[/]", str(p.get("pid") or "-"),
                      p.get("endpoint", "-"), str(p.get("restarts", 0)))
    return table


def attach(args: argparse.Namespace) -> int:
    from rich.live import Live

    from stapel.cli.lifecycle import cmd_down

    client = SupervisorClient(quick_paths(args))
    try:
        with Live(_render({}), refresh_per_second=2) as live:
            while True:
                status = client.status()
                live.update(_render(status["procs"] if status else {}))
                time.sleep(1)
    except KeyboardInterrupt:
        say("stopping the stack…")
        args.volumes, args.yes = False, False
        return cmd_down(args)
