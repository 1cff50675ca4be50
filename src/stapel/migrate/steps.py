"""The `migrate` and `seed` steps of `up`: per service, in dependency order, with the env the service gets."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from stapel.errors import StartError

COMMAND_TIMEOUT = 1800


def service_context(stack: Any, node: Any) -> tuple[Path, dict[str, str], str]:
    """cwd, the full env the service runs with, and the name of its DATABASE_URL (with its env_prefix)."""
    import os

    from stapel.components.service import cwd, declared_env

    env = {**os.environ, **declared_env(node, stack.root, stack.service_env(node))}
    return cwd(node, stack.root), env, f"{node.config.env_prefix}DATABASE_URL"


def migrate(stack: Any, node: Any, log: Callable[[str], None]) -> list[str]:
    config = node.config.migrations
    folder, env, url_key = service_context(stack, node)
    where = f"services.{node.name}.migrations"
    if config.command:
        return _command(node.name, config.command, folder, env, where, log)
    url = env.get(url_key)
    if not url:
        raise StartError(f"{where}: the service has no {url_key}", hint="let it depend on or use a postgres component")
    from stapel.migrate import runner

    applied = runner.up_for(url, folder / config.dir, log)
    return [f"{node.name}: applied {name}" for name in applied]


def seed(stack: Any, node: Any, force: bool, log: Callable[[str], None]) -> list[str]:
    from stapel.migrate import seeds

    folder, env, url_key = service_context(stack, node)
    return seeds.run(f"services.{node.name}", node.config.seeds, folder, env, url_key, force, log)


def _command(name: str, argv: list[str], folder: Path, env: dict[str, str], where: str, log: Callable[[str], None]) -> list[str]:
    """The service's own migration tool. Whether it changed anything only the tool knows: it is logged, not counted."""
    log(f"{name}: {' '.join(argv)} (in {folder})")
    try:
        done = subprocess.run(argv, cwd=folder, env=env, capture_output=True, text=True, timeout=COMMAND_TIMEOUT, check=False)
    except FileNotFoundError:
        raise StartError(f"{where}.command: '{argv[0]}' not found on PATH", hint="install it, or give its full path") from None
    except subprocess.TimeoutExpired:
        raise StartError(f"{where}.command: did not finish in {COMMAND_TIMEOUT} s") from None
    for line in (done.stdout + done.stderr).splitlines():
        log(f"  | {line}")
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise StartError(f"{where}.command: exited with code {done.returncode}: {tail[0]}", hint="see the step log of this run")
    return []
