"""stapel.kit.cache on a real Redis started by stapel: the stampede (in one process and across two), a crashed
holder's lock, TTLs on every write, early refresh, a real outage (the server stopped) degrading to the loader."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
from kit_stack import Stack, stack

from stapel.kit import health
from stapel.kit.cache import Cache
from stapel.kit.config import Config, Redis, load

pytestmark = pytest.mark.integration
SRC = Path(__file__).resolve().parents[2] / "src"


class WorkerConfig(Config, prefix="W_"):
    redis: Redis


@pytest.fixture(scope="module")
def env():
    with stack("kit-cache", "cache") as running:
        yield running


def settings(env: Stack) -> Redis:
    saved = dict(os.environ)
    os.environ.update(env.env)
    try:
        return load(WorkerConfig).redis  # the kit reads exactly what stapel gives the service
    finally:
        os.environ.clear()
        os.environ.update(saved)


def raw(env: Stack) -> redis.Redis:
    return redis.Redis.from_url(env.env["W_REDIS_URL"])


def test_a_stampede_in_one_process_calls_the_loader_once(env: Stack) -> None:
    calls = []

    async def scenario() -> None:
        async with Cache(settings(env), domain="users", default_ttl=60) as cache:
            async def loader() -> dict:
                calls.append(1)
                await asyncio.sleep(0.1)
                return {"id": 1, "name": "Ann"}

            values = await asyncio.gather(*(cache.get_or_load(("profile", 1), loader) for _ in range(100)))
            assert values == [{"id": 1, "name": "Ann"}] * 100
            assert await cache.get_or_load("profile:1", loader) == {"id": 1, "name": "Ann"}  # a hit now

    asyncio.run(scenario())
    assert len(calls) == 1
    assert 0 < raw(env).pttl("users:profile:1") <= 60_000


CHILD = """
import asyncio, sys, time
from stapel.kit.cache import Cache
import redis

async def main():
    url, start = sys.argv[1], float(sys.argv[2])
    counter = redis.Redis.from_url(url)
    async def loader():
        counter.incr("test:loads")
        await asyncio.sleep(0.4)
        return {"fresh": True}
    async with Cache(url, domain="two", default_ttl=30) as cache:
        await asyncio.sleep(max(0.0, start - time.time()))
        values = await asyncio.gather(*(cache.get_or_load("report:9", loader) for _ in range(50)))
    assert values == [{"fresh": True}] * 50, values

asyncio.run(main())
"""


def test_a_stampede_across_two_processes_calls_the_loader_once(env: Stack) -> None:
    raw(env).delete("test:loads", "two:report:9")
    start = str(time.time() + 1.5)
    pythonpath = os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])
    children = [subprocess.Popen([sys.executable, "-c", CHILD, env.env["W_REDIS_URL"], start],
                                 env={**os.environ, "PYTHONPATH": pythonpath}) for _ in range(2)]
    assert [c.wait(timeout=30) for c in children] == [0, 0]
    assert int(raw(env).get("test:loads")) == 1


def test_a_crashed_holders_lock_expires_and_a_waiter_loads(env: Stack) -> None:
    raw(env).set("users:profile:2:lock", "someone-who-died", px=300)

    async def scenario() -> tuple[object, float]:
        async with Cache(settings(env), domain="users", default_ttl=60, lock_ttl=2) as cache:
            started = time.monotonic()
            value = await cache.get_or_load(("profile", 2), lambda: "loaded")
            return value, time.monotonic() - started

    value, waited = asyncio.run(scenario())
    assert value == "loaded" and 0.25 < waited < 1.5


def test_every_write_has_a_ttl_and_early_refresh_reloads_in_the_background(env: Stack) -> None:
    async def scenario() -> None:
        async with Cache(settings(env), domain="ttl", default_ttl=5, early_refresh=0.5) as cache:
            await cache.set(("a", 1), [1, 2])
            assert 4000 < raw(env).pttl("ttl:a:1") <= 5000
            await cache.set("a:2", "x", ttl=0.5)
            assert 0 < raw(env).pttl("ttl:a:2") <= 500
            versions = iter(range(1, 10))
            assert await cache.get_or_load("a:3", lambda: next(versions), ttl=1) == 1
            await asyncio.sleep(0.6)  # less than half the TTL left: served, and reloaded behind
            assert await cache.get_or_load("a:3", lambda: next(versions), ttl=1) == 1
            await asyncio.sleep(0.1)
            assert await cache.get("a:3") == 2 and raw(env).pttl("ttl:a:3") > 800

    asyncio.run(scenario())


def test_a_redis_outage_degrades_to_the_loader_and_is_counted(env: Stack) -> None:
    from prometheus_client import REGISTRY

    def errors() -> float:
        return REGISTRY.get_sample_value("stapel_kit_cache_requests_total", {"cache": "outage", "result": "error"}) or 0

    async def scenario() -> None:
        async with Cache(settings(env), domain="out", default_ttl=60, name="outage", backoff=0.2) as cache:
            assert await cache.get_or_load("x:1", lambda: "before") == "before"
            assert (await health.ready())[1]["outage"] == "ok"
            stopped = env.stapel("stop", "--service", "cache")
            assert stopped.returncode == 0, stopped.stderr
            try:
                started = time.monotonic()
                assert await cache.get_or_load("x:1", lambda: "from the loader") == "from the loader"
                assert await cache.get_or_load("x:2", lambda: "still") == "still"  # bypassed: no wait at all
                assert time.monotonic() - started < 1.5
                assert errors() == 1
                ok, checks = await health.ready()
                assert not ok and "ConnectionError" in checks["outage"]
                assert await cache.set("x:3", 1) is False
            finally:
                assert env.stapel("start", "--service", "cache").returncode == 0
            await asyncio.sleep(0.3)
            assert await cache.get_or_load("x:4", lambda: "back") == "back"
            assert await cache.get("x:4") == "back"  # written to Redis again

    asyncio.run(scenario())


def test_the_redis_inbox_claims_a_message_once_and_releases_it_when_the_handler_fails(env: Stack) -> None:
    from stapel.kit.bus import RedisInbox

    async def scenario() -> None:
        inbox = RedisInbox(settings(env), ttl=60)
        async with inbox.claim("mailer", "m-1") as (fresh, _):
            assert fresh
        async with inbox.claim("mailer", "m-1") as (fresh, _):
            assert not fresh  # a duplicate delivery
        with pytest.raises(RuntimeError):
            async with inbox.claim("mailer", "m-2") as (fresh, _):
                assert fresh
                raise RuntimeError("the handler failed")
        async with inbox.claim("mailer", "m-2") as (fresh, _):
            assert fresh  # released: the retry runs the handler again
        await inbox.redis.aclose()

    asyncio.run(scenario())
    assert 0 < raw(env).pttl("inbox:mailer:m-1") <= 60_000


def test_a_rate_limit_shared_through_redis_holds_across_two_limiters(env: Stack) -> None:
    from stapel.kit.http import RedisRateLimit

    async def scenario() -> list[float]:
        first, second = RedisRateLimit(settings(env), "shared-api", 5), RedisRateLimit(settings(env), "shared-api", 5)
        stamps: list[float] = []

        async def take(limiter: RedisRateLimit) -> None:
            await limiter.acquire()
            stamps.append(time.time())

        await asyncio.gather(*(take(first if n % 2 else second) for n in range(15)))
        return sorted(stamps)

    stamps = asyncio.run(scenario())
    windows: dict[int, int] = {}
    for stamp in stamps:
        windows[int(stamp)] = windows.get(int(stamp), 0) + 1
    assert max(windows.values()) <= 5 and len(windows) >= 3
