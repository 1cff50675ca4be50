"""stapel db init | seed | reset | drop: seed 001's database lifecycle over the running stack."""

from __future__ import annotations

import argparse
import sys

from stapel.cli.common import open_stack, say
from stapel.engine.options import UpOptions
from stapel.errors import StapelError


def cmd_db(args: argparse.Namespace) -> int:
    from stapel.cli.lifecycle import _up

    if args.db_command == "init":  # provision and migrate, no seeds
        return _up(args, UpOptions(skip_backend=True, skip_seeds=True), fast=False)
    if args.db_command == "seed":
        return _up(args, UpOptions(skip_backend=True, force_seeds=args.force), fast=False)
    _confirm(args)
    _drop(args)
    if args.db_command == "reset":
        return _up(args, UpOptions(skip_backend=True), fast=False)
    return 0


def _confirm(args: argparse.Namespace) -> None:
    what = "drops every database and role declared under components.*.databases/roles"
    if args.yes:
        return
    if not sys.stdin.isatty():
        raise StapelError(f"db {args.db_command} {what}", hint="pass --yes to confirm")
    if input(f"db {args.db_command} {what}. Continue? [y/N] ").strip().lower() not in ("y", "yes"):
        raise StapelError(f"db {args.db_command}: nothing was changed")


def _drop(args: argparse.Namespace) -> None:
    from stapel.engine import expected, ports
    from stapel.provision import postgres

    stack = open_stack(args)
    ports.apply_remembered(stack)
    targets = [n for n in stack.components() if n.kind == "postgres" and (n.config.databases or n.config.roles)]
    if not targets:
        raise StapelError(f"db {args.db_command}: no postgres component declares databases or roles")
    for node in targets:
        for change in postgres.drop(node.name, node.config, node.port):
            say(f"  {change}")
    expected.forget(stack.paths, [])  # the next up provisions again, never the fast path
