"""The generic checks (tcp, http, exec) and the socket helpers the kinds' own wire-level checks use. Each check
takes (params, timeout) and returns (ok, detail).

A kind's own check (components/<kind>.py) speaks just enough of its protocol to know the server answers as
itself, with no driver to import: `stapel check` must stay fast.
"""

from __future__ import annotations

import base64
import socket
import subprocess
from typing import Any

from stapel.probes import Result


def connect(params: dict[str, Any], timeout: float) -> socket.socket:
    return socket.create_connection((params.get("host", "127.0.0.1"), params["port"]), timeout=timeout)


def tcp(params: dict[str, Any], timeout: float) -> Result:
    with connect(params, timeout):
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
    with connect(params, timeout) as sock:
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


def recv_exact(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("connection closed by the server")
        data += chunk
    return data
