"""What commands share: finding the stack, its paths, its runtime, printing JSON."""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

from stapel.paths import Paths, find_stack_file

# a top-level `contour: name` line; anything fancier (quotes aside) goes through the YAML parser
_CONTOUR_LINE = re.compile(r"""^contour:[ \t]*(["']?)([A-Za-z0-9_.-]*)\1[ \t]*(#.*)?$""", re.MULTILINE)


def stack_file(args: argparse.Namespace) -> Path:
    return find_stack_file(args.file)


def default_contour(file: Path) -> str:
    """The file's `contour:` without validating it (status, check, logs, down must be fast, and work on a broken file)."""
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):  # the loader reports it, where it matters
        return "dev"
    if not re.search(r"^contour\s*:", text, re.MULTILINE):
        return "dev"
    plain = _CONTOUR_LINE.search(text)
    if plain:
        return plain.group(2) or "dev"
    import yaml

    try:
        data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError:
        return "dev"
    return str(data.get("contour") or "dev") if isinstance(data, dict) else "dev"


def quick_paths(args: argparse.Namespace) -> Paths:
    from stapel.model.contours import instance

    file = stack_file(args)
    return Paths(file.parent, instance(args.contour or default_contour(file), getattr(args, "slot", None)))


def open_stack(args: argparse.Namespace):
    from stapel.engine.stack import open_stack as _open

    return _open(stack_file(args), args.contour, slot=getattr(args, "slot", None))


def runtime_at(args: argparse.Namespace) -> Any:
    """The contour's runtime (--runtime, else $STAPEL_RUNTIME, else native) from its paths alone: stapel.yaml unread."""
    from stapel import runtimes

    return runtimes.at(quick_paths(args), getattr(args, "runtime", None) or "native")


def runtime_for(args: argparse.Namespace, stack) -> Any:
    """The runtime that runs a loaded stack's nodes."""
    from stapel import runtimes

    return runtimes.for_stack(stack, getattr(args, "runtime", None) or "native")


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")


def say(text: str) -> None:
    print(text, flush=True)


def print_up(summary: dict[str, Any], headline: str) -> None:
    """The end of an up, native or compose: the headline, what runs where and how healthy, the run log."""
    say(headline)
    for name, node in summary["nodes"].items():
        if node["state"] != "not running":
            say(f"  {name:<14} {node['kind']:<11} {node['endpoint']:<17} {node['health']}")
    say(f"  run log: {summary['run_dir']}/summary.md")
