"""reports of examples/seed-000-crm: daily event counts in the schema reports, on stapel.kit. Its tables come from
reports/migrations/001_init.sql run by psql (`migrations.command`), as seed 000's `psql ... -f`.

It consumes crm.events (reports.crm-events: ClientCreated) and tasks.events (reports.tasks-events: TaskCreated),
each through an inbox in its schema (a redelivered message is counted once), and publishes to the fanout exchange
backup.notifications when a backup of its counts is taken (the audit-log service records it).

  GET  /api/reports/today    today's counts per event type
  POST /api/reports/backup   {"name"} -> 201: a backup row, then BackupFinished published with confirms
  GET  /health, /livez, /metrics
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from events import CONTRACT, BackupFinished, ClientCreated, ServiceConfig, TaskCreated, app, serve
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from stapel.kit import config, log
from stapel.kit.bus import Bus, Delivery, Message, PostgresInbox
from stapel.kit.errors import Unavailable
from stapel.kit.sql import Database, load

QUERIES = load(Path(__file__).parent / "reports" / "sql")


class State:
    db: Any = None
    bus: Any = None


async def count(message: Message, delivery: Delivery) -> None:
    await delivery.tx.exec(QUERIES.counts__bump, event_type=type(message).__name__)


async def today(_request: Request) -> JSONResponse:
    return JSONResponse({row["event_type"]: row["count"] for row in await State.db.many(QUERIES.counts__today)})


async def backup(request: Request) -> JSONResponse:
    try:
        name = str((await request.json()).get("name") or "manual")
    except (ValueError, AttributeError):
        name = "manual"
    row = await State.db.one(QUERIES.backups__create, name=name)
    try:
        await State.bus.publish("backupFinished", BackupFinished(backup=name, status="ok", rows=row["rows"]),
                                message_id=f"backup-{row['id']}")
    except Unavailable:
        return JSONResponse({"error": "the backup status could not be published; try again"}, 503)
    return JSONResponse(row, 201)


async def main() -> None:
    settings = config.load(ServiceConfig)
    log.setup(config=settings)
    State.db = await Database.connect(settings.postgres.dsn, max_size=6, statement_timeout=5)
    State.bus = await Bus.connect(settings.rabbitmq, CONTRACT)
    inbox = PostgresInbox(State.db)
    State.bus.consumer("clientCreatedReports", prefetch=4, inbox=inbox, model=ClientCreated, name="reports.clients")(count)
    State.bus.consumer("taskCreated", prefetch=4, inbox=inbox, model=TaskCreated, name="reports.tasks")(count)
    await State.bus.start()
    routes = [Route("/api/reports/today", today), Route("/api/reports/backup", backup, methods=["POST"])]
    await serve("reports", app(routes, "reports"), settings.listen, [State.bus.close, State.db.close])


if __name__ == "__main__":
    asyncio.run(main())
