"""What commands share: finding the stack, its paths, its runtime, printing JSON."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from stapel.paths import Paths


def stack_file(args: argparse.Namespace) -> Path:
    from stapel.model.loader import find_stack_file

    return find_stack_file(args.file)


def quick_paths(args: argparse.Namespace) -> Paths:
    """Paths without validating stapel.yaml (status, check, logs, down must work fast, and on a broken file)."""
    file = stack_file(args)
    contour = args.contour
    if not contour:
        import yaml

        try:
            data = yaml.load(file.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
            contour = str(data.get("contour") or "dev") if isinstance(data, dict) else "dev"
        except (OSError, yaml.YAMLError):
            contour = "dev"
    return Paths(file.parent, contour)


def open_stack(args: argparse.Namespace):  # noqa: ANN201
    from stapel.engine.stack import open_stack as _open

    return _open(stack_file(args), args.contour)


def runtime_for(args: argparse.Namespace, stack) -> Any:  # noqa: ANN001
    from stapel.runtimes.native.runtime import NativeRuntime

    return NativeRuntime(stack)


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")


def say(text: str) -> None:
    print(text, flush=True)
