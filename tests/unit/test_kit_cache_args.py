"""stapel.kit.cache's bad inputs, refused before anything reaches Redis (no server needed: the client connects
lazily)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from stapel.kit.cache import Cache, JsonCodec

URL = "redis://127.0.0.1:1/0"


def cache(**options) -> Cache:
    return Cache(URL, **{"domain": "users", "default_ttl": 60, "readiness": False, **options})


def test_a_cache_without_a_default_ttl_cannot_be_made() -> None:
    with pytest.raises(TypeError, match="default_ttl"):
        Cache(URL, domain="users")  # type: ignore[call-arg]
    for bad in (0, -1, None, "60", float("nan"), True, timedelta(0)):
        with pytest.raises(ValueError, match="default_ttl must be a positive number"):
            cache(default_ttl=bad)
    with pytest.raises(TypeError, match="default_ttl"):  # BadTTL is both
        cache(default_ttl=None)


def test_a_write_without_a_positive_ttl_is_refused() -> None:
    for bad in (0, -5, "1", timedelta(seconds=-1)):
        with pytest.raises(ValueError, match="ttl must be a positive number"):
            asyncio.run(cache().set("a:1", 1, ttl=bad))
        with pytest.raises(ValueError, match="ttl must be a positive number"):
            asyncio.run(cache().get_or_load("a:1", lambda: 1, ttl=bad))


def test_keys_are_domain_entity_id() -> None:
    c = cache()
    assert c.key("profile", 123) == "users:profile:123"
    assert c.full(("profile", 7)) == "users:profile:7"
    assert c.full("profile:7") == c.full("users:profile:7") == "users:profile:7"
    for bad in ("", None, 5, ("profile",), ("a", 1, 2)):
        with pytest.raises(ValueError, match="key"):
            c.full(bad)
    with pytest.raises(ValueError, match="entity"):
        c.key("a:b", 1)
    for domain in ("", "a:b", None):
        with pytest.raises(ValueError, match="domain"):
            cache(domain=domain)


def test_other_bad_inputs() -> None:
    with pytest.raises(TypeError, match="loader must be a callable"):
        asyncio.run(cache().get_or_load("a:1", "not callable"))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="expected a config.Redis block"):
        Cache(object(), domain="users", default_ttl=1)
    with pytest.raises(ValueError, match="early_refresh"):
        cache(early_refresh=1.5)


def test_json_is_the_default_codec() -> None:
    codec = JsonCodec()
    assert codec.encode({"a": [1, "é"]}) == '{"a":[1,"é"]}'.encode()
    assert codec.decode(codec.encode({"a": None})) == {"a": None}
