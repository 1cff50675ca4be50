"""backend-api of examples/seed-002-schema: seed 002's REST API on stapel.kit (Starlette under uvicorn).

  POST /api/schemas                      {"name", "description"?, "definition"} -> 201 {"id"}; 422 for a definition
                                         the engine cannot run (engine.validate)
  GET  /api/schemas/{id}
  POST /api/schemas/{id}/executions      {"trigger_type"?: manual|webhook|scheduler, "payload"?: {...}} -> 202: the
                                         execution stored `pending`, then published (persistent, confirmed, with a
                                         message_id) to the direct exchange schema.execution; 503 if the broker
                                         does not confirm (the execution is then `failed`)
  POST /api/executions                   {"name", "definition", "payload"?}: both at once (the schema, then its run)
  GET  /api/executions/{id}              status, error, state (current node, context) and every step
  GET  /health, /livez, /metrics         readiness (PostgreSQL, the bus), liveness, Prometheus
Every request is logged as one JSON line (method, path, status, duration; section 7: API requests), and what it
created (schema_id, execution_id, message_id). CORS answers pages on loopback origins: the frontend (Vite) calls the API
from its own port.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from pathlib import Path
from typing import Any

import engine
import uvicorn
from messages import CHANNEL, CONTRACT, ExecuteSchema, quiet_amqp
from psycopg.types.json import Jsonb
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from stapel.kit import config, health, log
from stapel.kit.bus import Bus
from stapel.kit.errors import NotFound, Unavailable
from stapel.kit.sql import Database, load

QUERIES = load(Path(__file__).parent / "sql")
TRIGGERS = ("manual", "webhook", "scheduler")
# The frontend (Vite on :5173) calls REACT_APP_API_URL from another origin: the browser needs CORS. Loopback pages only
# by default (a dev stack); CORS_ORIGIN_REGEX widens it.
CORS_ORIGINS = os.environ.get("CORS_ORIGIN_REGEX") or r"https?://(localhost|127\.0\.0\.1|\[::1\])(:\d+)?"


class ApiConfig(config.Config):  # no env_prefix for this service in stapel.yaml
    postgres: config.Postgres
    rabbitmq: config.RabbitMQ
    listen: config.Listen


class State:
    db: Any = None
    bus: Any = None


def _uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


async def _body(request: Request) -> dict:
    try:
        body = await request.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


async def _create_schema(body: dict) -> uuid.UUID:
    definition = body.get("definition")
    engine.validate(definition)
    row = await State.db.one(QUERIES.schemas__create, name=str(body.get("name") or "unnamed"), description=body.get("description"),
                             definition=Jsonb(definition), created_by=body.get("created_by"))
    log.get("api").info("schema created", schema_id=str(row["id"]))
    return row["id"]


async def _start(schema_id: uuid.UUID, body: dict) -> JSONResponse:
    trigger = body.get("trigger_type", "manual")
    if trigger not in TRIGGERS:
        return JSONResponse({"error": f"trigger_type: one of {', '.join(TRIGGERS)}"}, 422)
    execution = await State.db.one(QUERIES.executions__create, schema_id=schema_id, trigger_type=trigger,
                                   trigger_payload=Jsonb(body.get("payload") or {}), created_by=body.get("created_by"))
    message_id = f"execution-{execution['id']}"
    try:
        await State.bus.publish(CHANNEL, ExecuteSchema(execution_id=execution["id"]), message_id=message_id)
    except Unavailable as exc:
        await State.db.exec(QUERIES.executions__finish, status="failed", error=f"not queued: {exc}", id=execution["id"])
        return JSONResponse({"error": "the execution could not be queued; try again"}, 503)
    log.get("api").info("execution queued", schema_id=str(schema_id), execution_id=str(execution["id"]), message_id=message_id)
    return JSONResponse({"id": str(execution["id"]), "schema_id": str(schema_id), "status": execution["status"]}, 202)


async def create_schema(request: Request) -> JSONResponse:
    try:
        schema_id = await _create_schema(await _body(request))
    except engine.InvalidDefinition as exc:
        return JSONResponse({"error": str(exc)}, 422)
    return JSONResponse({"id": str(schema_id)}, 201)


async def get_schema(request: Request) -> JSONResponse:
    schema_id = _uuid(request.path_params["schema_id"])
    try:
        row = await State.db.one(QUERIES.schemas__get, schema_id) if schema_id else None
    except NotFound:
        row = None
    if row is None:
        return JSONResponse({"error": "no such schema"}, 404)
    return JSONResponse({**row, "id": str(row["id"]), "created_at": str(row["created_at"])})


async def start_execution(request: Request) -> JSONResponse:
    schema_id = _uuid(request.path_params["schema_id"])
    try:
        if schema_id is None:
            raise NotFound("schemas__get", "not an id")
        await State.db.one(QUERIES.schemas__get, schema_id)
    except NotFound:
        return JSONResponse({"error": "no such schema"}, 404)
    return await _start(schema_id, await _body(request))


async def create_and_start(request: Request) -> JSONResponse:
    body = await _body(request)
    try:
        schema_id = await _create_schema(body)
    except engine.InvalidDefinition as exc:
        return JSONResponse({"error": str(exc)}, 422)
    return await _start(schema_id, body)


async def get_execution(request: Request) -> JSONResponse:
    execution_id = _uuid(request.path_params["execution_id"])
    try:
        if execution_id is None:
            raise NotFound("executions__get", "not an id")
        row = await State.db.one(QUERIES.executions__get, execution_id)
    except NotFound:
        return JSONResponse({"error": "no such execution"}, 404)
    steps = await State.db.many(QUERIES.steps__of_execution, execution_id)
    return JSONResponse({"id": str(row["id"]), "schema_id": str(row["schema_id"]), "status": row["status"], "error": row["error"],
                         "started_at": row["started_at"] and str(row["started_at"]),
                         "finished_at": row["finished_at"] and str(row["finished_at"]),
                         "state": {"current_node_id": row["current_node_id"], "context": row["context"]},
                         "steps": steps})


def create_app() -> Any:
    routes = [Route("/api/schemas", create_schema, methods=["POST"]), Route("/api/schemas/{schema_id}", get_schema),
              Route("/api/schemas/{schema_id}/executions", start_execution, methods=["POST"]),
              Route("/api/executions", create_and_start, methods=["POST"]),
              Route("/api/executions/{execution_id}", get_execution)]
    cors = Middleware(CORSMiddleware, allow_origin_regex=CORS_ORIGINS, allow_methods=["GET", "POST"], allow_headers=["Content-Type"])
    return log.access_log(health.asgi(Starlette(routes=routes, middleware=[cors]), readyz="/health"))


async def main() -> None:
    settings = config.load(ApiConfig)
    log.setup(config=settings)
    quiet_amqp()
    State.db = await Database.connect(settings.postgres.dsn, max_size=8, statement_timeout=5)
    State.bus = await Bus.connect(settings.rabbitmq, CONTRACT)  # publishes only: no `at` needed
    log.get("api").info("listening", host=settings.listen.host, port=settings.listen.port, config=settings.safe_dump())
    server = uvicorn.Server(uvicorn.Config(create_app(), host=settings.listen.host, port=settings.listen.port, log_config=None,
                                           access_log=False))
    try:
        await server.serve()
    finally:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await State.bus.close()
        await State.db.close()


if __name__ == "__main__":
    asyncio.run(main())
