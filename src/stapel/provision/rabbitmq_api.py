"""A small client of RabbitMQ's management HTTP API (http.client: no dependency), JSON in and out."""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
from typing import Any
from urllib.parse import quote

from stapel.errors import StapelError

HOST = "127.0.0.1"
HASHES = {"rabbit_password_hashing_sha256": hashlib.sha256, "rabbit_password_hashing_sha512": hashlib.sha512,
          "rabbit_password_hashing_md5": hashlib.md5}


class ApiError(Exception):
    def __init__(self, status: int, reason: str):
        super().__init__(f"{status} {reason}")
        self.status = status
        self.reason = reason


class ApiUnreachable(Exception):
    pass


def path(*parts: str) -> str:
    """/api/queues/%2F/name: every part percent-encoded (the default vhost '/' included)."""
    return "/api/" + "/".join(quote(part, safe="") for part in parts)


class ManagementApi:
    def __init__(self, port: int, user: str, password: str, timeout: float = 15.0):
        self.port = port
        self.timeout = timeout
        self.writes = 0  # PUT/POST/DELETE requests sent: a run that changes nothing sends none
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        self._headers = {"Authorization": f"Basic {token}", "Content-Type": "application/json", "Accept": "application/json"}

    def get(self, where: str) -> Any:
        return self.request("GET", where)

    def put(self, where: str, body: Any) -> Any:
        return self.request("PUT", where, body)

    def post(self, where: str, body: Any) -> Any:
        return self.request("POST", where, body)

    def delete(self, where: str) -> Any:
        return self.request("DELETE", where)

    def request(self, method: str, where: str, body: Any = None) -> Any:
        if method != "GET":
            self.writes += 1
        conn = http.client.HTTPConnection(HOST, self.port, timeout=self.timeout)
        try:
            conn.request(method, where, body=None if body is None else json.dumps(body), headers=self._headers)
            response = conn.getresponse()
            data = response.read()
        except OSError as exc:
            raise ApiUnreachable(f"{HOST}:{self.port}: {exc.strerror or exc}") from None
        finally:
            conn.close()
        if response.status >= 400:
            raise ApiError(response.status, _reason(data) or response.reason)
        return json.loads(data) if data.strip() else None


def _reason(data: bytes) -> str:
    try:
        reply = json.loads(data)
    except ValueError:
        return data.decode(errors="replace").strip()[:200]
    return str(reply.get("reason") or reply.get("error") or "") if isinstance(reply, dict) else ""


def call(name: str, api: Any, method: str, where: str, body: Any = None, what: str = "") -> Any:
    try:
        return api.request(method, where, body)
    except ApiUnreachable as exc:
        raise StapelError(f"{name}: the management API does not answer ({exc})", hint="stapel status shows what runs; stapel up starts it") from None
    except ApiError as exc:
        hint = "the component's password changed since it started? stapel up restarts it" if exc.status == 401 else None
        raise StapelError(f"{name}: {what or method + ' ' + where}: the management API said {exc}", hint=hint) from None


def definitions(name: str, api: Any) -> dict[str, Any]:
    return call(name, api, "GET", "/api/definitions", what="reading the definitions") or {}


def password_matches(password: str, stored: str, algorithm: str) -> bool:
    """RabbitMQ keeps base64(salt[4] + H(salt + password)); an unknown scheme counts as different."""
    digest = HASHES.get(algorithm)
    try:
        raw = base64.b64decode(stored or "")
    except ValueError:
        return False
    if digest is None or len(raw) <= 4:
        return False
    return hmac.compare_digest(raw, raw[:4] + digest(raw[:4] + password.encode()).digest())
