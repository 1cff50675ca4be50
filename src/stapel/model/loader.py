"""stapel.yaml -> interpolate env -> validate -> cross-check. Everything wrong is reported at once."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from stapel.errors import ConfigError
from stapel.model.yamlfile import Located, load_yaml

@dataclass
class Loaded:
    file: Path
    root: Path
    located: Located
    env: dict[str, str]
    model: "StackFile"  # noqa: F821 - imported lazily (pydantic costs start-up time)


def project_env(root: Path) -> dict[str, str]:
    """The project's .env under the process environment (the environment wins, as in Docker Compose)."""
    env_file = root / ".env"
    values: dict[str, str] = {}
    if env_file.is_file():
        from dotenv import dotenv_values

        values = {k: v for k, v in dotenv_values(env_file).items() if v is not None}
    values.update(os.environ)
    return values


def load(file: Path, env: dict[str, str] | None = None) -> Loaded:
    from pydantic import ValidationError

    from stapel.model.errors import format_errors
    from stapel.model.interpolate import interpolate
    from stapel.model.schema import StackFile

    root = file.parent
    located = load_yaml(file)
    if not isinstance(located.data, dict):
        raise ConfigError(f"{file.name}:1: the top level must be a mapping (components:, services:, ...)")
    env = project_env(root) if env is None else env
    unset = interpolate(located, env)
    problems = list(unset.values())
    model = None
    try:
        model = StackFile.model_validate(located.data)
    except ValidationError as exc:
        problems += format_errors(located, exc.errors(include_url=False), skip=set(unset))
    if model is not None:
        problems += cross_check(located, model)
    if problems:
        raise ConfigError(problems[0], problems=problems[1:])
    return Loaded(file=file, root=root, located=located, env=env, model=model)


def cross_check(located: Located, model: "StackFile") -> list[str]:  # noqa: F821
    from stapel.engine.graph import find_cycle
    from stapel.model.schema import did_you_mean

    problems = []
    both = set(model.components) & set(model.services)
    for name in sorted(both):
        problems.append(f"{located.where(('services', name))}: services.{name}: the name is already used by components.{name}; names must be unique")
    nodes = {**{n: c for n, c in model.components.items()}, **{n: s for n, s in model.services.items()}}
    section = {n: "components" for n in model.components} | {n: "services" for n in model.services}
    for name, node in nodes.items():
        for dep in node.depends_on:
            path = (section[name], name, "depends_on", dep)
            if dep not in nodes:
                problems.append(f"{located.where(path)}: {'.'.join(map(str, path[:3]))}: unknown name '{dep}'{did_you_mean(dep, sorted(nodes))}")
            elif dep == name:
                problems.append(f"{located.where(path)}: {'.'.join(map(str, path[:3]))}: '{name}' cannot depend on itself")
    for name, service in model.services.items():
        probe = service.probe
        which = probe and ("tcp" if probe.tcp else "http" if probe.http else None)
        if which and getattr(probe, which).port is None and service.port is None:
            path = ("services", name, "probe", which)
            problems.append(f"{located.where(path)}: services.{name}.probe.{which}.port: needed, because the service has no port; set one of them")
    if not problems:
        cycle = find_cycle({n: list(node.depends_on) for n, node in nodes.items()})
        if cycle:
            first = cycle[0]
            path = (section[first], first, "depends_on")
            problems.append(f"{located.where(path)}: dependency cycle: {' -> '.join(cycle)}; remove one of these depends_on entries")
    if model.contour not in model.contours:
        problems.append(f"{located.where(('contour',))}: contour: unknown contour '{model.contour}'{did_you_mean(model.contour, sorted(model.contours))}")
    return problems
