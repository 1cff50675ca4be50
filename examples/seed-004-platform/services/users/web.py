"""The few lines of HTTP plumbing the service needs on the kit's tiny ASGI server: JSON in, JSON out, a route table,
the domain errors mapped to their statuses (NotFound 404, Conflict 409, Permanent 422, Unavailable 503)."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from stapel.kit import log
from stapel.kit.errors import Conflict, NotFound, Permanent, Unavailable

Handler = Callable[..., Awaitable[tuple[int, Any]]]
STATUS = ((NotFound, 404), (Conflict, 409), (Permanent, 422), (Unavailable, 503))


class BadRequest(ValueError):
    pass


def router(routes: dict[tuple[str, str], Handler]) -> Any:
    """An ASGI app: `{("POST", "/users"): create, ("GET", "/users/{id}"): get}`; path parameters are integers."""
    compiled = [(method, re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>\\d+)", path) + "$"), handler)
                for (method, path), handler in routes.items()]

    async def app(scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        headers = {k.decode().lower(): v.decode() for k, v in scope.get("headers", [])}
        correlation = headers.get("x-correlation-id") or uuid.uuid4().hex  # the chain's id, into every log line and event
        status, body = 404, {"error": "not found"}
        for method, pattern, handler in compiled:
            found = pattern.match(scope["path"])
            if found and method == scope["method"]:
                with log.context(correlation_id=correlation):
                    status, body = await call(handler, receive, {k: int(v) for k, v in found.groupdict().items()})
                break
        data = json.dumps(body, default=str).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"x-correlation-id", correlation.encode())]})
        await send({"type": "http.response.body", "body": data})

    return app


async def call(handler: Handler, receive: Any, params: dict[str, int]) -> tuple[int, Any]:
    try:
        message, chunks = {"more_body": True}, []
        while message.get("more_body"):
            message = await receive()
            chunks.append(message.get("body", b""))
        raw = b"".join(chunks)
        body = json.loads(raw) if raw else {}
        return await handler(body, **params)
    except (BadRequest, json.JSONDecodeError, TypeError, KeyError, AttributeError) as exc:  # a body of the wrong shape
        return 400, {"error": f"bad request: {exc}"}
    except tuple(error for error, _ in STATUS) as exc:
        status = next(code for error, code in STATUS if isinstance(exc, error))
        return status, {"error": type(exc).__name__, "detail": str(exc)}
