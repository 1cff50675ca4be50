"""Component kinds: one module each, all exposing the same names (see base.py), in one explicit registry."""

from __future__ import annotations

from types import ModuleType


def kind_module(kind: str) -> ModuleType:
    from stapel.components import postgres, prometheus, rabbitmq, redis
    from stapel.components.unsupported import module_for

    registry = {"postgres": postgres, "redis": redis, "rabbitmq": rabbitmq, "prometheus": prometheus}
    if kind in registry:
        return registry[kind]
    return module_for(kind)  # consul, qdrant, grafana: accepted by the model, not yet runnable
