"""Probes against small real servers on free ports: HTTP status and auth, a port that speaks no HTTP, tcp, exec."""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from stapel.cli.common import default_contour
from stapel.errors import ConfigError
from stapel.paths import find_stack_file
from stapel.probes import ProbeSpec, run


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/private" and self.headers.get("Authorization") != "Basic dTpw":  # u:p
            self.send_response(401)
        elif self.path == "/moved":
            self.send_response(302)
            self.send_header("Location", "/")
        else:
            self.send_response(200 if self.path in ("/", "/private") else 503)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def http_port():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)  # shutdown() waits a poll
    thread.start()
    yield server.server_address[1]
    server.shutdown()


@pytest.fixture
def silent_port():
    """Accepts, reads, answers with something that is not HTTP."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()

    def serve() -> None:
        conn, _ = listener.accept()
        conn.recv(1024)
        conn.sendall(b"AMQP\x00\x00\x09\x01")
        conn.close()

    threading.Thread(target=serve, daemon=True).start()
    yield listener.getsockname()[1]
    listener.close()


def probe(kind: str, **params) -> tuple[bool, str]:
    return run(ProbeSpec(kind, params, timeout_seconds=2))


def test_http_ok_and_failing_status(http_port: int) -> None:
    assert probe("http", port=http_port, path="/") == (True, "GET / -> 200")
    assert probe("http", port=http_port, path="/down") == (False, "GET /down -> 503")


def test_http_redirect_counts_as_up_and_expected_status_is_exact(http_port: int) -> None:
    assert probe("http", port=http_port, path="/moved")[0] is True
    assert probe("http", port=http_port, path="/", status=204) == (False, "GET / -> 200")


def test_http_basic_auth(http_port: int) -> None:
    assert probe("http", port=http_port, path="/private") == (False, "GET /private -> 401")
    assert probe("http", port=http_port, path="/private", user="u", password="p") == (True, "GET /private -> 200")


def test_http_against_a_port_that_is_not_http(silent_port: int) -> None:
    ok, detail = probe("http", port=silent_port, path="/")
    assert not ok and "not an HTTP answer" in detail


def test_http_on_a_closed_port_reports_refused() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ok, detail = probe("http", port=port, path="/")
    assert not ok and "ConnectionRefusedError" in detail


def test_tcp_and_exec(http_port: int) -> None:
    assert probe("tcp", port=http_port)[0] is True
    assert probe("exec", command=["sh", "-c", "echo fine"]) == (True, "exit 0 fine")
    assert probe("exec", command=["sh", "-c", "echo broken >&2; exit 3"]) == (False, "exit 3 broken")
    assert probe("exec", command=["no-such-command-xyz"]) == (False, "no-such-command-xyz: command not found")


@pytest.mark.parametrize("text, contour", [
    ("name: x\n", "dev"),
    ("name: x\ncontour: stage\n", "stage"),
    ("name: x\ncontour: 'prod'  # default\n", "prod"),
    ("name: x\ncontour: {broken\n", "dev"),
    ("name: x\ncontours:\n  stage: {}\n", "dev"),
    ("name: x\n# contour: stage\n", "dev"),
])
def test_default_contour_without_validating_the_file(tmp_path: Path, text: str, contour: str) -> None:
    file = tmp_path / "stapel.yaml"
    file.write_text(text)
    assert default_contour(file) == contour


def test_stack_file_is_found_in_a_parent_and_missing_is_one_clear_error(tmp_path: Path) -> None:
    (tmp_path / "stapel.yaml").write_text("name: x\n")
    (tmp_path / "a" / "b").mkdir(parents=True)
    assert find_stack_file(None, tmp_path / "a" / "b") == tmp_path / "stapel.yaml"
    with pytest.raises(ConfigError, match="no stapel.yaml in .* or any parent directory"):
        find_stack_file(None, Path("/"))
