"""stapel.kit.health: /livez and /readyz for ASGI apps and on the tiny standalone server; readiness runs every
registered check; stapel's own http probe accepts both."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request

import pytest

from stapel.kit.health import Health
from stapel.probes.checks import http as stapel_http_probe


async def call(app, path: str, method: str = "GET") -> tuple[int, dict[bytes, bytes], bytes]:
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    await app({"type": "http", "method": method, "path": path, "headers": [], "query_string": b""}, receive, send)
    return sent[0]["status"], dict(sent[0]["headers"]), b"".join(m.get("body", b"") for m in sent[1:])


async def ok_check() -> None:
    return None


async def failing_check() -> None:
    raise ConnectionError("connection refused by postgresql://app:pw-123@127.0.0.1:1/db")


async def slow_check() -> None:
    await asyncio.sleep(5)


async def false_check() -> bool:
    return False


def test_livez_always_and_readyz_from_every_check() -> None:
    registry = Health(timeout=0.2)
    registry.add("postgres", ok_check)
    app = registry.asgi()

    async def scenario() -> None:
        assert await call(app, "/livez") == (200, {b"content-type": b"application/json", b"content-length": b"12"}, b'{"ok": true}')
        status, _, body = await call(app, "/readyz")
        assert status == 200 and json.loads(body) == {"ok": True, "checks": {"postgres": "ok"}}
        registry.add("redis", failing_check)
        registry.add("search", slow_check)
        registry.add("bus", false_check)
        status, _, body = await call(app, "/readyz")
        assert status == 503
        assert json.loads(body) == {"ok": False, "checks": {
            "postgres": "ok", "redis": "ConnectionError: connection refused by postgresql://app:******@127.0.0.1:1/db",
            "search": "timed out after 0.2s", "bus": "failed"}}
        assert (await call(app, "/livez"))[0] == 200

    asyncio.run(scenario())


def test_remove_only_the_check_that_was_registered() -> None:
    registry = Health()
    registry.add("postgres", ok_check)
    registry.remove("postgres", failing_check)
    assert "postgres" in registry.checks
    registry.remove("postgres", ok_check)
    assert registry.checks == {}
    assert asyncio.run(registry.ready()) == (True, {})


def test_other_paths_go_to_the_app_and_metrics_are_served() -> None:
    async def app(scope, receive, send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"app:" + scope["path"].encode()})

    async def scenario() -> None:
        wrapped = Health().asgi(app)
        assert (await call(wrapped, "/users/7"))[2] == b"app:/users/7"
        status, headers, body = await call(wrapped, "/metrics")
        assert status == 200 and headers[b"content-type"].startswith(b"text/plain") and b"python_info" in body
        assert (await call(Health().asgi(), "/nope"))[0] == 404
        assert (await call(Health().asgi(app, metrics=False), "/metrics"))[2] == b"app:/metrics"

    asyncio.run(scenario())


def test_the_tiny_server_answers_urllib_and_stapels_http_probe() -> None:
    registry = Health(timeout=0.5)
    registry.add("postgres", ok_check)

    async def scenario() -> None:
        server = await registry.start("127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]

        def get(path: str) -> tuple[int, str]:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
                    return response.status, response.read().decode()
            except urllib.error.HTTPError as error:
                return error.code, error.read().decode()

        try:
            assert await asyncio.to_thread(get, "/livez") == (200, '{"ok": true}')
            assert await asyncio.to_thread(get, "/readyz") == (200, '{"ok": true, "checks": {"postgres": "ok"}}')
            assert await asyncio.to_thread(stapel_http_probe, {"port": port, "path": "/readyz"}, 2) == (True, "GET /readyz -> 200")
            registry.add("redis", failing_check)
            assert await asyncio.to_thread(stapel_http_probe, {"port": port, "path": "/readyz"}, 2) == (False, "GET /readyz -> 503")
            assert (await asyncio.to_thread(get, "/elsewhere"))[0] == 404
            assert "python_info" in (await asyncio.to_thread(get, "/metrics"))[1]
        finally:
            server.close()
            await server.wait_closed()

    asyncio.run(scenario())


def test_the_tiny_server_serves_a_small_asgi_app_with_a_body_and_survives_garbage() -> None:
    async def echo(scope, receive, send) -> None:
        message = await receive()
        await send({"type": "http.response.start", "status": 201, "headers": [(b"x-seen", scope["method"].encode())]})
        await send({"type": "http.response.body", "body": message["body"][::-1]})

    async def scenario() -> None:
        server = await Health().start("127.0.0.1", 0, echo)
        port = server.sockets[0].getsockname()[1]
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc")
            answer = await reader.read()
            assert answer.startswith(b"HTTP/1.1 201 Created\r\n") and answer.endswith(b"\r\n\r\ncba")
            assert b"x-seen: POST" in answer and b"content-length: 3" in answer
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"nonsense\r\n\r\n")
            assert (await reader.read()).startswith(b"HTTP/1.1 400")
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()  # a probe that connects and leaves
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /livez HTTP/1.0\r\n\r\n")
            assert (await reader.read()).endswith(b'{"ok": true}')
        finally:
            server.close()
            await server.wait_closed()

    asyncio.run(scenario())


def test_lifespan_is_acknowledged_without_an_app() -> None:
    messages = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])
    sent: list[dict] = []

    async def receive() -> dict:
        return next(messages)

    async def send(message: dict) -> None:
        sent.append(message)

    asyncio.run(Health().asgi()({"type": "lifespan"}, receive, send))
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]


@pytest.mark.parametrize("path", ["/livez", "/readyz"])
def test_module_level_default_registry(path: str) -> None:
    from stapel.kit import health

    status, _, _ = asyncio.run(call(health.asgi(), path))
    assert status == 200


def test_a_failing_app_is_a_500_and_the_server_keeps_serving(caplog) -> None:
    async def broken(scope, receive, send) -> None:
        raise RuntimeError("bug in the handler")

    async def scenario() -> None:
        server = await Health().start("127.0.0.1", 0, broken)
        port = server.sockets[0].getsockname()[1]
        try:
            for request in (b"GET /boom HTTP/1.1\r\n\r\n", b"POST /x HTTP/1.1\r\nContent-Length: abc\r\n\r\n",
                            b"POST /x HTTP/1.1\r\nContent-Length: 10\r\n\r\nshort"):
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.write(request)
                if request.endswith(b"short"):
                    writer.write_eof()
                answer = await reader.read()
                assert answer == b"" or answer.startswith((b"HTTP/1.1 500", b"HTTP/1.1 400")), answer
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /livez HTTP/1.1\r\n\r\n")
            assert (await reader.read()).startswith(b"HTTP/1.1 200 OK")
        finally:
            server.close()
            await server.wait_closed()

    with caplog.at_level("ERROR"):
        asyncio.run(scenario())
    assert "request failed: GET /boom" in caplog.text and "bug in the handler" in caplog.text
