"""The GPROD API of examples/seed-003-gprod (a stand-in for gprod-backend; standard library plus psycopg and redis).

GET /health: 200 when PostgreSQL answers a query and Redis a PING, and JWT_SECRET is set (seed 003's required
variables are checked at start-up, like its EnvHelper.get(..., true)). GET /metrics: Prometheus text format,
scraped by the stack's Prometheus in the monitoring profile. GET /info: the contour's NODE_ENV and DATA_DIR.
PUT /files/<name>: keeps the body as a file in DATA_DIR (the contour's app_data_<contour> volume); GET /files/<name>
reads it back.

It reads only what stapel exports to it: DATABASE_URL, REDIS_URL, HOST, PORT, and JWT_SECRET, LOG_LEVEL from its env.
"""

from __future__ import annotations

import json
import os
import re
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psycopg
import redis

for required in ("DATABASE_URL", "REDIS_URL", "JWT_SECRET", "PORT"):  # fail fast on a missing variable
    if not os.environ.get(required):
        raise SystemExit(f"gprod api: {required} is not set")
REQUESTS = {"health": 0}
DATA_DIR = Path(os.environ.get("DATA_DIR", "data"))
FILE_NAME = re.compile(r"^/files/([A-Za-z0-9._-]{1,100})$")  # one plain name: no path can leave DATA_DIR


def health() -> tuple[int, dict]:
    checks = {}
    try:
        with psycopg.connect(os.environ["DATABASE_URL"], connect_timeout=3) as conn:
            conn.execute("SELECT 1")
        checks["postgres"] = "ok"
    except Exception as exc:  # report every dependency, do not stop at the first
        checks["postgres"] = f"{type(exc).__name__}: {exc}"
    try:
        client = redis.Redis.from_url(os.environ["REDIS_URL"], socket_timeout=2, socket_connect_timeout=2)
        checks["redis"] = "ok" if client.ping() else "no PONG"
        client.close()
    except Exception as exc:
        checks["redis"] = f"{type(exc).__name__}: {exc}"
    ok = all(v == "ok" for v in checks.values())
    return (200 if ok else 503), {"ok": ok, "checks": checks}


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/health":
            REQUESTS["health"] += 1
            status, body = health()
            self.send(status, json.dumps(body).encode(), "application/json")
        elif self.path == "/metrics":
            text = f"# TYPE gprod_api_health_requests_total counter\ngprod_api_health_requests_total {REQUESTS['health']}\n"
            self.send(200, text.encode(), "text/plain; version=0.0.4")
        elif self.path == "/info":
            info = {"node_env": os.environ.get("NODE_ENV"), "data_dir": str(DATA_DIR.resolve())}
            self.send(200, json.dumps(info).encode(), "application/json")
        elif (m := FILE_NAME.match(self.path)) and (DATA_DIR / m[1]).is_file():
            self.send(200, (DATA_DIR / m[1]).read_bytes(), "application/octet-stream")
        else:
            self.send_error(404)

    def do_PUT(self) -> None:
        m = FILE_NAME.match(self.path)
        if not m:
            self.send_error(400, "PUT /files/<name>: a plain file name")
            return
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        (DATA_DIR / m[1]).write_bytes(body)
        self.send(201, json.dumps({"stored": str((DATA_DIR / m[1]).resolve()), "bytes": len(body)}).encode(), "application/json")

    def send(self, status: int, data: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, fmt: str, *args) -> None:
        if os.environ.get("LOG_LEVEL", "info") == "debug":
            print(f"{self.address_string()} {fmt % args}", flush=True)


if __name__ == "__main__":
    host, port = os.environ.get("HOST", "127.0.0.1"), int(os.environ["PORT"])  # stapel: 127.0.0.1 natively, 0.0.0.0 in a container
    print(f"gprod api listening on {host}:{port}", flush=True)
    ThreadingHTTPServer((host, port), Handler).serve_forever()
