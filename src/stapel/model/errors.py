"""Turn pydantic's validation errors into stapel's one-line messages: file:line: config.path: what, and a fix."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from stapel.model.yamlfile import ConfigPath, Located, dotted

if TYPE_CHECKING:
    from stapel.model.schema import StackFile

_TYPE_WORDS = {
    "int_parsing": "an integer",
    "int_type": "an integer",
    "int_from_float": "an integer",
    "float_parsing": "a number",
    "float_type": "a number",
    "bool_parsing": "true or false",
    "bool_type": "true or false",
    "string_type": "a string",
    "dict_type": "a mapping",
    "list_type": "a list",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
}


def _pattern_words() -> dict[str, str]:
    from stapel.model import schema

    return {
        schema.NAME_PATTERN: "lower case letters, digits, - and _, starting with a letter",
        schema.PREFIX_PATTERN: "upper case letters, digits and _, ending with _, e.g. USERS_",
        schema.IDENTIFIER_PATTERN: "an SQL identifier: letters, digits and _, starting with a letter or _",
    }


def _shown(value: Any) -> str:
    if isinstance(value, str):
        return f"'{value}'"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(value)


def _clean_loc(loc: tuple[Any, ...], kinds: tuple[str, ...] = ()) -> ConfigPath:
    """Drop the parts pydantic adds for unions and validators, keeping the config path a user wrote."""
    out: list[str | int] = []
    for i, part in enumerate(loc):
        if i == 2 and loc[0] == "components" and part in kinds:
            continue
        if isinstance(part, str) and ("[" in part or part.startswith("function-")):
            continue
        out.append(part)
    return tuple(out)


def describe(error: Mapping[str, Any], data: Any = None, stack: type[StackFile] | None = None) -> tuple[ConfigPath, str]:
    """`stack`: the StackFile model validated against (its kinds name the union's members); none for other blocks."""
    from stapel.model.schema import StackFile

    stack = stack or StackFile
    kinds = stack.kind_names()
    loc = _clean_loc(tuple(error["loc"]), kinds)
    kind, ctx, value = error["type"], error.get("ctx") or {}, error.get("input")
    if kind == "extra_forbidden":
        from stapel.model.schema import block_model, did_you_mean

        model = block_model(loc[:-1], data, stack)
        hint = did_you_mean(str(loc[-1]), sorted(model.model_fields)) if model else ""
        return loc, f"unknown key '{loc[-1]}'{hint}"
    if kind == "union_tag_invalid":
        from stapel.model.schema import did_you_mean

        return loc + ("kind",), f"unknown kind '{ctx['tag']}'{did_you_mean(str(ctx['tag']), kinds)}"
    if kind in ("less_than_equal", "greater_than_equal", "less_than", "greater_than"):
        bound = {"less_than_equal": "at most {le}", "greater_than_equal": "at least {ge}", "less_than": "below {lt}",
                 "greater_than": "above {gt}"}[kind].format(**ctx)
        return loc, f"expected a value {bound}, got {_shown(value)}"
    if kind == "missing":
        return loc, "required key is missing"
    if kind in _TYPE_WORDS:
        return loc, f"expected {_TYPE_WORDS[kind]}, got {_shown(value)}"
    if kind == "literal_error":
        return loc, f"expected {ctx.get('expected', 'one of the allowed values')}, got {_shown(value)}"
    if kind == "union_tag_not_found":
        return loc, f"'kind' is missing (one of {', '.join(kinds)})"
    if kind == "string_pattern_mismatch":
        pattern = str(ctx.get("pattern"))
        return loc, f"{_shown(value)} is not valid here ({_pattern_words().get(pattern, 'expected ' + pattern)})"
    message = error["msg"]
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    return loc, message


def format_errors(located: Located, errors: Sequence[Mapping[str, Any]], skip: Collection[ConfigPath] = frozenset(),
                  stack: type[StackFile] | None = None) -> list[str]:
    """One line per error; paths in `skip` already have a problem reported (an unset variable, say). Past the
    lines a user reads (MAX_LINES), the rest are only counted: pydantic's own text, no suggestions to compute."""
    from stapel.errors import MAX_LINES

    lines: list[str] = []
    for error in errors:
        if len(lines) >= MAX_LINES:
            loc, message = _clean_loc(tuple(error["loc"]), stack.kind_names() if stack else ()), error["msg"]
        else:
            loc, message = describe(error, located.data, stack)
        if loc in skip:
            continue
        key = (error.get("ctx") or {}).get("key")  # a bad name: the line of that key
        at = located.where(loc + (key,) if isinstance(key, str) else loc)
        lines.append(f"{at}: {dotted(located.written(loc)) or 'top level'}: {message}")
    return lines
