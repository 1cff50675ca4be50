"""stapel render compose | k8s."""

from __future__ import annotations

import argparse
import importlib


def cmd_render(args: argparse.Namespace) -> int:
    return importlib.import_module(f"stapel.render.{args.target}").run(args)
