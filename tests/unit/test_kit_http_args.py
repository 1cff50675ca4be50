"""stapel.kit.http's bad inputs: no client without timeouts, bad rates, attempts, URLs; Retry-After parsing."""

from __future__ import annotations

import time
from email.utils import formatdate

import pytest

from stapel.kit.http import Client, Timeouts, retry_after


def test_timeouts_are_mandatory_and_positive() -> None:
    with pytest.raises(TypeError, match="timeout"):
        Client("http://x", name="x")  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="timeout is required"):
        Client("http://x", name="x", timeout=None)  # type: ignore[arg-type]
    for bad in (0, -1, float("inf"), "5", None):
        with pytest.raises(ValueError, match="timeout connect must be a positive number"):
            Timeouts(connect=bad, read=1, total=1)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Timeouts(connect=1, read=1)  # type: ignore[call-arg]


def test_other_bad_inputs() -> None:
    with pytest.raises(ValueError, match="base_url"):
        Client("ftp://x", name="x", timeout=1)
    with pytest.raises(ValueError, match="attempts"):
        Client("http://x", name="x", timeout=1, attempts=0)
    for bad in (0, -3, "10", True):
        with pytest.raises(ValueError, match="rate"):
            Client("http://x", name="x", timeout=1, rate=bad)
    with pytest.raises(ValueError, match="burst"):
        Client("http://x", name="x", timeout=1, rate=5, burst=0)
    with pytest.raises(ValueError, match="shared rate limit needs rate"):
        Client("http://x", name="x", timeout=1, shared="redis://127.0.0.1:1/0")


def test_retry_after_in_seconds_or_as_a_date() -> None:
    assert retry_after("7") == 7.0 and retry_after(None) is None and retry_after("soon") is None
    assert 9 <= retry_after(formatdate(time.time() + 10, usegmt=True)) <= 10
    assert retry_after(formatdate(time.time() - 100, usegmt=True)) == 0.0
