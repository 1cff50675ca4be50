"""What the Consul and Qdrant provisioners share: a tiny HTTP client (http.client, a timeout on every request),
errors that name the component, and `HttpRequest`, provisioning as data for the containers' one-shot jobs."""

from __future__ import annotations

import http.client
import json
from typing import Any, NamedTuple

from stapel.errors import StapelError

HOST = "127.0.0.1"


class HttpRequest(NamedTuple):
    """One provisioning request. `unless_found`: a path to GET first; the request is sent only when that GET
    answers 404 (Qdrant: create a collection only when it is missing). `body`: a str is sent as is (Consul KV
    values), anything else as JSON. Paths are percent-encoded already. No secret is in here: send the kind's
    own key header yourself (Qdrant: `api-key: $QDRANT__SERVICE__API_KEY` when the component has api_key)."""

    method: str
    path: str
    body: Any = None
    unless_found: str | None = None


class HttpApi:
    """One component's HTTP API on 127.0.0.1."""

    def __init__(self, name: str, what: str, port: int, headers: dict[str, str] | None = None, timeout: float = 10.0):
        self.name, self.what, self.port, self.timeout = name, what, port, timeout
        self.headers = dict(headers or {})

    def send(self, method: str, path: str, body: Any = None) -> tuple[int, bytes]:
        """(status, body) of one request; a component that does not answer is a StapelError naming it."""
        data = None if body is None else body.encode() if isinstance(body, str) else json.dumps(body).encode()
        headers = {**self.headers, **({"Content-Type": "application/json"} if data is not None and not isinstance(body, str) else {})}
        conn = http.client.HTTPConnection(HOST, self.port, timeout=self.timeout)
        try:
            conn.request(method, path, body=data, headers=headers)
            response = conn.getresponse()
            return response.status, response.read()
        except (OSError, http.client.HTTPException) as exc:
            why = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
            raise StapelError(f"components.{self.name}: {self.what} on {HOST}:{self.port} does not answer ({why})",
                              hint="stapel status shows what runs; stapel up starts it") from None
        finally:
            conn.close()

    def fail(self, doing: str, status: int, body: bytes) -> StapelError:
        hint = "the api_key in stapel.yaml differs from the running server's? stapel up restarts it" if status in (401, 403) else None
        return StapelError(f"components.{self.name}: {doing}: {self.what} answered {status} {_reason(body)}".rstrip(), hint=hint)


def _reason(body: bytes) -> str:
    """Qdrant: {"status": {"error": "..."}}; Consul: plain text."""
    try:
        reply = json.loads(body)
    except ValueError:
        return body.decode(errors="replace").strip()[:200]
    status = reply.get("status") if isinstance(reply, dict) else None
    return str(status.get("error", "")) if isinstance(status, dict) else ""
