"""A tiny gateway for examples/seed-000-crm (standard library only). On start it registers itself in Consul's
catalog (seed 000: Consul for service discovery); GET /health reads its settings from Consul KV and checks that
PostgreSQL, Redis and RabbitMQ accept connections; 200 only when all of that worked. GET /metrics: Prometheus text.

It reads only what stapel exports to it: CONSUL_HTTP_ADDR, DATABASE_URL, REDIS_URL, RABBITMQ_URL and PORT.
"""

from __future__ import annotations

import json
import os
import socket
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

CONSUL = os.environ["CONSUL_HTTP_ADDR"].rstrip("/")
SETTINGS = ["config/gateway/upstream_timeout_ms", "config/gateway/rate_limit_per_minute"]
REQUESTS = {"health": 0}


def consul(method: str, path: str, body: dict | None = None) -> bytes:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(CONSUL + path, data=data, method=method)
    with urllib.request.urlopen(request, timeout=3) as response:  # stapel's own Consul
        return response.read()


def register(port: int) -> None:
    consul("PUT", "/v1/agent/service/register", {"Name": "gateway", "ID": f"gateway-{port}", "Address": "127.0.0.1", "Port": port})


def settings() -> dict[str, str]:
    return {key.rsplit("/", 1)[-1]: consul("GET", f"/v1/kv/{key}?raw").decode() for key in SETTINGS}


def reachable(url: str) -> bool:
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=2):
        return True


def health() -> tuple[int, dict]:
    checks: dict[str, str] = {}
    try:
        checks["consul"] = "ok" if all(settings().values()) else "empty setting"
    except Exception as exc:  # report every dependency, do not stop at the first
        checks["consul"] = f"{type(exc).__name__}: {exc}"
    for name, var in (("postgres", "DATABASE_URL"), ("redis", "REDIS_URL"), ("rabbitmq", "RABBITMQ_URL")):
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
            text = f"# TYPE gateway_health_requests_total counter\ngateway_health_requests_total {REQUESTS['health']}\n"
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
    register(port)
    host = os.environ.get("HOST", "127.0.0.1")  # stapel: 127.0.0.1 natively, 0.0.0.0 in a container
    print(f"crm gateway listening on {host}:{port}", flush=True)
    ThreadingHTTPServer((host, port), Handler).serve_forever()
