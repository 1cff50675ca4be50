"""stapel env sync | check | print."""

from __future__ import annotations

import argparse
import importlib
import sys

from stapel.cli.common import open_stack

ACTIONS = {
    "sync": "stapel.env.sync",  # run(args) -> exit code
    "check": "stapel.env.check",
}


def cmd_env(args: argparse.Namespace) -> int:
    if args.env_command == "print":
        return _print(args)
    return importlib.import_module(ACTIONS[args.env_command]).run(args)


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
