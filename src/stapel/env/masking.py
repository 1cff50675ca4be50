"""One masker for all output: every secret value known to the stack becomes ******.

Passwords inside URLs (scheme://user:PASSWORD@host) are always masked. Elsewhere a value is masked
wherever it appears, except well-known defaults such as 'postgres' or 'guest': those are no secret,
and hiding every occurrence of the word would make the output unreadable.
"""

from __future__ import annotations

import re
from urllib.parse import quote

MASK = "******"
WELL_KNOWN = frozenset({"postgres", "guest", "admin", "password", "root", "redis", "rabbitmq", "secret", "changeme"})
_URL_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^:/@\s]*:)(?P<password>[^@\s/]+)(?P<at>@)", re.IGNORECASE)


class Masker:
    def __init__(self, secrets: list[str]):
        variants = set()
        for value in secrets:
            if value and value.lower() not in WELL_KNOWN:
                variants.update({value, quote(value, safe=""), quote(value)})
        ordered = sorted(variants, key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, ordered))) if ordered else None

    def __call__(self, text: str) -> str:
        text = _URL_PASSWORD.sub(lambda m: m.group("head") + MASK + m.group("at"), text)
        return self._pattern.sub(MASK, text) if self._pattern else text

    def data(self, value):  # noqa: ANN001, ANN201
        """Mask every string inside JSON-like data."""
        if isinstance(value, str):
            return self(value)
        if isinstance(value, dict):
            return {k: self.data(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.data(v) for v in value]
        return value
