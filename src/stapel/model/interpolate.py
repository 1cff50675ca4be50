"""`${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:?message}`, `${VAR?message}` and `$$` in
stapel.yaml strings, as Docker Compose reads them (defaults may nest: `${A:-${B:-x}}`)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from stapel.model.yamlfile import ConfigPath, Located, dotted

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_OPERATORS = (":-", ":?", "-", "?")


def interpolate(located: Located, env: Mapping[str, str]) -> dict[ConfigPath, str]:
    """Replace variables in every string of `located.data`, in place. Returns the problems by config path."""
    problems: dict[ConfigPath, str] = {}
    located.data = _walk(located, located.data, (), env, problems)
    return problems


def _walk(located: Located, value: Any, path: ConfigPath, env: Mapping[str, str], problems: dict) -> Any:
    if isinstance(value, dict):
        return {k: _walk(located, v, path + (k,), env, problems) for k, v in value.items()}
    if isinstance(value, list):
        return [_walk(located, v, path + (i,), env, problems) for i, v in enumerate(value)]
    if isinstance(value, str) and "$" in value:
        names: list[str] = []
        defaulted: list[str] = []
        derived = len(path) == 4 and path[0] == "services" and path[2] == "env"  # may name what stapel gives the service
        if derived:
            located.templates[path] = value
        try:
            return substitute(value, env, names, defaulted)
        except ValueError as exc:
            if derived and _well_formed(value):  # resolved against the service's env later (env/derived.py checks it)
                located.deferred.add(path)
                return value
            problems[path] = f"{located.where(path)}: {dotted(path)}: {exc}"
        finally:
            if names:
                located.variables[path] = names
            if defaulted:
                located.defaulted[path] = defaulted
    return value


class _Anything(dict):
    def get(self, name, default=None):
        return "x"


def _well_formed(text: str) -> bool:
    """Whether `text` parses (every name set, so that only the syntax can fail)."""
    try:
        substitute(text, _Anything())
    except ValueError:
        return False
    return True


def substitute(text: str, env: Mapping[str, str], names: list[str] | None = None, defaulted: list[str] | None = None) -> str:
    """`text` with its variables expanded; `names` collects the variables it reads, `defaulted` those whose
    default (`:-` or `-`) was used because the variable was empty or unset."""
    out, i = [], 0
    while i < len(text):
        char = text[i]
        if char != "$":
            out.append(char)
            i += 1
        elif text.startswith("$$", i):
            out.append("$")
            i += 2
        elif text.startswith("${", i):
            end = _closing_brace(text, i + 2)
            out.append(_expand(text[i + 2:end], env, names, defaulted))
            i = end + 1
        else:
            out.append(char)  # a lone $ (as in a regex or a price) stays as it is
            i += 1
    return "".join(out)


def _closing_brace(text: str, start: int) -> int:
    depth = 1
    for index in range(start, len(text)):
        if text.startswith("${", index):
            depth += 1
        elif text[index] == "}":
            depth -= 1
            if depth == 0:
                return index
    raise ValueError(f"unclosed '${{' in '{text}' (write ${{NAME}}, ${{NAME:-default}} or $$ for a literal $)")


def _expand(body: str, env: Mapping[str, str], names: list[str] | None = None, defaulted: list[str] | None = None) -> str:
    match = _NAME.match(body)
    if not match:
        raise ValueError(f"malformed variable '${{{body}}}' (write ${{NAME}}, ${{NAME:-default}} or $$ for a literal $)")
    name, rest = match.group(), body[match.end():]
    value = env.get(name)
    if names is not None:
        names.append(name)
    if not rest:
        if value is None:
            raise ValueError(f"${{{name}}} is not set (set it in the environment or .env, or write ${{{name}:-default}})")
        return value
    operator = next((op for op in _OPERATORS if rest.startswith(op)), None)
    if operator is None:
        raise ValueError(f"malformed variable '${{{body}}}' (write ${{NAME}}, ${{NAME:-default}} or $$ for a literal $)")
    arg = rest[len(operator):]
    if operator in (":-", "-"):
        if value is not None and (value or operator == "-"):  # ":-" also replaces an empty value
            return value
        if defaulted is not None:
            defaulted.append(name)
        return substitute(arg, env, names, defaulted)
    if value is None or (operator == ":?" and not value):
        raise ValueError(f"${{{name}}} is required: {substitute(arg, env) or 'not set'}")
    return value
