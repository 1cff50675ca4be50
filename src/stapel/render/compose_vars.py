"""What compose.yaml's strings are made of: Compose's `${VAR}` interpolation, stapel's way (every secret is a
reference whose value goes to .env.compose, 0600; every literal `$` is escaped; a last guard refuses a secret value
that would still land in the file: a command line, an exec probe), and paths relative to the file."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from stapel.errors import ConfigError

_URL_AUTH = re.compile(r"^([a-z][a-z0-9+.:-]*://[^:@/]*:)([^@/]*)(@)")
_PLAIN = re.compile(r"^[A-Za-z0-9_./:@+,=-]*$")


class Refs:
    """Secret values and the variables that stand for them in compose.yaml (the values go to .env.compose)."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}

    def ref(self, var: str, value: str) -> str:
        for known, existing in self.values.items():
            if existing == value:
                return "${" + known + "}"
        name, n = var, 2
        while name in self.values:
            name, n = f"{var}_{n}", n + 1
        self.values[name] = value
        return "${" + name + "}"

    def url_ref(self, var: str, value: str) -> str:
        """The secret as it appears inside a URL (percent-encoded): its own variable when encoding changes it."""
        encoded = quote(value, safe="")
        return self.ref(var, value) if encoded == value else self.ref(f"{var}_URLENCODED", encoded)


def env_text(stack: Any, refs: Refs) -> str:
    lines = [f"COMPOSE_PROJECT_NAME={stack.name}-{stack.instance}"]
    for key, value in sorted(refs.values.items()):
        if "'" in value or "\n" in value:
            raise ConfigError(f"{stack.file.name}: {key}: a secret with a quote or a line break cannot go into .env.compose",
                              hint="choose another value (stapel env sync generates safe ones)")
        lines.append(f"{key}={value}" if _PLAIN.match(value) else f"{key}='{value}'")
    return "\n".join(lines) + "\n"


def seed_refs(stack: Any, refs: Refs) -> None:
    for node in stack.components():
        password = getattr(node.config, "password", None)
        if password:
            refs.ref(f"{node.env_name}_PASSWORD", password)
        for role, spec in getattr(node.config, "roles", {}).items():
            refs.ref(f"{node.env_name}_{role.upper().replace('-', '_')}_PASSWORD", spec.password)
        from stapel.components import kind_module

        own = getattr(kind_module(node.kind), "service_passwords", None)  # the services' own broker users
        for var, password in (own(node, stack.users_of(node), stack.all_env()) if own else {}).items():
            refs.ref(var, password)


def escape(value: str) -> str:
    return str(value).replace("$", "$$")


def env_value(stack: Any, key: str, value: str, refs: Refs) -> str:
    from stapel.env.masking import secret_by_name

    if value and (secret_by_name(key, value) or key in stack.model.env.secrets):
        return refs.ref(key, value)
    found = _URL_AUTH.match(value)
    if found:
        secret = unquote(found.group(2))
        var = next((k for k, v in refs.values.items() if v == secret), None)
        if var:
            return escape(found.group(1)) + refs.url_ref(var, secret) + "@" + escape(value[found.end():])
    from stapel.env.masking import secrets_in

    if secrets_in(value):  # a DSN's password=, or a URL whose password no key holds: the whole value is the secret
        return refs.ref(key, value)
    return escape(value)


def check_leaks(stack: Any, doc: dict[str, Any]) -> None:
    """The last guard: no secret value in any string of the document (names and users that equal a weak
    dev password, like postgres/postgres, are not secrets there)."""
    plain = {str(getattr(n.config, a, "")) for n in stack.components() for a in ("user", "database", "vhost")} | {n.kind for n in stack.nodes.values()}
    secrets = [s for s in stack.secrets() if s not in plain]
    for path, text in _strings(doc, ()):
        for secret in secrets:
            if secret in text or quote(secret, safe="") in text:
                node = stack.nodes.get(path[1]) if len(path) > 1 and path[0] == "services" else None
                origin = f" (from {stack.file.name} {'services' if node.is_service else 'components'}.{node.name})" if node else ""
                raise ConfigError(f"compose.yaml {'.'.join(map(str, path))}: a secret value would land in the file{origin}",
                                  hint="pass it through env: as ${VAR} (a .env key), never on a command line")


def _strings(value: Any, path: tuple) -> list[tuple[tuple, str]]:
    if isinstance(value, dict):
        return [hit for key, item in value.items() for hit in _strings(item, (*path, key))]
    if isinstance(value, list):
        return [hit for i, item in enumerate(value) for hit in _strings(item, (*path, i))]
    return [(path, value)] if isinstance(value, str) else []


def relative(path: Path, out: Path) -> str:
    """A project path as compose.yaml in `out` names it (Compose resolves relative paths from the file's folder)."""
    rel = os.path.relpath(path, out)
    return rel if rel.startswith(".") else f"./{rel}"


def compose_target(refs: Refs, stack: Any = None) -> Any:  # components.base.Target
    """A kind's container as Compose has it: secrets as ${<NODE>_<SUFFIX>} of .env.compose, literals escaped."""
    from stapel.components.base import Target
    from stapel.components.container import container_of

    def secret(node: Any, key: str, value: str) -> str:
        return refs.ref(f"{node.env_name}_{container_of(node).secret_env[key]}", value)

    return Target("compose", secret, escape, stack, refs.ref)


def image_env(node: Any, refs: Refs, env: dict[str, str]) -> dict[str, str]:
    """A kind's container env (or its one-shots') for compose.yaml: the keys its CONTAINER names secret as references,
    any other secret value (a role's password) under its own name, the rest escaped."""
    from stapel.components.container import container_of

    secret_env = container_of(node).secret_env
    return {key: refs.ref(f"{node.env_name}_{secret_env[key]}", value) if key in secret_env else escape(value)
            for key, value in env.items()}
