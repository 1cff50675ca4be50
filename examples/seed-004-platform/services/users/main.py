"""A platform service of examples/seed-004-platform (users and orders run the same stand-in; standard library plus
psycopg, redis and pika, where the seed's services are Go). Everything it reads carries its ENV_PREFIX, as seed 004
requires for services sharing one cluster: <prefix>DATABASE_URL (its role, its schema on the search_path),
<prefix>REDIS_URL (its database index), <prefix>RABBITMQ_URL; plus HOST, PORT, OWN_TABLE and CONSUME_QUEUE.

GET /health: 200 when it is connected as its own role with its own schema and table (created by its goose
migrations), can set and read a key with a TTL in its Redis database (keys <domain>:<entity>:<id>), and its queue
exists with a dead-letter exchange (declared by stapel from api/server/asyncapi.yaml). GET /metrics: Prometheus text.
"""

from __future__ import annotations

import json
import os
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pika
import psycopg
import redis

PREFIX = os.environ["ENV_PREFIX"]
TABLE, QUEUE = os.environ["OWN_TABLE"], os.environ["CONSUME_QUEUE"]
REQUESTS = {"health": 0}


def setting(name: str) -> str:
    return os.environ[PREFIX + name]


def check_postgres() -> str:
    with psycopg.connect(setting("DATABASE_URL"), connect_timeout=3) as conn:
        user, schema = conn.execute("SELECT current_user, current_schema()").fetchone()
        conn.execute(f"SELECT count(*) FROM {TABLE}")  # OWN_TABLE is stapel.yaml's, not user input
    return "ok" if schema == setting("POSTGRES_SCHEMA") and user == setting("POSTGRES_USER") else f"{user} in {schema}"


def check_redis() -> str:
    client = redis.Redis.from_url(setting("REDIS_URL"), socket_timeout=2, socket_connect_timeout=2)
    try:
        token = uuid.uuid4().hex
        client.set(f"{TABLE}:health:last", token, ex=60)  # a TTL on every key
        return "ok" if client.get(f"{TABLE}:health:last") == token.encode() else "wrong answer"
    finally:
        client.close()


def check_rabbitmq() -> str:
    params = pika.URLParameters(setting("RABBITMQ_URL"))
    params.socket_timeout = 3
    with pika.BlockingConnection(params) as connection:
        connection.channel().queue_declare(QUEUE, passive=True)  # declared by stapel; 404 closes the channel otherwise
    return "ok"


def health() -> tuple[int, dict]:
    checks = {}
    for name, check in (("postgres", check_postgres), ("redis", check_redis), ("rabbitmq", check_rabbitmq)):
        try:
            checks[name] = check()
        except Exception as exc:  # report every dependency, do not stop at the first
            checks[name] = f"{type(exc).__name__}: {exc}"
    ok = all(v == "ok" for v in checks.values())
    return (200 if ok else 503), {"ok": ok, "checks": checks}


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/health":
            REQUESTS["health"] += 1
            status, body = health()
            self.send(status, json.dumps(body).encode(), "application/json")
        elif self.path == "/metrics":
            text = f"# TYPE platform_health_requests_total counter\nplatform_health_requests_total{{service=\"{TABLE}\"}} {REQUESTS['health']}\n"
            self.send(200, text.encode(), "text/plain; version=0.0.4")
        else:
            self.send_error(404)

    def send(self, status: int, data: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, fmt: str, *args) -> None:  # never logs a secret: no URL is printed
        print(json.dumps({"service": TABLE, "client": self.address_string(), "request": fmt % args}), flush=True)


if __name__ == "__main__":
    host, port = os.environ.get("HOST", "127.0.0.1"), int(os.environ["PORT"])  # stapel: 127.0.0.1 natively, 0.0.0.0 in a container
    print(json.dumps({"service": TABLE, "msg": "listening", "host": host, "port": port}), flush=True)
    ThreadingHTTPServer((host, port), Handler).serve_forever()
