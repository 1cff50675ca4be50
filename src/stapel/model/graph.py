"""Dependency graph: cycles and start levels (graphlib does the sorting)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from graphlib import CycleError, TopologicalSorter


def find_cycle(edges: Mapping[str, Iterable[str]]) -> list[str] | None:
    """A dependency cycle as a path that starts and ends at the same name, or None."""
    try:
        TopologicalSorter({n: set(deps) for n, deps in edges.items()}).prepare()
    except CycleError as exc:
        cycle = list(exc.args[1])
        cycle.reverse()  # graphlib lists it from dependency to dependant
        return cycle
    return None


def levels(edges: Mapping[str, Iterable[str]], only: Iterable[str] | None = None) -> list[list[str]]:
    """Names grouped so that every name comes after all it depends on; one level starts in parallel."""
    wanted = set(edges) if only is None else set(only)
    sorter = TopologicalSorter({n: {d for d in deps if d in wanted} for n, deps in edges.items() if n in wanted})
    sorter.prepare()
    out = []
    while sorter.is_active():
        ready = sorted(sorter.get_ready())
        out.append(ready)
        sorter.done(*ready)
    return out


def closure(edges: Mapping[str, Iterable[str]], roots: Iterable[str]) -> set[str]:
    """The roots and everything they depend on, transitively."""
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(edges.get(name, ()))
    return seen


def dependants(edges: Mapping[str, Iterable[str]], roots: Iterable[str]) -> set[str]:
    """Names that depend on any of the roots, transitively (the roots excluded)."""
    reverse: dict[str, set[str]] = {}
    for name, deps in edges.items():
        for dep in deps:
            reverse.setdefault(dep, set()).add(name)
    return closure(reverse, roots) - set(roots)
