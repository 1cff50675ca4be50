"""Component kinds: one module each, all exposing the same names (see base.py), in one explicit registry."""

from __future__ import annotations

from types import ModuleType


def kind_module(kind: str) -> ModuleType:
    from stapel.components import adminer, consul, grafana, nginx, postgres, prometheus, qdrant, rabbitmq, redis

    registry = {"postgres": postgres, "redis": redis, "rabbitmq": rabbitmq, "prometheus": prometheus, "grafana": grafana,
                "consul": consul, "qdrant": qdrant, "nginx": nginx,
                "adminer": adminer}
    return registry[kind]
