"""Component kinds: one module each behind one contract (contract.py), in one explicit registry.

Adding a kind is its module plus one line in KINDS. Every list of kinds (the stapel.yaml schema's discriminated
union, error messages, `stapel schema`, monitoring, provisioning, binary hints) is derived from this dict, in this
order. Modules are imported when first asked for (kinds()), not when this package is: `stapel --help` stays fast.
"""

from __future__ import annotations

import functools
import importlib
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stapel.model.loader import Loaded
    from stapel.model.nodes import ComponentBase
    from stapel.model.schema import StackFile

# kind (its `kind:` in stapel.yaml and its config model's Literal) -> its module
KINDS: dict[str, str] = {
    "postgres": "stapel.components.postgres",
    "redis": "stapel.components.redis",
    "rabbitmq": "stapel.components.rabbitmq",
    "prometheus": "stapel.components.prometheus",
    "consul": "stapel.components.consul",
    "qdrant": "stapel.components.qdrant",
    "grafana": "stapel.components.grafana",
    "nginx": "stapel.components.nginx",
    "adminer": "stapel.components.adminer",
    "external": "stapel.components.external",
}


@functools.cache
def kinds() -> dict[str, ModuleType]:
    """Every registered kind's module, in registry order."""
    return {kind: importlib.import_module(module) for kind, module in KINDS.items()}


def kind_module(kind: str) -> ModuleType:
    return kinds()[kind]


def config_models() -> tuple[type[ComponentBase], ...]:
    """Each kind's pydantic config model (its CONFIG), in registry order."""
    return tuple(module.CONFIG for module in kinds().values())


def stack_model() -> type[StackFile]:
    """The stapel.yaml model whose `components:` are the registered kinds."""
    from stapel.model.schema import stack_model as build

    return build(config_models())


def load(file: Path, env: dict[str, str] | None = None, contour: str | None = None) -> Loaded:
    """stapel.yaml loaded and validated against the registered kinds (model.loader.load)."""
    from stapel.model.loader import load as load_with

    return load_with(file, env, contour, stack=stack_model())


def json_schema() -> dict[str, Any]:
    """`stapel schema`: the JSON Schema of stapel.yaml with the registered kinds."""
    from stapel.model.schema import json_schema as schema_of

    return schema_of(stack_model())
