"""Masking shared by config (safe_dump) and log (redaction)."""

from __future__ import annotations

import re

MASK = "******"
_URL_PASSWORD = re.compile(r"(?P<head>[a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]*:)(?P<password>[^@\s]*)@")


def mask_url(text: str) -> str:
    """The password inside every URL of `text` replaced: postgresql://app:******@127.0.0.1:5432/shop."""
    return _URL_PASSWORD.sub(lambda m: f"{m['head']}{MASK}@", text)
