"""`${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:?message}` and `$$` in stapel.yaml strings."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from stapel.errors import ConfigError
from stapel.model.yamlfile import ConfigPath, Located, dotted

_PATTERN = re.compile(
    r"\$(?:(?P<escaped>\$)|\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:-|-|:\?|\?)(?P<arg>[^}]*))?\}|(?P<bad>\{[^}]*\}?))"
)


def interpolate(located: Located, env: Mapping[str, str]) -> list[str]:
    """Replace variables in every string of `located.data`, in place. Returns the problems found."""
    problems: list[str] = []
    located.data = _walk(located, located.data, (), env, problems)
    return problems


def _walk(located: Located, value: Any, path: ConfigPath, env: Mapping[str, str], problems: list[str]) -> Any:
    if isinstance(value, dict):
        return {k: _walk(located, v, path + (k,), env, problems) for k, v in value.items()}
    if isinstance(value, list):
        return [_walk(located, v, path + (i,), env, problems) for i, v in enumerate(value)]
    if isinstance(value, str) and "$" in value:
        try:
            return substitute(value, env)
        except ValueError as exc:
            problems.append(f"{located.where(path)}: {dotted(path)}: {exc}")
    return value


def substitute(text: str, env: Mapping[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        if match.group("escaped"):
            return "$"
        if match.group("bad") is not None:
            raise ValueError(f"malformed variable '${match.group('bad')}' (write ${{NAME}}, ${{NAME:-default}} or $$ for a literal $)")
        name, op, arg = match.group("name"), match.group("op"), match.group("arg")
        value = env.get(name)
        if op == ":-":
            return value if value else arg
        if op == "-":
            return value if value is not None else arg
        if op in (":?", "?"):
            if (value is None) or (op == ":?" and not value):
                raise ValueError(f"${{{name}}} is required: {arg or 'not set'}")
            return value
        if value is None:
            raise ValueError(f"${{{name}}} is not set (set it in the environment or .env, or write ${{{name}:-default}})")
        return value

    return _PATTERN.sub(replace, text)
