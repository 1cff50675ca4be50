"""The real Prometheus (Debian's package) sends a Qdrant api_key as the Bearer token Qdrant's /metrics wants
(qdrant/qdrant#1980). No Qdrant server is installable here, so a stand-in /metrics on 127.0.0.1 answers 200 only to
`Authorization: Bearer <key>` and 401 to anything else; Prometheus runs with what components/prometheus.py writes
(prometheus.yml, the key file beside it) and the argv of its launch spec. Then the key changes in the file alone:
Prometheus reads it at every scrape, so the next scrape sends the new one without a restart (what Compose and
Kubernetes rely on when a mounted key changes)."""

from __future__ import annotations

import json
import socket
import subprocess
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from conftest import wait_until

from stapel.components import prometheus as prometheus_kind
from stapel.engine.stack import open_stack
from stapel.private import write_private
from stapel.runtimes.native.runtime import NativeContext

pytestmark = pytest.mark.integration
KEY, NEW_KEY = "QdrantScrapeKey-0123456789abcdef", "QdrantRotatedKey-fedcba9876543210"


class Metrics(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # http.server's name
        self.server.seen.append(self.headers.get("Authorization"))  # type: ignore[attr-defined]
        good = self.path == "/metrics" and self.headers.get("Authorization") == f"Bearer {self.server.key}"  # type: ignore[attr-defined]
        body = b"stand_in_up 1\n" if good else b"Must provide an API key or an Authorization bearer token\n"
        self.send_response(200 if good else 401)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_prometheus_sends_the_qdrant_key_as_bearer_token(tmp_path: Path) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Metrics)
    server.key, server.seen = KEY, []  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/metrics"
    with pytest.raises(urllib.error.HTTPError) as refused:  # the stand-in really wants the key
        urllib.request.urlopen(url, timeout=5)
    assert refused.value.code == 401

    port = free_port()
    (tmp_path / "stapel.yaml").write_text(f"components:\n  metrics: {{kind: prometheus, port: {port}, scrape_interval: 1s}}\n"
                                          f"  vec: {{kind: qdrant, api_key: {KEY}}}\n")
    stack = open_stack(tmp_path / "stapel.yaml", env={})
    stack.nodes["vec"].ports["main"] = server.server_address[1]  # as preflight leaves a moved port: the stand-in's
    node, ctx = stack.nodes["metrics"], NativeContext(stack)
    prometheus_kind.prepare(node, ctx)
    spec = prometheus_kind.native(node, ctx)
    log = (tmp_path / "prometheus.log").open("w")
    proc = subprocess.Popen(spec.argv, cwd=spec.cwd, env=spec.env, stdout=log, stderr=subprocess.STDOUT)

    def target() -> dict | None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/targets", timeout=2) as response:
                found = [t for t in json.load(response)["data"]["activeTargets"] if t["labels"]["job"] == "vec"]
        except (OSError, ValueError):
            return None
        return found[0] if found and found[0]["health"] != "unknown" else None

    try:
        scraped = wait_until(target, timeout=10, period=0.2)
        assert scraped, (tmp_path / "prometheus.log").read_text()[-2000:]
        assert scraped["health"] == "up", scraped
        assert scraped["scrapeUrl"] == url and set(server.seen[1:]) == {f"Bearer {KEY}"}

        server.key = NEW_KEY  # type: ignore[attr-defined]
        write_private(stack.paths.conf("metrics") / "vec-api.key", NEW_KEY)  # in place, as a mounted file changes
        assert wait_until(lambda: f"Bearer {NEW_KEY}" in server.seen, timeout=5, period=0.2), server.seen[-3:]
        assert wait_until(lambda: (t := target()) and t["health"] == "up" and t["lastError"] == "", timeout=5, period=0.2)
        assert proc.poll() is None  # the same process: no restart needed
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        log.close()
        server.shutdown()
        server.server_close()
