"""config (the resolved stack, secrets masked) and schema (JSON Schema of stapel.yaml)."""

from __future__ import annotations

import argparse
import json

from stapel.cli.common import open_stack, print_json


def resolved(stack) -> dict:
    from stapel.engine import ports

    ports.apply_remembered(stack)
    data = {
        "name": stack.name,
        "file": str(stack.file),
        "contour": stack.contour,
        "instance": stack.instance,
        "ports": "auto" if stack.auto_ports else "fixed",
        "network": stack.network,
        "env_files": [str(p) for p in [stack.root / ".env", *stack.env_files] if p.is_file()],
        "data": str(stack.paths.local / "data" / stack.instance),
        "components": {},
        "services": {},
    }
    for node in stack.nodes.values():
        body = node.config.model_dump(mode="json", exclude_none=True)
        body["ports"] = dict(node.ports)
        if not node.is_service:
            body["data"] = str(stack.paths.data(node.name))
        if node.is_service:
            from stapel.components.service import declared_env

            body["env"] = declared_env(node, stack.root, stack.service_env(node))
        data["services" if node.is_service else "components"][node.name] = body
    return stack.masker().data(data)


def cmd_config(args: argparse.Namespace) -> int:
    data = resolved(open_stack(args))
    if args.json:
        print_json(data)
    else:
        import yaml

        print(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), end="")
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    from stapel.components import json_schema

    print(json.dumps(json_schema(), indent=2))
    return 0
