"""Seed 001's metrics ("Мониторинг"): HTTP requests (latency, throughput, errors), database connections, Redis
operations, agent tasks (queued, running, completed, failed). The database's come from stapel.kit.sql
(stapel_kit_sql_pool_size/_available/_max/_requests_waiting{pool}, stapel_kit_sql_query_duration_seconds{query},
stapel_kit_sql_query_errors_total{query,error}); the rest are defined here. The four dashboards in ../../grafana/
query exactly these names."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

HTTP_REQUESTS = Counter("codelab_http_requests_total", "HTTP requests, by method, route and status.", ["method", "route", "status"])
HTTP_DURATION = Histogram("codelab_http_request_duration_seconds", "HTTP request latency.", ["method", "route"])
REDIS_OPS = Counter("codelab_redis_operations_total", "Redis operations, by operation and result.", ["operation", "result"])
REDIS_DURATION = Histogram("codelab_redis_operation_duration_seconds", "Redis operation latency.", ["operation"],
                           buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 2.5))
AGENT_TASKS = Gauge("codelab_agent_tasks", "Agent tasks in the database, by state.", ["state"])
AGENT_TASK_TRANSITIONS = Counter("codelab_agent_task_transitions_total", "Agent tasks that reached a state, by agent.", ["agent", "state"])
AGENT_TASK_DURATION = Histogram("codelab_agent_task_duration_seconds", "Time from running to completed/failed.", ["agent", "state"])
ERRORS = Counter("codelab_errors_total", "Errors, by where they happened and their type.", ["source", "error"])

KIT_PATHS = ("/health", "/livez")  # answered by stapel.kit.health before Starlette's router
TASK_STATES = ("queued", "running", "completed", "failed")
for _state in TASK_STATES:
    AGENT_TASKS.labels(_state)


async def redis_op(operation: str, call: Awaitable[Any]) -> Any:
    """Await one Redis call, counting and timing it; a failure is counted and raised."""
    started = time.perf_counter()
    try:
        result = await call
    except Exception as exc:
        REDIS_OPS.labels(operation, "error").inc()
        ERRORS.labels("redis", type(exc).__name__).inc()
        raise
    finally:
        REDIS_DURATION.labels(operation).observe(time.perf_counter() - started)
    REDIS_OPS.labels(operation, "ok").inc()
    return result


def http_metrics(app: Callable) -> Callable:
    """ASGI middleware: each request counted and timed by its route's template (/api/tasks/{task_id}), never
    by its raw path (unbounded label values)."""

    async def middleware(scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        status = {"code": 500}

        async def send_counted(message: dict) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        started = time.perf_counter()
        try:
            await app(scope, receive, send_counted)
        except Exception as exc:
            ERRORS.labels("http", type(exc).__name__).inc()
            raise
        finally:
            route = getattr(scope.get("route"), "path", None) or (scope["path"] if scope["path"] in KIT_PATHS else "unmatched")
            HTTP_REQUESTS.labels(scope["method"], route, str(status["code"])).inc()
            HTTP_DURATION.labels(scope["method"], route).observe(time.perf_counter() - started)

    return middleware
