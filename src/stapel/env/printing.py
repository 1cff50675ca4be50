"""`stapel env print --service NAME`: what `up` gives that service on top of the environment it inherits,
sorted by key, with the ports of the last `up`; secrets masked unless --reveal.

dotenv: KEY="value" that python-dotenv reads back unchanged (except `${...}`, which its interpolation expands;
read with interpolate=False to keep it); json: one object; shell: `export KEY='value'` to source in sh/bash.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys

from stapel.errors import ConfigError

_DOTENV_ESCAPES = str.maketrans({"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r"})


def run(args: argparse.Namespace) -> int:
    from stapel.cli.common import open_stack
    from stapel.engine.ports import apply_remembered

    stack = open_stack(args)
    apply_remembered(stack)
    env = service_environment(stack, args.service)
    if not args.reveal:
        env = stack.masker().data(env)  # each value before quoting: an escaped secret would slip past a text masker
    sys.stdout.write(RENDER[args.format](env))
    return 0


def service_environment(stack, name: str, what: str = "env print") -> dict[str, str]:
    """What `up` gives service `name` on top of the inherited environment, sorted by key, secrets NOT masked
    (the ports are the stack's: call engine.ports.apply_remembered first for those of the last up)."""
    from stapel.components.service import declared_env

    node = _service(stack, name, what)
    return dict(sorted(declared_env(node, stack.root, stack.service_env(node)).items()))


def _service(stack, name: str, what: str = "env print"):
    from stapel.model.schema import did_you_mean

    node = stack.nodes.get(name)
    if node is not None and not node.is_service:
        raise ConfigError(f"{what}: '{name}' is a component ({node.kind}), not a service",
                          hint="its connection details are in the env of the services that use it")
    if node is None:
        services = sorted(n.name for n in stack.services())
        known = did_you_mean(name, services) if services else "; the stack has no services"
        raise ConfigError(f"{what}: unknown service '{name}'{known}")
    return node


def dotenv(env: dict[str, str]) -> str:
    return "".join(f'{key}="{value.translate(_DOTENV_ESCAPES)}"\n' for key, value in env.items())


def as_json(env: dict[str, str]) -> str:
    return json.dumps(env, indent=2) + "\n"


def shell(env: dict[str, str]) -> str:
    return "".join(f"export {key}={shlex.quote(value)}\n" for key, value in env.items())


RENDER = {"dotenv": dotenv, "json": as_json, "shell": shell}
