"""One masker for all output: every secret value known to the stack becomes ******.

What is a secret:
- a value whose variable's name says so (`secret_name`): a word of the name (split at _ - .) is SECRET, KEY,
  TOKEN, PASSWORD, PASS, CREDENTIAL (or a plural, or ends in PASSWORD, SECRET, TOKEN, APIKEY, ...), unless the
  name's last word says it holds something about a secret rather than the secret (AWS_ACCESS_KEY_ID,
  CACHE_KEY_PREFIX, JWT_TOKEN_TTL, SSH_KEY_PATH) or its first word counts them (MAX_TOKENS), or KEY follows a word
  that makes it a lookup key (ROUTING_KEY, PRIMARY_KEY, PUBLIC_KEY); a whole word is needed, so KEYSPACE, BYPASS,
  PASSENGER or MONKEY are no secrets. A value that is only a small number or a
  boolean is never one by name (hiding every `4096` or `true` would make the output unreadable);
- a password inside a URL (scheme://user:PASSWORD@host) or a libpq/JDBC-style DSN (password=... / pwd=...):
  masked where it appears, and `secrets_in()` finds it so that it is masked by value everywhere else too.
A known secret is masked wherever it appears (also percent-encoded), except well-known defaults such as
'postgres' or 'guest': those are no secret, and hiding every occurrence of the word would make the output
unreadable (inside a URL or after password= they are masked all the same).
"""

from __future__ import annotations

import re
from urllib.parse import quote, unquote

MASK = "******"
MIN_LENGTH = 3  # shorter values are masked only where their place says so (in a URL, after password=): "b" is in every word
WELL_KNOWN = frozenset({"postgres", "guest", "admin", "password", "root", "redis", "rabbitmq", "secret", "changeme"})
_URL_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^:/@\s]*:)(?P<password>[^@\s/]+)(?P<at>@)", re.IGNORECASE)
_DSN_PASSWORD = re.compile(r"(?P<head>(?<![A-Za-z0-9_])(?:password|passwd|pwd)\s*=\s*)"
                           r"(?P<password>'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|(?!\*{6})[^\s;&'\"]+)", re.IGNORECASE)

SECRET_WORDS = frozenset({"SECRET", "SECRETS", "KEY", "KEYS", "TOKEN", "TOKENS", "PASSWORD", "PASSWORDS", "PASS", "PASSWD",
                          "PASSPHRASE", "CREDENTIAL", "CREDENTIALS", "CREDS"})
SECRET_ENDINGS = ("PASSWORD", "PASSWD", "PASSPHRASE", "SECRET", "TOKEN", "APIKEY", "PRIVATEKEY", "ACCESSKEY", "SECRETKEY")
ABOUT_A_SECRET = frozenset({  # a last word that makes the name hold something about a secret, not the secret
    "ID", "IDS", "PREFIX", "SUFFIX", "FILE", "PATH", "DIR", "TTL", "EXPIRY", "EXPIRES", "EXPIRATION", "LENGTH", "LEN",
    "SIZE", "BITS", "NAME", "TYPE", "ALGORITHM", "ALG", "HEADER", "FIELD", "COUNT", "MIN", "MAX", "LIMIT", "TIMEOUT",
    "ENABLED", "REQUIRED", "POLICY", "ROTATION", "VERSION", "URL", "URI", "ENDPOINT", "HOST", "PORT", "FORMAT", "SPACE"})
COUNTING = frozenset({"MAX", "MIN", "NUM", "N"})
NOT_A_SECRET_KEY = frozenset({  # KEY after one of these names a lookup key, not a secret (SCHEMA_ROUTING_KEY, PUBLIC_KEY)
    "ROUTING", "BINDING", "PRIMARY", "FOREIGN", "PARTITION", "SORT", "SHARD", "CACHE", "LOOKUP", "INDEX", "LOCK", "QUEUE",
    "IDEMPOTENCY", "DEDUP", "DEDUPLICATION", "GROUP", "MESSAGE", "EVENT", "ROW", "OBJECT", "PUBLIC"})
_PLAIN_VALUE = re.compile(r"\d{1,8}|true|false|yes|no|on|off", re.IGNORECASE)


def secret_name(key: str) -> bool:
    """Whether a variable's name says it holds a secret (see the module's docstring)."""
    words = [w for w in re.split(r"[^A-Za-z0-9]+", key.upper()) if w]
    if not words or words[-1] in ABOUT_A_SECRET or words[0] in COUNTING:
        return False
    return any((w in SECRET_WORDS and not (w in ("KEY", "KEYS") and i and words[i - 1] in NOT_A_SECRET_KEY))
               or w.endswith(SECRET_ENDINGS) for i, w in enumerate(words))


def secret_by_name(key: str, value: str) -> bool:
    return bool(value) and secret_name(key) and not _PLAIN_VALUE.fullmatch(value.strip())


def secrets_in(value: str) -> list[str]:
    """The passwords inside URLs and DSNs in `value`, as written and percent-decoded (or unquoted)."""
    found = []
    for match in _URL_PASSWORD.finditer(value):
        raw = match.group("password")
        found += [raw, unquote(raw)]
    for match in _DSN_PASSWORD.finditer(value):
        raw = match.group("password")
        found += [raw, raw[1:-1] if raw[:1] in "'\"" and len(raw) > 1 else raw]
    return [s for s in dict.fromkeys(found) if s and s != MASK]


class Masker:
    def __init__(self, secrets: list[str]):
        variants = set()
        for value in secrets:
            if value and len(value) >= MIN_LENGTH and value.lower() not in WELL_KNOWN:
                variants.update({value, quote(value, safe=""), quote(value)})
        ordered = sorted(variants, key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, ordered))) if ordered else None

    def __call__(self, text: str) -> str:
        text = _URL_PASSWORD.sub(lambda m: m.group("head") + MASK + m.group("at"), text)
        text = _DSN_PASSWORD.sub(lambda m: m.group("head") + MASK, text)
        return self._pattern.sub(MASK, text) if self._pattern else text

    def data(self, value):
        """Mask every string inside JSON-like data."""
        if isinstance(value, str):
            return self(value)
        if isinstance(value, dict):
            return {k: self.data(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.data(v) for v in value]
        return value
