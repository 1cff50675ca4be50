"""The ports a contour gives every node: configured port, plus the contour's offset (and --slot's
stride), unless its `ports.set:` table names the port. Contours whose ports collide are refused."""

from __future__ import annotations

from typing import Any

from stapel.errors import ConfigError
from stapel.model.yamlfile import Located

MAX_PORT = 65535


def base_ports(kind: str, config: Any) -> dict[str, int]:
    if kind == "service":
        return {"main": config.port} if config.port else {}
    return config.configured_ports()  # the kind's config model asks its module


def node_ports(name: str, kind: str, config: Any, settings: Any, slot: int | None = None) -> dict[str, int]:
    """Port name -> port for one node in one contour."""
    spec = settings.ports
    shift = spec.offset + (slot or 0) * settings.slot_stride
    ports = {}
    for port_name, port in base_ports(kind, config).items():
        explicit = spec.set.get(f"{name}.{port_name}") or (spec.set.get(name) if port_name == "main" else None)
        ports[port_name] = explicit or port + shift
        if not 0 < ports[port_name] <= MAX_PORT:
            where = f"{'services' if kind == 'service' else 'components'}.{name}" + (".port" if port_name == "main" else f" ({port_name} port)")
            raise ConfigError(f"{where}: {port} shifted by {shift} (the contour's offset, --slot {slot or 0} x slot_stride "
                              f"{settings.slot_stride}) is {ports[port_name]}, past {MAX_PORT}",
                              hint="use a lower --slot, or a smaller ports.offset / slot_stride")
    return ports


def _nodes(model: Any) -> list[tuple[str, str, Any]]:
    return [(n, c.kind, c) for n, c in model.components.items()] + [(n, "service", s) for n, s in model.services.items()]


def unknown_port_names(located: Located, model: Any, contour: str, settings: Any) -> list[str]:
    from stapel.model.schema import did_you_mean

    problems = []
    known = {}
    for name, kind, config in _nodes(model):
        for port_name in base_ports(kind, config):
            known[name if port_name == "main" else f"{name}.{port_name}"] = True
            known[f"{name}.{port_name}"] = True
    for key in settings.ports.set:
        if key not in known:
            where = located.where(("contours", contour, "ports", "set", key))
            problems.append(f"{where}: contours.{contour}.ports.set.{key}: no such port{did_you_mean(key, sorted(known))}")
    return problems


def _by_contour(located: Located, model: Any) -> dict[str, tuple[str, dict[int, str]]]:
    """contour -> (port policy, {port: node or node.port_name}) of every contour that validates."""
    from stapel.model import contours
    from stapel.model.schema import Contour

    resolved: dict[str, tuple[str, dict[int, str]]] = {}
    for name in model.contours:
        try:
            settings = Contour.model_validate(contours.choose(located, name).settings)
        except Exception:  # that contour's own problems are reported on its own
            continue
        policy = settings.ports.policy or ("auto" if name == "dev" else "fixed")
        taken = {}
        for node, kind, config in _nodes(model):
            internal = () if kind == "service" else config.internal_ports()
            for port_name, port in node_ports(node, kind, config, settings).items():
                if port_name not in internal:
                    taken[port] = f"{node}" + ("" if port_name == "main" else f".{port_name}")
        resolved[name] = (policy, taken)
    return resolved


def fixed_elsewhere(located: Located, model: Any, contour: str) -> frozenset[int]:
    """The ports other contours with fixed ports use: a busy port this contour moves must not land on one of them,
    or dev (auto) would take stage's ports and the two could not run side by side."""
    return frozenset(port for name, (policy, taken) in _by_contour(located, model).items()
                     if name != contour and policy == "fixed" for port in taken)


def collisions(located: Located, model: Any) -> list[str]:
    """Two contours that would use the same port (unless both move busy ports themselves)."""
    resolved = _by_contour(located, model)
    problems = []
    names = sorted(resolved)
    for i, first in enumerate(names):
        for second in names[i + 1:]:
            (policy_a, ports_a), (policy_b, ports_b) = resolved[first], resolved[second]
            if policy_a == policy_b == "auto":
                continue
            shared = sorted(set(ports_a) & set(ports_b))
            if shared:
                port = shared[0]
                where = located.where(("contours", second))
                problems.append(
                    f"{where}: contours.{second}: port {port} ({ports_b[port]}) is also contour {first}'s ({ports_a[port]})"
                    f"{f' and {len(shared) - 1} more' if len(shared) > 1 else ''}; give contours.{second}.ports an offset "
                    f"(ports: 100) or a set: table, so both can run side by side")
    return problems


def fixed_port_collisions(located: Located, model: Any, contour: str, settings: Any) -> list[str]:
    """Two parts of one contour fixed on the same port (written as port:, <name>_port: or in ports.set:) are an
    error in every contour: dev used to move the second one silently, so it never ran where the file said."""
    owners: dict[int, tuple[str, tuple]] = {}
    problems = []
    for name, kind, config in _nodes(model):
        section = "services" if kind == "service" else "components"
        for port_name, port in node_ports(name, kind, config, settings).items():
            path = _written_at(name, section, port_name, config, contour, settings)
            if path is None:
                continue
            if port in owners and owners[port][0] != name:
                first = ".".join(map(str, owners[port][1]))
                problems.append(f"{located.where(path)}: {'.'.join(map(str, path))}: port {port} is also {first}'s; "
                                f"two parts cannot share a port (change one of them)")
            owners.setdefault(port, (name, path))
    return problems


def _written_at(name: str, section: str, port_name: str, config: Any, contour: str, settings: Any) -> tuple | None:
    """The config path that fixes this port, or None when it is the kind's default."""
    for key in (f"{name}.{port_name}", name if port_name == "main" else None):
        if key and key in settings.ports.set:
            return ("contours", contour, "ports", "set", key)
    field = "port" if port_name == "main" else f"{port_name}_port"
    if getattr(config, field, None) is not None:
        return (section, name, field)
    return None
