"""stapel.yaml -> interpolate env -> validate -> cross-check. Everything wrong is reported at once."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stapel.errors import ConfigError
from stapel.model.yamlfile import Located, load_yaml

if TYPE_CHECKING:  # imported lazily at run time (pydantic costs start-up time)
    from stapel.model.contour_schema import Contour
    from stapel.model.schema import StackFile


@dataclass
class Loaded:
    file: Path
    root: Path
    located: Located
    env: dict[str, str]
    model: StackFile
    contour: str = "dev"
    settings: Contour | None = None  # the chosen contour, its from: chain merged
    env_files: list[Path] | None = None  # read for ${VAR}, in order


def project_env(root: Path, extra: list[Path] | None = None) -> dict[str, str]:
    """The project's .env, then the contour's env files, under the process environment (the
    environment wins, as in Docker Compose); a `${NAME}` in a value is expanded (envdoc.read_expanded)."""
    from stapel import envdoc

    values: dict[str, str] = {}
    environ = dict(os.environ)
    for path in [root / ".env", *(extra or [])]:
        if path.is_file() or path != root / ".env":
            values.update(envdoc.read_expanded(path, values, environ))
    values.update(environ)
    return values


def load(file: Path, env: dict[str, str] | None = None, contour: str | None = None, *,
         stack: type[StackFile]) -> Loaded:
    """`stack`: the StackFile model of the registry's kinds (model.schema.stack_model; stapel.components.load passes it)."""
    from pydantic import ValidationError

    from stapel.model import contours
    from stapel.model.errors import format_errors
    from stapel.model.interpolate import interpolate
    from stapel.model.schema import Contour

    root = file.parent
    located = load_yaml(file)
    if not isinstance(located.data, dict):
        raise ConfigError(f"{file.name}:1: the top level must be a mapping (components:, services:, ...)")
    if not located.data:
        raise ConfigError(f"{file.name}:1: the file is empty; declare components: or services: (stapel schema prints every key)")
    problems = contours.all_problems(located)
    if problems:
        raise ConfigError(problems[0], problems=problems[1:])
    unknown_contour = None
    try:
        chosen = contours.choose(located, contour)
    except ConfigError as exc:  # reported with everything else that is wrong, after validation
        unknown_contour = exc.lines()[0]
        chosen = contours.Chosen(str(contour or located.data.get("contour") or "dev"), [], {})
    env_files = [(root / str(f)) for f in _as_list(chosen.settings.get("env_file"))]
    problems += _missing_env_files(located, chosen)
    if not unknown_contour:
        problems += [p for p in other_contours(located, chosen.name) if p not in problems]
    if problems:
        raise ConfigError(problems[0], problems=problems[1:])
    env = project_env(root, env_files) if env is None else env
    problems = contours.apply_overrides(located, chosen)
    unset = interpolate(located, env)
    problems += list(unset.values())
    model: StackFile | None = None
    settings: Contour | None = None
    try:
        model = stack.model_validate(located.data)
    except ValidationError as exc:
        problems += format_errors(located, exc.errors(include_url=False), skip=set(unset), stack=stack)
    if unknown_contour and model is not None:
        problems += cross_check(located, model) + [unknown_contour]
    elif model is not None:
        settings = Contour.model_validate(interpolate_plain(chosen.settings, env))
        problems += cross_check(located, model)
        problems += contour_check(located, model, chosen.name, settings, env)
    if model is not None:
        problems += broker_url_problems(located, model, [root / ".env", *env_files])
    if model is not None and not problems and not model.components and not model.services:
        problems.append(f"{file.name}:1: nothing to run: declare components: or services: (stapel schema prints every key)")
    if problems:
        raise ConfigError(problems[0], problems=problems[1:])
    assert model is not None  # a model that did not validate left a problem above
    return Loaded(file=file, root=root, located=located, env=env, model=model, contour=chosen.name, settings=settings,
                  env_files=env_files)


def _missing_env_files(located: Located, chosen, synced: set[str] | None = None) -> list[str]:
    """The contour's env files that do not exist. For a contour that does not run now (`synced` given), one that
    `stapel env sync` makes from an existing example is fine: a fresh clone runs dev before anyone syncs stage."""
    problems = []
    for i, name in enumerate(_as_list(chosen.settings.get("env_file"))):
        path = located.file.parent / str(name)
        if synced is not None and os.path.normpath(path) in synced:
            continue
        if not path.is_file():
            config_path = ("contours", chosen.chain[-1] if chosen.chain else chosen.name, "env_file")
            problems.append(f"{located.where(config_path)}: contours.{chosen.name}.env_file[{i}]: {path} does not exist "
                            f"(create it, e.g. with stapel env sync, or remove it)")
    return problems


def _synced_env_files(located: Located) -> set[str]:
    """The env files env.files makes from an example that exists (raw data: validated later)."""
    env = located.data.get("env")
    entries = env.get("files") if isinstance(env, dict) else None
    found = set()
    for entry in entries if isinstance(entries, list) else []:
        entry = {"example": entry} if isinstance(entry, str) else entry
        if isinstance(entry, dict) and isinstance(entry.get("example"), str):
            example = located.file.parent / entry["example"]
            target = located.file.parent / str(entry["path"]) if entry.get("path") else example.parent / ".env"
            if example.is_file():
                found.add(os.path.normpath(target))
    return found


def other_contours(located: Located, current: str) -> list[str]:
    """Checked up front, all contours: what the others name must exist too (their env files, unless env sync makes
    them; the components and services they override), while this one runs; each problem once, even when inherited."""
    import copy

    from stapel.model import contours

    problems: list[str] = []
    for name in map(str, contours.declared(located.data)):
        if name == current:
            continue
        chosen = contours.choose(located, name)
        scratch = Located(located.file, copy.deepcopy(located.data), dict(located.lines))
        found = _missing_env_files(located, chosen, synced=_synced_env_files(located)) + contours.apply_overrides(scratch, chosen)
        found += _unknown_volumes(located, name, chosen.settings.get("volumes"))
        problems += [p for p in found if p not in problems]
    return problems


def _unknown_volumes(located: Located, contour: str, volumes: Any) -> list[str]:
    """Another contour's `volumes:` names (raw data): a component, or a service's volume as <service>.<volume>."""
    data = located.data if isinstance(located.data, dict) else {}
    known = set(data.get("components") or {}) if isinstance(data.get("components"), dict) else set()
    for service, body in (data.get("services") or {}).items() if isinstance(data.get("services"), dict) else []:
        if isinstance(body, dict) and isinstance(body.get("volumes"), dict):
            known |= {f"{service}.{volume}" for volume in body["volumes"]}
    return [f"{located.where(('contours', contour, 'volumes', name))}: contours.{contour}.volumes.{name}: "
            f"no such component or service volume (<service>.<volume>)"
            for name in (volumes if isinstance(volumes, dict) else {}) if name not in known]


def broker_url_problems(located: Located, model: StackFile, env_files: list[Path]) -> list[str]:
    """A `*_RABBITMQ_URL` (a service's env, or an env file) must be an amqp(s) URL with a host and a valid port:
    stapel derives broker users from them, and a service could not connect with it either."""
    from stapel.envdoc import read_doc
    from stapel.model.topology import URL_KEY, bad_broker_url

    expected = "expected amqp://user:password@host:port/vhost"
    problems = []
    for name, service in model.services.items():
        for key, value in service.env.items():
            if ("services", name, "env", key) in located.deferred:  # derived from what stapel gives: checked when resolved
                continue
            why = value and URL_KEY.search(key) and bad_broker_url(value)
            if why:
                path = ("services", name, "env", key)
                problems.append(f"{located.where(path)}: services.{name}.env.{key}: {why} ({expected})")
    for file in env_files:
        doc = read_doc(file, file.name)[0] if file.is_file() else None
        if doc is None:
            continue
        for key, index in doc.last().items():
            chunk = doc.chunks[index]
            why = chunk.value and URL_KEY.search(key) and bad_broker_url(chunk.value)
            if why:
                problems.append(f"{file.name}:{chunk.line}: {key}: {why} ({expected})")
    return problems


def _as_list(value) -> list:
    return [] if value is None else [value] if isinstance(value, str) else list(value)


def interpolate_plain(data, env):
    """The chosen contour's merged settings, interpolated (they were validated in place already)."""
    from stapel.model.interpolate import substitute

    if isinstance(data, dict):
        return {k: interpolate_plain(v, env) for k, v in data.items()}
    if isinstance(data, list):
        return [interpolate_plain(v, env) for v in data]
    if isinstance(data, str) and "$" in data:
        try:
            return substitute(data, env)
        except ValueError:
            return data
    return data


def cross_check(located: Located, model: StackFile) -> list[str]:
    from stapel.model.graph import find_cycle
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
    problems += _uses_problems(located, model, nodes)
    problems += _provision_problems(located, model, nodes)
    for name, service in model.services.items():
        probe = service.probe
        which = probe and ("tcp" if probe.tcp else "http" if probe.http else None)
        if which and getattr(probe, which).port is None and service.port is None:
            where = located.where(("services", name, "probe", which))
            problems.append(f"{where}: services.{name}.probe.{which}.port: needed, because the service has no port; set one of them")
    if not problems:
        cycle = find_cycle({n: list(node.depends_on) for n, node in nodes.items()})
        if cycle:
            first = cycle[0]
            where = located.where((section[first], first, "depends_on"))
            problems.append(f"{where}: dependency cycle: {' -> '.join(cycle)}; remove one of these depends_on entries")
    return problems


def _uses_problems(located: Located, model: StackFile, nodes: dict) -> list[str]:
    """services.<name>.uses: names that exist, not the service itself, narrowing only where the kind has it."""
    from stapel.model.schema import Use, did_you_mean, kind_name

    problems = []
    for service_name, service in model.services.items():
        for name, use in service.uses.items():
            path = ("services", service_name, "uses", name)
            where = f"{located.where(path)}: services.{service_name}.uses.{name}"
            if name not in nodes:
                problems.append(f"{where}: unknown name '{name}'{did_you_mean(name, sorted(nodes))}")
            elif name == service_name:
                problems.append(f"{where}: a service cannot use itself")
            else:
                kind, allowed = getattr(nodes[name], "kind", "service"), getattr(nodes[name], "USE_KEYS", ())
                for field in sorted(use.model_fields_set - set(allowed), key=list(Use.model_fields).index):
                    if getattr(use, field) is not None:
                        key = Use.model_fields[field].alias or field
                        fits = " or ".join(kind_name(k) for k in type(model).KINDS if field in k.USE_KEYS)
                        problems.append(f"{where}.{key}: '{key}' applies to {fits} components only ('{name}' is {kind})")
                problems += [f"{where}.{problem}" for problem in nodes[name].use_problems(use)] if allowed else []
                if use.role and "role" in allowed and use.role not in nodes[name].roles:
                    known = did_you_mean(use.role, sorted(nodes[name].roles)) if nodes[name].roles else f" (declare it under components.{name}.roles)"
                    problems.append(f"{where}.role: unknown role '{use.role}'{known}")
    return problems + _own_user_problems(located, model, nodes)


def _own_user_problems(located: Located, model: StackFile, nodes: dict) -> list[str]:
    """A service's own broker user is named after it: that name must not be the broker's administrator."""
    problems = []
    for service_name, service in model.services.items():
        for name in dict.fromkeys([*service.depends_on, *service.uses]):
            node, use = nodes.get(name), service.uses.get(name)
            admin = getattr(node, "admin_user", lambda: None)()  # a component's; a service has none
            if admin == service_name and (use is None or use.user is None):
                path = ("services", service_name, "uses", name) if use else ("services", service_name, "depends_on", name)
                problems.append(f"{located.where(path)}: services.{service_name}: its own user on {name} would be named "
                                f"'{service_name}', which is {name}'s administrator; set services.{service_name}.uses.{name}.user")
    return problems


def _provision_problems(located: Located, model: StackFile, nodes: dict) -> list[str]:
    """What each kind's config finds wrong across its own fields (a role's unknown database, say) and in what it
    names of the rest of the stack (an nginx route's target)."""
    found = []
    for name, config in model.components.items():
        for problem in [*config.config_problems(name), *config.stack_problems(name, nodes)]:
            path = tuple(problem.split(":", 1)[0].split("."))
            found.append(f"{located.where(path)}: {problem}")
    return found


def contour_check(located: Located, model: StackFile, contour: str, settings: Contour, env: dict[str, str] | None = None) -> list[str]:
    """What the chosen contour names must exist; ports of contours must not collide; weak secrets outside dev."""
    from stapel.model import profiles
    from stapel.model.ports import collisions, fixed_port_collisions, unknown_port_names
    from stapel.model.weak import weak_credentials

    problems = unknown_port_names(located, model, contour, settings)
    problems += _unknown_volumes(located, contour, settings.volumes)
    if not problems:
        problems += fixed_port_collisions(located, model, contour, settings) or collisions(located, model)
    problems += weak_credentials(located, model, contour, settings, env)
    problems += profiles.problems(located, model, contour, settings)
    return problems
