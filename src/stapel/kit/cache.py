"""A cache on Redis (redis.asyncio) by seed 004's rules: never the source of truth, a TTL on every write, keys
`<domain>:<entity>:<id>`, one codec for the whole service, stampede protection.

    cache = Cache(config.redis, domain="users", default_ttl=300)     # a config.Redis block, a URL or a client
    profile = await cache.get_or_load(cache.key("profile", 7), lambda: load_profile(7), ttl=60)
    await cache.set(("profile", 7), profile)                          # default_ttl; there is no write without one
    await cache.delete("profile:7")                                   # "users:" is prepended when missing

get_or_load: a hit returns the cached value; on a miss one caller per process runs the loader (single-flight)
and, across processes, only the holder of a short `SET NX PX` lock does: the others poll for the fresh value and
take over when the lock expires without one (a crashed holder). `early_refresh=0.2` reloads in the background
once less than 20 % of a value's TTL is left. A Redis failure (refused, timed out) degrades to calling the
loader and is counted; Redis is then left alone for `backoff` seconds. Readiness: a PING under `name`.
Metrics: stapel_kit_cache_requests_total{cache,result=hit|miss|error|bypass}, stapel_kit_cache_loads_total,
stapel_kit_cache_errors_total{cache,op}, stapel_kit_cache_get_duration_seconds{cache}.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import secrets
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any, Protocol

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from stapel.kit import _metrics, health, log

__all__ = ["BadTTL", "Cache", "Codec", "JsonCodec", "MsgpackCodec"]

_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"


class Codec(Protocol):
    def encode(self, value: Any) -> bytes: ...
    def decode(self, data: bytes) -> Any: ...


class JsonCodec:
    """The default: compact JSON (UTF-8); anything json.dumps takes."""

    def __init__(self) -> None:
        self._encoder = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
        self.decode = json.loads

    def encode(self, value: Any) -> bytes:
        return self._encoder.encode(value).encode()


class MsgpackCodec:
    """msgpack (the optional package `msgpack`), for a service that wants a binary format."""

    def __init__(self) -> None:
        import msgpack  # optional: only a service that picks this codec needs it

        self.encode = msgpack.packb
        self.decode = lambda data: msgpack.unpackb(data, raw=False)


class BadTTL(ValueError, TypeError):
    """A TTL that is missing (None), not a number, or not positive."""


def seconds(ttl: float | timedelta | None, what: str) -> float:
    """A TTL in seconds, > 0; anything else is a ValueError naming `what`."""
    if isinstance(ttl, timedelta):
        ttl = ttl.total_seconds()
    if isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or not ttl > 0 or ttl != ttl:
        raise BadTTL(f"cache: {what} must be a positive number of seconds (or a timedelta), got {ttl!r}")
    return float(ttl)


def client_of(settings: Any, timeout: float) -> aioredis.Redis:
    if isinstance(settings, aioredis.Redis):
        return settings
    url = getattr(settings, "url", settings)
    url = url.get_secret_value() if hasattr(url, "get_secret_value") else url
    if not isinstance(url, str) or "://" not in url:
        raise TypeError(f"cache: expected a config.Redis block, a redis:// URL or a redis.asyncio client, "
                        f"got {type(settings).__name__}")
    return aioredis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)


class Cache:
    def __init__(self, redis_settings: Any, *, domain: str, default_ttl: float | timedelta, codec: Codec | None = None,
                 name: str = "cache", timeout: float = 0.5, lock_ttl: float = 5.0, early_refresh: float | None = None,
                 backoff: float = 1.0, readiness: bool = True) -> None:
        if not isinstance(domain, str) or not domain or ":" in domain:
            raise ValueError(f"cache: domain must be a non-empty name without ':', got {domain!r}")
        self.default_ttl = seconds(default_ttl, "default_ttl")
        if early_refresh is not None and not 0 < early_refresh < 1:
            raise ValueError(f"cache: early_refresh is the share of the TTL left (0 < x < 1), got {early_refresh!r}")
        self.domain, self.name, self.prefix = domain, name, domain + ":"
        self.codec = codec or JsonCodec()
        self.redis = client_of(redis_settings, timeout)
        self.lock_ttl, self.early_refresh, self.backoff = seconds(lock_ttl, "lock_ttl"), early_refresh, backoff
        self._flights: dict[str, asyncio.Future] = {}
        self._refreshing: set[str] = set()
        self._down_until = 0.0
        self._release = self.redis.register_script(_RELEASE)
        self.logger = log.get("stapel.kit.cache", cache=name)
        requests = _metrics.counter("stapel_kit_cache_requests_total", "Cache reads, by result.", ("cache", "result"))
        self._hit, self._miss = requests.labels(name, "hit"), requests.labels(name, "miss")
        self._error, self._bypass = requests.labels(name, "error"), requests.labels(name, "bypass")
        self._loads = _metrics.counter("stapel_kit_cache_loads_total", "Loader calls.", ("cache",)).labels(name)
        self._errors = _metrics.counter("stapel_kit_cache_errors_total", "Redis failures, by operation.", ("cache", "op"))
        self._timer = _metrics.histogram("stapel_kit_cache_get_duration_seconds", "Time of a cache read from Redis.",
                                         ("cache",)).timer(name)
        if readiness:
            health.add(name, self.check)

    # --- keys -------------------------------------------------------------------------------------------------
    def key(self, entity: str, id: Any) -> str:  # noqa: A002 - the public keyword of Cache.key
        """`<domain>:<entity>:<id>`."""
        if not entity or ":" in str(entity):
            raise ValueError(f"cache: entity must be a non-empty name without ':', got {entity!r}")
        return f"{self.prefix}{entity}:{id}"

    def full(self, key: str | tuple) -> str:
        if isinstance(key, tuple):
            if len(key) != 2:
                raise ValueError(f"cache: a key tuple is (entity, id), got {key!r}")
            return self.key(*key)
        if not isinstance(key, str) or not key:
            raise ValueError(f"cache: a key is a non-empty string or (entity, id), got {key!r}")
        return key if key.startswith(self.prefix) else self.prefix + key

    # --- plain operations -------------------------------------------------------------------------------------
    async def get(self, key: str | tuple, default: Any = None) -> Any:
        """The cached value, or `default` on a miss (and when Redis is unreachable)."""
        found = await self._read(self.full(key))
        return default if found is None else self.codec.decode(found[0])

    async def set(self, key: str | tuple, value: Any, ttl: float | timedelta | None = None) -> bool:
        """Write with `ttl` (else default_ttl). False when Redis could not be written (counted and logged)."""
        ttl = self.default_ttl if ttl is None else seconds(ttl, "ttl")
        return await self._write(self.full(key), self.codec.encode(value), ttl)

    async def delete(self, *keys: str | tuple) -> int:
        try:
            return await self.redis.delete(*(self.full(k) for k in keys))
        except RedisError as exc:
            self._failed("delete", exc)
            return 0

    async def check(self) -> bool:
        return bool(await self.redis.ping())

    async def close(self) -> None:
        health.default.remove(self.name, self.check)
        await self.redis.aclose()

    async def __aenter__(self) -> Cache:
        return self

    async def __aexit__(self, *_exc: Any) -> None:
        await self.close()

    # --- get_or_load ------------------------------------------------------------------------------------------
    async def get_or_load(self, key: str | tuple, loader: Callable[[], Any], ttl: float | timedelta | None = None) -> Any:
        """The cached value, or the loader's (awaited if it is a coroutine), written with `ttl`."""
        if not callable(loader):
            raise TypeError(f"cache: loader must be a callable returning the value, got {type(loader).__name__}")
        ttl = self.default_ttl if ttl is None else seconds(ttl, "ttl")
        full = self.full(key)
        found = await self._read(full, with_ttl=self.early_refresh is not None)
        if found is not None:
            data, left = found
            early = self.early_refresh
            if left is not None and early is not None and left < early * ttl * 1000 and full not in self._refreshing:
                self._refreshing.add(full)
                asyncio.get_running_loop().create_task(self._refresh(full, loader, ttl))
            return self.codec.decode(data)
        flight = self._flights.get(full)
        if flight is not None:  # another task of this process is loading it: wait for its result
            return await asyncio.shield(flight)
        flight = self._flights[full] = asyncio.get_running_loop().create_future()
        try:
            value = await self._load_once(full, loader, ttl)
        except asyncio.CancelledError:
            flight.cancel()
            raise
        except BaseException as exc:
            flight.set_exception(exc)
            flight.exception()  # retrieved: no "never retrieved" warning when nobody else waited
            raise
        else:
            flight.set_result(value)
            return value
        finally:
            del self._flights[full]

    async def _load_once(self, full: str, loader: Callable[[], Any], ttl: float) -> Any:
        """Across processes: the lock's holder loads; the others wait for its value, or take over."""
        lock, token = f"{full}:lock", secrets.token_hex(8)
        deadline, pause = time.monotonic() + self.lock_ttl, 0.005
        while True:
            try:
                if self._down():
                    return await self._call(loader)
                if await self.redis.set(lock, token, nx=True, px=int(self.lock_ttl * 1000)):
                    break
            except RedisError as exc:
                self._failed("lock", exc)
                return await self._call(loader)
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.1)
            found = await self._read(full, count=False)
            if found is not None:
                return self.codec.decode(found[0])
            if time.monotonic() > deadline:  # the holder is stuck: load rather than wait any longer
                return await self._call(loader)
        try:
            value = await self._call(loader)
            await self._write(full, self.codec.encode(value), ttl)
            return value
        finally:
            try:
                await self._release(keys=[lock], args=[token])
            except RedisError as exc:  # it expires by itself
                self._failed("unlock", exc)

    async def _refresh(self, full: str, loader: Callable[[], Any], ttl: float) -> None:
        try:
            await self._write(full, self.codec.encode(await self._call(loader)), ttl)
        except Exception as exc:  # the old value stays until it expires
            self.logger.warning("cache refresh failed", key=full, error=type(exc).__name__)
        finally:
            self._refreshing.discard(full)

    async def _call(self, loader: Callable[[], Any]) -> Any:
        self._loads.inc()
        value = loader()
        return await value if inspect.isawaitable(value) else value

    # --- Redis, degraded when unreachable ---------------------------------------------------------------------
    def _down(self) -> bool:
        return self._down_until > time.monotonic()

    async def _read(self, full: str, with_ttl: bool = False, count: bool = True) -> tuple[bytes, int | None] | None:
        if self._down():
            if count:
                self._bypass.inc()
            return None
        started = time.perf_counter()
        try:
            if with_ttl:
                async with self.redis.pipeline(transaction=False) as pipe:
                    pipe.get(full)  # queued: redis-py types a pipeline's commands as awaitables, so no chaining
                    pipe.pttl(full)
                    data, left = await pipe.execute()
            else:
                data, left = await self.redis.get(full), None
        except RedisError as exc:
            self._failed("get", exc)
            if count:
                self._error.inc()
            return None
        if count:
            self._timer.observe(time.perf_counter() - started)
            (self._miss if data is None else self._hit).inc()
        return None if data is None else (data, left)

    async def _write(self, full: str, data: bytes, ttl: float) -> bool:
        if self._down():
            return False
        try:
            await self.redis.set(full, data, px=max(1, int(ttl * 1000)))
            return True
        except RedisError as exc:
            self._failed("set", exc)
            return False

    def _failed(self, op: str, exc: Exception) -> None:
        self._errors.labels(self.name, op).inc()
        if not self._down():
            self.logger.warning("redis unavailable, the cache is bypassed", op=op, error=type(exc).__name__,
                                retry_in_s=self.backoff)
        self._down_until = time.monotonic() + self.backoff

