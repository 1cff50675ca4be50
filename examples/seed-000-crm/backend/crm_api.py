"""crm-api of examples/seed-000-crm (seed 000's backend/crm, Python): clients in the schema crm, their tasks in
tasks, the notifications outbox in notifications, on stapel.kit (Starlette under uvicorn). Its tables are made by
Alembic (crm/alembic.ini, `migrations.command` in stapel.yaml), as the seed's `poetry run alembic upgrade head`.

  POST /api/clients      {"name", "email"} -> 201: the client and a follow-up task stored, then published with
                         confirms: ClientCreated on crm.events (audit and reports consume it), TaskCreated on
                         tasks.events (reports), NotificationRequested on notifications.events (this service's own
                         notifications worker); 409 for a known email
  GET  /api/clients      every client;  GET /api/clients/{id}
  GET  /api/notifications   the outbox the notifications worker wrote (one row per message, however often delivered)
  GET  /health, /livez, /metrics
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from events import CONTRACT, ClientCreated, NotificationRequested, ServiceConfig, TaskCreated, app, serve
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from stapel.kit import config, log
from stapel.kit.bus import Bus, Delivery, PostgresInbox
from stapel.kit.errors import Conflict, NotFound, Unavailable
from stapel.kit.sql import Database, load

QUERIES = load(Path(__file__).parent / "crm" / "sql")


class State:
    db: Any = None
    bus: Any = None


async def create_client(request: Request) -> JSONResponse:
    try:
        body = await request.json()
        name, email = str(body["name"]), str(body["email"])
    except (ValueError, KeyError, TypeError):
        return JSONResponse({"error": "expected {\"name\": ..., \"email\": ...}"}, 422)
    try:
        async with State.db.transaction() as tx:
            client = await tx.one(QUERIES.clients__create, name=name, email=email)
            task = await tx.one(QUERIES.tasks__create, client_id=client["id"], title=f"Call {name}")
    except Conflict:
        return JSONResponse({"error": f"a client with the email {email} exists"}, 409)
    try:  # message ids from the rows: a retried publish is the same message to every consumer's inbox
        await State.bus.publish("clientCreated", ClientCreated(client_id=client["id"], name=name, email=email),
                                message_id=f"client-created-{client['id']}")
        await State.bus.publish("taskCreated", TaskCreated(task_id=task["id"], client_id=client["id"], title=task["title"]),
                                message_id=f"task-created-{task['id']}")
        await State.bus.publish("notificationRequested", NotificationRequested(recipient=email, text=f"Welcome, {name}"),
                                message_id=f"welcome-{client['id']}")
    except Unavailable:
        return JSONResponse({"error": "stored, but the events could not be published; try again"}, 503)
    return JSONResponse({**client, "task_id": task["id"]}, 201)


async def list_clients(_request: Request) -> JSONResponse:
    return JSONResponse(await State.db.many(QUERIES.clients__list))


async def get_client(request: Request) -> JSONResponse:
    try:
        return JSONResponse(await State.db.one(QUERIES.clients__get, int(request.path_params["client_id"])))
    except (NotFound, ValueError):
        return JSONResponse({"error": "no such client"}, 404)


async def notifications(_request: Request) -> JSONResponse:
    return JSONResponse(await State.db.many(QUERIES.outbox__list))


async def send_notification(message: NotificationRequested, delivery: Delivery) -> None:
    """The notifications worker: the outbox row is written in the inbox's transaction, so once per message."""
    await delivery.tx.exec(QUERIES.outbox__record, recipient=message.recipient, text=message.text, message_id=delivery.message_id)


async def main() -> None:
    settings = config.load(ServiceConfig)
    log.setup(config=settings)
    State.db = await Database.connect(settings.postgres.dsn, max_size=6, statement_timeout=5)
    State.bus = await Bus.connect(settings.rabbitmq, CONTRACT)
    State.bus.consumer("notificationRequested", prefetch=4, inbox=PostgresInbox(State.db), name="crm-api")(send_notification)
    await State.bus.start()
    routes = [Route("/api/clients", create_client, methods=["POST"]), Route("/api/clients", list_clients),
              Route("/api/clients/{client_id}", get_client), Route("/api/notifications", notifications)]
    await serve("crm-api", app(routes, "crm-api"), settings.listen, [State.bus.close, State.db.close])


if __name__ == "__main__":
    asyncio.run(main())
