"""What every block of the stapel.yaml schema builds on: strict models, name patterns, shorthands."""

from __future__ import annotations

import difflib
import shlex
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from pydantic_core import PydanticCustomError

NAME_PATTERN = r"^[a-z][a-z0-9_-]*$"
PREFIX_PATTERN = r"^([A-Z][A-Z0-9_]*_)?$"
IDENTIFIER_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
def _no_bool(value: Any) -> Any:
    if isinstance(value, bool):  # YAML `true` would otherwise pass as 1
        raise PydanticCustomError("int_type", "expected an integer", {})
    return value


Port = Annotated[int, BeforeValidator(_no_bool), Field(ge=1, le=65535)]


def did_you_mean(word: str, choices: list[str] | tuple[str, ...]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else f" (allowed: {', '.join(sorted(choices))})"


class Strict(BaseModel):
    """Every block rejects keys it does not know (model.errors names the closest one it does)."""

    model_config = ConfigDict(extra="forbid")


def _as_argv(value: Any) -> Any:
    if isinstance(value, str):
        try:
            argv = shlex.split(value)
        except ValueError as exc:
            raise PydanticCustomError("command", "cannot split the command: {why}", {"why": str(exc)}) from None
        if not argv:
            raise PydanticCustomError("command", "the command is empty", {})
        return argv
    if isinstance(value, list) and not value:
        raise PydanticCustomError("command", "the command is empty", {})
    return value


def _as_env(value: Any) -> Any:
    if isinstance(value, list):  # Compose style: ["A=1", "B=2"]
        pairs = {}
        for item in value:
            key, sep, val = str(item).partition("=")
            if not sep:
                raise PydanticCustomError("env", "expected KEY=VALUE, got '{item}'", {"item": item})
            pairs[key] = val
        value = pairs
    if isinstance(value, dict):
        return {k: ("" if v is None else (str(v).lower() if isinstance(v, bool) else str(v))) for k, v in value.items()}
    return value


def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


def _as_name_map(value: Any) -> Any:
    """`a`, `[a, b]` or `{a: {...}, b: null}` -> {name: {...}} (depends_on, uses, env.secrets)."""
    if isinstance(value, str):
        value = [value]
    if isinstance(value, list):
        return {str(name): {} for name in value}
    if isinstance(value, dict):
        return {k: ({} if v is None else v) for k, v in value.items()}
    return value
