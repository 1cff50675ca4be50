"""auth of examples/seed-000-crm (seed 000's backend/auth): users and sessions in the schema auth, on stapel.kit
(Starlette under uvicorn). Its tables are goose-format SQL files (auth/migrations) applied by stapel's own runner.

  POST /api/auth/login   {"email", "password"} -> 200 {"token"}: a session stored, then UserLoggedIn published with
                         confirms on audit.events (the audit-log service records it); 401 for a wrong email or password
  GET  /health, /livez, /metrics
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from pathlib import Path
from typing import Any

from events import CONTRACT, ServiceConfig, UserLoggedIn, app, serve
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from stapel.kit import config, log
from stapel.kit.bus import Bus
from stapel.kit.errors import NotFound, Unavailable
from stapel.kit.sql import Database, load

QUERIES = load(Path(__file__).parent / "auth" / "sql")


class State:
    db: Any = None
    bus: Any = None


def verify(password: str, stored: str) -> bool:
    scheme, iterations, salt, expected = stored.split("$")
    found = hashlib.pbkdf2_hmac("sha256", password.encode(), bytes.fromhex(salt), int(iterations)).hex()
    return scheme == "pbkdf2_sha256" and hmac.compare_digest(found, expected)


async def login(request: Request) -> JSONResponse:
    try:
        body = await request.json()
        email, password = str(body["email"]), str(body["password"])
    except (ValueError, KeyError, TypeError):
        return JSONResponse({"error": "expected {\"email\": ..., \"password\": ...}"}, 422)
    try:
        user = await State.db.one(QUERIES.users__by_email, email)
    except NotFound:
        user = None
    if user is None or not verify(password, user["password_hash"]):
        return JSONResponse({"error": "wrong email or password"}, 401)
    token = secrets.token_urlsafe(24)
    await State.db.exec(QUERIES.sessions__create, token=token, user_id=user["id"])
    try:
        await State.bus.publish("userLoggedIn", UserLoggedIn(user_id=user["id"], email=email), message_id=f"login-{token[:12]}")
    except Unavailable:
        return JSONResponse({"error": "the audit event could not be published; try again"}, 503)
    return JSONResponse({"token": token, "role": user["role"]})


async def main() -> None:
    settings = config.load(ServiceConfig)
    log.setup(config=settings)
    State.db = await Database.connect(settings.postgres.dsn, max_size=4, statement_timeout=5)
    State.bus = await Bus.connect(settings.rabbitmq, CONTRACT)  # publishes only
    await serve("auth", app([Route("/api/auth/login", login, methods=["POST"])], "auth"), settings.listen,
                [State.bus.close, State.db.close])


if __name__ == "__main__":
    asyncio.run(main())
