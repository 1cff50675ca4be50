"""What `up` gives one service on top of the environment it inherits (stapel env print, the dashboard,
stapel.testing's stack fixture)."""

from __future__ import annotations

from typing import Any

from stapel.errors import ConfigError


def service_environment(stack: Any, name: str, what: str = "env print") -> dict[str, str]:
    """What `up` gives service `name` on top of the inherited environment, sorted by key, secrets NOT masked
    (the ports are the stack's: call engine.ports.apply_remembered first for those of the last up)."""
    from stapel.components.service import declared_env

    node = _service(stack, name, what)
    return dict(sorted(declared_env(node, stack.root, stack.service_env(node)).items()))


def _service(stack: Any, name: str, what: str = "env print") -> Any:
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
