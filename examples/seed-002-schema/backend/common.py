"""What api.py and worker.py share: seed 002's structured JSON logs (7.1) and a tiny JSON HTTP server."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LEVELS = {"DEBUG": 10, "INFO": 20, "WARN": 30, "ERROR": 40}
THRESHOLD = LEVELS.get(os.environ.get("LOG_LEVEL", "info").upper(), 20)

Route = Callable[[bytes], tuple[int, dict]]  # request body -> (status, JSON body)


def log(level: str, message: str, **fields: object) -> None:
    if LEVELS[level] >= THRESHOLD:
        print(json.dumps({"ts": round(time.time(), 3), "level": level, "msg": message, **fields}, default=str), file=sys.stdout, flush=True)


def serve(name: str, routes: Callable[[str, str], Route | None]) -> None:
    """Listen on $HOST:$PORT (stapel: 127.0.0.1 natively, 0.0.0.0 in a container); routes(method, path) picks a handler."""

    class Handler(BaseHTTPRequestHandler):
        def handle_one(self, method: str) -> None:
            route = routes(method, self.path)
            if route is None:
                self.send_error(404)
                return
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            status, answer = route(body)
            data = json.dumps(answer, default=str).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self.handle_one("GET")

        def do_POST(self) -> None:
            self.handle_one("POST")

        def log_message(self, fmt: str, *args) -> None:  # seed 002 logs API requests
            log("DEBUG", "request", line=fmt % args, client=self.address_string())

    host, port = os.environ.get("HOST", "127.0.0.1"), int(os.environ["PORT"])
    log("INFO", f"{name} listening", host=host, port=port)
    ThreadingHTTPServer((host, port), Handler).serve_forever()
