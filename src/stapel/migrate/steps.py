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
    import psycopg

    from stapel.migrate import runner

    try:
        applied = runner.up_for(url, folder / config.dir, log)
    except runner.ConnectError as exc:
        raise _refused(stack, where, url_key, url, exc) from None
    except psycopg.Error as exc:  # the version table, the lock: what the migrations themselves do is reported by file:line
        raise StartError(f"{where}: PostgreSQL: {runner._first_line(exc)}", hint=f"the role in {url_key} needs CREATE on its schema") from None
    return [f"{node.name}: applied {name}" for name in applied]


def seed(stack: Any, node: Any, force: bool, log: Callable[[str], None]) -> list[str]:
    from stapel.migrate import runner, seeds

    folder, env, url_key = service_context(stack, node)
    try:
        return seeds.run(f"services.{node.name}", node.config.seeds, folder, env, url_key, force, log)
    except runner.ConnectError as exc:
        raise _refused(stack, f"services.{node.name}.seeds", url_key, env.get(url_key, ""), exc) from None


def _refused(stack: Any, where: str, url_key: str, url: str, exc: Any) -> StartError:
    """A refused connection, named by config path; a refused password says which component holds it and what to do."""
    if not exc.auth_failed:
        return StartError(f"{where}: {exc.message}", hint=f"is {url_key} right?")
    owner = _component_at(stack, url)
    if owner is not None and exc.user == getattr(owner.config, "user", None):
        return StartError(f"{where}: {exc.message}",
                          hint=f"components.{owner.name}.password is not the one its data folder was created with: put the old "
                               "one back (.env or stapel.yaml), or delete the contour's data with `stapel down --volumes`")
    return StartError(f"{where}: {exc.message}", hint=f"the password in {url_key} is not the role's")


def _component_at(stack: Any, url: str) -> Any:
    """The stack's component the URL points at (by port), if any."""
    from psycopg.conninfo import conninfo_to_dict

    from stapel.migrate.runner import plain_url

    try:
        port = int(conninfo_to_dict(plain_url(url)).get("port") or 0)
    except Exception:  # an unparsable URL names no component
        return None
    return next((n for n in stack.components() if n.port == port), None)


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
