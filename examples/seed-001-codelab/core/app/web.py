"""The core service's HTTP API (Starlette, run by uvicorn: main.py).

  GET  /health                           readiness: PostgreSQL, Redis and (with QDRANT_URL) every agent's collection
  GET  /livez                            the process answers
  GET  /metrics                          Prometheus (app/metrics.py; the agent task gauge refreshed from the database)
  GET  /api/users/{email}/agents         the user's agents (the test user's three after `stapel db init`)
  POST /api/sessions                     {"email"} -> a chat session
  POST /api/sessions/{id}/messages       {"content", "agent"} -> the message and a queued task (rate limited per user)
  GET  /api/sessions/{id}/events         the session's buffered task events (Redis stream)
  GET  /api/tasks/{id}                   a task's state and result
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from pathlib import Path
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app import agents, metrics
from stapel.kit import health, log
from stapel.kit.errors import NotFound
from stapel.kit.sql import load

QUERIES = load(Path(__file__).parent / "sql")


class State:
    """What the handlers share, filled by main.py before the server starts."""

    db: Any = None
    redis: Any = None
    rate_limit: int = 60


def _uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


async def user_agents(request: Request) -> JSONResponse:
    try:
        user = await State.db.one(QUERIES.users__by_email, request.path_params["email"])
    except NotFound:
        return JSONResponse({"error": "no such user"}, 404)
    rows = await State.db.many(QUERIES.agents__of_user, user["id"])
    return JSONResponse({"user": str(user["id"]), "agents": [{"id": str(r["id"]), "name": r["name"], "status": r["status"],
                                                             "collection": r["config"].get("collection")} for r in rows]})


async def create_session(request: Request) -> JSONResponse:
    body = await request.json()
    try:
        user = await State.db.one(QUERIES.users__by_email, str(body.get("email", "")))
    except NotFound:
        return JSONResponse({"error": "no such user"}, 404)
    session = await State.db.one(QUERIES.sessions__create, user["id"])
    return JSONResponse({"id": str(session["id"])}, 201)


async def allowed(user_id: Any) -> bool:
    """Seed 001's rate limiting on Redis: a counter per user and minute, expiring with the minute."""
    key = f"codelab:ratelimit:{user_id}:{int(time.time() // 60)}"
    count = await metrics.redis_op("incr", State.redis.incr(key))
    if count == 1:
        await metrics.redis_op("expire", State.redis.expire(key, 60))
    return count <= State.rate_limit


async def post_message(request: Request) -> JSONResponse:
    session_id, body = _uuid(request.path_params["session_id"]), await request.json()
    try:
        session = await State.db.one(QUERIES.sessions__get, session_id) if session_id else None
        if session is None:
            raise NotFound("sessions__get", "no such session")
        agent = await State.db.one(QUERIES.agents__by_name, session["user_id"], str(body.get("agent", "")))
    except NotFound as exc:
        return JSONResponse({"error": f"{'no such agent' if exc.query == 'agents__by_name' else 'no such session'}"}, 404)
    if not await allowed(session["user_id"]):
        return JSONResponse({"error": "rate limit: too many messages this minute"}, 429)
    content = str(body.get("content", ""))
    message = await State.db.one(QUERIES.messages__add, session_id=session_id, role="user", content=content, agent_id=agent["id"])
    task = await State.db.one(QUERIES.tasks__create, session_id=session_id, agent_id=agent["id"])
    metrics.AGENT_TASK_TRANSITIONS.labels(agent["name"], "queued").inc()
    await agents.enqueue(State.redis, {"task_id": task["id"], "session_id": session_id, "agent_id": agent["id"],
                                       "agent": agent["name"], "content": content})
    return JSONResponse({"message_id": str(message["id"]), "task_id": str(task["id"]), "status": task["status"]}, 202)


async def session_events(request: Request) -> JSONResponse:
    entries = await metrics.redis_op("xrange", State.redis.xrange(agents.events_key(request.path_params["session_id"])))
    return JSONResponse({"events": [{k.decode(): v.decode() for k, v in fields.items()} for _id, fields in entries]})


async def get_task(request: Request) -> JSONResponse:
    task_id = _uuid(request.path_params["task_id"])
    try:
        if task_id is None:
            raise NotFound("tasks__get", "not a task id")
        task = await State.db.one(QUERIES.tasks__get, task_id)
    except NotFound:
        return JSONResponse({"error": "no such task"}, 404)
    return JSONResponse({k: (str(v) if k == "id" or k.endswith("_at") else v) for k, v in task.items()})


async def prometheus_metrics(_request: Request) -> Response:
    try:
        counts = {r["status"]: r["n"] for r in await State.db.many(QUERIES.tasks__count_by_status)}
        for state in metrics.TASK_STATES:
            metrics.AGENT_TASKS.labels(state).set(counts.get(state, 0))
    except Exception as exc:  # a scrape still answers (the gauge keeps its last value); the failure is counted
        metrics.ERRORS.labels("metrics", type(exc).__name__).inc()
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


def create_app(runner: Any = None) -> Any:
    """The ASGI app: /health and /livez from stapel.kit.health, the rest Starlette's; every request logged (JSON)
    and counted. `runner` (a coroutine factory) runs beside the server for its lifetime."""

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette):
        task = asyncio.create_task(runner()) if runner else None
        yield
        if task:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    routes = [Route("/metrics", prometheus_metrics), Route("/api/users/{email}/agents", user_agents),
              Route("/api/sessions", create_session, methods=["POST"]),
              Route("/api/sessions/{session_id}/messages", post_message, methods=["POST"]),
              Route("/api/sessions/{session_id}/events", session_events), Route("/api/tasks/{task_id}", get_task)]
    app = Starlette(routes=routes, lifespan=lifespan)
    return log.access_log(metrics.http_metrics(health.asgi(app, metrics=False, readyz="/health")))
