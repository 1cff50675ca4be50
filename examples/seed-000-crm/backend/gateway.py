"""gateway of examples/seed-000-crm: the CRM's one entry point (Starlette under uvicorn, httpx to the services).

  /api/clients..., /api/notifications  -> crm-api (CRM_API_URL)
  /api/auth/...                        -> auth (AUTH_URL)
  GET /health                          its own readiness: Redis answers and every upstream's /health answers 200
Each client gets at most RATE_LIMIT_PER_MINUTE requests a minute (429 beyond): a counter per client and minute in
Redis (`gateway:ratelimit:<client>:<minute>`, expiring after two minutes; seed 000's Redis).
With a Consul in its environment (CONSUL_HTTP_ADDR: seed 000's service discovery and KV) it registers itself in
the catalog on start and reads its upstream timeout and rate limit from config/gateway/*; without one it uses
the defaults. It holds no database or broker connection of its own.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

import httpx
import redis.asyncio as aioredis
from events import serve
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from stapel.kit import config, health, log

UPSTREAMS = {"/api/auth": "AUTH_URL", "/api/clients": "CRM_API_URL", "/api/notifications": "CRM_API_URL"}


class GatewayConfig(config.Config):
    listen: config.Listen
    redis: config.Redis
    crm_api_url: str
    auth_url: str
    upstream_timeout_ms: int = 3000
    rate_limit_per_minute: int = 600


class State:
    client: Any = None
    redis: Any = None
    settings: Any = None
    rate_limit: int = 600


async def over_limit(request: Request) -> bool:
    """One INCR per request; the key expires on its own (Redis is never the source of truth here)."""
    key = f"gateway:ratelimit:{request.client.host if request.client else '-'}:{int(time.time() // 60)}"
    async with State.redis.pipeline(transaction=True) as pipe:
        count, _ = await pipe.incr(key).expire(key, 120).execute()
    return count > State.rate_limit


def upstream(path: str) -> str | None:
    for prefix, variable in UPSTREAMS.items():
        if path == prefix or path.startswith(prefix + "/"):
            return getattr(State.settings, variable.lower())
    return None


async def proxy(request: Request) -> Response:
    if await over_limit(request):
        return Response('{"error": "rate limit exceeded"}', 429, media_type="application/json")
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


async def consul_setup(consul: str, port: int) -> dict[str, int]:
    """Register in Consul's catalog; the settings its KV has under config/gateway/."""
    async with httpx.AsyncClient(base_url=consul, timeout=3) as client:
        await client.put("/v1/agent/service/register", json={"Name": "gateway", "ID": f"gateway-{port}", "Address": "127.0.0.1",
                                                              "Port": port})
        found = {}
        for key in ("upstream_timeout_ms", "rate_limit_per_minute"):
            answer = await client.get(f"/v1/kv/config/gateway/{key}", params={"raw": ""})
            if answer.status_code == 200:
                found[key] = int(answer.text)
        return found


def upstream_check(base: str):
    async def check() -> None:
        answer = await State.client.get(base + "/health")
        if answer.status_code != 200:
            raise RuntimeError(f"{base}/health answered {answer.status_code}")
    return check


async def main() -> None:
    State.settings = settings = config.load(GatewayConfig)
    log.setup(config=settings)
    found = {}
    if os.environ.get("CONSUL_HTTP_ADDR"):
        found = await consul_setup(os.environ["CONSUL_HTTP_ADDR"], settings.listen.port)
    State.rate_limit = found.get("rate_limit_per_minute", settings.rate_limit_per_minute)
    State.client = httpx.AsyncClient(timeout=found.get("upstream_timeout_ms", settings.upstream_timeout_ms) / 1000)
    State.redis = aioredis.Redis.from_url(settings.redis.url.get_secret_value(), socket_timeout=1)
    health.add("redis", State.redis.ping)
    health.add("crm-api", upstream_check(settings.crm_api_url))
    health.add("auth", upstream_check(settings.auth_url))
    methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
    routes = [Route("/api/{path:path}", proxy, methods=methods)]

    await serve("gateway", log.access_log(health.asgi(Starlette(routes=routes), readyz="/health")), settings.listen,
                [State.client.aclose, State.redis.aclose])


if __name__ == "__main__":
    asyncio.run(main())
