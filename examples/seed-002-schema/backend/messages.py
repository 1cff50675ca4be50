"""What api.py publishes and worker.py consumes on the channel schemaExecution of api/asyncapi.yaml."""

from __future__ import annotations

import logging
import uuid
from pathlib import Path

from stapel.kit.bus import Message

CONTRACT = Path(__file__).parent / "api" / "asyncapi.yaml"
CHANNEL = "schemaExecution"


class ExecuteSchema(Message, version=1):
    execution_id: uuid.UUID


def quiet_amqp() -> None:
    """aiormq logs every frame at DEBUG: LOG_LEVEL=debug (seed 002, 10.1) is for the services' own lines."""
    for name in ("aiormq", "aio_pika"):
        logging.getLogger(name).setLevel(logging.INFO)
