"""stapel db init | seed | reset | drop: seed 001's database lifecycle (scripts/init_db.py) over the running stack.

init   the tables and the seed data: an infrastructure up (the database created if missing, provisioning,
       migrations, seeds that are new or changed), as `init_db.py init` creates the tables and loads the seeds
seed   the seeds only (new or changed; --force: all)
drop   every postgres component's databases (its `database:`, the declared ones, its roles'), its declared schemas
       in `postgres`, and its roles; says exactly what it dropped, or that there was nothing to drop
reset  drop, then init: the databases created empty again, migrations and seeds run from scratch
"""

from __future__ import annotations

import argparse
import sys

from stapel.cli.common import open_stack, say
from stapel.engine.options import UpOptions
from stapel.errors import StapelError


def cmd_db(args: argparse.Namespace) -> int:
    from stapel.cli.lifecycle import _up

    if args.db_command == "init":
        return _up(args, UpOptions(skip_backend=True), fast=False)
    if args.db_command == "seed":
        return _up(args, UpOptions(skip_backend=True, force_seeds=args.force), fast=False)
    _confirm(args)
    _drop(args)
    if args.db_command == "reset":
        return _up(args, UpOptions(skip_backend=True), fast=False)
    return 0


def _confirm(args: argparse.Namespace) -> None:
    what = "drops the databases, schemas and roles of every postgres component (their data is lost)"
    if args.yes:
        return
    if not sys.stdin.isatty():
        raise StapelError(f"db {args.db_command} {what}", hint="pass --yes to confirm")
    if input(f"db {args.db_command} {what}. Continue? [y/N] ").strip().lower() not in ("y", "yes"):
        raise StapelError(f"db {args.db_command}: nothing was changed")


def _drop(args: argparse.Namespace) -> None:
    from stapel.engine.databases import drop

    dropped, absent = drop(open_stack(args), args.db_command)
    for change in dropped:
        say(f"  {change}")
    if not dropped:
        say(f"db {args.db_command}: nothing to drop ({'; '.join(absent)})")
