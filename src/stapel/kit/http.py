"""A client per external API (seed 004: "an external API is its own client; timeouts mandatory; retries with
exponential backoff and jitter; mind rate limits; errors mapped to temporary/permanent"), on httpx and stamina.

    payments = Client("https://api.pay.example", name="payments", timeout=Timeouts(connect=2, read=5, total=15),
                      rate=20, headers={"Authorization": f"Bearer {token}"})   # token: redacted from every log line
    response = await payments.post("/charges", json={...}, route="/charges")  # Idempotency-Key set, kept on retries
    user = (await payments.get(f"/users/{id}", route="/users/{id}")).json()

Temporary (retried with exponential backoff and jitter, `attempts` in all, then `Unavailable`): timeouts,
connection errors, 408, 429 and 5xx; a `Retry-After` (seconds or an HTTP date) is waited instead of the backoff,
unless it is longer than `max_retry_after` or than the time left (then `Unavailable` at once, with
`.retry_after`). Permanent: 404 is `NotFound`, 409 `Conflict`, any other 4xx `Permanent`; each error has
`.status`. POST and PATCH carry an `Idempotency-Key` (yours or a fresh one), the same on every attempt.
A rate limit per client (`rate` requests a second, `burst` at once; in-process, or shared by every process with
`shared=` a Redis: a fixed one-second window). One log line per attempt: client, method, route, status, duration,
attempt; never bodies, query strings or headers. Metrics: stapel_kit_http_requests_total{client,route,method,
result}, stapel_kit_http_request_duration_seconds{client,route}.
"""

from __future__ import annotations

import asyncio
import email.utils
import math
import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import stamina
from aiolimiter import AsyncLimiter

from stapel.kit import _metrics, log
from stapel.kit.errors import Conflict, KitError, NotFound, Permanent, Unavailable

__all__ = ["Client", "RedisRateLimit", "Timeouts"]

TEMPORARY_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
_NOT_IDEMPOTENT = frozenset({"POST", "PATCH"})


@dataclass(frozen=True)
class Timeouts:
    """connect: to open a connection; read: between bytes of the answer (and to write, and to get a pooled
    connection); total: the whole call, retries and their waits included."""

    connect: float
    read: float
    total: float

    def __post_init__(self) -> None:
        for name in ("connect", "read", "total"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < math.inf:
                raise ValueError(f"http: timeout {name} must be a positive number of seconds, got {value!r}")


class _Retryable(Exception):
    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        super().__init__(f"HTTP {response.status_code}")


class RedisRateLimit:
    """A limit shared by every process of a client: at most `rate` requests in each one-second window."""

    def __init__(self, redis_settings: Any, key: str, rate: int) -> None:
        from stapel.kit.cache import client_of

        self.redis, self.key, self.rate = client_of(redis_settings, 1.0), key, rate

    async def acquire(self) -> None:
        while True:
            now = time.time()
            window = int(now)
            key = f"ratelimit:{self.key}:{window}"
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.incr(key)  # queued: redis-py types a pipeline's commands as awaitables, so no chaining
                pipe.expire(key, 2)
                count, _ = await pipe.execute()
            if count <= self.rate:
                return
            await asyncio.sleep(window + 1 - now)


class Client:
    def __init__(self, base_url: str, *, name: str, timeout: Timeouts | float, attempts: int = 3,
                 wait_initial: float = 0.1, wait_max: float = 5.0, max_retry_after: float = 30.0,
                 rate: float | None = None, burst: int = 1, shared: Any = None, headers: dict[str, str] | None = None,
                 secrets: tuple[str, ...] = (), transport: httpx.AsyncBaseTransport | None = None) -> None:
        if not isinstance(timeout, Timeouts):
            if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
                raise TypeError(f"http: timeout is required: Timeouts(connect=, read=, total=) or seconds, got {timeout!r}")
            timeout = Timeouts(timeout, timeout, timeout)
        if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
            raise ValueError(f"http: base_url must be an http:// or https:// URL, got {base_url!r}")
        if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
            raise ValueError(f"http: attempts is a positive integer, got {attempts!r}")
        if rate is not None and (isinstance(rate, bool) or not isinstance(rate, (int, float)) or not rate > 0):
            raise ValueError(f"http: rate is a positive number of requests a second, got {rate!r}")
        if isinstance(burst, bool) or not isinstance(burst, int) or burst < 1:
            raise ValueError(f"http: burst is a positive integer, got {burst!r}")
        self.name, self.timeouts, self.attempts = name, timeout, attempts
        self.wait_initial, self.wait_max, self.max_retry_after = wait_initial, wait_max, max_retry_after
        self.limiter: Any = None
        if shared is not None:
            if rate is None:
                raise ValueError("http: a shared rate limit needs rate=")
            self.limiter = RedisRateLimit(shared, name, int(rate))
        elif rate is not None:
            self.limiter = AsyncLimiter(burst, burst / rate)
        secret_headers = [v for k, v in (headers or {}).items() if k.lower() in ("authorization", "x-api-key")]
        log.add_secrets([*secrets, *secret_headers, *(v.split(" ", 1)[-1] for v in secret_headers)])
        self.http = httpx.AsyncClient(base_url=base_url, headers=headers, transport=transport, follow_redirects=False,
                                      timeout=httpx.Timeout(timeout.read, connect=timeout.connect))
        self.logger = log.get("stapel.kit.http", client=name)
        self._requests = _metrics.counter("stapel_kit_http_requests_total", "Requests to external APIs (attempts).",
                                          ("client", "route", "method", "result"))
        self._duration = _metrics.histogram("stapel_kit_http_request_duration_seconds", "Time of one attempt.",
                                            ("client", "route"))

    async def get(self, path: str, **options: Any) -> httpx.Response:
        return await self.request("GET", path, **options)

    async def post(self, path: str, **options: Any) -> httpx.Response:
        return await self.request("POST", path, **options)

    async def put(self, path: str, **options: Any) -> httpx.Response:
        return await self.request("PUT", path, **options)

    async def patch(self, path: str, **options: Any) -> httpx.Response:
        return await self.request("PATCH", path, **options)

    async def delete(self, path: str, **options: Any) -> httpx.Response:
        return await self.request("DELETE", path, **options)

    async def request(self, method: str, path: str, *, route: str | None = None, idempotency_key: str | None = None,
                      headers: dict[str, str] | None = None, **options: Any) -> httpx.Response:
        """A 2xx or 3xx response, or a domain error (NotFound, Conflict, Permanent, Unavailable)."""
        method, route = method.upper(), route or path.split("?", 1)[0]
        headers = dict(headers or {})
        if method in _NOT_IDEMPOTENT:
            headers.setdefault("Idempotency-Key", idempotency_key or uuid.uuid4().hex)
        what = f"{self.name} {method} {route}"
        deadline = time.monotonic() + self.timeouts.total
        try:
            async with asyncio.timeout(self.timeouts.total):
                async for attempt in stamina.retry_context(on=lambda exc: self._retry(exc, deadline), attempts=self.attempts,
                                                           timeout=None, wait_initial=self.wait_initial,
                                                           wait_max=self.wait_max, wait_jitter=self.wait_initial):
                    with attempt:
                        response = await self._once(method, path, route, headers, attempt.num, options)
        except _Retryable as exc:
            raise self._unavailable(what, exc.response) from None
        except TimeoutError as exc:
            raise Unavailable(what, f"no answer within the total timeout of {self.timeouts.total:g}s") from exc
        except httpx.TimeoutException as exc:
            raise Unavailable(what, f"timed out ({type(exc).__name__})") from exc
        except httpx.TransportError as exc:
            raise Unavailable(what, f"connection failed ({type(exc).__name__})") from exc
        return self._checked(what, response)

    async def _once(self, method: str, path: str, route: str, headers: dict, number: int, options: dict) -> httpx.Response:
        if self.limiter is not None:
            await self.limiter.acquire()
        started = time.perf_counter()
        try:
            response = await self.http.request(method, path, headers=headers, **options)
        except httpx.TransportError as exc:
            self._requests.labels(self.name, route, method, type(exc).__name__).inc()
            self.logger.warning("http request failed", method=method, route=route, attempt=number,
                                error=type(exc).__name__, duration_ms=round((time.perf_counter() - started) * 1000, 3))
            raise
        finally:
            self._duration.timer(self.name, route).observe(time.perf_counter() - started)
        status = response.status_code
        self._requests.labels(self.name, route, method, str(status)).inc()
        self.logger.info("http request", method=method, route=route, status=status, attempt=number,
                         duration_ms=round((time.perf_counter() - started) * 1000, 3))
        if status in TEMPORARY_STATUS:
            await response.aread()
            raise _Retryable(response)
        return response

    def _retry(self, exc: Exception, deadline: float) -> bool | float:
        """stamina's hook: False = give up; True = the exponential backoff; a number = wait that (Retry-After)."""
        if isinstance(exc, (httpx.TimeoutException, httpx.TransportError)):
            return True
        if not isinstance(exc, _Retryable):
            return False
        wait = retry_after(exc.response.headers.get("retry-after"))
        if wait is None:
            return True
        return wait if wait <= self.max_retry_after and time.monotonic() + wait < deadline else False

    def _unavailable(self, what: str, response: httpx.Response) -> Unavailable:
        error = Unavailable(what, f"HTTP {response.status_code}")
        error.status, error.response = response.status_code, response  # type: ignore[attr-defined]
        error.retry_after = retry_after(response.headers.get("retry-after"))  # type: ignore[attr-defined]
        return error

    @staticmethod
    def _checked(what: str, response: httpx.Response) -> httpx.Response:
        status = response.status_code
        if status < 400:
            return response
        cls: type[KitError] = NotFound if status == 404 else Conflict if status == 409 else Permanent
        error = cls(what, f"HTTP {status}")
        error.status, error.response = status, response  # type: ignore[attr-defined]
        raise error

    async def close(self) -> None:
        await self.http.aclose()

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *_exc: Any) -> None:
        await self.close()


def retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date); None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - time.time())
