"""Consul KV and Qdrant collection provisioning against in-process HTTP fakes.

Why a fake: no Consul or Qdrant server can run on this machine (neither is in Debian or any package registry
reachable here, and there is no Docker engine), so the provisioners are tested against a small http.server on
127.0.0.1:0 that implements exactly the endpoints they use, with the response shapes of the vendors' API docs:
  Consul (https://developer.hashicorp.com/consul/api-docs/kv): GET /v1/kv/<key>?raw answers the raw value or
    404 with an empty body; PUT /v1/kv/<key> stores the body and answers `true`.
  Qdrant (https://api.qdrant.tech/api-reference/collections): GET /collections/<name> answers
    {"result": CollectionInfo, "status": "ok", "time": ...} or 404 {"status": {"error": "Not found: ..."}};
    PUT /collections/<name> {"vectors": {...}} answers {"result": true, ...}, 409 when it exists; with an api
    key configured, a request without the right `api-key` header is 401.
Everything above the wire (the provision step, the stack, stapel.yaml) is the real code.
"""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from stapel.engine.stack import open_stack
from stapel.errors import StapelError
from stapel.provision import consul, qdrant, steps


class Fake:
    """One fake server: its state, the requests it saw ("PUT /v1/kv/a"), the api key it wants."""

    def __init__(self, api_key: str | None = None) -> None:
        self.kv: dict[str, bytes] = {}
        self.collections: dict[str, dict] = {}
        self.seen: list[str] = []
        self.api_key = api_key
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                fake.handle(self, "GET")

            def do_PUT(self) -> None:
                fake.handle(self, "PUT")

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, args=(0.01,), daemon=True).start()  # shutdown() waits a poll

    def writes(self) -> list[str]:
        return [r for r in self.seen if not r.startswith("GET ")]

    def handle(self, h: BaseHTTPRequestHandler, method: str) -> None:
        url = urlsplit(h.path)
        self.seen.append(f"{method} {url.path}")
        body = h.rfile.read(int(h.headers.get("Content-Length") or 0))
        if url.path.startswith("/v1/kv/"):
            self.consul(h, method, unquote(url.path[len("/v1/kv/"):]), url.query, body)
        elif url.path.startswith("/collections/"):
            if self.api_key and h.headers.get("api-key") != self.api_key:
                return reply(h, 401, b"Must provide an API key or an Authorization bearer token", "text/plain")
            self.qdrant(h, method, unquote(url.path[len("/collections/"):]), body)
        else:
            reply(h, 404, b"")

    def consul(self, h: BaseHTTPRequestHandler, method: str, key: str, query: str, body: bytes) -> None:
        if method == "GET":
            assert query == "raw"
            return reply(h, 200, self.kv[key], "text/plain; charset=utf-8") if key in self.kv else reply(h, 404, b"")
        self.kv[key] = body
        reply(h, 200, b"true", "application/json")

    def qdrant(self, h: BaseHTTPRequestHandler, method: str, name: str, body: bytes) -> None:
        if method == "GET":
            if name not in self.collections:
                return reply_json(h, 404, {"status": {"error": f"Not found: Collection `{name}` doesn't exist!"}, "time": 0.00001})
            return reply_json(h, 200, {"result": collection_info(self.collections[name]), "status": "ok", "time": 0.00002})
        if name in self.collections:
            return reply_json(h, 409, {"status": {"error": f"Wrong input: Collection `{name}` already exists!"}, "time": 0.0001})
        vectors = json.loads(body)["vectors"]
        assert isinstance(vectors["size"], int) and vectors["distance"] in ("Cosine", "Euclid", "Dot", "Manhattan")
        self.collections[name] = vectors
        reply_json(h, 200, {"result": True, "status": "ok", "time": 0.05})

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def collection_info(vectors: dict) -> dict:
    """Qdrant's CollectionInfo as GET /collections/<name> answers it (v1.11; on_disk only when it was set)."""
    return {
        "status": "green", "optimizer_status": "ok", "indexed_vectors_count": 0, "points_count": 0, "segments_count": 2,
        "config": {
            "params": {"vectors": vectors, "shard_number": 1, "replication_factor": 1, "write_consistency_factor": 1,
                       "on_disk_payload": True},
            "hnsw_config": {"m": 16, "ef_construct": 100, "full_scan_threshold": 10000, "max_indexing_threads": 0, "on_disk": False},
            "optimizer_config": {"deleted_threshold": 0.2, "vacuum_min_vector_number": 1000, "default_segment_number": 0,
                                 "max_segment_size": None, "memmap_threshold": None, "indexing_threshold": 20000,
                                 "flush_interval_sec": 5, "max_optimization_threads": None},
            "wal_config": {"wal_capacity_mb": 32, "wal_segments_ahead": 0},
            "quantization_config": None,
        },
        "payload_schema": {},
    }


def reply(h: BaseHTTPRequestHandler, status: int, data: bytes, content_type: str = "application/json") -> None:
    h.send_response(status)
    h.send_header("Content-Type", content_type)
    h.send_header("Content-Length", str(len(data)))
    h.end_headers()
    h.wfile.write(data)


def reply_json(h: BaseHTTPRequestHandler, status: int, data: dict) -> None:
    reply(h, status, json.dumps(data).encode())


@pytest.fixture
def fake():
    servers: list[Fake] = []

    def make(api_key: str | None = None) -> Fake:
        servers.append(Fake(api_key))
        return servers[-1]

    yield make
    for server in servers:
        server.close()


def stack_with(tmp_path: Path, text: str):
    (tmp_path / "stapel.yaml").write_text(text)
    return open_stack(tmp_path / "stapel.yaml", env={})


CONSUL = """\
components:
  kv:
    kind: consul
    port: {port}
    kv:
      config/crm/db_pool: "10"
      config/crm/feature_flags: '{{"bot": true}}'
      service/notifications/retries: 3
"""


def test_consul_first_run_creates_second_changes_nothing(fake, tmp_path: Path) -> None:
    server = fake()
    stack = stack_with(tmp_path, CONSUL.format(port=server.port))
    node = stack.nodes["kv"]
    assert steps.declared(stack, node)
    said: list[str] = []
    first = steps.run_all(stack, [node], said.append)
    assert first == ["kv: created key config/crm/db_pool", "kv: created key config/crm/feature_flags",
                     "kv: created key service/notifications/retries"]
    assert said == first
    assert server.kv == {"config/crm/db_pool": b"10", "config/crm/feature_flags": b'{"bot": true}', "service/notifications/retries": b"3"}
    server.seen.clear()
    assert steps.run_all(stack, [node], said.append) == []
    assert server.writes() == []  # read, compared, left alone
    assert len(server.seen) == 3


def test_consul_changed_value_is_updated_and_undeclared_keys_are_left_alone(fake, tmp_path: Path) -> None:
    server = fake()
    server.kv = {"config/crm/db_pool": b"5", "config/crm/feature_flags": b'{"bot": true}', "service/notifications/retries": b"3",
                 "written/by/a/service": b"keep me"}
    stack = stack_with(tmp_path, CONSUL.format(port=server.port))
    assert consul.provision("kv", stack.nodes["kv"].config, server.port, lambda _: None) == ["kv: updated key config/crm/db_pool"]
    assert server.kv["config/crm/db_pool"] == b"10"
    assert server.kv["written/by/a/service"] == b"keep me"
    assert not any("written" in request for request in server.seen)


def test_consul_values_are_never_said(fake, tmp_path: Path) -> None:
    server = fake()
    stack = stack_with(tmp_path, CONSUL.format(port=server.port).replace('"10"', '"${POOL_SECRET:-hunter2-value}"'))
    said: list[str] = []
    consul.provision("kv", stack.nodes["kv"].config, server.port, said.append)
    assert server.kv["config/crm/db_pool"] == b"hunter2-value"
    assert not any("hunter2" in line for line in said)


QDRANT = """\
components:
  vec:
    kind: qdrant
    port: {port}
    {key}
    collections:
      code_assistant: {{size: 1536, distance: Cosine}}
      data_analyst: {{size: 768, distance: Dot, on_disk: true}}
"""


def test_qdrant_first_run_creates_second_changes_nothing(fake, tmp_path: Path) -> None:
    server = fake()
    stack = stack_with(tmp_path, QDRANT.format(port=server.port, key=""))
    node = stack.nodes["vec"]
    assert steps.declared(stack, node)
    first = steps.run_all(stack, [node], lambda _: None)
    assert first == ["vec: created collection code_assistant (size 1536, Cosine)", "vec: created collection data_analyst (size 768, Dot)"]
    assert server.collections == {"code_assistant": {"size": 1536, "distance": "Cosine"},
                                  "data_analyst": {"size": 768, "distance": "Dot", "on_disk": True}}
    server.seen.clear()
    assert steps.run_all(stack, [node], lambda _: None) == []
    assert server.seen == ["GET /collections/code_assistant", "GET /collections/data_analyst"]


def test_qdrant_incompatible_collection_is_reported_and_the_rest_applied(fake, tmp_path: Path) -> None:
    server = fake()
    server.collections = {"code_assistant": {"size": 384, "distance": "Euclid"}, "untouched": {"size": 3, "distance": "Dot"}}
    stack = stack_with(tmp_path, QDRANT.format(port=server.port, key=""))
    with pytest.raises(StapelError) as info:
        qdrant.provision("vec", stack.nodes["vec"].config, server.port, lambda _: None)
    assert info.value.lines() == [
        "components.vec: collection code_assistant exists with size 384 and distance Euclid, stapel.yaml says size 1536 and "
        "distance Cosine: Qdrant cannot change a collection's vectors in place; delete the collection (its points are lost) or "
        "use a new name"]
    assert server.collections["code_assistant"] == {"size": 384, "distance": "Euclid"}  # never dropped
    assert "data_analyst" in server.collections  # the rest was applied
    assert "PUT /collections/code_assistant" not in server.seen and not any("untouched" in r for r in server.seen)


def test_qdrant_on_disk_difference_is_said_not_failed(fake, tmp_path: Path) -> None:
    server = fake()
    server.collections = {"code_assistant": {"size": 1536, "distance": "Cosine"}, "data_analyst": {"size": 768, "distance": "Dot"}}
    stack = stack_with(tmp_path, QDRANT.format(port=server.port, key=""))
    said: list[str] = []
    assert qdrant.provision("vec", stack.nodes["vec"].config, server.port, said.append) == []
    assert said == ["vec: collection data_analyst keeps its vectors in RAM (on_disk applies at creation)"]


def test_qdrant_named_vectors_are_a_conflict(fake, tmp_path: Path) -> None:
    server = fake()
    server.collections = {"code_assistant": {"text": {"size": 1536, "distance": "Cosine"}}, "data_analyst": {"size": 768, "distance": "Dot"}}
    stack = stack_with(tmp_path, QDRANT.format(port=server.port, key=""))
    with pytest.raises(StapelError, match=r"^components\.vec: collection code_assistant exists with named vectors \(text\)"):
        qdrant.provision("vec", stack.nodes["vec"].config, server.port, lambda _: None)


def test_qdrant_api_key_is_sent_and_a_wrong_one_is_named(fake, tmp_path: Path) -> None:
    server = fake(api_key="right-key-0123456789")
    stack = stack_with(tmp_path, QDRANT.format(port=server.port, key="api_key: right-key-0123456789"))
    assert len(qdrant.provision("vec", stack.nodes["vec"].config, server.port, lambda _: None)) == 2
    wrong = stack_with(tmp_path, QDRANT.format(port=server.port, key="api_key: wrong-key-0123456789"))
    with pytest.raises(StapelError) as info:
        qdrant.provision("vec", wrong.nodes["vec"].config, server.port, lambda _: None)
    assert info.value.message == ("components.vec: reading collection code_assistant: Qdrant answered 401 "
                                  "Must provide an API key or an Authorization bearer token")
    assert "api_key" in info.value.hint and "wrong-key" not in " ".join(info.value.lines())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize(("text", "name", "what"), [(CONSUL, "kv", "Consul"), (QDRANT, "vec", "Qdrant")])
def test_server_down_is_one_clear_error_naming_the_component(tmp_path: Path, text: str, name: str, what: str) -> None:
    port = free_port()
    stack = stack_with(tmp_path, text.format(port=port, key=""))
    with pytest.raises(StapelError) as info:
        steps.run_all(stack, [stack.nodes[name]], lambda _: None)
    assert info.value.message.startswith(f"components.{name}: {what} on 127.0.0.1:{port} does not answer (")
    assert info.value.hint == "stapel status shows what runs; stapel up starts it"


def test_nothing_declared_is_no_provisioning(tmp_path: Path) -> None:
    stack = stack_with(tmp_path, "components:\n  kv: {kind: consul}\n  vec: {kind: qdrant}\n")
    assert not steps.declared(stack, stack.nodes["kv"]) and not steps.declared(stack, stack.nodes["vec"])
    assert steps.run_all(stack, list(stack.nodes.values()), lambda _: None) is None


def test_plan_requests_are_data_for_one_shot_jobs(tmp_path: Path) -> None:
    stack = stack_with(tmp_path, CONSUL.format(port=8500) + QDRANT.format(port=6333, key="").replace("components:\n", ""))
    assert consul.plan_requests(stack.nodes["kv"].config)[0] == ("PUT", "/v1/kv/config/crm/db_pool", "10", None)
    assert qdrant.plan_requests(stack.nodes["vec"].config) == [
        ("PUT", "/collections/code_assistant", {"vectors": {"size": 1536, "distance": "Cosine"}}, "/collections/code_assistant"),
        ("PUT", "/collections/data_analyst", {"vectors": {"size": 768, "distance": "Dot", "on_disk": True}}, "/collections/data_analyst"),
    ]
