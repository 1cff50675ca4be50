"""Outside dev, default or weak credentials refuse to start (seed 004: only safe defaults).

Every credential stapel provisions is checked after interpolation: a component's own password, each
login role's and each broker user's (declared, or derived from a `*_RABBITMQ_URL`). A value refused:
- a default written into stapel.yaml (`${VAR:-dev-only-...}` taken because VAR is empty or unset): it is in
  git for everyone to read, and meant for dev;
- empty, the user's name, or too guessable: `strength()` below.
"""

from __future__ import annotations

import math
import string
from typing import Any

from stapel.model.yamlfile import ConfigPath, Located

MIN_LENGTH = 12
MIN_BITS = 50  # what an attacker must guess at least; a generated secret (32 alnum) has 190
# Words and keyboard walks that guessing tools try first (the top of public leaked-password lists, and the
# names of the servers stapel runs: the kinds, given by the caller); matched case-insensitively, also in leetspeak
# (p4ssw0rd), anywhere.
COMMON_WORDS = (
    "password", "passwort", "passwd", "qwerty", "qwertz", "azerty", "asdf", "zxcv", "letmein", "welcome",
    "admin", "administrator", "root", "guest", "user", "login", "master", "secret", "changeme", "change",
    "default", "test", "dev", "example", "sample", "iloveyou",
    "monkey", "dragon", "football", "baseball", "sunshine", "princess", "shadow", "trustno", "abc", "qaz",
    "summer", "winter", "spring", "autumn", "local", "only", "insecure", "stapel",
)
_LEET = str.maketrans("0134578@$!", "oieastbasi")
_POOLS = (string.ascii_lowercase, string.ascii_uppercase, string.digits)


def weakness(user: str | None, password: str | None, words: tuple[str, ...] = ()) -> str | None:
    """Why `password` is too weak to leave dev, or None; `words`: guessable words besides COMMON_WORDS (the kinds)."""
    if not password:
        return "an empty password"
    if password.lower() in (*COMMON_WORDS, *words) or (user and password.lower() == user.lower()):
        return f"the well-known password '{password}'"
    if len(password) < MIN_LENGTH:
        return f"a password shorter than {MIN_LENGTH} characters"
    if strength(password, words) < MIN_BITS:
        return (f"a guessable password (common words, repeats or sequences; about {strength(password, words):.0f} bits, "
                f"{MIN_BITS} needed)")
    return None


def strength(password: str, words: tuple[str, ...] = ()) -> float:
    """Bits of guessing work, estimated conservatively: the characters left once common words and runs of
    three or more repeated or consecutive characters (aaa, 123, cba) are taken out, each worth log2 of the
    alphabet its character classes span (26 lower, 26 upper, 10 digits, 33 other)."""
    predictable = _common_words(password, words) | _runs(password)
    rest = [c for i, c in enumerate(password) if i not in predictable]
    if not rest:
        return 0.0
    pool = sum(len(p) for p in _POOLS if any(c in p for c in rest)) + (33 if any(not c.isalnum() for c in rest) else 0)
    return len(rest) * math.log2(max(pool, 2))


def _common_words(password: str, words: tuple[str, ...] = ()) -> set[int]:
    covered: set[int] = set()
    for text in {password.lower(), password.lower().translate(_LEET)}:
        for word in (*COMMON_WORDS, *words):
            start = text.find(word)
            while start >= 0:
                covered.update(range(start, start + len(word)))
                start = text.find(word, start + 1)
    return covered


def _runs(password: str) -> set[int]:
    """Positions in runs of 3+ characters each equal to, one after or one before the previous (digits wrap: 890)."""
    covered: set[int] = set()
    start, step = 0, None
    for i in range(1, len(password) + 1):
        delta = _delta(password[i - 1], password[i]) if i < len(password) else None
        if delta is not None and delta in (-1, 0, 1) and (step is None or delta == step):
            step = delta
            continue
        if i - start >= 3:
            covered.update(range(start, i))
        start = i - 1 if delta in (-1, 0, 1) else i
        step = delta if delta in (-1, 0, 1) else None
    return covered


def _delta(a: str, b: str) -> int | None:
    if a.isdigit() and b.isdigit():
        return (int(b) - int(a) + 1) % 10 - 1  # 9 -> 0 continues 7, 8, 9
    return ord(b.lower()) - ord(a.lower())


def credentials(name: str, config: Any) -> list[tuple[ConfigPath, str | None, str | None]]:
    """(config path, user, password) of every credential stapel provisions in one component: its own
    password, and the password of each entry of a mapping of users or roles (roles:, users:)."""
    found: list[tuple[ConfigPath, str | None, str | None]] = []
    fields = type(config).model_fields
    if "password" in fields:
        found.append((("components", name, "password"), getattr(config, "user", None), config.password))
    for field in fields:
        value = getattr(config, field)
        if isinstance(value, dict):
            for entry, item in value.items():
                if "password" in getattr(type(item), "model_fields", {}):
                    found.append((("components", name, field, entry, "password"), entry, item.password))
    return found


def weak_credentials(located: Located, model: Any, contour: str, settings: Any, env: dict[str, str] | None = None) -> list[str]:
    policy = settings.weak_credentials or ("allow" if contour == "dev" else "refuse")
    if policy == "allow":
        return []
    env_file = settings.env_file[-1] if settings.env_file else ".env (or the environment)"
    problems, kinds = [], type(model).kind_names()
    for name, config in model.components.items():
        found = credentials(name, config) + _url_users(name, config, model, settings, env or {})
        for path, user, password in found:
            why = _why(located, path, user, password, kinds)
            if why:
                problems.append(_line(located, path, why, contour, env_file))
    return problems


def _why(located: Located, path: ConfigPath, user: str | None, password: str | None, kinds: tuple[str, ...]) -> str | None:
    defaulted = located.defaulted.get(path)
    if defaulted:
        return (f"the default of ${{{defaulted[0]}}} written in {located.file.name} (for dev; {defaulted[0]} is empty or "
                f"unset in this contour's env)")
    return weakness(user, password, kinds)


def _line(located: Located, path: ConfigPath, why: str, contour: str, env_file: str) -> str:
    """One line: where, what is wrong, and the variable to set (the one the value reads, or a new one)."""
    allow = f"or set contours.{contour}.weak_credentials: allow"
    if path[0] == "url":
        return (f"{path[1]}: the broker user '{path[2]}' this URL provisions has {why}, refused in contour '{contour}'; "
                f"put a strong password in the URL in {env_file} (`stapel env sync` generates secrets; {allow})")
    named = located.variables.get(path)
    variable = named[0] if named else "_".join(str(p) for p in path[1:-1] if p not in ("roles", "users")).upper().replace("-", "_") + "_PASSWORD"
    how = "" if named else f"write {path[-1]}: ${{{variable}}} and "
    return (f"{located.where(path)}: {'.'.join(map(str, path))}: {why} is refused in contour '{contour}'; "
            f"{how}set {variable} to a strong secret in {env_file} (`stapel env sync` generates secrets; {allow})")


def _url_users(name: str, config: Any, model: Any, settings: Any, env: dict[str, str]) -> list[tuple[ConfigPath, str | None, str | None]]:
    """Broker users derived from `*_RABBITMQ_URL` values (the services' env and the env files) pointing at it;
    users declared under the component win, as in provisioning."""
    if not getattr(config, "users_from_env", False):
        return []
    from urllib.parse import unquote, urlsplit

    from stapel.model.ports import base_ports, node_ports
    from stapel.model.topology import local_broker_urls

    values = dict(env)
    for service in model.services.values():
        values.update(service.env)
    found: list[tuple[ConfigPath, str | None, str | None]] = []
    seen = {getattr(config, "user", None), *getattr(config, "users", {})}
    mains = (base_ports(config.kind, config).get("main"), node_ports(name, config.kind, config, settings).get("main"))
    ports = {port for port in mains if port is not None}
    for key, url in sorted(local_broker_urls(values, ports, name).items()):
        parts = urlsplit(url)
        user = unquote(parts.username or "")
        if user and parts.password is not None and user not in seen:
            seen.add(user)
            found.append((("url", key, user), user, unquote(parts.password)))
    return found
