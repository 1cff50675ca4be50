"""The messages of contracts/asyncapi.yaml (seed 000's five exchanges) and what every service of the CRM shares:
the contract's path, its settings class, and how it serves its Starlette app under uvicorn."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import uvicorn

from stapel.kit import config, health, log
from stapel.kit.bus import Message

CONTRACT = Path(__file__).parent / "contracts" / "asyncapi.yaml"


class ClientCreated(Message, version=1):       # crm.events, client.created
    client_id: int
    name: str
    email: str


class TaskCreated(Message, version=1):         # tasks.events, task.created
    task_id: int
    client_id: int
    title: str


class NotificationRequested(Message, version=1):  # notifications.events, notification.requested
    recipient: str
    text: str


class UserLoggedIn(Message, version=1):        # audit.events, auth.login
    user_id: int
    email: str


class BackupFinished(Message, version=1):      # backup.notifications (fanout)
    backup: str
    status: str
    rows: int


class ServiceConfig(config.Config):  # no env_prefix: each service reads DATABASE_URL, RABBITMQ_URL, HOST, PORT
    postgres: config.Postgres
    rabbitmq: config.RabbitMQ
    listen: config.Listen


def app(routes: list, name: str) -> Any:
    """The service's routes behind the kit's /health (readiness: its database and bus), /livez, /metrics."""
    from starlette.applications import Starlette

    return log.access_log(health.asgi(Starlette(routes=routes), readyz="/health"))


async def serve(name: str, asgi: Any, listen: Any, closers: list[Callable[[], Awaitable[Any]]]) -> None:
    """Serve until stopped, then close what the service opened (the bus before the pool it consumes into)."""
    for noisy in ("aiormq", "aio_pika"):  # they log every frame at DEBUG
        logging.getLogger(noisy).setLevel(logging.INFO)
    log.get(name).info("listening", host=listen.host, port=listen.port)
    server = uvicorn.Server(uvicorn.Config(asgi, host=listen.host, port=listen.port, log_config=None, access_log=False))
    try:
        await server.serve()
    finally:
        for close in closers:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await close()
