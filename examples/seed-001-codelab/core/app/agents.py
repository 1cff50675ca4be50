"""The agent task runner: seed 001's Agent Bus on Redis. A user's message queues a task (a row in `tasks`, its
id and input pushed to the Redis list codelab:agent-bus); the runner pops it, marks it running (the agent busy),
does the agent's work, records the answer as the assistant's message and the task as completed or failed, and
appends each state change to the session's Redis stream (SSE event buffering, capped)."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from psycopg.types.json import Json

from app import metrics
from stapel.kit import log

QUEUE = "codelab:agent-bus"
EVENTS_MAXLEN = 200


def events_key(session_id: Any) -> str:
    return f"codelab:session-events:{session_id}"


async def enqueue(redis: Any, task: dict[str, Any]) -> None:
    await metrics.redis_op("lpush", redis.lpush(QUEUE, json.dumps(task, default=str)))
    await event(redis, task["session_id"], {"task_id": task["task_id"], "state": "queued"})


async def event(redis: Any, session_id: Any, fields: dict[str, Any]) -> None:
    await metrics.redis_op("xadd", redis.xadd(events_key(session_id), {k: str(v) for k, v in fields.items()},
                                              maxlen=EVENTS_MAXLEN, approximate=True))


def answer(agent: str, content: str) -> dict[str, Any]:
    """The agent's work. The seed's agents call an LLM with their Qdrant memory; here a deterministic stand-in,
    and a message starting with "fail:" fails (how a failed task looks in the metrics and dashboards)."""
    if content.startswith("fail:"):
        raise RuntimeError(content.removeprefix("fail:").strip() or "the agent failed")
    return {"agent": agent, "reply": f"{agent} received: {content}"}


async def run_one(db: Any, queries: Any, redis: Any, task: dict[str, Any]) -> None:
    task_id, agent = task["task_id"], task["agent"]
    if await db.exec(queries.tasks__start, task_id) == 0:
        return  # not queued any more (a second runner took it)
    metrics.AGENT_TASK_TRANSITIONS.labels(agent, "running").inc()
    await db.exec(queries.agents__set_status, status="busy", id=task["agent_id"])
    await event(redis, task["session_id"], {"task_id": task_id, "state": "running"})
    started = time.perf_counter()
    try:
        result, state = answer(agent, task["content"]), "completed"
        await db.one(queries.messages__add, session_id=task["session_id"], role="assistant", content=result["reply"],
                     agent_id=task["agent_id"])
    except Exception as exc:  # the task failed, the runner goes on
        result, state = {"error": f"{type(exc).__name__}: {exc}"}, "failed"
        metrics.ERRORS.labels("agent", type(exc).__name__).inc()
        log.get("agents").error("task failed", task_id=task_id, agent=agent, exc_info=exc)
    await db.exec(queries.tasks__finish, status=state, result=Json(result), id=task_id)
    await db.exec(queries.agents__set_status, status="ready", id=task["agent_id"])
    metrics.AGENT_TASK_TRANSITIONS.labels(agent, state).inc()
    metrics.AGENT_TASK_DURATION.labels(agent, state).observe(time.perf_counter() - started)
    await event(redis, task["session_id"], {"task_id": task_id, "state": state})
    log.get("agents").info("task done", task_id=task_id, agent=agent, state=state)


async def run(db: Any, queries: Any, redis: Any) -> None:
    """Pop tasks until cancelled; a lost Redis or database is logged and retried, never the runner's end."""
    logger = log.get("agents")
    while True:
        try:
            popped = await metrics.redis_op("brpop", redis.brpop([QUEUE], timeout=1))
            if popped is not None:
                await run_one(db, queries, redis, json.loads(popped[1]))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            metrics.ERRORS.labels("runner", type(exc).__name__).inc()
            logger.error("agent runner: retrying in 1 s", exc_info=exc)
            await asyncio.sleep(1)
