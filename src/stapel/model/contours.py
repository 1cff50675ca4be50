"""Contours (dev, stage, prod, ...): pick one, follow its `from:` chain, merge it, apply its overrides.

Works on the raw YAML data before validation, so a contour can override anything in components: and
services:, and errors in an override still point at the override's own line.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from stapel.errors import ConfigError
from stapel.model.yamlfile import ConfigPath, Located

SLOT_SUFFIX = "-slot"


@dataclass
class Chosen:
    name: str  # the contour as declared (stage)
    chain: list[str]  # stage, dev: the contour first, then what it inherits from
    settings: dict[str, Any] = field(default_factory=dict)  # merged raw settings, without `from`


class InheritanceCycle(ConfigError):
    """A `from:` cycle: reported once, although each contour on it finds it."""

    def __init__(self, message: str, cycle: frozenset[str], hint: str) -> None:
        super().__init__(message, hint=hint)
        self.cycle = cycle


def declared(data: dict[str, Any]) -> dict[str, Any]:
    contours = data.get("contours")
    if contours is None:
        return {"dev": {}}
    return contours if isinstance(contours, dict) else {}


def choose(located: Located, wanted: str | None) -> Chosen:
    data = located.data
    contours = declared(data)
    name = wanted or data.get("contour") or "dev"
    name = str(name)
    if name not in contours:
        from stapel.model.schema import did_you_mean

        origin = "--contour" if wanted else f"{located.where(('contour',))}: contour"
        raise ConfigError(f"{origin}: unknown contour '{name}'{did_you_mean(name, sorted(map(str, contours)))}",
                          hint=f"declare it under contours: in {located.file.name}" if wanted else None)
    chain = inheritance(located, name)
    settings: dict[str, Any] = {}
    for link in reversed(chain):
        block = contours.get(link) or {}
        if isinstance(block, dict):
            settings = merge(settings, {k: v for k, v in block.items() if k != "from"})
    return Chosen(name, chain, settings)


def inheritance(located: Located, name: str) -> list[str]:
    contours = declared(located.data)
    chain = [name]
    while True:
        block = contours.get(chain[-1])
        parent = block.get("from") if isinstance(block, dict) else None
        if parent is None:
            return chain
        path = ("contours", chain[-1], "from")
        where = f"{located.where(path)}: contours.{chain[-1]}.from"
        parent = str(parent)
        if parent == chain[-1]:
            raise ConfigError(f"{where}: contour '{parent}' cannot inherit from itself", hint="remove from: or name another contour")
        if parent in chain:
            raise InheritanceCycle(f"{where}: inheritance cycle {' -> '.join([*chain, parent])}", frozenset(chain),
                                   hint="remove one of these from: entries")
        if parent not in contours:
            from stapel.model.schema import did_you_mean

            raise ConfigError(f"{where}: unknown contour '{parent}'{did_you_mean(parent, sorted(map(str, contours)))}")
        chain.append(parent)


def all_problems(located: Located) -> list[str]:
    """Inheritance problems of every declared contour (not only the chosen one): all are reported at once."""
    problems: list[str] = []
    cycles: set[frozenset[str]] = set()
    for name in declared(located.data):
        try:
            inheritance(located, str(name))
        except InheritanceCycle as exc:
            if exc.cycle not in cycles:
                problems.append(exc.lines()[0])
            cycles.add(exc.cycle)
        except ConfigError as exc:
            if exc.lines()[0] not in problems:
                problems.append(exc.lines()[0])
    return problems


def apply_overrides(located: Located, chosen: Chosen) -> list[str]:
    """Merge the contour's components:/services: overrides into the top-level blocks, in place.
    Lines of overridden paths point at the override. Returns problems (an override of an unknown name)."""
    problems = []
    for section in ("components", "services"):
        overrides = chosen.settings.get(section) or {}
        if not isinstance(overrides, dict):
            continue
        base = located.data.setdefault(section, {})
        if not isinstance(base, dict):
            continue
        for name, override in overrides.items():
            source = _source(located, chosen, section, name)
            if name not in base:
                from stapel.model.schema import did_you_mean

                path = ("contours", source, section, name)
                problems.append(f"{located.where(path)}: contours.{source}.{section}.{name}: no such name in {section}:"
                                f"{did_you_mean(str(name), sorted(map(str, base)))}")
                continue
            if not isinstance(override, dict) or not isinstance(base[name], dict):
                continue
            base[name] = merge(base[name], override)
            _relocate(located, ("contours", source, section, name), (section, name))
    return problems


def _source(located: Located, chosen: Chosen, section: str, name: str) -> str:
    """Which contour of the chain gives this override (the nearest one)."""
    contours = declared(located.data)
    for link in chosen.chain:
        block = contours.get(link)
        if isinstance(block, dict) and isinstance(block.get(section), dict) and name in block[section]:
            return link
    return chosen.name


def _relocate(located: Located, source: ConfigPath, target: ConfigPath) -> None:
    for path, line in list(located.lines.items()):
        if path[:len(source)] == source and len(path) > len(source):
            located.lines[target + path[len(source):]] = line
            located.origins[target + path[len(source):]] = path


def merge(base: Any, override: Any) -> Any:
    """Mappings merge key by key; anything else is replaced by the override."""
    if isinstance(base, dict) and isinstance(override, dict):
        out = dict(base)
        for key, value in override.items():
            out[key] = merge(base[key], value) if key in base else copy.deepcopy(value)
        return out
    return copy.deepcopy(override)


def instance(contour: str, slot: int | None) -> str:
    """The name on disk, in node names and locks: stage, or stage-slot2 for --slot 2."""
    return contour if slot is None else f"{contour}{SLOT_SUFFIX}{slot}"
