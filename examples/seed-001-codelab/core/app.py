"""A tiny core service for examples/seed-001-codelab (standard library only). GET /health checks that every
agent's collection exists in Qdrant (stapel provisions them) and that PostgreSQL and Redis accept connections;
200 only when all of that worked. GET /metrics: Prometheus text format, scraped by the stack's Prometheus.

It reads only what stapel exports to it: QDRANT_URL, QDRANT_API_KEY, DATABASE_URL, REDIS_URL, PORT, and
AGENT_COLLECTIONS from its env.
"""

from __future__ import annotations

import json
import os
import socket
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

QDRANT = os.environ["QDRANT_URL"].rstrip("/")
COLLECTIONS = [c for c in os.environ.get("AGENT_COLLECTIONS", "").split(",") if c]
REQUESTS = {"health": 0}


def collection_status(name: str) -> str:
    request = urllib.request.Request(f"{QDRANT}/collections/{name}", headers={"api-key": os.environ.get("QDRANT_API_KEY", "")})
    try:
        with urllib.request.urlopen(request, timeout=3) as response:  # stapel's own Qdrant
            return json.loads(response.read())["result"]["status"]
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code}"


def reachable(url: str) -> bool:
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=2):
        return True


def health() -> tuple[int, dict]:
    checks: dict[str, str] = {}
    for name in COLLECTIONS:
        try:
            status = collection_status(name)
            checks[f"qdrant:{name}"] = "ok" if status in ("green", "yellow", "grey") else status
        except Exception as exc:  # report every dependency, do not stop at the first
            checks[f"qdrant:{name}"] = f"{type(exc).__name__}: {exc}"
    for name, var in (("postgres", "DATABASE_URL"), ("redis", "REDIS_URL")):
        try:
            checks[name] = "ok" if reachable(os.environ[var]) else "no answer"
        except Exception as exc:
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
            text = f"# TYPE core_health_requests_total counter\ncore_health_requests_total {REQUESTS['health']}\n"
            self.send(200, text.encode(), "text/plain; version=0.0.4")
        else:
            self.send_error(404)

    def send(self, status: int, data: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, fmt: str, *args) -> None:
        print(f"{self.address_string()} {fmt % args}", flush=True)


if __name__ == "__main__":
    port = int(os.environ["PORT"])
    host = os.environ.get("HOST", "127.0.0.1")  # stapel: 127.0.0.1 natively, 0.0.0.0 in a container
    print(f"codelab core listening on {host}:{port}", flush=True)
    ThreadingHTTPServer((host, port), Handler).serve_forever()
