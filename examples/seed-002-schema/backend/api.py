"""backend-api of examples/seed-002-schema: a sliver of seed 002's REST API.

POST /api/executions {"name": ..., "definition": {...}} stores a schema and a pending execution, then publishes
{"execution_id": ...} to the direct exchange $SCHEMA_EXCHANGE (routing key $SCHEMA_ROUTING_KEY, persistent, with
publisher confirms and a message_id); the worker runs it. GET /api/executions/<id>: its status and steps.
GET /health: 200 when PostgreSQL (with the migrated tables) and the exchange answer.

It reads only what stapel exports to it: DATABASE_URL, RABBITMQ_URL, HOST, PORT and its env (LOG_LEVEL, SCHEMA_*).
"""

from __future__ import annotations

import json
import os
import uuid

import pika
import psycopg
from common import Route, log, serve
from psycopg.types.json import Jsonb

EXCHANGE, ROUTING_KEY = os.environ["SCHEMA_EXCHANGE"], os.environ["SCHEMA_ROUTING_KEY"]


def database() -> psycopg.Connection:
    return psycopg.connect(os.environ["DATABASE_URL"], connect_timeout=3)


def broker() -> pika.BlockingConnection:
    params = pika.URLParameters(os.environ["RABBITMQ_URL"])
    params.socket_timeout = 3
    return pika.BlockingConnection(params)


def health(_body: bytes) -> tuple[int, dict]:
    checks = {}
    try:
        with database() as conn:
            conn.execute("SELECT count(*) FROM schemas")  # the migrations ran
        checks["postgres"] = "ok"
    except Exception as exc:  # report every dependency, do not stop at the first
        checks["postgres"] = f"{type(exc).__name__}: {exc}"
    try:
        with broker() as connection:
            connection.channel().exchange_declare(EXCHANGE, passive=True)  # stapel declared it
        checks["rabbitmq"] = "ok"
    except Exception as exc:
        checks["rabbitmq"] = f"{type(exc).__name__}: {exc}"
    ok = all(v == "ok" for v in checks.values())
    return (200 if ok else 503), {"ok": ok, "checks": checks}


def start_execution(body: bytes) -> tuple[int, dict]:
    request = json.loads(body or b"{}")
    with database() as conn:
        schema_id = conn.execute("INSERT INTO schemas (name, definition, status) VALUES (%s, %s, 'active') RETURNING id",
                                 (request.get("name", "unnamed"), Jsonb(request.get("definition", {"nodes": [], "edges": []})))).fetchone()[0]
        execution_id = conn.execute("INSERT INTO executions (schema_id, trigger_type, trigger_payload) VALUES (%s, 'manual', %s) RETURNING id",
                                    (schema_id, Jsonb(request))).fetchone()[0]
    message_id = uuid.uuid4().hex
    with broker() as connection:
        channel = connection.channel()
        channel.confirm_delivery()
        channel.basic_publish(EXCHANGE, ROUTING_KEY, json.dumps({"execution_id": str(execution_id)}).encode(),
                              pika.BasicProperties(message_id=message_id, delivery_mode=2, content_type="application/json"),
                              mandatory=True)
    log("INFO", "execution queued", execution_id=execution_id, message_id=message_id)
    return 201, {"id": str(execution_id), "schema_id": str(schema_id), "status": "pending"}


def show_execution(execution_id: str) -> Route:
    def route(_body: bytes) -> tuple[int, dict]:
        with database() as conn:
            row = conn.execute("SELECT status, (SELECT count(*) FROM execution_steps WHERE execution_id = e.id) FROM executions e "
                               "WHERE id::text = %s", (execution_id,)).fetchone()
        return (404, {"error": "no such execution"}) if row is None else (200, {"id": execution_id, "status": row[0], "steps": row[1]})
    return route


def routes(method: str, path: str) -> Route | None:
    if (method, path) == ("GET", "/health"):
        return health
    if (method, path) == ("POST", "/api/executions"):
        return start_execution
    if method == "GET" and path.startswith("/api/executions/"):
        return show_execution(path.rsplit("/", 1)[-1])
    return None


if __name__ == "__main__":
    serve("schema api", routes)
