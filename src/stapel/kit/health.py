"""/livez and /readyz: liveness answers while the process serves; readiness runs every registered check (each
integration registers its own: Database.connect adds PostgreSQL's `SELECT 1`).

    app = health.asgi(app)                        # an ASGI app: /livez, /readyz, /metrics, the rest to `app`
    await health.serve(host, port)                # a worker without HTTP: the same three on a tiny server
    health.add("search", check_search)            # any async callable; raising (or returning False) = not ready

Both answer 200 or 503 with {"ok": bool, "checks": {"postgres": "ok", "redis": "ConnectionError: ..."}}: what
stapel's `http` probe (status 200) and the rendered Compose/Kubernetes probes (httpGet) expect, unchanged.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote

from stapel.kit._mask import mask_url

__all__ = ["Health", "add", "asgi", "default", "ready", "remove", "serve", "start"]

Check = Callable[[], Awaitable[Any]]


class Health:
    def __init__(self, timeout: float = 3.0) -> None:
        self.timeout = timeout
        self.checks: dict[str, Check] = {}

    def add(self, name: str, check: Check) -> Check:
        """Register a readiness check (a later one under the same name replaces it)."""
        self.checks[name] = check
        return check

    def remove(self, name: str, check: Check | None = None) -> None:
        if name in self.checks and (check is None or self.checks[name] == check):
            del self.checks[name]

    async def _run(self, check: Check) -> str:
        try:
            result = await asyncio.wait_for(check(), self.timeout)
        except TimeoutError:
            return f"timed out after {self.timeout:g}s"
        except Exception as exc:  # a failing check is an answer, not a crash
            text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            return mask_url(f"{type(exc).__name__}: {text}"[:300]) if text else type(exc).__name__
        return "failed" if result is False else "ok"

    async def ready(self) -> tuple[bool, dict[str, str]]:
        """Every check, concurrently, each within `timeout` seconds: (all ok, name -> "ok" or what failed)."""
        names = list(self.checks)
        results = await asyncio.gather(*(self._run(self.checks[n]) for n in names))
        answers = dict(zip(names, results))
        return all(r == "ok" for r in results), answers

    def asgi(self, app: Any = None, *, metrics: bool = True, livez: str = "/livez", readyz: str = "/readyz") -> Any:
        """An ASGI app answering GET `livez`, `readyz` and (with `metrics`) /metrics; anything else goes to
        `app` (404 without one)."""

        async def health_app(scope: dict, receive: Any, send: Any) -> None:
            path = scope.get("path") if scope["type"] == "http" else None
            if path == livez:
                await _reply(send, 200, {"ok": True})
            elif path == readyz:
                ok, checks = await self.ready()
                await _reply(send, 200 if ok else 503, {"ok": ok, "checks": checks})
            elif path == "/metrics" and metrics:
                from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

                await _send(send, 200, CONTENT_TYPE_LATEST, generate_latest(REGISTRY))
            elif app is not None:
                await app(scope, receive, send)
            elif scope["type"] == "lifespan":
                await answer_lifespan(receive, send)
            else:
                await _reply(send, 404, {"error": "not found"})

        return health_app

    async def start(self, host: str, port: int, app: Any = None) -> asyncio.base_events.Server:
        """The tiny server, listening (returns the asyncio Server: close() it, or use serve())."""
        served = app if _wrapped(app) else self.asgi(app)
        return await asyncio.start_server(lambda reader, writer: _handle(served, reader, writer), host, port)

    async def serve(self, host: str, port: int, app: Any = None) -> None:
        """The tiny HTTP/1.1 server for workers (or a small ASGI app): /livez, /readyz, /metrics and `app`, one
        request per connection, no request bodies over 1 MiB; runs until cancelled."""
        server = await self.start(host, port, app)
        async with server:
            await server.serve_forever()


def _wrapped(app: Any) -> bool:
    return getattr(app, "__name__", "") == "health_app"


async def answer_lifespan(receive: Any, send: Any) -> None:
    """The ASGI lifespan protocol for an app with nothing to start or stop."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _reply(send: Any, status: int, body: dict) -> None:
    await _send(send, status, "application/json", json.dumps(body).encode())


async def _send(send: Any, status: int, content_type: str, data: bytes) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", content_type.encode()), (b"content-length", str(len(data)).encode())]})
    await send({"type": "http.response.body", "body": data})


MAX_HEAD, MAX_BODY = 16 * 1024, 1024 * 1024


async def _handle(app: Any, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """One request on one connection, handed to `app` as ASGI 3."""
    try:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            return
        if len(head) > MAX_HEAD:
            return
        lines = head.decode("latin-1").split("\r\n")
        try:
            method, target, version = lines[0].split(" ", 2)
        except ValueError:
            await _raw(writer, 400, b"bad request")
            return
        headers = [(k.strip().lower().encode("latin-1"), v.strip().encode("latin-1"))
                   for k, _, v in (line.partition(":") for line in lines[1:] if line)]
        try:
            length = int(dict(headers).get(b"content-length", b"0") or 0)
        except ValueError:
            length = -1
        if length < 0:
            await _raw(writer, 400, b"bad content-length")
            return
        if length > MAX_BODY:
            await _raw(writer, 413, b"request body too large")
            return
        try:
            body = await asyncio.wait_for(reader.readexactly(length), 10) if length else b""
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
            return
        path, _, query = target.partition("?")
        peer = writer.get_extra_info("peername") or ("", 0)
        local = writer.get_extra_info("sockname") or ("", 0)
        scope = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": version[5:] or "1.1",
                 "method": method.upper(), "scheme": "http", "path": unquote(path), "raw_path": path.encode("latin-1"),
                 "query_string": query.encode("latin-1"), "root_path": "", "headers": headers,
                 "client": tuple(peer[:2]), "server": tuple(local[:2])}
        await _call(app, scope, body, writer)
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except (ConnectionError, OSError):
            pass


async def _call(app: Any, scope: dict, body: bytes, writer: asyncio.StreamWriter) -> None:
    sent = {"body": False}
    response: dict[str, Any] = {"status": 500, "headers": [], "body": []}

    async def receive() -> dict:
        if sent["body"]:
            await asyncio.Event().wait()  # the request is over: wait like a server until the connection closes
        sent["body"] = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict) -> None:
        if message["type"] == "http.response.start":
            response["status"], response["headers"] = message["status"], list(message.get("headers", []))
        elif message["type"] == "http.response.body":
            response["body"].append(message.get("body", b""))

    try:
        await app(scope, receive, send)
    except Exception:  # the app's failure is a 500 and a log line, never the server's end
        logging.getLogger("stapel.kit.health").exception("request failed: %s %s", scope["method"], scope["path"])
        await _raw(writer, 500, b"internal server error")
        return
    data = b"".join(response["body"])
    headers = [(k, v) for k, v in response["headers"] if k.lower() not in (b"content-length", b"connection")]
    await _raw(writer, response["status"], data, headers, head=scope["method"] == "HEAD")


async def _raw(writer: asyncio.StreamWriter, status: int, data: bytes, headers: list | None = None,
               head: bool = False) -> None:
    reason = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else ""
    lines = [f"HTTP/1.1 {status} {reason}".encode()]
    lines += [k + b": " + v for k, v in (headers or [(b"content-type", b"text/plain")])]
    lines += [b"content-length: " + str(len(data)).encode(), b"connection: close", b"", b""]
    writer.write(b"\r\n".join(lines) + (b"" if head else data))
    await writer.drain()


default = Health()
add, remove, ready, asgi, start, serve = default.add, default.remove, default.ready, default.asgi, default.start, default.serve
