"""gateway of examples/seed-000-crm: the CRM's one entry point (Starlette under uvicorn, httpx to the services).

  /api/clients..., /api/notifications  -> crm-api (CRM_API_URL)
  /api/auth/...                        -> auth (AUTH_URL)
  GET /health                          its own readiness: every upstream's /health answers 200 (and Consul's KV)
With a Consul in its environment (CONSUL_HTTP_ADDR: seed 000's service discovery and KV) it registers itself in
the catalog on start and reads its upstream timeout from config/gateway/upstream_timeout_ms; without one it uses
the default. It holds no database or broker connection of its own.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import httpx
from events import serve
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from stapel.kit import config, health, log

UPSTREAMS = {"/api/auth": "AUTH_URL", "/api/clients": "CRM_API_URL", "/api/notifications": "CRM_API_URL"}


class GatewayConfig(config.Config):
    listen: config.Listen
    crm_api_url: str
    auth_url: str
    upstream_timeout_ms: int = 3000


class State:
    client: Any = None
    settings: Any = None


def upstream(path: str) -> str | None:
    for prefix, variable in UPSTREAMS.items():
        if path == prefix or path.startswith(prefix + "/"):
            return getattr(State.settings, variable.lower())
    return None


async def proxy(request: Request) -> Response:
    base = upstream(request.url.path)
    if base is None:
        return Response('{"error": "no such route"}', 404, media_type="application/json")
    try:
        answer = await State.client.request(request.method, base + request.url.path, content=await request.body(),
                                            params=request.query_params, headers={"content-type": request.headers.get("content-type", "application/json"),
                                                                                  "x-request-id": request.headers.get("x-request-id", "")})
    except httpx.HTTPError as exc:
        log.get("gateway").warning("upstream failed", upstream=base, error=type(exc).__name__)
        return Response('{"error": "upstream unavailable"}', 502, media_type="application/json")
    return Response(answer.content, answer.status_code, media_type=answer.headers.get("content-type"))


async def consul_setup(consul: str, port: int) -> int | None:
    """Register in Consul's catalog; the upstream timeout from its KV (None: not set there)."""
    async with httpx.AsyncClient(base_url=consul, timeout=3) as client:
        await client.put("/v1/agent/service/register", json={"Name": "gateway", "ID": f"gateway-{port}", "Address": "127.0.0.1",
                                                              "Port": port})
        found = await client.get("/v1/kv/config/gateway/upstream_timeout_ms", params={"raw": ""})
        return int(found.text) if found.status_code == 200 else None


def upstream_check(base: str):
    async def check() -> None:
        answer = await State.client.get(base + "/health")
        if answer.status_code != 200:
            raise RuntimeError(f"{base}/health answered {answer.status_code}")
    return check


async def main() -> None:
    State.settings = settings = config.load(GatewayConfig)
    log.setup(config=settings)
    timeout = settings.upstream_timeout_ms
    if os.environ.get("CONSUL_HTTP_ADDR"):
        timeout = await consul_setup(os.environ["CONSUL_HTTP_ADDR"], settings.listen.port) or timeout
    State.client = httpx.AsyncClient(timeout=timeout / 1000)
    health.add("crm-api", upstream_check(settings.crm_api_url))
    health.add("auth", upstream_check(settings.auth_url))
    methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
    routes = [Route("/api/{path:path}", proxy, methods=methods)]

    await serve("gateway", log.access_log(health.asgi(Starlette(routes=routes), readyz="/health")), settings.listen,
                [State.client.aclose])


if __name__ == "__main__":
    asyncio.run(main())
