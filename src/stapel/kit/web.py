"""A small JSON HTTP API as a plain ASGI app: a route table, typed path parameters, JSON in and out, the correlation id
in every log line, the kit's domain errors as statuses. It runs on the kit's tiny server (`health.serve`) or any ASGI
server (uvicorn); it needs nothing beyond the kit.

    async def create(body: NewUser) -> tuple[int, dict]: ...     # a pydantic model: validated (400 naming the field)
    async def show(id: int) -> dict: ...                          # a path parameter, converted; a bare value is a 200
    async def search(query: dict[str, str]) -> list: ...          # ?q=...: the query string (the last value of a name)
    app = web.router({("POST", "/users"): create, ("GET", "/users/{id:int}"): show, ("GET", "/users"): search})
    await health.serve(host, port, health.asgi(log.access_log(app)))

Handlers are async; their parameters are taken by name: each path parameter (`{name}` or `{name:str}` one segment,
`{name:int}` up to 18 digits (a bigint), `{name:uuid}`, `{name:path}` the rest of the path), `body` (the JSON body:
a JSON object as a dict, unless annotated with a pydantic model: then validated into it), `query` (a dict), `headers`
(a dict, lower-case names). A handler returns `(status, body)` or just the body (200); a body of None is sent
empty. A route table that names a parameter no handler takes (or the reverse) stops at `router()` with the route in
the message.

Answers the router gives itself: 404 for an unknown path, 405 (with Allow) for a known path and another method, 400
for a body that is not JSON or not of the expected shape, 413 over `max_body`. Errors are `{"error": <the error's
class name>, "detail": <its message>}`; `STATUS` maps the exceptions a handler raises (the kit's domain errors) to
statuses; anything else is a 500 whose stack trace goes to the log (stapel.kit.log's JSON) and never to the client.
The `X-Correlation-ID` header (or a new id) is bound as `correlation_id` for every line logged while handling the
request (and every event the bus publishes from it) and echoed in the response.
"""

from __future__ import annotations

import inspect
import json
import re
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, is_dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

from stapel.kit import log
from stapel.kit.errors import Conflict, NotFound, Permanent, Unavailable
from stapel.kit.health import answer_lifespan

__all__ = ["STATUS", "BadRequest", "BodyTooLarge", "Router", "router"]

Handler = Callable[..., Awaitable[Any]]


class BadRequest(ValueError):
    """The request cannot be served as sent (a missing field, a value out of range): 400 with this message."""


class BodyTooLarge(BadRequest):
    """A request body over the router's `max_body`: 413."""


STATUS: dict[type[BaseException], int] = {BadRequest: 400, BodyTooLarge: 413, NotFound: 404, Conflict: 409,
                                          Permanent: 422, Unavailable: 503}
"""Exception class -> status; an exception's nearest class in this table wins. `router(errors=...)` adds to it."""

CONVERTERS: dict[str, tuple[str, Callable[[str], Any]]] = {
    "str": ("[^/]+", str), "int": ("[0-9]{1,18}", int), "path": (".*", str),
    "uuid": ("[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}", uuid.UUID)}
SPECIAL = ("body", "query", "headers")
CORRELATION = b"x-correlation-id"
_PARAM = re.compile(r"\{([A-Za-z_]\w*)(?::(\w+))?\}")
_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}


class Route:
    """One (method, path template) and its handler, checked when built: the template's parameters and the
    handler's must match."""

    def __init__(self, method: str, template: str, handler: Handler) -> None:
        where = f"route {method} {template}"
        if method.upper() not in _METHODS:
            raise ValueError(f"{where}: unknown method (one of {', '.join(sorted(_METHODS))})")
        if not template.startswith("/"):
            raise ValueError(f"{where}: the path must start with /")
        if not inspect.iscoroutinefunction(handler):
            raise ValueError(f"{where}: the handler must be an async function")
        self.method, self.template, self.handler = method.upper(), template, handler
        self.converters: dict[str, Callable[[str], Any]] = {}
        pattern, start = "", 0
        for found in _PARAM.finditer(template):
            name, kind = found.group(1), found.group(2) or "str"
            if kind not in CONVERTERS:
                raise ValueError(f"{where}: {{{name}:{kind}}}: unknown type (one of {', '.join(CONVERTERS)})")
            if name in self.converters or name in SPECIAL:
                raise ValueError(f"{where}: {{{name}}}: a parameter name used twice or reserved ({', '.join(SPECIAL)})")
            regex, self.converters[name] = CONVERTERS[kind]
            pattern += re.escape(template[start:found.start()]) + f"(?P<{name}>{regex})"
            start = found.end()
        self.pattern = re.compile(pattern + re.escape(template[start:]) + r"\Z")
        self.wants, self.model = self._check_signature(where)

    def _check_signature(self, where: str) -> tuple[set[str], Any]:
        """The handler takes every path parameter and only what the router can give; returns which of SPECIAL it
        takes and the body's pydantic model, if it annotates `body` with one."""
        try:
            signature = inspect.signature(self.handler, eval_str=True)
        except Exception as exc:  # NameError mostly: a type local to a function, invisible to the handler's module
            raise ValueError(f"{where}: the handler's annotations cannot be resolved ({exc}): define their types "
                             "at module level") from None
        params = signature.parameters
        if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
            missing = [n for n in self.converters if n not in params]
            if missing:
                raise ValueError(f"{where}: the handler does not take the path parameter(s) {', '.join(missing)}")
        unknown = [n for n, p in params.items() if n not in self.converters and n not in SPECIAL
                   and p.default is p.empty and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]
        if unknown:
            raise ValueError(f"{where}: the handler takes {', '.join(unknown)}: neither a path parameter nor one of "
                             f"{', '.join(SPECIAL)}")
        annotation = params["body"].annotation if "body" in params else None
        model = annotation if isinstance(annotation, type) and hasattr(annotation, "model_validate") else None
        return {n for n in SPECIAL if n in params}, model

    def match(self, path: str) -> dict[str, Any] | None:
        found = self.pattern.match(path)
        if found is None:
            return None
        return {name: self.converters[name](value) for name, value in found.groupdict().items()}


class Router:
    """The ASGI app `router()` returns."""

    def __init__(self, routes: list[Route], errors: Mapping[type[BaseException], int], max_body: int) -> None:
        self.routes, self.errors, self.max_body = routes, {**STATUS, **errors}, max_body

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await answer_lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        correlation = _correlation(scope.get("headers", []))
        with log.context(correlation_id=correlation):
            status, data, extra = await self._answer(scope, receive, correlation)
        headers = [(b"content-length", str(len(data)).encode()), (CORRELATION, correlation.encode()), *extra]
        if data:
            headers.append((b"content-type", b"application/json"))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else data})

    async def _answer(self, scope: dict, receive: Any, correlation: str) -> tuple[int, bytes, list]:
        method, path = scope["method"], scope["path"]
        allowed: set[str] = set()
        for route in self.routes:
            params = route.match(path)
            if params is None:
                continue
            if route.method == method or (method == "HEAD" and route.method == "GET"):
                try:
                    return await self._call(route, params, scope, receive)
                except Exception as exc:  # the handler's failure is an answer: its mapped status, or a logged 500
                    return self._failed(exc, scope, correlation)
            allowed |= {route.method, "HEAD"} if route.method == "GET" else {route.method}
        if allowed:
            methods = ", ".join(sorted(allowed))
            return 405, _error("MethodNotAllowed", f"{method} {path}: allowed {methods}"), [(b"allow", methods.encode())]
        return 404, _error("NotFound", f"no route for {method} {path}"), []

    async def _call(self, route: Route, params: dict, scope: dict, receive: Any) -> tuple[int, bytes, list]:
        if "body" in route.wants:
            params["body"] = _shape(route, await self._read(receive))
        if "query" in route.wants:
            params["query"] = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True))
        if "headers" in route.wants:
            params["headers"] = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        result = await route.handler(**params)
        status, body = result if isinstance(result, tuple) and len(result) == 2 and isinstance(result[0], int) \
            else (200, result)
        return status, b"" if body is None else json.dumps(body, default=_json_default).encode(), []

    async def _read(self, receive: Any) -> bytes:
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise BadRequest("the client went away before sending its body")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                raise BodyTooLarge(f"the body is over {self.max_body} bytes")
            chunks.append(chunk)
            more = message.get("more_body", False)
        return b"".join(chunks)

    def _failed(self, exc: Exception, scope: dict, correlation: str) -> tuple[int, bytes, list]:
        status = next((self.errors[cls] for cls in type(exc).__mro__ if cls in self.errors), None)
        if status is not None:
            return status, _error(type(exc).__name__, str(exc)), []
        log.get("stapel.kit.web").exception("request failed", method=scope["method"], path=scope["path"],
                                            error=type(exc).__name__)
        return 500, _error("InternalError", "the request failed; the service's log has it under correlation id "
                                            f"{correlation}"), []


def router(routes: Mapping[tuple[str, str], Handler], *, errors: Mapping[type[BaseException], int] | None = None,
           max_body: int = 1024 * 1024) -> Router:
    """An ASGI app serving `routes`, {(method, path template): async handler}; the first matching route wins, in
    the table's order. `errors` maps more exception classes to statuses (added to STATUS); `max_body` bytes at most
    (413 beyond). A mistake in the table raises ValueError naming the route."""
    return Router([Route(method, template, handler) for (method, template), handler in routes.items()], errors or {},
                  max_body)


def _shape(route: Route, raw: bytes) -> Any:
    """The body as the handler declared it: a JSON object (dict), or a pydantic model validated from the JSON."""
    if route.model is not None:
        from pydantic import ValidationError

        try:
            return route.model.model_validate_json(raw or b"null")
        except ValidationError as exc:
            problems = [f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors(include_url=False)]
            raise BadRequest("; ".join(problems[:10])) from None
    try:
        body = json.loads(raw) if raw.strip() else None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadRequest(f"the body is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise BadRequest(f"a JSON object expected, got {_json_kind(body)}")
    return body


def _json_kind(value: Any) -> str:
    return {type(None): "nothing", list: "an array", str: "a string", bool: "a boolean"}.get(type(value), "a number")


def _error(name: str, detail: str) -> bytes:
    return json.dumps({"error": name, "detail": detail}).encode()


def _correlation(headers: list) -> str:
    """The caller's X-Correlation-ID when it is a sane token (visible ASCII, at most 128 characters), else a new id."""
    given = next((v for k, v in headers if k.lower() == CORRELATION), b"")
    text = given.decode("latin-1")
    return text if 0 < len(text) <= 128 and all("!" <= c <= "~" for c in text) else uuid.uuid4().hex


def _json_default(value: Any) -> Any:
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, (uuid.UUID, Decimal)):
        return str(value)
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
