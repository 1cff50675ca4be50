"""The dashboard's HTTP server: the standard library's ThreadingHTTPServer, one static page, JSON, and Server-Sent
Events for the updates.

Access as Jupyter does it: a random token in the URL; every request without it is 403. State-changing requests
(restart, stop, start) are POSTs carrying the token in the X-Stapel-Token header, which a cross-site form or
<img> cannot send; the Host header must name the loopback address (no DNS rebinding).
"""

from __future__ import annotations

import errno
import hmac
import json
import secrets
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from stapel.dashboard.data import StackView
from stapel.dashboard.logs import Follower, parse
from stapel.errors import StapelError

HOST = "127.0.0.1"
STATIC = Path(__file__).parent / "static"
TICK_SECONDS = 0.5
STATE_EVERY_TICKS = 2
ACTIONS = ("restart", "stop", "start")
ACTION_TIMEOUT = 300


class Dashboard:
    """The server and what it serves; `url` has the token in it."""

    def __init__(self, view: StackView, port: int = 0, token: str | None = None):
        self.view = view
        self.token = token or secrets.token_urlsafe(24)
        self.stopping = threading.Event()
        try:
            self.server = ThreadingHTTPServer((HOST, port), _handler(self))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise StapelError(f"dashboard: port {port} on {HOST} is already in use",
                                  hint="pass another --port, or leave it out for a free one") from None
            if exc.errno == errno.EACCES:
                raise StapelError(f"dashboard: port {port} on {HOST} needs privileges", hint="pass a port above 1023") from None
            raise
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/?token={self.token}"

    def serve_forever(self) -> None:
        try:
            self.server.serve_forever(poll_interval=0.2)
        finally:
            self.stopping.set()
            self.server.server_close()

    def start_background(self) -> threading.Thread:
        thread = threading.Thread(target=self.serve_forever, daemon=True, name="stapel-dashboard")
        thread.start()
        return thread

    def shutdown(self) -> None:
        self.stopping.set()
        self.server.shutdown()

    def valid(self, given: str | None) -> bool:
        return given is not None and given != "" and hmac.compare_digest(given.encode(), self.token.encode())

    def act(self, action: str, node: str) -> dict[str, Any]:
        """What the CLI does for `stapel <action> --service <node>`, run as the CLI itself (its lock, its records)."""
        view = self.view
        argv = [sys.executable, "-m", "stapel", "--file", str(view.file), *(["--contour", view.contour] if view.contour else []),
                *(["--slot", str(view.slot)] if view.slot is not None else []), action, "--service", node]
        began = time.monotonic()
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=ACTION_TIMEOUT, cwd=str(view.file.parent),
                                  stdin=subprocess.DEVNULL, check=False)
            code, output = done.returncode, (done.stdout + done.stderr).strip()
        except subprocess.TimeoutExpired:
            code, output = 1, f"stapel {action} --service {node}: no answer within {ACTION_TIMEOUT} s"
        return {"ok": code == 0, "exit_code": code, "output": view.mask(output)[-4000:],
                "seconds": round(time.monotonic() - began, 2)}


def _handler(dashboard: Dashboard) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "stapel-dashboard"
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
            pass  # the URL holds the token: never log it

        def _host_ok(self) -> bool:
            host = (self.headers.get("Host") or "").rsplit(":", 1)[0].strip("[]")
            return host in (HOST, "localhost", "::1")

        def _send(self, code: int, body: bytes, content_type: str = "application/json") -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("X-Frame-Options", "DENY")
            self.send_header("Referrer-Policy", "no-referrer")  # links to Grafana & co. must not carry the token
            self.end_headers()
            self.wfile.write(body)

        def _json(self, data: Any, code: int = 200) -> None:
            self._send(code, json.dumps(data, default=str).encode())

        def _forbidden(self) -> None:
            self._json({"error": "forbidden: open the URL stapel dashboard printed (it carries the token)"}, 403)

        def do_GET(self) -> None:  # http.server's name
            url = urlsplit(self.path)
            token = parse_qs(url.query).get("token", [None])[0]
            if not self._host_ok() or not dashboard.valid(token):
                return self._forbidden()
            try:
                if url.path == "/":
                    return self._send(200, (STATIC / "index.html").read_bytes(), "text/html; charset=utf-8")
                if url.path == "/api/state":
                    return self._json(dashboard.view.nodes())
                if url.path == "/api/env":
                    return self._json(dashboard.view.env())
                if url.path == "/api/runs":
                    return self._json(dashboard.view.summaries())
                if url.path == "/events":
                    return self._events()
                return self._json({"error": "not found"}, 404)
            except (BrokenPipeError, ConnectionResetError):
                return None

        def do_POST(self) -> None:
            url = urlsplit(self.path)
            if not self._host_ok() or not dashboard.valid(self.headers.get("X-Stapel-Token")):
                return self._forbidden()
            length = int(self.headers.get("Content-Length") or 0)
            try:
                body = json.loads(self.rfile.read(min(length, 65536)) or b"{}")
            except ValueError:
                return self._json({"error": "expected a JSON body"}, 400)
            action, node = url.path.removeprefix("/api/"), body.get("node") if isinstance(body, dict) else None
            if action not in ACTIONS or not isinstance(node, str):
                return self._json({"error": f"expected POST /api/{{{'|'.join(ACTIONS)}}} with {{\"node\": NAME}}"}, 400)
            known = {row["name"] for row in dashboard.view.nodes()["nodes"]}
            if node not in known:
                return self._json({"error": f"unknown node '{node}'"}, 404)
            return self._json(dashboard.act(action, node))

        def _events(self) -> None:
            """Server-Sent Events until the page goes away: `state` every second, `log` with new lines, `runs`."""
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-store")
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True
            followers: dict[str, Follower] = {}
            last_runs, tick = None, 0
            try:
                while not dashboard.stopping.is_set():
                    if tick % STATE_EVERY_TICKS == 0:
                        state = dashboard.view.nodes()
                        self._event("state", state)
                        runs = dashboard.view.summaries()
                        if runs != last_runs:
                            self._event("runs", runs)
                            last_runs = runs
                        names = [row["name"] for row in state["nodes"]] + ["supervisor"]
                        for name in names:
                            if name not in followers:
                                path = dashboard.view.paths.supervisor_log if name == "supervisor" else dashboard.view.paths.log(name)
                                followers[name] = Follower(path)
                    batch = {name: [parse(dashboard.view.mask(line)) for line in follower.read()] for name, follower in followers.items()}
                    batch = {name: lines for name, lines in batch.items() if lines}
                    if batch:
                        self._event("log", batch)
                    elif tick % 30 == 0:
                        self.wfile.write(b": keep-alive\n\n")
                        self.wfile.flush()
                    tick += 1
                    time.sleep(TICK_SECONDS)
            except (BrokenPipeError, ConnectionResetError, OSError):
                pass
            finally:
                for follower in followers.values():
                    follower.close()

        def _event(self, name: str, data: Any) -> None:
            self.wfile.write(f"event: {name}\ndata: {json.dumps(data, default=str)}\n\n".encode())
            self.wfile.flush()

    return Handler
