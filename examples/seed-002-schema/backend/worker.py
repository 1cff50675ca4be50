"""backend-worker of examples/seed-002-schema: seed 002's Execution Engine on stapel.kit.

It consumes ExecuteSchema from schema_execution_queue (api/asyncapi.yaml; prefetch $WORKER_PREFETCH, section 5.2)
and runs the execution's schema node by node from where it stands (execution_state: the current node and the
context), one execution_steps row per step attempt, each step committed on its own:
- a node that is temporarily unavailable (engine.py's `call`): its step `failed` with the reason, the execution
  `paused`, the message acked and republished later through `at` (its SQLite file in the service volume `at`,
  section 3.2 and 6), which resumes at that node; after $MAX_ATTEMPTS attempts it is given up;
- a permanent failure (a rejected call, a template naming a missing variable) or a message that does not
  validate: the execution `failed` with the error, the message dead-lettered to schema_execution_dlq with the
  reason in its x-stapel-reason header.
JSON logs (section 7): each run's start and end (`job started`/`job finished`/`job failed`, with execution_id),
each step (`step started`/`step finished`/`step failed`), errors with their stack trace (`exception`).
GET /health (PostgreSQL and the bus), /livez, /metrics on HOST:PORT.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

import engine
from messages import CHANNEL, CONTRACT, ExecuteSchema, quiet_amqp
from psycopg.types.json import Jsonb

from stapel.kit import config, health, log
from stapel.kit.at import At
from stapel.kit.bus import Bus, Delivery, Permanent, Temporary
from stapel.kit.errors import NotFound
from stapel.kit.sql import Database, load

QUERIES = load(Path(__file__).parent / "sql")


class WorkerConfig(config.Config):  # no env_prefix for this service in stapel.yaml
    postgres: config.Postgres
    rabbitmq: config.RabbitMQ
    listen: config.Listen
    at: Annotated[config.Volume, config.node("at")]  # AT_DIR: the service volume for at's SQLite file
    worker_prefetch: int = 10
    retry_base_seconds: float = 1.0
    max_attempts: int = 5


class Engine:
    def __init__(self, db: Database, max_attempts: int) -> None:
        self.db, self.max_attempts, self.logger = db, max_attempts, log.get("engine")

    async def execute(self, message: ExecuteSchema, delivery: Delivery) -> None:
        try:
            execution = await self.db.one(QUERIES.executions__get, message.execution_id)
        except NotFound:
            raise Permanent("executions", f"no execution {message.execution_id}") from None
        if execution["status"] in ("completed", "failed"):
            self.logger.info("execution already finished, message ignored", execution_id=str(execution["id"]))
            return
        with log.context(execution_id=str(execution["id"])):
            async with log.job("execution", attempt=delivery.attempt):
                try:
                    await self._run(execution, delivery.attempt)
                except (Temporary, Permanent):
                    raise  # a node's failure, recorded by _run; or the database briefly unavailable: retried
                except Exception as exc:  # outside a node (a query, the definition): the message goes to the DLQ
                    await self.db.exec(QUERIES.executions__finish, status="failed", error=f"{type(exc).__name__}: {exc}",
                                       id=execution["id"])
                    raise

    async def _run(self, execution: dict, attempt: int) -> None:
        definition, execution_id = execution["definition"], execution["id"]
        node_id = execution["current_node_id"] or engine.start_node(definition)
        context = dict(execution["context"] if execution["context"] is not None else execution["trigger_payload"] or {})
        await self.db.exec(QUERIES.executions__start, execution_id)
        while node_id is not None:
            node = engine.node_by_id(definition, node_id)
            step = await self.db.one(QUERIES.steps__start, execution_id=execution_id, node_id=node_id, node_type=node["type"],
                                     input=Jsonb(context))
            try:
                async with log.step(node_id, node_type=node["type"]):
                    output = engine.run_node(node, context, attempt)
            except Temporary as exc:
                await self._failed_step(step["id"], exc, "temporary")
                if attempt >= self.max_attempts:
                    await self.db.exec(QUERIES.executions__finish, status="failed", error=f"gave up after {attempt} attempts: {exc}",
                                       id=execution_id)
                else:
                    await self.db.exec(QUERIES.executions__pause, error=f"{exc} (retried through at)", id=execution_id)
                raise
            except Exception as exc:  # Permanent and anything unexpected: the execution failed, the message to the DLQ
                await self._failed_step(step["id"], exc, "permanent")
                await self.db.exec(QUERIES.executions__finish, status="failed", error=str(exc), id=execution_id)
                if isinstance(exc, Permanent):
                    raise
                raise Permanent(node["type"], f"node {node_id}: {type(exc).__name__}: {exc}") from exc
            context.update(output)
            node_id = engine.next_node(definition, node, context)
            await self.db.exec(QUERIES.steps__finish, status="success", output=Jsonb(output), error=None, id=step["id"])
            await self.db.exec(QUERIES.state__save, execution_id=execution_id, node_id=node_id, context=Jsonb(context))
        await self.db.exec(QUERIES.executions__finish, status="completed", error=None, id=execution_id)

    async def _failed_step(self, step_id: Any, exc: Exception, kind: str) -> None:
        await self.db.exec(QUERIES.steps__finish, status="failed", output=None, error=f"{kind}: {exc}", id=step_id)


async def main() -> None:
    settings = config.load(WorkerConfig)
    log.setup(config=settings)
    quiet_amqp()
    logger = log.get("worker")
    db = await Database.connect(settings.postgres.dsn, max_size=4, statement_timeout=5)
    at = await At.open(Path(settings.at.dir) / "at.sqlite3")
    bus = await Bus.connect(settings.rabbitmq, CONTRACT, at=at, retry_base=settings.retry_base_seconds,
                            max_attempts=settings.max_attempts)
    executor = Engine(db, settings.max_attempts)
    bus.consumer(CHANNEL, prefetch=settings.worker_prefetch)(executor.execute)
    await bus.start()
    logger.info("consuming", channel=CHANNEL, prefetch=settings.worker_prefetch, at=str(settings.at.dir))
    try:
        await asyncio.gather(at.run(), health.serve(settings.listen.host, settings.listen.port, health.asgi(readyz="/health")))
    finally:
        await bus.close()
        await at.close()
        await db.close()


if __name__ == "__main__":
    asyncio.run(main())
