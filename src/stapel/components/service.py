"""The project's own services: plain processes with the stack's connection details in their env."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from stapel.components.base import LaunchSpec, Node, Resources, probe_from_config, restart_of
from stapel.env.connections import HOST, Exports, http_url
from stapel.errors import ConfigError, PreflightError
from stapel.probes import ProbeSpec

RESOURCES = Resources(memory_limit="512Mi", storage="")  # its Kubernetes container's (a Deployment: no volume claim)


def probe(node: Node) -> ProbeSpec | None:
    if node.config.probe is None:
        return ProbeSpec("tcp", {"port": node.port}, period_seconds=0.05, failure_threshold=600) if node.port else None
    try:
        return probe_from_config(node, ProbeSpec("tcp", {"port": node.port}, period_seconds=0.1, failure_threshold=300))
    except ValueError as exc:
        raise ConfigError(f"services.{node.name}.probe: {exc}") from None


def exports(node: Node) -> Exports:
    """What other services see of it: <NAME>_URL/_HOST/_PORT when it has a port; no kind-wide names."""
    by_name = {"URL": http_url(node.port), "HOST": HOST, "PORT": str(node.port)} if node.port else {}
    return Exports({}, by_name)


def volume_variable(volume: str) -> str:
    """The variable that tells a service where its named volume is: `at` -> AT_DIR (never prefixed)."""
    return f"{volume.upper().replace('-', '_')}_DIR"


def cwd(node: Node, root: Path) -> Path:
    return (root / node.config.cwd).resolve() if node.config.cwd else root


def read_env_files(node: Node, root: Path) -> dict[str, str]:
    from dotenv import dotenv_values

    values: dict[str, str] = {}
    for i, name in enumerate(node.config.env_file):
        path = (root / name).resolve()
        if not path.is_file():
            raise ConfigError(f"services.{node.name}.env_file[{i}]: {path} does not exist", hint="create it or remove it from env_file")
        values.update({k: v or "" for k, v in dotenv_values(path).items()})
    return values


def declared_env(node: Node, root: Path, stack_env: dict[str, str], listen: str = HOST) -> dict[str, str]:
    """What stapel gives the service on top of the inherited environment: env files, endpoints, its own env, and
    where to listen: HOST (127.0.0.1 natively, 0.0.0.0 in a container, where 127.0.0.1 is unreachable) and PORT."""
    env = dict(read_env_files(node, root))
    env.update(stack_env)
    if node.port:
        env["HOST"], env["PORT"] = listen, str(node.port)
    own = getattr(stack_env, "own", None)  # Stack.service_env's GivenEnv: `${NAME}` of what it is given (env/derived.py)
    env.update(own(env) if own else node.config.env)
    return env


def resolve_command(node: Node, root: Path, env: dict[str, str]) -> list[str]:
    argv = list(node.config.command)
    program, workdir = argv[0], cwd(node, root)
    if os.sep in program:
        path = (workdir / program)
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise PreflightError(f"services.{node.name}.command: {program} does not exist or is not executable (in {workdir})")
        return argv
    if shutil.which(program, path=env.get("PATH", os.environ.get("PATH"))) is None:
        raise PreflightError(f"services.{node.name}.command: '{program}' not found on PATH", hint="install it, or give its full path")
    return argv


def native(node: Node, ctx, stack_env: dict[str, str]) -> LaunchSpec:
    root = ctx.paths.root
    declared = declared_env(node, root, stack_env)
    env = {**os.environ, **declared}
    argv = resolve_command(node, root, env)
    workdir = cwd(node, root)
    if not workdir.is_dir():
        raise PreflightError(f"services.{node.name}.cwd: {workdir} is not a directory")
    return LaunchSpec(
        name=node.name,
        role="service",
        argv=argv,
        env=env,
        cwd=str(workdir),
        log=str(ctx.paths.log(node.name)),
        stop_timeout=node.config.stop_timeout_seconds,
        restart=restart_of(node.config),
        hash_basis={"argv": argv, "cwd": str(workdir), "env": declared},
    )
