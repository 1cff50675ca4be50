"""The checks themselves. Each takes (params, timeout) and returns (ok, detail).

The wire-level ones (PostgreSQL, Redis, AMQP) speak just enough of the protocol to know the
server answers as itself, with no driver to import: `stapel check` must stay fast.
"""

from __future__ import annotations

import base64
import socket
import struct
import subprocess
from collections.abc import Callable
from typing import Any

Result = tuple[bool, str]


def _connect(params: dict[str, Any], timeout: float) -> socket.socket:
    return socket.create_connection((params.get("host", "127.0.0.1"), params["port"]), timeout=timeout)


def tcp(params: dict[str, Any], timeout: float) -> Result:
    with _connect(params, timeout):
        return True, f"port {params['port']} accepts connections"


def http(params: dict[str, Any], timeout: float) -> Result:
    path = params.get("path", "/")
    if params.get("url") or params.get("scheme", "http") != "http":
        status = _https_status(params, timeout)
    else:
        status = _http_status(params, timeout)
    expected = params.get("status")
    ok = status == expected if expected else 200 <= status < 400
    return ok, f"GET {params.get('url') or path} -> {status}"


def _basic_auth(params: dict[str, Any]) -> str | None:
    if params.get("user") is None:
        return None
    return "Basic " + base64.b64encode(f"{params['user']}:{params.get('password', '')}".encode()).decode()


def _http_status(params: dict[str, Any], timeout: float) -> int:
    """Plain HTTP/1.0 GET, status line only: a probe needs no more, and http.client costs ~25 ms to import."""
    host = params.get("host", "127.0.0.1")
    lines = [f"GET {params.get('path', '/')} HTTP/1.0", f"Host: {host}:{params['port']}", "Connection: close"]
    auth = _basic_auth(params)
    if auth:
        lines.append(f"Authorization: {auth}")
    with _connect(params, timeout) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = b""
        while b"\r\n" not in head and len(head) < 4096:
            chunk = sock.recv(1024)
            if not chunk:
                break
            head += chunk
    status_line = head.split(b"\r\n", 1)[0].split()
    if len(status_line) < 2 or not status_line[0].startswith(b"HTTP/") or not status_line[1].isdigit():
        raise ConnectionError(f"not an HTTP answer: {head[:40]!r}")
    return int(status_line[1])


def _https_status(params: dict[str, Any], timeout: float) -> int:
    import urllib.error
    import urllib.request

    url = params.get("url") or f"{params.get('scheme')}://{params.get('host', '127.0.0.1')}:{params['port']}{params.get('path', '/')}"
    request = urllib.request.Request(url)
    auth = _basic_auth(params)
    if auth:
        request.add_header("Authorization", auth)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def exec_(params: dict[str, Any], timeout: float) -> Result:
    try:
        done = subprocess.run(
            params["command"], cwd=params.get("cwd"), env=params.get("env"), capture_output=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        return False, f"timed out after {timeout:g}s"
    except FileNotFoundError:
        return False, f"{params['command'][0]}: command not found"
    tail = (done.stdout + done.stderr).decode(errors="replace").strip().splitlines()[-1:] or [""]
    return done.returncode == 0, f"exit {done.returncode} {tail[0]}".strip()


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("connection closed by the server")
        data += chunk
    return data


def postgres(params: dict[str, Any], timeout: float) -> Result:
    """What pg_isready does: send a startup packet; any answer but 'starting up' / 'shutting down' is ready."""
    body = struct.pack("!I", 196608)
    for key, value in (("user", params.get("user", "postgres")), ("database", params.get("database", "postgres"))):
        body += key.encode() + b"\0" + value.encode() + b"\0"
    body += b"\0"
    with _connect(params, timeout) as sock:
        sock.sendall(struct.pack("!I", len(body) + 4) + body)
        tag = _recv_exact(sock, 1)
        if tag == b"R":
            return True, "accepting connections"
        if tag == b"E":
            length = struct.unpack("!I", _recv_exact(sock, 4))[0]
            fields = _recv_exact(sock, length - 4).split(b"\0")
            code = next((f[1:].decode() for f in fields if f.startswith(b"C")), "")
            message = next((f[1:].decode() for f in fields if f.startswith(b"M")), "")
            # 57P03: cannot connect now (starting up, shutting down, in recovery)
            return code != "57P03", f"{code} {message}".strip()
        return False, f"unexpected reply {tag!r}"


def redis(params: dict[str, Any], timeout: float) -> Result:
    with _connect(params, timeout) as sock:
        if params.get("password"):
            password = params["password"].encode()
            sock.sendall(b"*2\r\n$4\r\nAUTH\r\n$%d\r\n%s\r\n" % (len(password), password))
            reply = sock.recv(256)
            if not reply.startswith(b"+OK"):
                return False, f"AUTH failed: {reply.decode(errors='replace').strip()}"
        sock.sendall(b"*1\r\n$4\r\nPING\r\n")
        reply = sock.recv(256)
        if reply.startswith(b"-NOAUTH") and "password" not in params:
            return True, "answers (password required)"  # `check` runs without secrets: the server is up
        return reply.startswith(b"+PONG"), reply.decode(errors="replace").strip()


def amqp(params: dict[str, Any], timeout: float) -> Result:
    """AMQP 0-9-1 handshake: the protocol header must be answered by a Connection.Start method frame."""
    with _connect(params, timeout) as sock:
        sock.sendall(b"AMQP\x00\x00\x09\x01")
        header = _recv_exact(sock, 7)
        frame_type, _channel, size = struct.unpack("!BHI", header)
        if frame_type != 1:
            return False, f"no AMQP 0-9-1 answer (frame type {frame_type})"
        class_id, method_id = struct.unpack("!HH", _recv_exact(sock, 4))
        if (class_id, method_id) != (10, 10):
            return False, f"unexpected AMQP method {class_id}.{method_id}"
        return True, "AMQP handshake answered (Connection.Start)"


def rabbitmq(params: dict[str, Any], timeout: float) -> Result:
    """A RabbitMQ node is ready when AMQP answers and the management API serves /api/overview."""
    ok, detail = amqp({"host": params.get("host", "127.0.0.1"), "port": params["port"]}, timeout)
    if not ok:
        return ok, detail
    if "password" not in params:  # `check` runs without secrets: a 401 still proves the API serves
        ok, detail = http({"port": params["management_port"], "path": "/api/overview", "status": 401}, timeout)
        return ok, "AMQP and management API answer (credentials not checked)" if ok else detail
    return http(
        {"port": params["management_port"], "path": "/api/overview", "user": params["user"], "password": params["password"]},
        timeout,
    )


def consul(params: dict[str, Any], timeout: float) -> Result:
    """A Consul server is ready when /v1/status/leader names a leader ("127.0.0.1:8300"; "" while it elects one)."""
    host = params.get("host", "127.0.0.1")
    request = f"GET /v1/status/leader HTTP/1.0\r\nHost: {host}:{params['port']}\r\nConnection: close\r\n\r\n"
    reply = b""
    with _connect(params, timeout) as sock:
        sock.sendall(request.encode())
        while len(reply) < 65536:
            chunk = sock.recv(4096)
            if not chunk:
                break
            reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    status = head.split(b"\r\n", 1)[0].split()
    if len(status) < 2 or status[1] != b"200":
        return False, f"GET /v1/status/leader -> {head[:40]!r}"
    leader = body.strip().strip(b'"').decode(errors="replace")
    return bool(leader), f"leader {leader}" if leader else "no leader elected yet"


RUNNERS: dict[str, Callable[[dict[str, Any], float], Result]] = {
    "tcp": tcp,
    "http": http,
    "exec": exec_,
    "postgres": postgres,
    "redis": redis,
    "amqp": amqp,
    "rabbitmq": rabbitmq,
    "consul": consul,
}
