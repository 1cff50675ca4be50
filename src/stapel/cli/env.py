"""stapel env sync | check | print."""

from __future__ import annotations

import argparse
import sys

from stapel.cli.common import open_stack


def cmd_env(args: argparse.Namespace) -> int:
    return {"sync": _sync, "check": _check, "print": _print}[args.env_command](args)


def _sync(args: argparse.Namespace) -> int:
    """Create or update every .env from its example (env/sync.py); one line per file or note."""
    from stapel.env import envfiles
    from stapel.env.sync import sync

    for line in sync(envfiles.load_project(args.file), args.non_interactive or "ask"):
        print(line, flush=True)
    return 0


def _check(args: argparse.Namespace) -> int:
    """`✗ problem` per problem and exit 1, or `✓ N env files, M keys: in sync` (env/check.py). Never a value."""
    from stapel.env import envfiles
    from stapel.env.check import check

    loaded = envfiles.load(envfiles.load_project(args.file))
    problems = check(loaded)
    for problem in problems:
        print(f"✗ {problem}")
    if problems:
        return 1
    keys = sum(len(pair.example.last()) for pair in loaded.pairs)
    print(f"✓ {len(loaded.pairs)} env files, {keys} keys: in sync")
    return 0


def _print(args: argparse.Namespace) -> int:
    """`stapel env print --service NAME`: what `up` gives that service on top of the environment it inherits,
    sorted by key, with the ports of the last `up`; secrets masked unless --reveal."""
    from stapel.engine.environment import service_environment
    from stapel.engine.ports import apply_remembered
    from stapel.env.printing import RENDER

    stack = open_stack(args)
    apply_remembered(stack)
    env = service_environment(stack, args.service)
    if not args.reveal:
        env = stack.masker().data(env)  # each value before quoting: an escaped secret would slip past a text masker
    sys.stdout.write(RENDER[args.format](env))
    return 0
