"""stapel provision [--check] [--export FILE] [--import FILE]: RabbitMQ topology over the running stack."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from stapel.cli.common import open_stack, say
from stapel.errors import ConfigError, StapelError


def cmd_provision(args: argparse.Namespace) -> int:
    from stapel.engine import ports
    from stapel.provision import rabbitmq

    stack = open_stack(args)
    ports.apply_remembered(stack)
    if args.export:
        say(export_definitions(stack, Path(args.export), args.component))
        return 0
    if args.import_file:
        say(import_definitions(stack, Path(args.import_file), args.component))
        return 0
    drift = rabbitmq.provision(stack, check=args.check, say=say, only=args.component)
    return 1 if args.check and drift else 0


def export_definitions(stack: Any, file: Path, only: str | None) -> str:
    """GET /api/definitions into `file`, 0600 (it holds password hashes)."""
    from stapel.provision import rabbitmq

    node = _single(stack, only)
    data = rabbitmq.definitions(node.name, rabbitmq.api_for(node))
    with open(os.open(file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as out:
        out.write(json.dumps(data, indent=2, sort_keys=True) + "\n")
    return f"{node.name}: exported {len(data.get('exchanges', []))} exchanges and {len(data.get('queues', []))} queues to {file}"


def import_definitions(stack: Any, file: Path, only: str | None) -> str:
    """POST a definitions file (as --export or the management UI writes it) to /api/definitions."""
    from stapel.provision import rabbitmq

    try:
        data = json.loads(file.read_text())
    except OSError as exc:
        raise StapelError(f"{file}: cannot read: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{file}:{exc.lineno}: not valid JSON: {exc.msg}") from None
    node = _single(stack, only)
    rabbitmq.call(node.name, rabbitmq.api_for(node), "POST", "/api/definitions", data, f"importing {file}")
    return f"{node.name}: imported {file}"


def _single(stack: Any, only: str | None) -> Any:
    from stapel.provision import rabbitmq

    nodes = rabbitmq.brokers(stack, only)
    if len(nodes) > 1:
        raise StapelError(f"several rabbitmq components ({', '.join(n.name for n in nodes)})", hint="choose one with --component")
    rabbitmq.require_running(stack, nodes)
    return nodes[0]
