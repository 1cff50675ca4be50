"""backend-worker of examples/seed-002-schema: seed 002's Execution Engine, reduced to one step per execution.

It consumes $SCHEMA_QUEUE with a prefetch of $WORKER_PREFETCH (seed 002, 5.2) and manual acks: a message naming an
execution runs it (one execution_steps row, the execution completed) and is acked; a message it cannot use is
rejected without requeue, so RabbitMQ dead-letters it to the queue's DLQ. GET /stats: what it consumed;
GET /health: 200 while it is consuming and PostgreSQL answers.

It reads only what stapel exports to it: DATABASE_URL, RABBITMQ_URL, HOST, PORT and its env (LOG_LEVEL, SCHEMA_QUEUE,
WORKER_PREFETCH).
"""

from __future__ import annotations

import json
import os
import threading
import time

import pika
import psycopg
from common import Route, log, serve
from psycopg.types.json import Jsonb

QUEUE, PREFETCH = os.environ["SCHEMA_QUEUE"], int(os.environ.get("WORKER_PREFETCH", "10"))
STATS = {"consuming": False, "completed": 0, "dead_lettered": 0}


def run(execution_id: str) -> bool:
    """One step of the execution; False when there is no such execution (not worth a retry)."""
    with psycopg.connect(os.environ["DATABASE_URL"], connect_timeout=3) as conn:
        found = conn.execute("UPDATE executions SET status = 'running', started_at = now() WHERE id::text = %s AND status = 'pending' "
                             "RETURNING id", (execution_id,)).fetchone()
        if found is None:
            return conn.execute("SELECT 1 FROM executions WHERE id::text = %s", (execution_id,)).fetchone() is not None  # a redelivery
        conn.execute("INSERT INTO execution_steps (execution_id, node_id, node_type, input, output, status, finished_at) "
                     "VALUES (%s, 'start', 'start', '{}', %s, 'success', now())", (found[0], Jsonb({"ok": True})))
        conn.execute("UPDATE executions SET status = 'completed', finished_at = now() WHERE id = %s", (found[0],))
    return True


def on_message(channel, method, properties, body: bytes) -> None:  # pika's callback signature
    try:
        execution_id = str(json.loads(body)["execution_id"])
        usable = run(execution_id)
    except (ValueError, KeyError, TypeError, psycopg.errors.DataError):
        usable = False
    if usable:
        channel.basic_ack(method.delivery_tag)
        STATS["completed"] += 1
        log("INFO", "execution completed", execution_id=execution_id, message_id=properties.message_id)
    else:
        channel.basic_reject(method.delivery_tag, requeue=False)  # -> the DLQ; the reason stays in its x-death header
        STATS["dead_lettered"] += 1
        log("WARN", "message dead-lettered", message_id=properties.message_id)


def consume() -> None:
    while True:
        try:
            connection = pika.BlockingConnection(pika.URLParameters(os.environ["RABBITMQ_URL"]))
            channel = connection.channel()
            channel.basic_qos(prefetch_count=PREFETCH)
            channel.basic_consume(QUEUE, on_message)
            STATS["consuming"] = True
            log("INFO", "consuming", queue=QUEUE, prefetch=PREFETCH)
            channel.start_consuming()
        except Exception as exc:  # a lost broker or database: reconnect, do not die
            log("ERROR", "consumer stopped; reconnecting", error=f"{type(exc).__name__}: {exc}")
        STATS["consuming"] = False
        time.sleep(1)


def health(_body: bytes) -> tuple[int, dict]:
    checks = {"rabbitmq": "ok" if STATS["consuming"] else "not consuming"}
    try:
        with psycopg.connect(os.environ["DATABASE_URL"], connect_timeout=3) as conn:
            conn.execute("SELECT count(*) FROM executions")
        checks["postgres"] = "ok"
    except Exception as exc:
        checks["postgres"] = f"{type(exc).__name__}: {exc}"
    ok = all(v == "ok" for v in checks.values())
    return (200 if ok else 503), {"ok": ok, "checks": checks}


def routes(method: str, path: str) -> Route | None:
    if method != "GET":
        return None
    return {"/health": health, "/stats": lambda _body: (200, dict(STATS))}.get(path)


if __name__ == "__main__":
    threading.Thread(target=consume, name="consumer", daemon=True).start()
    serve("schema worker", routes)
