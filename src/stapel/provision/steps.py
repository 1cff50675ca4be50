"""The `provision` step of `up`: each component whose kind names a provisioner (its module's PROVISIONER, a module
of this package) and declares something to set up inside it.

A provisioner module gives, for one node: `wanted(stack, node) -> bool` (it declares something),
`apply(stack, node, log) -> [changes]`, and `ensure(stack, node) -> [changes]`, run for every node on every up even
when nothing is declared (PostgreSQL's own `database:` is created again after `stapel db drop`).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from types import ModuleType
from typing import Any

from stapel.components import kind_module


def provisioner(node: Any) -> ModuleType | None:
    """The provisioner module of the node's kind, or None (a service, a kind with nothing to provision)."""
    name = None if node.is_service else kind_module(node.kind).PROVISIONER
    return importlib.import_module(f"{__package__}.{name}") if name else None


def declared(stack: Any, node: Any) -> bool:
    found = provisioner(node)
    return bool(found and found.wanted(stack, node))


def run_all(stack: Any, nodes: list[Any], log: Callable[[str], None]) -> list[str] | None:
    """The changes made, or None when no component declares anything to provision (and none had to be
    recreated: a postgres component's own `database:` is created again after `stapel db drop`)."""
    check(stack, nodes)
    results = [run_one(stack, node, log) for node in nodes]
    changes = [change for done, _wanted in results for change in done]
    return changes if changes or any(wanted for _done, wanted in results) else None


def check(stack: Any, nodes: list[Any]) -> None:
    """What no component can be provisioned with, refused before any is (an external one off this machine)."""
    for node in nodes:
        _provisioned_as(stack, node)


def run_one(stack: Any, node: Any, log: Callable[[str], None]) -> tuple[list[str], bool]:
    """One component: what its kind always ensures, then what it declares. (changes, whether it declares anything);
    components are independent of each other, so `up` runs this for each as soon as it is healthy."""
    node = _provisioned_as(stack, node)  # an external component as the kind it serves
    found = provisioner(node)
    if not found:
        return [], False
    changes = list(found.ensure(stack, node))
    for change in changes:
        log(change)
    wanted = found.wanted(stack, node)
    if wanted:
        changes += found.apply(stack, node, log)
    return changes, wanted


def _provisioned_as(stack: Any, node: Any) -> Any:
    """An external component is provisioned as the node of the kind it serves (its config filled from its URL, its host
    the URL's); `reachable`: its kind's provisioner can reach that host (external.py says which can)."""
    served = None if node.is_service else getattr(kind_module(node.kind), "provisioned_as", None)
    if served is None:
        return node
    as_served, reachable = served(node)
    if not reachable and declared(stack, as_served):
        from stapel.errors import ConfigError

        raise ConfigError(f"components.{node.name}: provisioning an external {as_served.kind} that is not on this machine is not "
                          "supported yet", hint="create what it declares there, and remove it from stapel.yaml")
    return as_served
