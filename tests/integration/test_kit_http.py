"""stapel.kit.http against a real HTTP server in a thread (no mock transport): temporary failures retried with
backoff, Retry-After honoured, the rate limit held, Idempotency-Key kept across a POST's retries, timeouts, and
the error mapping; no body, query string or secret in the logs."""

from __future__ import annotations

import asyncio
import io
import json
import threading
import time
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from stapel.kit import log
from stapel.kit.errors import Conflict, NotFound, Permanent, Unavailable
from stapel.kit.http import Client, Timeouts

pytestmark = pytest.mark.integration
TOKEN = "tok-9f8e7d6c5b4a"


class Api(BaseHTTPRequestHandler):
    hits: dict[str, list[tuple[float, dict]]] = defaultdict(list)

    def log_message(self, *_args) -> None:
        pass

    def answer(self, status: int, body: bytes = b"{}", headers: dict | None = None) -> None:
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self.route()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.route()

    def route(self) -> None:
        path = self.path.split("?")[0]
        Api.hits[path].append((time.monotonic(), dict(self.headers)))
        count = len(Api.hits[path])
        if path == "/flaky":
            self.answer(503 if count < 3 else 200, b'{"ok": true}')
        elif path == "/limited":
            self.answer(429, headers={"Retry-After": "1"}) if count == 1 else self.answer(200)
        elif path == "/too-long":
            self.answer(429, headers={"Retry-After": "3600"})
        elif path == "/charge":
            self.answer(502 if count == 1 else 201)
        elif path == "/slow":
            time.sleep(1.0)
            self.answer(200)
        elif path == "/missing":
            self.answer(404)
        elif path == "/taken":
            self.answer(409)
        elif path == "/bad":
            self.answer(400)
        elif path == "/down":
            self.answer(500)
        else:
            self.answer(200, b'{"secret": "a body never logged"}')


@pytest.fixture(scope="module")
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Api)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(autouse=True)
def fresh_hits() -> None:
    Api.hits.clear()


def client(url: str, **options) -> Client:
    return Client(url, **{"name": "ext", "timeout": Timeouts(connect=1, read=0.5, total=5), "wait_initial": 0.05,
                          **options})


def test_temporary_failures_are_retried_and_retry_after_is_honoured(server: str) -> None:
    async def scenario() -> None:
        async with client(server) as api:
            assert (await api.get("/flaky")).json() == {"ok": True}
            started = time.monotonic()
            assert (await api.get("/limited")).status_code == 200
            assert time.monotonic() - started >= 0.95  # waited the Retry-After, not the 50 ms backoff
            with pytest.raises(Unavailable) as refused:
                await api.get("/too-long")  # longer than max_retry_after: at once, not after an hour
            assert refused.value.status == 429 and refused.value.retry_after == 3600
            with pytest.raises(Unavailable, match="ext GET /down: HTTP 500"):
                await api.get("/down")

    asyncio.run(scenario())
    assert len(Api.hits["/flaky"]) == 3 and len(Api.hits["/too-long"]) == 1 and len(Api.hits["/down"]) == 3
    first, second = Api.hits["/limited"]
    assert second[0] - first[0] >= 0.95


def test_a_retried_post_keeps_its_idempotency_key(server: str) -> None:
    async def scenario() -> None:
        async with client(server) as api:
            assert (await api.post("/charge", json={"amount": 5})).status_code == 201
            await api.post("/other", json={}, idempotency_key="mine-1")

    asyncio.run(scenario())
    keys = [headers["Idempotency-Key"] for _, headers in Api.hits["/charge"]]
    assert len(keys) == 2 and keys[0] == keys[1] and len(keys[0]) == 32
    assert Api.hits["/other"][0][1]["Idempotency-Key"] == "mine-1"


def test_the_rate_limit_is_held(server: str) -> None:
    async def scenario() -> None:
        async with client(server, rate=20, timeout=Timeouts(connect=1, read=1, total=10)) as api:
            await asyncio.gather(*(api.get("/echo") for _ in range(30)))

    asyncio.run(scenario())
    times = sorted(t for t, _ in Api.hits["/echo"])
    assert len(times) == 30 and times[-1] - times[0] >= 29 / 20 * 0.95
    for i, start in enumerate(times):  # no one-second window holds more than the rate (+ the burst of 1)
        assert sum(1 for t in times[i:] if t < start + 1.0) <= 21


def test_timeouts_and_permanent_errors(server: str) -> None:
    async def scenario() -> None:
        async with client(server, attempts=2) as api:
            started = time.monotonic()
            with pytest.raises(Unavailable, match="timed out .ReadTimeout."):
                await api.get("/slow")
            assert time.monotonic() - started < 1.6
            with pytest.raises(NotFound) as missing:
                await api.get("/missing")
            assert missing.value.status == 404
            with pytest.raises(Conflict):
                await api.post("/taken")
            with pytest.raises(Permanent, match="ext GET /bad: HTTP 400"):
                await api.get("/bad?token=x")
        async with client(server, timeout=Timeouts(connect=1, read=2, total=0.3)) as api:
            with pytest.raises(Unavailable, match="total timeout of 0.3s"):
                await api.get("/slow")
        async with client("http://127.0.0.1:9", attempts=2) as api:  # nothing listens on port 9
            with pytest.raises(Unavailable, match="connection failed"):
                await api.get("/anything")

    asyncio.run(scenario())
    assert len(Api.hits["/missing"]) == 1 and len(Api.hits["/bad"]) == 1  # permanent: never retried


def test_logs_have_no_bodies_query_strings_or_secrets(server: str) -> None:
    out = io.StringIO()
    log.setup("INFO", stream=out)

    async def scenario() -> None:
        async with client(server, headers={"Authorization": f"Bearer {TOKEN}"}) as api:
            await api.get("/echo?email=ann@example.org", route="/echo")

    asyncio.run(scenario())
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    request = next(line for line in lines if line["event"] == "http request")
    assert request["route"] == "/echo" and request["status"] == 200 and request["client"] == "ext"
    text = out.getvalue()
    assert "never logged" not in text and "ann@example.org" not in text and TOKEN not in text
