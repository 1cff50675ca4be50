"""A tiny service for examples/minimal. GET /health writes and reads a row in PostgreSQL, sets and gets a
key in Redis, and publishes and gets a message through RabbitMQ; 200 only when all three worked.

It reads only what stapel exports to it: DATABASE_URL, REDIS_URL, RABBITMQ_URL and PORT. GET /metrics
counts the health checks in Prometheus' text format (the stack's generated prometheus.yml scrapes it).
"""

from __future__ import annotations

import json
import os
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pika
import psycopg
import redis

QUEUE = "minimal.health"
CHECKS = {"ok": 0, "failed": 0}  # health checks by result, for /metrics


def check_postgres(token: str) -> bool:
    with psycopg.connect(os.environ["DATABASE_URL"], connect_timeout=3) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS health_checks (token text PRIMARY KEY, at timestamptz NOT NULL DEFAULT now())")
        conn.execute("INSERT INTO health_checks (token) VALUES (%s)", (token,))
        row = conn.execute("SELECT token FROM health_checks WHERE token = %s", (token,)).fetchone()
        conn.execute("DELETE FROM health_checks WHERE at < now() - interval '1 hour'")
        return row is not None and row[0] == token


def check_redis(token: str) -> bool:
    client = redis.Redis.from_url(os.environ["REDIS_URL"], socket_timeout=2, socket_connect_timeout=2)
    try:
        client.set("minimal:health:last", token, ex=60)
        return client.get("minimal:health:last") == token.encode()
    finally:
        client.close()


def check_rabbitmq(token: str) -> bool:
    params = pika.URLParameters(os.environ["RABBITMQ_URL"])
    params.socket_timeout = 3
    connection = pika.BlockingConnection(params)
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        channel.queue_declare(QUEUE, durable=True)
        channel.basic_publish("", QUEUE, token.encode(), pika.BasicProperties(message_id=token, delivery_mode=2))
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            method, _props, body = channel.basic_get(QUEUE, auto_ack=True)
            if method is not None and body == token.encode():
                return True
            if method is None:
                time.sleep(0.02)
        return False
    finally:
        connection.close()


def health() -> tuple[int, dict]:
    token = uuid.uuid4().hex
    checks = {}
    for name, check in (("postgres", check_postgres), ("redis", check_redis), ("rabbitmq", check_rabbitmq)):
        try:
            checks[name] = "ok" if check(token) else "wrong answer"
        except Exception as exc:  # report every dependency, do not stop at the first
            checks[name] = f"{type(exc).__name__}: {exc}"
    ok = all(v == "ok" for v in checks.values())
    CHECKS["ok" if ok else "failed"] += 1
    return (200 if ok else 503), {"ok": ok, "checks": checks}


def metrics() -> str:
    lines = ["# HELP minimal_api_health_checks_total Health checks answered, by result.",
             "# TYPE minimal_api_health_checks_total counter"]
    lines += [f'minimal_api_health_checks_total{{result="{result}"}} {n}' for result, n in CHECKS.items()]
    return "\n".join(lines) + "\n"


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        if self.path == "/metrics":
            self.reply(200, "text/plain; version=0.0.4", metrics().encode())
            return
        if self.path != "/health":
            self.send_error(404)
            return
        status, body = health()
        self.reply(status, "application/json", json.dumps(body).encode())

    def reply(self, status: int, content_type: str, data: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, fmt: str, *args) -> None:  # noqa: ANN002
        print(f"{self.address_string()} {fmt % args}", flush=True)


if __name__ == "__main__":
    port = int(os.environ["PORT"])
    host = os.environ.get("HOST", "127.0.0.1")  # stapel: 127.0.0.1 natively, 0.0.0.0 in a container
    print(f"minimal api listening on {host}:{port}", flush=True)
    ThreadingHTTPServer((host, port), Handler).serve_forever()
