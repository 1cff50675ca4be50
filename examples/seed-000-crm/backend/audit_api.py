"""audit-log of examples/seed-000-crm: the audit trail in the schema audit, on stapel.kit. It consumes three of seed
000's exchanges, each through its own queue with a dead-letter queue and an inbox (stapel_inbox in the schema
audit), so a message delivered twice is recorded once:

  crm.events            (audit.crm-events)  ClientCreated from crm-api
  audit.events          (audit.store)       UserLoggedIn from auth
  backup.notifications  (audit.backup)      BackupFinished from reports

  GET /api/audit     every recorded event (exchange, type, message_id, payload)
  GET /health, /livez, /metrics
Its table is a goose-format SQL file (audit/migrations) applied by stapel's own runner.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from events import CONTRACT, BackupFinished, ClientCreated, ServiceConfig, UserLoggedIn, app, serve
from psycopg.types.json import Jsonb
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from stapel.kit import config, log
from stapel.kit.bus import Bus, Delivery, Message, PostgresInbox
from stapel.kit.sql import Database, load

QUERIES = load(Path(__file__).parent / "audit" / "sql")
CONSUMED = {"clientCreatedAudit": ("crm.events", ClientCreated), "userLoggedIn": ("audit.events", UserLoggedIn),
            "backupFinished": ("backup.notifications", BackupFinished)}


class State:
    db: Any = None


def recorder(exchange: str):
    async def record(message: Message, delivery: Delivery) -> None:
        await delivery.tx.exec(QUERIES.events__record, exchange=exchange, event_type=type(message).__name__,
                               message_id=delivery.message_id, payload=Jsonb(message.model_dump(mode="json")))
        log.get("audit").info("recorded", exchange=exchange, event_type=type(message).__name__)
    return record


async def events(_request: Request) -> JSONResponse:
    return JSONResponse(await State.db.many(QUERIES.events__list))


async def main() -> None:
    settings = config.load(ServiceConfig)
    log.setup(config=settings)
    State.db = await Database.connect(settings.postgres.dsn, max_size=6, statement_timeout=5)
    bus = await Bus.connect(settings.rabbitmq, CONTRACT)
    inbox = PostgresInbox(State.db)
    for channel, (exchange, model) in CONSUMED.items():
        bus.consumer(channel, prefetch=4, inbox=inbox, model=model, name=f"audit.{channel}")(recorder(exchange))
    await bus.start()
    await serve("audit", app([Route("/api/audit", events)], "audit"), settings.listen, [bus.close, State.db.close])


if __name__ == "__main__":
    asyncio.run(main())
