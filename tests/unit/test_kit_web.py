"""stapel.kit.web: the route table driven as ASGI (real scope, receive, send) and through the kit's tiny server on a
real socket: typed path parameters, 404/405/400/413, the domain errors' statuses, the correlation id in the log and
the response, a 500 logged with its stack trace and nothing of it in the body, route tables refused at build."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import urllib.error
import urllib.request
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import structlog
from pydantic import BaseModel, Field

from stapel.kit import log, web
from stapel.kit.errors import Conflict, NotFound, Permanent, Unavailable
from stapel.kit.health import Health


class NewOrder(BaseModel):
    user_id: int = Field(strict=True)
    total_cents: int = Field(ge=0, strict=True)


class Teapot(Exception):
    pass


class NoSuchUser(NotFound):
    pass


async def call(app, method: str, path: str, body: bytes | list[bytes] = b"", headers: list | None = None,
               query: bytes = b"") -> tuple[int, dict[bytes, bytes], bytes]:
    """One request as an ASGI server makes it; `body` as a list arrives in chunks (more_body)."""
    chunks = body if isinstance(body, list) else [body]
    messages = [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1} for i, c in enumerate(chunks)]
    sent: list[dict] = []

    async def receive() -> dict:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {"type": "http", "method": method, "path": path, "headers": headers or [], "query_string": query}
    await app(scope, receive, send)
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
    return sent[0]["status"], dict(sent[0]["headers"]), sent[1]["body"]


def run(app, *args, **kwargs) -> tuple[int, dict[bytes, bytes], bytes]:
    return asyncio.run(call(app, *args, **kwargs))


def answer(app, *args, **kwargs) -> tuple[int, object]:
    status, _, data = run(app, *args, **kwargs)
    return status, json.loads(data) if data else None


@pytest.fixture
def lines(monkeypatch: pytest.MonkeyPatch):
    """The kit's JSON log into a buffer; returns the parsed lines so far."""
    monkeypatch.delenv("LOG_LEVEL", raising=False)
    buffer = io.StringIO()
    log.setup(stream=buffer)
    yield lambda: [json.loads(line) for line in buffer.getvalue().splitlines()]
    structlog.reset_defaults()
    logging.getLogger().handlers.clear()
    log.clear()


def shop():
    seen: dict[str, object] = {}

    async def list_users(query: dict) -> dict:
        return {"query": query}

    async def me() -> dict:
        return {"who": "me"}

    async def get_user(id: int) -> dict:  # noqa: A002 - the route's parameter
        seen["id"] = id
        if id == 404:
            raise NoSuchUser("user__get", "no row")
        return {"id": id}

    async def by_name(name: str) -> dict:
        return {"name": name}

    async def by_key(key: uuid.UUID) -> dict:
        return {"key": key, "type": type(key).__name__}

    async def files(rest: str) -> dict:
        return {"rest": rest}

    async def create_user(body: dict, headers: dict) -> tuple[int, dict]:
        if "@" not in str(body.get("email")):
            raise web.BadRequest("email: an address expected")
        return 201, {"email": body["email"], "agent": headers.get("user-agent")}

    async def order(body: NewOrder) -> tuple[int, NewOrder]:
        return 201, body

    async def fail(kind: str) -> None:
        raise {"conflict": Conflict("user__create", "email taken", constraint="users_email_key"),
               "permanent": Permanent("payments", "card refused"), "unavailable": Unavailable("payments", "timed out"),
               "teapot": Teapot("short and stout"), "bad": web.BadRequest("no")}[kind]

    async def delete(id: int) -> tuple[int, None]:  # noqa: A002
        return 204, None

    async def stamp() -> dict:
        return {"at": datetime(2026, 12, 4, 10, 0, tzinfo=UTC), "price": Decimal("1.10"), "tags": {"b", "a"}}

    app = web.router({("GET", "/users"): list_users, ("GET", "/users/me"): me, ("GET", "/users/{id:int}"): get_user,
                      ("DELETE", "/users/{id:int}"): delete, ("GET", "/users/{name}"): by_name,
                      ("GET", "/keys/{key:uuid}"): by_key, ("GET", "/files/{rest:path}"): files,
                      ("POST", "/users"): create_user, ("POST", "/orders"): order, ("POST", "/fail/{kind}"): fail,
                      ("GET", "/stamp"): stamp}, errors={Teapot: 418}, max_body=64)
    return app, seen


def test_path_parameters_are_typed_and_the_first_matching_route_wins() -> None:
    app, seen = shop()
    assert answer(app, "GET", "/users/42") == (200, {"id": 42})
    assert type(seen["id"]) is int
    assert answer(app, "GET", "/users/me") == (200, {"who": "me"})          # listed before {id:int} and {name}
    assert answer(app, "GET", "/users/ann") == (200, {"name": "ann"})       # not digits: the str route
    key = "0f8fad5b-d9cb-469f-a165-70867728950e"
    assert answer(app, "GET", f"/keys/{key}") == (200, {"key": key, "type": "UUID"})
    assert answer(app, "GET", "/files/a/b/c.txt") == (200, {"rest": "a/b/c.txt"})
    assert answer(app, "GET", "/users", query=b"q=ann&page=2&q=bob&empty=") == (
        200, {"query": {"q": "bob", "page": "2", "empty": ""}})
    assert answer(app, "GET", "/stamp") == (200, {"at": "2026-12-04T10:00:00+00:00", "price": "1.10", "tags": ["a", "b"]})
    status, headers, data = run(app, "DELETE", "/users/1")
    assert (status, data, headers[b"content-length"]) == (204, b"", b"0") and b"content-type" not in headers


def test_unknown_paths_are_404_and_known_paths_with_another_method_405() -> None:
    app, _ = shop()
    assert answer(app, "GET", "/nothing") == (404, {"error": "NotFound", "detail": "no route for GET /nothing"})
    assert answer(app, "GET", "/keys/not-a-uuid")[0] == 404
    assert answer(app, "GET", "/users/42/")[0] == 404                       # no slash appended
    assert answer(app, "GET", "/users/1234567890123456789")[0] == 200       # 19 digits: not an int, so a name
    status, headers, data = run(app, "PUT", "/users/7")
    assert status == 405 and headers[b"allow"] == b"DELETE, GET, HEAD"
    assert json.loads(data) == {"error": "MethodNotAllowed", "detail": "PUT /users/7: allowed DELETE, GET, HEAD"}
    status, headers, data = run(app, "HEAD", "/users/7")                    # HEAD is a GET without the body
    assert (status, data, headers[b"content-length"]) == (200, b"", b"9")


def test_a_body_that_is_not_json_or_not_of_the_expected_shape_is_400_naming_what_is_wrong() -> None:
    app, _ = shop()
    assert answer(app, "POST", "/users", b'{"email": "a@example.org"}')[0] == 201
    status, body = answer(app, "POST", "/users", b'{"email": ')
    assert status == 400 and body["error"] == "BadRequest" and body["detail"].startswith("the body is not JSON: ")
    assert answer(app, "POST", "/users", b"[1]") == (400, {"error": "BadRequest",
                                                           "detail": "a JSON object expected, got an array"})
    assert answer(app, "POST", "/users", b"") == (400, {"error": "BadRequest",
                                                        "detail": "a JSON object expected, got nothing"})
    assert answer(app, "POST", "/users", b"\xff\xfe")[0] == 400
    assert answer(app, "POST", "/users", b'{"email": "no-at"}') == (400, {"error": "BadRequest",
                                                                         "detail": "email: an address expected"})
    assert answer(app, "POST", "/orders", b'{"user_id": 3, "total_cents": 5}') == (201, {"user_id": 3, "total_cents": 5})
    status, body = answer(app, "POST", "/orders", b'{"user_id": "3", "total_cents": -5}')
    assert status == 400 and body["error"] == "BadRequest"
    assert body["detail"] == ("user_id: Input should be a valid integer; "
                              "total_cents: Input should be greater than or equal to 0")
    assert "-5" not in body["detail"]                                       # the values sent are not echoed
    assert answer(app, "POST", "/orders", b"[]")[1]["detail"] == "body: Input should be an object"


def test_bodies_over_max_body_are_413_even_in_chunks() -> None:
    app, _ = shop()
    status, body = answer(app, "POST", "/users", [b'{"email": "', b"x" * 40, b"x" * 40, b'"}'])
    assert (status, body) == (413, {"error": "BodyTooLarge", "detail": "the body is over 64 bytes"})
    assert answer(app, "POST", "/users", [b'{"email": ', b'"a@b"}'])[0] == 201  # chunks are joined


def test_the_domain_errors_map_to_their_statuses_with_name_and_detail() -> None:
    app, _ = shop()
    assert answer(app, "GET", "/users/404") == (404, {"error": "NoSuchUser", "detail": "user__get: no row"})  # a subclass
    assert answer(app, "POST", "/fail/conflict") == (409, {"error": "Conflict", "detail": "user__create: email taken"})
    assert answer(app, "POST", "/fail/permanent") == (422, {"error": "Permanent", "detail": "payments: card refused"})
    assert answer(app, "POST", "/fail/unavailable") == (503, {"error": "Unavailable", "detail": "payments: timed out"})
    assert answer(app, "POST", "/fail/teapot") == (418, {"error": "Teapot", "detail": "short and stout"})  # errors=
    assert answer(app, "POST", "/fail/bad") == (400, {"error": "BadRequest", "detail": "no"})
    assert web.STATUS[NotFound] == 404 and web.STATUS[web.BadRequest] == 400


def test_the_correlation_id_is_taken_or_made_bound_in_the_log_and_echoed(lines) -> None:
    async def hello() -> dict:
        log.get("shop").info("hello")
        return {}

    app = web.router({("GET", "/hello"): hello})
    _, headers, _ = run(app, "GET", "/hello", headers=[(b"x-correlation-id", b"checkout-42")])
    assert headers[b"x-correlation-id"] == b"checkout-42"
    assert lines()[-1]["correlation_id"] == "checkout-42" and lines()[-1]["event"] == "hello"
    for sent in ([], [(b"x-correlation-id", b"has space")], [(b"x-correlation-id", b"x" * 129)]):
        _, headers, _ = run(app, "GET", "/hello", headers=sent)
        made = headers[b"x-correlation-id"].decode()
        assert len(made) == 32 and int(made, 16) >= 0 and lines()[-1]["correlation_id"] == made
    _, headers, _ = run(app, "GET", "/nowhere", headers=[(b"x-correlation-id", b"c-1")])
    assert headers[b"x-correlation-id"] == b"c-1"                          # on the router's own answers too
    assert "correlation_id" not in log.structlog.contextvars.get_contextvars()  # unbound after the request


def test_an_unexpected_exception_is_a_500_logged_with_its_stack_trace_and_nothing_of_it_in_the_body(lines) -> None:
    async def broken(id: int) -> dict:  # noqa: A002
        raise KeyError("internal-detail-7")

    async def unserializable() -> dict:
        return {"socket": object()}

    app = web.router({("GET", "/broken/{id:int}"): broken, ("GET", "/odd"): unserializable})
    status, headers, data = run(app, "GET", "/broken/3", headers=[(b"x-correlation-id", b"req-9")])
    assert status == 500 and b"internal-detail-7" not in data and b"KeyError" not in data
    assert json.loads(data) == {"error": "InternalError",
                                "detail": "the request failed; the service's log has it under correlation id req-9"}
    line = lines()[-1]
    assert (line["event"], line["level"], line["method"], line["path"], line["error"], line["correlation_id"]) == (
        "request failed", "ERROR", "GET", "/broken/3", "KeyError", "req-9")
    assert "Traceback" in line["exception"] and "internal-detail-7" in line["exception"] and "in broken" in line["exception"]
    status, _, data = run(app, "GET", "/odd")
    assert status == 500 and b"object" not in data and "not JSON serializable" in lines()[-1]["exception"]


def test_a_route_table_the_handlers_do_not_fit_is_refused_naming_the_route() -> None:
    async def by_id(id: int) -> dict:  # noqa: A002
        return {}

    async def wants_user(user: str) -> dict:
        return {}

    def not_async(id: int) -> dict:  # noqa: A002
        return {}

    async def local_model(body: Local) -> dict:  # noqa: F821 - on purpose: a name its module does not have
        return {}

    async def optional(id: int, page: int = 1, **rest: str) -> dict:  # noqa: A002
        return {}

    cases = {("GET", "/x/{key}"): (by_id, "route GET /x/{key}: the handler does not take the path parameter(s) key"),
             ("GET", "/x"): (wants_user, "route GET /x: the handler takes user: neither a path parameter nor one of "
                                         "body, query, headers"),
             ("GET", "/y/{id:float}"): (by_id, "route GET /y/{id:float}: {id:float}: unknown type (one of str, int, "
                                               "path, uuid)"),
             ("GET", "/y/{id}/{id}"): (by_id, "route GET /y/{id}/{id}: {id}: a parameter name used twice or reserved "
                                              "(body, query, headers)"),
             ("FETCH", "/y"): (by_id, "route FETCH /y: unknown method (one of DELETE, GET, HEAD, OPTIONS, PATCH, POST, "
                                      "PUT)"),
             ("GET", "y/{id}"): (by_id, "route GET y/{id}: the path must start with /"),
             ("GET", "/z/{id}"): (not_async, "route GET /z/{id}: the handler must be an async function")}
    for key, (handler, message) in cases.items():
        with pytest.raises(ValueError) as raised:
            web.router({key: handler})
        assert str(raised.value) == message
    with pytest.raises(ValueError, match=r"^route POST /l: the handler's annotations cannot be resolved .*Local"):
        web.router({("POST", "/l"): local_model})
    assert answer(web.router({("GET", "/o/{id:int}"): optional}), "GET", "/o/5") == (200, {})  # defaults may stay


def test_the_lifespan_protocol_is_answered() -> None:
    async def nothing() -> None:
        return None

    app = web.router({("GET", "/"): nothing})
    incoming = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    sent: list[str] = []

    async def scenario() -> None:
        async def receive() -> dict:
            return incoming.pop(0)

        async def send(message: dict) -> None:
            sent.append(message["type"])

        await asyncio.wait_for(app({"type": "lifespan"}, receive, send), 2)

    asyncio.run(scenario())
    assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]


def test_on_the_kits_tiny_server_over_a_real_socket() -> None:
    app, _ = shop()
    server_app = Health().asgi(log.access_log(app))

    def http(method: str, path: str, data: bytes | None = None, headers: dict | None = None) -> tuple[int, dict, dict]:
        request = urllib.request.Request(base + path, data=data, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status, dict(response.headers), json.load(response)
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), json.loads(exc.read())

    async def scenario() -> list:
        nonlocal base
        server = await Health().start("127.0.0.1", 0, server_app)
        base = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        try:
            return await asyncio.gather(
                asyncio.to_thread(http, "POST", "/users", b'{"email": "ann@example.org"}',
                                  {"Content-Type": "application/json", "User-Agent": "probe/1", "X-Correlation-ID": "c-7"}),
                asyncio.to_thread(http, "GET", "/users/%61nn%20b"),          # percent-decoded: "ann b"
                asyncio.to_thread(http, "PATCH", "/users/5", b"{}"),
                asyncio.to_thread(http, "POST", "/orders", b'{"user_id": true}'),
                asyncio.to_thread(http, "GET", "/livez"))
        finally:
            server.close()
            await server.wait_closed()

    base = ""
    created, named, patched, bad, live = asyncio.run(scenario())
    assert created[0] == 201 and created[2] == {"email": "ann@example.org", "agent": "probe/1"}
    assert created[1]["x-correlation-id"] == "c-7" and created[1]["content-type"] == "application/json"
    assert named[0::2] == (200, {"name": "ann b"})
    assert patched[0] == 405 and patched[1]["allow"] == "DELETE, GET, HEAD"
    assert bad[0] == 400 and bad[2]["detail"].startswith("user_id: Input should be a valid integer")
    assert live[0::2] == (200, {"ok": True})
