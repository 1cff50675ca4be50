"""stapel env sync | check | print."""

from __future__ import annotations

import argparse
import importlib

ACTIONS = {
    "sync": "stapel.env.sync",  # run(args) -> exit code
    "check": "stapel.env.check",
    "print": "stapel.env.printing",
}


def cmd_env(args: argparse.Namespace) -> int:
    return importlib.import_module(ACTIONS[args.env_command]).run(args)
